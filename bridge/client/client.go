// Package client is the bridge's MCP client: one [Session] per remote
// server, over streamable HTTP or, for older servers, HTTP with SSE.
//
// A session starts the protocol as its era says (see era.go: today the
// handshake revisions, initialize and a session kept by the server), sends
// requests and notifications, routes a call's progress to that call
// before its result, tells the server when a call is given up
// (notifications/cancelled), initializes again once when the server has
// forgotten the session (404), asks its [Authorizer] again on a 401, and
// hands everything else the server sends to its [Handler].
//
// It knows nothing of the catalog or of where tokens come from: a
// [Remote] is a URL, a transport, headers and an authorizer. Params go out
// as the caller wrote them and results come back as a slice of what the
// server sent, checked once.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Transports a remote is reached by, as server.json names them.
const (
	StreamableHTTP = "streamable-http"
	SSE            = "sse"
)

// Remote is a server to connect to.
type Remote struct {
	URL       string
	Transport string // StreamableHTTP (the default) or SSE
	// Headers go with every request.
	Headers map[string]string
	// Auth gives the Authorization header; nil sends none.
	Auth Authorizer
	// HTTPClient sends the requests; nil means NewHTTPClient().
	HTTPClient *http.Client
	// Name and Version are the client's, told to the server.
	Name, Version string
	// Capabilities are the client capabilities to declare, a JSON object;
	// nil declares none.
	Capabilities json.RawMessage
	// Era is the era the server was found to speak before (EraModern or
	// EraLegacy), tried first; "" tries the handshake first (see
	// eraOrder). A wrong guess costs a second try, not the connection.
	Era string
	// PreferModern tries the stateless era first when Era is "": for a
	// client whose own agent speaks it.
	PreferModern bool
	// MaxMessageSize bounds one message from the server, in bytes;
	// 0 means DefaultMaxMessageSize.
	MaxMessageSize int64
	// Logger receives the session's logs; nil discards them.
	Logger *slog.Logger
}

// Authorizer decides the Authorization header of a session's requests.
type Authorizer interface {
	// Authorization is the header value, "" for none; an error means the
	// server cannot be used until the user acts.
	Authorization(ctx context.Context) (string, error)
	// Rejected is told that header was refused with 401, and the 401's
	// WWW-Authenticate challenge; it returns a new header (a refreshed
	// token) or an error. The session asks once per request, never in a
	// loop.
	Rejected(ctx context.Context, header string, challenge []string) (string, error)
	// Forbidden is told of a 403 and its WWW-Authenticate; it returns the
	// error to report, or nil when the 403 is not about the token.
	Forbidden(ctx context.Context, challenge []string) error
}

// Handler takes what a server sends outside the answers to calls.
type Handler interface {
	// Notification is a notification that is not a call's progress. It
	// runs on the reader of the stream it came on, before the answer that
	// follows it is delivered.
	Notification(method string, params json.RawMessage)
	// Request answers a request from the server: a result, or an error
	// (an *RPCError keeps its code). ctx ends when the server cancels
	// the request or the session ends.
	Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
}

// Capabilities are what a server said it offers.
type Capabilities struct {
	Tools, Prompts, Resources, Logging, Completions bool
	// Tasks (2025-11-25): task-augmented tools/call, tasks/list and
	// tasks/cancel.
	TaskCalls, TaskList, TaskCancel bool
}

// Errors of a session.
var (
	// ErrSSEOnly means the server refused streamable HTTP as a server
	// that speaks only HTTP with SSE does: try its SSE remote.
	ErrSSEOnly = errors.New("streamable HTTP refused")
	// ErrClosed is the cause of a session's end when it was closed.
	ErrClosed = errors.New("bridge shutting down")
	// ErrTooLarge is a message from the server past MaxMessageSize.
	ErrTooLarge = errors.New("message too large")

	errConnLost = errors.New("connection lost")
)

// RPCError is a JSON-RPC error a server answered with; it is passed on
// with its code, message and data unchanged.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// DefaultMaxMessageSize bounds one message from a server: as large as one
// the bridge takes from its agent.
const DefaultMaxMessageSize = 32 << 20

