package upstreamtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/server"
)

// intercept wraps the mcp-go handlers: it records Stats, answers rpc_error
// calls itself and gives streamable HTTP POSTs a postStream (delivery.go).
func (g *generation) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.srv.stats.request(r)
		if r.Method != http.MethodPost {
			if g.srv.opts.Era == ModernOnly && r.URL.Path == "/mcp" {
				// No GET stream and no session to delete (2026-07-28).
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Header.Get(server.HeaderKeySessionID) != "" || r.URL.Query().Get("sessionId") != "" {
			defer g.calls.handling(r)()
		}
		msgs := parseMessages(body)
		g.srv.stats.messages(msgs)
		rpcErrorID, isRPCError := rpcErrorCall(msgs)

		switch r.URL.Path {
		case "/mcp":
			modern := r.Header.Get("Mcp-Protocol-Version") == modernVersion
			if g.refuseEra(w, modern, msgs) {
				return
			}
			// An unknown session is left to mcp-go, which answers 404.
			if isRPCError && (modern || g.sessions.valid(r.Header.Get(server.HeaderKeySessionID))) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(rpcErrorResponse(rpcErrorID))
				return
			}
			ps := newPostStream(w)
			next.ServeHTTP(ps, r.WithContext(context.WithValue(r.Context(), postStreamKey, ps)))
		case "/message":
			// The HTTP+SSE transport answers on the session's event
			// stream, so the error joins it like any response would.
			if isRPCError {
				sid := r.URL.Query().Get("sessionId")
				if g.sendSSE(r.Context(), sid, json.RawMessage(rpcErrorResponse(rpcErrorID))) == nil {
					w.WriteHeader(http.StatusAccepted)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sseRequestKey, true)))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// modernVersion is the stateless revision.
const modernVersion = "2026-07-28"

// refuseEra answers a request of the era the server does not speak, as a
// server of the other era would, and reports whether it did: a legacy
// server knows nothing of per-request versions, and a modern one refuses
// initialize naming the versions it speaks.
func (g *generation) refuseEra(w http.ResponseWriter, modern bool, msgs []wireMessage) bool {
	switch {
	case g.srv.opts.Era == LegacyOnly && modern:
		http.Error(w, "Bad Request: no valid session ID provided", http.StatusBadRequest)
		return true
	case g.srv.opts.Era == ModernOnly && !modern:
		id := json.RawMessage("null")
		if len(msgs) == 1 && len(msgs[0].ID) > 0 {
			id = msgs[0].ID
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32022,"message":"Unsupported protocol version: this server speaks %s only","data":{"supported":[%q]}}}`, id, modernVersion, modernVersion)
		return true
	}
	return false
}

// wireMessage is the part of a JSON-RPC message intercept looks at.
type wireMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// parseMessages decodes a POST body: one message or a batch. Anything else
// yields nothing, and mcp-go will answer it.
func parseMessages(body []byte) []wireMessage {
	body = bytes.TrimSpace(body)
	if bytes.HasPrefix(body, []byte("[")) {
		var batch []wireMessage
		_ = json.Unmarshal(body, &batch)
		return batch
	}
	var m wireMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	return []wireMessage{m}
}

// rpcErrorCall returns the id of a lone tools/call of rpc_error.
func rpcErrorCall(msgs []wireMessage) (json.RawMessage, bool) {
	if len(msgs) != 1 || msgs[0].Method != "tools/call" || len(msgs[0].ID) == 0 {
		return nil, false
	}
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(msgs[0].Params, &p) != nil || p.Name != rpcErrorTool {
		return nil, false
	}
	return msgs[0].ID, true
}

func rpcErrorResponse(id json.RawMessage) []byte {
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32042,"message":"custom failure"}}`, id)
}

// recorder keeps Stats behind a mutex.
type recorder struct {
	mu sync.Mutex
	s  Stats
}

