package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// Sessions against real MCP servers (mcp-go on loopback), on both
// transports.

// notes is a Handler that records notifications and refuses requests.
type notes struct {
	mu      sync.Mutex
	methods []string
}

func (n *notes) Notification(method string, _ json.RawMessage) {
	n.mu.Lock()
	n.methods = append(n.methods, method)
	n.mu.Unlock()
}

func (n *notes) Request(_ context.Context, method string, _ json.RawMessage) (json.RawMessage, error) {
	return nil, &RPCError{Code: -32601, Message: "no " + method}
}

func connect(t *testing.T, url, transport string, h Handler) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Connect(ctx, Remote{URL: url, Transport: transport, Name: "test", Version: "1"}, h)
	if err != nil {
		t.Fatalf("Connect(%s): %v", url, err)
	}
	t.Cleanup(s.Close)
	return s
}

func transports(t *testing.T, opts upstreamtest.Options) map[string]string {
	t.Helper()
	opts.Transport = upstreamtest.Both
	up := upstreamtest.Start(t, opts)
	return map[string]string{StreamableHTTP: up.StreamableURL, SSE: up.SSEURL}
}

func TestSessionListsAndCalls(t *testing.T) {
	for transport, url := range transports(t, upstreamtest.Options{PageSize: 3}) {
		t.Run(transport, func(t *testing.T) {
			s := connect(t, url, transport, &notes{})
			if caps := s.Capabilities(); !caps.Tools || !caps.Prompts || !caps.Resources {
				t.Errorf("capabilities %+v; the server offers all three", caps)
			}
			tools, err := s.List(context.Background(), "tools/list", "tools")
			if err != nil || len(tools) < 8 {
				t.Fatalf("tools/list over pages of 3: %d tools, %v", len(tools), err)
			}
			res, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{"text":"hi"}}`), nil)
			if err != nil || !strings.Contains(string(res), `"text":"hi"`) {
				t.Fatalf("echo: %s, %v", res, err)
			}
			_, err = s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"rpc_error"}`), nil)
			if rpc := (*RPCError)(nil); !errors.As(err, &rpc) || rpc.Code != -32042 {
				t.Errorf("a JSON-RPC error answer: %v; want code -32042 kept", err)
			}
		})
	}
}

func TestSessionProgressArrivesBeforeItsResult(t *testing.T) {
	for transport, url := range transports(t, upstreamtest.Options{}) {
		t.Run(transport, func(t *testing.T) {
			s := connect(t, url, transport, &notes{})
			var got []string
			res, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"progress","arguments":{"steps":5}}`),
				func(p json.RawMessage) { got = append(got, string(p)) })
			if err != nil {
				t.Fatalf("progress: %s, %v", res, err)
			}
			if len(got) != 5 {
				t.Fatalf("%d progress notifications before the result, want 5: %q", len(got), got)
			}
			for i, p := range got {
				if !strings.Contains(p, fmt.Sprintf(`"progress":%d`, i+1)) || !strings.Contains(p, `"progressToken":"bridge-`) {
					t.Errorf("progress %d: %s", i, p)
				}
			}
		})
	}
}

func TestSessionTellsTheServerOfACallGivenUp(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP})
	s := connect(t, up.StreamableURL, StreamableHTTP, &notes{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"wait","arguments":{"seconds":30}}`), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past its deadline: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for st := up.Stats(); (st.Cancelled == 0 || st.WaitsCancelled == 0) && time.Now().Before(deadline); st = up.Stats() {
		time.Sleep(20 * time.Millisecond)
	}
	if st := up.Stats(); st.Cancelled != 1 || st.WaitsCancelled != 1 {
		t.Errorf("the server got %d notifications/cancelled and saw %d calls cancelled, want 1 and 1", st.Cancelled, st.WaitsCancelled)
	}
}

func TestSessionExpiryInitializesAgainOnce(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP})
	s := connect(t, up.StreamableURL, StreamableHTTP, &notes{})
	up.ExpireSessions()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{"text":"x"}}`), nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a call after expiry: %v", err)
		}
	}
	if n := up.Stats().Initializes; n != 2 {
		t.Errorf("%d initializes; want 2, the first and one after expiry", n)
	}
}

// authorizer hands out a stale header first and a good one once told the
// first was refused, as a token manager that renews it does.
type authorizer struct {
	rejected  atomic.Int32
	current   atomic.Value // string: the header it gives now
	challenge atomic.Value // []string: the last 401's challenge
	refused   atomic.Value // string: the last header it was told was refused
}

