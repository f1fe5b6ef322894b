package upstreamtest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func raw(c *conn, id, method string, params any) (*transport.JSONRPCResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: "2.0", ID: mcp.NewRequestId(id), Method: method, Params: params,
	})
}

func TestKillRestart(t *testing.T) {
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		lost := make(chan struct{})
		c.OnConnectionLost(func(error) { close(lost) })
		s.AddTool("kept")

		errc := make(chan error, 1)
		// mcp-go's SSE client does not fail pending calls when the stream
		// breaks, so the SSE call ends by its own timeout.
		go func() {
			_, err := c.call(3*time.Second, "wait", map[string]any{"seconds": 20}, "")
			errc <- err
		}()
		eventually(t, "the wait call", func() bool { return s.Stats().ToolCalls == 1 })
		s.Kill()
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("in-flight call succeeded across Kill")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("in-flight call still pending after Kill")
		}
		if tr == SSE {
			select {
			case <-lost:
			case <-time.After(5 * time.Second):
				t.Fatal("SSE stream survived Kill")
			}
		}
		if _, err := c.call(3*time.Second, "echo", map[string]any{"text": "x"}, ""); err == nil {
			t.Fatal("call succeeded on a killed server")
		}

		s.Restart()
		c2 := dial(t, s, tr, nil)
		if got := text(t, call(t, c2, "kept", nil, "")); got != "kept" {
			t.Fatalf("added tool after restart: %q", got)
		}
		if n := s.Stats().Initializes; n != 2 {
			t.Fatalf("%d initializes", n)
		}
		s.Restart() // without Kill first
		c3 := dial(t, s, tr, nil)
		if got := text(t, call(t, c3, "echo", map[string]any{"text": "again"}, "")); got != "again" {
			t.Fatalf("echo after second restart: %q", got)
		}
	})
}

func TestExpireSessions(t *testing.T) {
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		var (
			url    string
			header = http.Header{"Content-Type": {"application/json"}}
		)
		if tr == SSE {
			url = client.GetEndpoint(c.Client).String()
		} else {
			url = s.StreamableURL
			header.Set("Mcp-Session-Id", c.GetSessionId())
			header.Set("Mcp-Protocol-Version", mcp.LATEST_LEGACY_PROTOCOL_VERSION)
		}
		post := func() int {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			req.Header = header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := post(); code != http.StatusOK && code != http.StatusAccepted {
			t.Fatalf("live session: %d", code)
		}
		s.ExpireSessions()
		want := http.StatusNotFound
		if tr == SSE {
			want = http.StatusBadRequest
		}
		if code := post(); code != want {
			t.Fatalf("expired session: %d, want %d", code, want)
		}
		if _, err := c.ListTools(context.Background(), mcp.ListToolsRequest{}); err == nil {
			t.Fatal("old client still works")
		}
		c2 := dial(t, s, tr, nil)
		if got := text(t, call(t, c2, "echo", map[string]any{"text": "new"}, "")); got != "new" {
			t.Fatalf("new session: %q", got)
		}
	})
}

