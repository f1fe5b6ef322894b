// Package upstreamtest runs real MCP servers (mcp-go v1.2.1) on loopback for
// the bridge's end-to-end tests.
//
// A Server speaks streamable HTTP, the old HTTP+SSE transport, or both, offers
// a fixed catalogue of tools, a prompt and resources (see catalog.go), and can
// be killed, restarted on the same port, made to forget its sessions (with or
// without the requests they have in flight), or made to send list_changed and
// resources/updated notifications.
//
// The server never loses or reorders a progress notification, so a test that
// sees one missing or out of order has found a bug in the bridge. mcp-go alone
// does not give that guarantee; delivery.go explains what this package does
// instead.
package upstreamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Transport selects which MCP transports a Server serves.
type Transport string

// The transports a Server can serve.
const (
	StreamableHTTP Transport = "streamable-http" // POST/GET/DELETE on /mcp
	SSE            Transport = "sse"             // GET /sse plus POST /message (2024-11-05 transport)
	Both           Transport = "both"            // all of the above on one port
)

// Era selects which protocol eras a Server's streamable HTTP endpoint
// speaks. mcp-go speaks both; the gate in intercept narrows it.
type Era string

// The eras a Server can speak.
const (
	LegacyOnly Era = ""       // initialize and sessions (2025-11-25 and before); the default
	ModernOnly Era = "modern" // stateless 2026-07-28 alone
	DualEra    Era = "dual"   // both, as mcp-go does by itself
)

// Options configures a Server.
type Options struct {
	// Name is the server name reported in initialize; it also names the
	// resources: test://<Name>/readme and test://<Name>/items/{id}.
	// Defaults to "upstream".
	Name string
	// Transport selects the endpoints to serve. Defaults to Both.
	Transport Transport
	// PageSize, if > 0, paginates tools/list, prompts/list and
	// resources/list with this many items per page.
	PageSize int
	// Interactive adds tools that ask the client something (ask, ask_url,
	// sample, roots, confirm) or log (log), and completions
	// (interactive.go).
	Interactive bool
	// Era is the protocol era of the streamable HTTP endpoint.
	Era Era
	// Tasks adds task tools, batch (required) and analyze (optional), and
	// the tasks capability (tasks.go).
	Tasks bool
	// Tools are more tools, as their definitions' JSON; a call of one
	// answers with its name and arguments (toolset.go).
	Tools []json.RawMessage
}

// Server is a running (or killed) test MCP server.
type Server struct {
	// StreamableURL is the streamable HTTP endpoint, http://127.0.0.1:PORT/mcp;
	// empty when Transport is SSE.
	StreamableURL string
	// SSEURL is the HTTP+SSE endpoint, http://127.0.0.1:PORT/sse; empty when
	// Transport is StreamableHTTP.
	SSEURL string

	opts  Options
	addr  string // 127.0.0.1:PORT, kept across restarts
	stats recorder

	mu    sync.Mutex
	added []string          // tools added with AddTool; they survive Restart
	descs map[string]string // descriptions set with SetDescription; they survive Restart
	live  *generation       // nil while killed
}

// Stats are counters over the Server's whole life, restarts included.
type Stats struct {
	Initializes int // initialize requests
	Deletes     int // HTTP DELETE requests on the streamable endpoint
	Cancelled   int // notifications/cancelled received
	ToolCalls   int // tools/call requests, whichever tool
	// WaitsCancelled counts calls of the wait tool that ended because their
	// context was cancelled (notifications/cancelled or a dropped request).
	WaitsCancelled int
	// CancelledIDs holds the requestId of each notifications/cancelled, as
	// JSON text (e.g. `7` or `"abc"`), in arrival order.
	CancelledIDs []string
	// LastAuthorization is the Authorization header of the latest request.
	LastAuthorization string
	// Headers holds the latest value of each request header whose name starts
	// with X- or Mcp-Param-, keyed by canonical name (e.g. "X-Api-Key").
	Headers map[string]string
	// ClientCapabilities are the capabilities of the latest initialize, as
	// JSON text.
	ClientCapabilities string
	// RootsChanged counts notifications/roots/list_changed received.
	RootsChanged int
	// LogLevel is the level of the latest logging/setLevel.
	LogLevel string
	// Discovers and Listens count server/discover and
	// subscriptions/listen requests (the stateless era's).
	Discovers, Listens int
	// ToolLists counts tools/list requests.
	ToolLists int
}

// Start starts a server on a free loopback port; t.Cleanup kills it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "upstream"
	}
	if opts.Transport == "" {
		opts.Transport = Both
	}
	switch opts.Transport {
	case StreamableHTTP, SSE, Both:
	default:
		t.Fatalf("upstreamtest: unknown transport %q", opts.Transport)
	}
	s := &Server{opts: opts}
	g, err := s.start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	s.addr = g.ln.Addr().String()
	if opts.Transport != SSE {
		s.StreamableURL = "http://" + s.addr + "/mcp"
	}
	if opts.Transport != StreamableHTTP {
		s.SSEURL = "http://" + s.addr + "/sse"
	}
	s.live = g
	t.Cleanup(s.Kill)
	return s
}

// Kill stops the server abruptly: the listener and every open connection are
// closed, so in-flight requests and event streams fail mid-call. Killing a
// killed server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	g := s.live
	s.live = nil
	s.mu.Unlock()
	if g != nil {
		g.kill()
	}
}