func (a *authorizer) Authorization(context.Context) (string, error) {
	if h, ok := a.current.Load().(string); ok {
		return h, nil
	}
	return "Bearer stale", nil
}

func (a *authorizer) Rejected(_ context.Context, header string, challenge []string) (string, error) {
	a.rejected.Add(1)
	a.challenge.Store(challenge)
	a.refused.Store(header)
	if header != "Bearer stale" {
		return "", fmt.Errorf("refused %q", header)
	}
	a.current.Store("Bearer good")
	return "Bearer good", nil
}

func (a *authorizer) Forbidden(context.Context, []string) error { return nil }

func TestSessionAsksTheAuthorizerOnceOnA401(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP})
	target, _ := url.Parse(up.StreamableURL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer guard.Close()
	a := &authorizer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Connect(ctx, Remote{URL: guard.URL + "/mcp", Auth: a}, &notes{})
	if err != nil {
		t.Fatalf("Connect with a stale token the authorizer renews: %v", err)
	}
	defer s.Close()
	if _, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"echo","arguments":{"text":"x"}}`), nil); err != nil {
		t.Fatal(err)
	}
	if n := a.rejected.Load(); n != 1 {
		t.Errorf("the authorizer was told of %d refusals, want 1", n)
	}
	if got := up.Stats().LastAuthorization; got != "Bearer good" {
		t.Errorf("the server last saw %q", got)
	}
	if ch, _ := a.challenge.Load().([]string); len(ch) != 1 || ch[0] != `Bearer error="invalid_token"` {
		t.Errorf("the authorizer was told of the challenge %q", ch)
	}
	// A header the authorizer gives later (a token replaced elsewhere)
	// goes with the next request: this guard refuses it, and the
	// authorizer hears that it was that header.
	a.current.Store("Bearer newer")
	if _, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"echo","arguments":{"text":"y"}}`), nil); err == nil {
		t.Error("a call with a header the server refuses succeeded")
	}
	if got, _ := a.refused.Load().(string); got != "Bearer newer" {
		t.Errorf("after the header changed, the request carried %q", got)
	}
}

// TestSessionAnswersTheServersRequestsThroughItsHandler: a request the
// server sends on a call's stream is answered with the handler's result,
// under the server's own id.
func TestSessionAnswersTheServersRequestsThroughItsHandler(t *testing.T) {
	replies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &m)
		switch {
		case m.Method == "initialize":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}`, m.ID)
		case m.Method == "tools/call":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"method\":\"roots/list\"}\n\n")
			w.(http.Flusher).Flush()
			select {
			case reply := <-replies:
				fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":%q}]}}\n\n", m.ID, reply)
			case <-time.After(10 * time.Second):
			}
		case m.Method == "" && len(m.ID) > 0: // the client's reply
			replies <- string(body)
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	h := &rootsHandler{}
	s := connect(t, srv.URL, StreamableHTTP, h)
	res, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"x"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Content []struct{ Text string } `json:"content"`
	}
	_ = json.Unmarshal(res, &out)
	if len(out.Content) != 1 || out.Content[0].Text != `{"jsonrpc":"2.0","id":"s-1","result":{"roots":[]}}` {
		t.Errorf("the server got %s; want the handler's result under its id", res)
	}
}

type rootsHandler struct{ notes }

func (*rootsHandler) Request(_ context.Context, method string, _ json.RawMessage) (json.RawMessage, error) {
	if method != "roots/list" {
		return nil, &RPCError{Code: -32601, Message: method}
	}
	return json.RawMessage(`{"roots":[]}`), nil
}

// TestSessionCloseLeavesNothingRunning: Close ends the session's streams
// and waits for every goroutine the session started.
func TestSessionCloseLeavesNothingRunning(t *testing.T) {
	for transport, url := range transports(t, upstreamtest.Options{}) {
		s := connect(t, url, transport, &notes{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, _ = s.Call(ctx, "tools/call", json.RawMessage(`{"name":"wait","arguments":{"seconds":30}}`), nil)
		cancel()
		s.Close()
		if !errors.Is(s.Err(), ErrClosed) {
			t.Errorf("%s: Err after Close = %v", transport, s.Err())
		}
		if left := sessionGoroutines(); len(left) > 0 {
			t.Errorf("%s: %d goroutines of the session left after Close:\n%s", transport, len(left), strings.Join(left, "\n\n"))
		}
	}
}

func sessionGoroutines() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "bridge/client.(*") && !strings.Contains(g, "TestSession") {
			out = append(out, g)
		}
	}
	return out
}