// TestExpireSessionsDroppingCalls: ExpireSessions lets a streamable HTTP
// request already being handled finish; ExpireSessionsDroppingCalls cuts it
// off without an answer.
func TestExpireSessionsDroppingCalls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expire  func(*Server)
		seconds float64 // how long the call in flight waits
		drops   bool
	}{
		{"ExpireSessions", (*Server).ExpireSessions, 1, false},
		{"ExpireSessionsDroppingCalls", (*Server).ExpireSessionsDroppingCalls, 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{Transport: StreamableHTTP})
			c := dial(t, s, StreamableHTTP, nil)
			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			done := make(chan answer, 1)
			go func() {
				res, err := c.call(10*time.Second, "wait", map[string]any{"seconds": tc.seconds}, "")
				done <- answer{res, err}
			}()
			eventually(t, "the wait call", func() bool { return s.Stats().ToolCalls == 1 })
			tc.expire(s)
			got := <-done
			switch {
			case tc.drops && got.err == nil:
				t.Fatalf("the dropped call was answered: %v", got.res)
			case tc.drops && errors.Is(got.err, context.DeadlineExceeded):
				t.Fatalf("the call was not dropped: it ran until the client gave up")
			case !tc.drops && (got.err != nil || text(t, got.res) != "waited"):
				t.Fatalf("the call in flight: %v %v", got.res, got.err)
			}
			c2 := dial(t, s, StreamableHTTP, nil)
			if got := text(t, call(t, c2, "echo", map[string]any{"text": "new"}, "")); got != "new" {
				t.Fatalf("new session: %q", got)
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	forEach(t, Options{Name: "beta"}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		const uri = "test://beta/readme"
		if _, err := raw(c, "sub-1", "resources/subscribe", map[string]any{"uri": uri}); err != nil {
			t.Fatal(err)
		}
		s.UpdateResource(uri)
		n := c.waitFor(t, "notifications/resources/updated")
		if n.Params.AdditionalFields["uri"] != uri {
			t.Fatalf("updated: %v", n.Params.AdditionalFields)
		}

		s.AddTool("added_one")
		c.waitFor(t, "notifications/tools/list_changed")
		if got := text(t, call(t, c, "added_one", nil, "")); got != "added_one" {
			t.Fatalf("added tool: %q", got)
		}
	})
}

func TestStats(t *testing.T) {
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, map[string]string{"X-Trace": "abc", "Authorization": "Bearer tok"})
		call(t, c, "echo", map[string]any{"text": "1"}, "")
		if _, err := raw(c, "rpc", "tools/call", map[string]any{"name": "rpc_error"}); err != nil {
			t.Fatal(err)
		}

		done := make(chan error, 1)
		go func() {
			_, err := raw(c, "w-1", "tools/call", map[string]any{"name": "wait", "arguments": map[string]any{"seconds": 5}})
			done <- err
		}()
		eventually(t, "the wait call", func() bool { return s.Stats().ToolCalls == 3 })
		// mcp-go ignores a cancellation that overtakes the handler's start.
		time.Sleep(200 * time.Millisecond)
		err := c.GetTransport().SendNotification(context.Background(), mcp.JSONRPCNotification{
			JSONRPC:      "2.0",
			Notification: mcp.Notification{Method: "notifications/cancelled", Params: mcp.NotificationParams{AdditionalFields: map[string]any{"requestId": "w-1"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the cancelled wait", func() bool { return s.Stats().WaitsCancelled == 1 })

		st := s.Stats()
		if st.Initializes != 1 || st.ToolCalls != 3 || st.Cancelled != 1 || !slices.Equal(st.CancelledIDs, []string{`"w-1"`}) {
			t.Fatalf("stats %+v", st)
		}
		if st.LastAuthorization != "Bearer tok" || st.Headers["X-Trace"] != "abc" {
			t.Fatalf("headers %+v", st)
		}
		if tr == StreamableHTTP {
			c.Close()
			if n := s.Stats().Deletes; n != 1 {
				t.Fatalf("%d deletes", n)
			}
		}
	})
}

// TestBoth serves both transports from one MCP server: a change reaches the
// sessions of either.
func TestBoth(t *testing.T) {
	s := Start(t, Options{Name: "both", Transport: Both})
	if s.StreamableURL == "" || s.SSEURL == "" {
		t.Fatalf("urls %q %q", s.StreamableURL, s.SSEURL)
	}
	streamable, sse := dial(t, s, StreamableHTTP, nil), dial(t, s, SSE, nil)
	s.AddTool("shared")
	for _, c := range []*conn{streamable, sse} {
		c.waitFor(t, "notifications/tools/list_changed")
		if got := text(t, call(t, c, "shared", nil, "")); got != "shared" {
			t.Fatalf("shared: %q", got)
		}
		call(t, c, "burst", map[string]any{"count": 300}, "b")
		if got := c.progress("b"); !slices.Equal(got, seq(300)) {
			t.Fatalf("burst: %d notifications", len(got))
		}
	}
	if n := s.Stats().Initializes; n != 2 {
		t.Fatalf("%d initializes", n)
	}
}