func (rec *recorder) request(r *http.Request) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if r.Method == http.MethodDelete && r.URL.Path == "/mcp" {
		rec.s.Deletes++
	}
	if v := r.Header.Get("Authorization"); v != "" {
		rec.s.LastAuthorization = v
	}
	for k, v := range r.Header {
		if (strings.HasPrefix(k, "X-") || strings.HasPrefix(k, "Mcp-Param-")) && len(v) > 0 {
			if rec.s.Headers == nil {
				rec.s.Headers = map[string]string{}
			}
			rec.s.Headers[k] = v[len(v)-1]
		}
	}
}

func (rec *recorder) messages(msgs []wireMessage) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range msgs {
		switch m.Method {
		case "initialize":
			rec.s.Initializes++
			var p struct {
				Capabilities json.RawMessage `json:"capabilities"`
			}
			_ = json.Unmarshal(m.Params, &p)
			rec.s.ClientCapabilities = string(p.Capabilities)
		case "notifications/roots/list_changed":
			rec.s.RootsChanged++
		case "server/discover":
			rec.s.Discovers++
		case "subscriptions/listen":
			rec.s.Listens++
		case "logging/setLevel":
			var p struct {
				Level string `json:"level"`
			}
			_ = json.Unmarshal(m.Params, &p)
			rec.s.LogLevel = p.Level
		case "tools/call":
			rec.s.ToolCalls++
		case "tools/list":
			rec.s.ToolLists++
		case "notifications/cancelled":
			var p struct {
				RequestID json.RawMessage `json:"requestId"`
			}
			_ = json.Unmarshal(m.Params, &p)
			rec.s.Cancelled++
			rec.s.CancelledIDs = append(rec.s.CancelledIDs, string(p.RequestID))
		}
	}
}

func (rec *recorder) waitCancelled() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.s.WaitsCancelled++
}

func (rec *recorder) snapshot() Stats {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := rec.s
	s.CancelledIDs = append([]string(nil), rec.s.CancelledIDs...)
	s.Headers = maps.Clone(rec.s.Headers)
	if s.Headers == nil {
		s.Headers = map[string]string{}
	}
	return s
}

// sessionIDs is the streamable HTTP session id manager. mcp-go's default
// manager accepts any well-formed id, so an expired session would never get
// the 404 the bridge must handle; this one knows which ids are live.
type sessionIDs struct {
	mu   sync.Mutex
	live map[string]bool
}

func newSessionIDs() *sessionIDs { return &sessionIDs{live: map[string]bool{}} }

// Generate implements server.SessionIdManager.
func (m *sessionIDs) Generate() string {
	id := "mcp-session-" + rand.Text()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[id] = true
	return id
}

// Validate implements server.SessionIdManager; an error makes mcp-go answer
// 404.
func (m *sessionIDs) Validate(id string) (isTerminated bool, err error) {
	if !m.valid(id) {
		return false, fmt.Errorf("unknown session %q", id)
	}
	return false, nil
}

// Terminate implements server.SessionIdManager (DELETE, CloseSessions).
func (m *sessionIDs) Terminate(id string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, id)
	return false, nil
}

func (m *sessionIDs) valid(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[id]
}

func (m *sessionIDs) forgetAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.live)
}

// connKey is the context key of a request's connection (withConn).
type connKey struct{}

// withConn is the http.Server's ConnContext: it lets a handler find its
// request's connection.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// calls are the connections of the session requests being handled, so that
// ExpireSessionsDroppingCalls can cut them off.
type calls struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// handling records r's connection until the returned func is called.
func (cs *calls) handling(r *http.Request) (done func()) {
	c, ok := r.Context().Value(connKey{}).(net.Conn)
	if !ok {
		return func() {}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.conns == nil {
		cs.conns = map[net.Conn]bool{}
	}
	cs.conns[c] = true
	return func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		delete(cs.conns, c)
	}
}

// drop closes the connection of every request being handled.
func (cs *calls) drop() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.conns {
		_ = c.Close()
	}
}