// Restart kills the server if it is running, then serves again on the same
// port with fresh state: new mcp-go servers, so every old session is unknown.
// Tools added with AddTool are kept; Stats keep counting.
func (s *Server) Restart() {
	s.Kill()
	// The port was ours a moment ago; give the kernel a little time should
	// it not be reusable at once.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var g *generation
		if g, err = s.start(s.addr); err == nil {
			s.mu.Lock()
			s.live = g
			s.mu.Unlock()
			return
		}
	}
	panic(fmt.Sprintf("upstreamtest: restart on %s: %v", s.addr, err))
}

// ExpireSessions makes the server forget every session, as a server does when
// it restarts or times sessions out. Streamable HTTP: the next request with an
// old Mcp-Session-Id gets 404 and listening GET streams end, but requests
// already being handled finish and are answered. HTTP+SSE: the event streams
// end and POSTs for the old sessions get 400.
func (s *Server) ExpireSessions() {
	if g := s.generation(); g != nil {
		g.expireSessions()
	}
}

// ExpireSessionsDroppingCalls is ExpireSessions for a server that loses its
// requests along with its sessions: it also closes the connection of every
// request of a session still being handled, so that a streamable HTTP request
// ends without an answer. (Over HTTP+SSE answers go on the event stream,
// which ExpireSessions ends already.)
func (s *Server) ExpireSessionsDroppingCalls() {
	if g := s.generation(); g != nil {
		g.expireSessions()
		g.calls.drop()
	}
}

// AddTool adds a tool named name that answers with its own name; connected
// sessions get notifications/tools/list_changed.
func (s *Server) AddTool(name string) {
	s.mu.Lock()
	s.added = append(s.added, name)
	g := s.live
	s.mu.Unlock()
	if g != nil {
		g.mcp.AddTool(addedTool(name))
	}
}

// SetDescription changes the description of one of the fixed tools, as a
// server that quietly redefines a tool would; connected sessions get
// notifications/tools/list_changed. The change survives Restart.
func (s *Server) SetDescription(tool, description string) {
	s.mu.Lock()
	if s.descs == nil {
		s.descs = map[string]string{}
	}
	s.descs[tool] = description
	g := s.live
	s.mu.Unlock()
	if g == nil {
		return
	}
	for _, st := range g.tools() {
		if st.Tool.Name == tool {
			g.mcp.AddTool(st.Tool, st.Handler)
		}
	}
}

// UpdateResource sends notifications/resources/updated for uri to every
// session subscribed to it.
func (s *Server) UpdateResource(uri string) {
	if g := s.generation(); g != nil {
		g.updateResource(uri)
	}
}

// NotifyAll sends a notification to every client session, asked for or
// not: what a careless or hostile server does.
func (s *Server) NotifyAll(method string, params map[string]any) {
	if g := s.generation(); g != nil {
		g.mcp.SendNotificationToAllClients(method, params)
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

func (s *Server) generation() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// generation is one life of the server, from Start or Restart to Kill. Every
// mcp-go object belongs to one generation, which is what makes Restart start
// from fresh state.
type generation struct {
	srv        *Server
	mcp        *server.MCPServer
	streamable *server.StreamableHTTPServer // nil unless served
	sse        *server.SSEServer            // nil unless served
	sessions   *sessionIDs                  // streamable HTTP session ids
	subs       subscriptions
	ln         net.Listener
	http       *http.Server
	calls      calls         // requests of sessions being handled
	killed     atomic.Bool   // set first thing by kill
	stop       chan struct{} // closed by kill, so blocked handlers give up
}

func (s *Server) start(addr string) (*generation, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &generation{srv: s, ln: ln, stop: make(chan struct{}), sessions: newSessionIDs()}
	g.mcp = g.newMCPServer()
	s.mu.Lock()
	for _, name := range s.added {
		g.mcp.AddTool(addedTool(name))
	}
	s.mu.Unlock()

	mux := http.NewServeMux()
	if s.opts.Transport != SSE {
		g.streamable = server.NewStreamableHTTPServer(g.mcp, server.WithSessionIdManager(g.sessions))
		mux.Handle("/mcp", g.streamable)
	}
	if s.opts.Transport != StreamableHTTP {
		g.sse = server.NewSSEServer(g.mcp)
		mux.Handle("/sse", g.sse)
		mux.Handle("/message", g.sse)
	}
	g.http = &http.Server{Handler: g.intercept(mux), ReadHeaderTimeout: 10 * time.Second, ConnContext: withConn}
	// Serve only returns once kill closes the server.
	go func() { _ = g.http.Serve(ln) }()
	return g, nil
}

func (g *generation) kill() {
	g.killed.Store(true)
	// http.Server.Close closes the listener and every connection at once
	// without waiting for handlers, which is the abrupt death we want. Only
	// then are blocked handlers released, so that no answer of theirs makes
	// it out.
	_ = g.http.Close()
	close(g.stop)
}

func (g *generation) expireSessions() {
	g.sessions.forgetAll()
	if g.streamable != nil {
		// Unregisters the sessions from the MCPServer and ends their GET
		// streams; the id manager above already answers 404 for them.
		g.streamable.CloseSessions(context.Background())
	}
	if g.sse != nil {
		g.sse.CloseSessions()
	}
}