// Session is one connection to a server, started and ready for calls.
type Session struct {
	remote  Remote
	handler Handler
	log     *slog.Logger
	era     era
	w       wire
	caps    Capabilities

	life  context.Context // ends with the session; streams live on it
	end   context.CancelCauseFunc
	tasks sync.WaitGroup // every goroutine the session starts

	nextID   atomic.Int64
	progress sync.Map     // progress token (string) → func(json.RawMessage)
	serving  sync.Map     // id of a request from the server (JSON text) → context.CancelFunc
	authz    atomic.Value // string: the Authorization header, "" for none
	// forbidden is the WWW-Authenticate of the latest 403 ([]string), for
	// the Authorizer to read an insufficient_scope challenge from.
	forbidden atomic.Value
	// restartMu makes concurrent calls that find the session expired
	// start it again once.
	restartMu  sync.Mutex
	generation int
	closeOnce  sync.Once

	// The stateless era's: the log level carried by each request, and
	// what subscriptions/listen asks for.
	logLevel atomic.Value // string
	subs     subscriptions
	// toolHeaders are the x-mcp-header annotations of the tools last
	// listed, by tool name (headers.go).
	toolHeaders atomic.Pointer[map[string][]paramHeader]
}

// paramHeadersOf are a tool's x-mcp-header annotations, as last listed.
func (s *Session) paramHeadersOf(tool string) []paramHeader {
	if m := s.toolHeaders.Load(); m != nil {
		return (*m)[tool]
	}
	return nil
}

// Connect opens a session to r and starts the protocol, within ctx. A
// 401 on the way is put to r.Auth once. h takes the server's
// notifications and requests for as long as the session lives.
func Connect(ctx context.Context, r Remote, h Handler) (*Session, error) {
	if r.HTTPClient == nil {
		r.HTTPClient = NewHTTPClient()
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.MaxMessageSize <= 0 {
		r.MaxMessageSize = DefaultMaxMessageSize
	}
	life, end := context.WithCancelCause(context.WithoutCancel(ctx))
	s := &Session{remote: r, handler: h, log: r.Logger, era: handshake{}, life: life, end: end}
	s.authz.Store("")
	if r.Auth != nil {
		a, err := r.Auth.Authorization(ctx)
		if err != nil {
			end(err)
			return nil, err
		}
		s.authz.Store(a)
	}
	l := link{
		client:  &http.Client{Transport: &forbiddenRecorder{next: r.HTTPClient.Transport, s: s}, CheckRedirect: r.HTTPClient.CheckRedirect},
		headers: s.headers, log: s.log, life: life, limit: r.MaxMessageSize, notify: s.notified, answer: s.answer,
	}
	switch r.Transport {
	case SSE:
		s.w = &legacySSE{link: l, url: r.URL, tasks: &s.tasks, lost: func(err error) { end(fmt.Errorf("SSE stream ended: %w", err)) }}
	default:
		s.w = &streamable{link: l, url: r.URL, tasks: &s.tasks, paramHeaders: s.paramHeadersOf}
	}
	if err := s.startAnyEra(ctx, eraOrder(r)); err != nil {
		s.Close()
		return nil, err
	}
	if s.era.modern() {
		s.tasks.Go(s.listen)
	}
	return s, nil
}

// eraOrder is the order the eras are tried in: the one found before, else
// the handshake first. The spec's probe tries the stateless era first, for
// a client that would rather speak it; the bridge serves its agent in the
// handshake era, so a server of both eras serves it best in that one too
// (its requests to the client, for one, are refused to stateless clients
// by servers that have not moved to multi round-trip requests). A server
// of the stateless era alone refuses initialize, and is then probed with
// server/discover. HTTP with SSE is of the handshake era alone.
func eraOrder(r Remote) []era {
	switch {
	case r.Transport == SSE:
		return []era{handshake{}}
	case r.Era == EraModern, r.Era == "" && r.PreferModern:
		return []era{stateless{}, handshake{}}
	}
	return []era{handshake{}, stateless{}}
}

// startAnyEra starts the protocol in the first era of order the server
// speaks. A server of the other era says so in its own way: the handshake
// era's to server/discover (errLegacyServer), the stateless era's by
// refusing initialize with a 4xx (ErrSSEOnly, as an SSE-only server also
// does). The error reported is the handshake's, when it was tried: it is
// the one that says whether to try SSE.
func (s *Session) startAnyEra(ctx context.Context, order []era) error {
	var handshakeErr, err error
	for _, e := range order {
		s.era = e
		if err = s.startAuthorized(ctx); err == nil {
			return nil
		}
		if !e.modern() {
			handshakeErr = err
		}
		if !errors.Is(err, errLegacyServer) && !errors.Is(err, ErrSSEOnly) {
			return err
		}
	}
	if handshakeErr != nil {
		return handshakeErr
	}
	return err
}

// startAuthorized starts the protocol, asking the Authorizer once more on
// a 401.
func (s *Session) startAuthorized(ctx context.Context) error {
	err := s.start(ctx)
	if retry, aerr := s.reauthorize(ctx, err); retry {
		err = s.start(ctx)
	} else if aerr != nil {
		err = aerr
	}
	return err
}

// Era is the era the session speaks: EraModern or EraLegacy.
func (s *Session) Era() string {
	if s.era.modern() {
		return EraModern
	}
	return EraLegacy
}

// start opens the transport and starts the protocol. An SSE stream lives
// on s.life: opened with ctx it would end with it.
func (s *Session) start(ctx context.Context) error {
	if err := s.w.open(ctx); err != nil {
		return err
	}
	caps, err := s.era.start(ctx, s)
	if err != nil {
		return err
	}
	s.caps = caps
	return nil
}

// Capabilities are the lists the server said it offers.
func (s *Session) Capabilities() Capabilities { return s.caps }

// Done is closed when the session has ended: closed, or lost.
func (s *Session) Done() <-chan struct{} { return s.life.Done() }

// Err is why the session ended, nil while it lives.
func (s *Session) Err() error { return context.Cause(s.life) }

// Close ends the session (a DELETE on streamable HTTP) and waits for
// every goroutine it started.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		s.end(ErrClosed)
		s.w.close()
		s.tasks.Wait()
	})
}

// headers are the remote's headers and the Authorization the Authorizer
// gives for this request: asked each time, so that a token renewed or
// replaced meanwhile (by a login, or another process) goes at once. When
// it cannot give one, the last one goes, and the server's 401 is put to
// Rejected, which says what to do.
func (s *Session) headers(ctx context.Context) map[string]string {
	h := s.remote.Headers
	a := s.authz.Load().(string)
	if s.remote.Auth != nil {
		if cur, err := s.remote.Auth.Authorization(ctx); err == nil {
			a = cur
			s.authz.Store(cur)
		}
	}
	if a != "" {
		h = make(map[string]string, len(s.remote.Headers)+1)
		maps.Copy(h, s.remote.Headers)
		h["Authorization"] = a
	}
	return h
}

// forbiddenRecorder keeps the challenge of any 403 on the session, of a
// call or of its streams, so that an insufficient_scope can be told to the
// user.
type forbiddenRecorder struct {
	next http.RoundTripper
	s    *Session
}

func (f *forbiddenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := f.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(req)
	if err == nil && res.StatusCode == http.StatusForbidden {
		f.s.forbidden.Store(res.Header.Values("WWW-Authenticate"))
	}
	return res, err
}

// NewHTTPClient is the client for servers: no overall timeout, which would
// cut long SSE answers (a session bounds each call itself), and redirects
// followed only on the first request's origin, so that a token goes only
// where it was issued for. A caller that wants redirects to other origins
// followed, with the credentials left behind, sets its own CheckRedirect.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, CheckRedirect: sameOriginOnly}
}

// sameOriginOnly follows redirects on the first request's origin (scheme,
// host and port) and stops at one to another: its answer is the redirect.
func sameOriginOnly(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != via[0].URL.Scheme || !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return http.ErrUseLastResponse
	}
	return nil
}
