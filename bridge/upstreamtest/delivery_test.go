package upstreamtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestProgressInOrder(t *testing.T) {
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		res := call(t, c, "progress", map[string]any{"steps": 5, "delay_ms": 20}, "p1")
		// Notifications are handled before the response on the same stream,
		// so all of them must be here once the call returned.
		if got := c.progress("p1"); !slices.Equal(got, seq(5)) {
			t.Fatalf("progress %v", got)
		}
		if got := text(t, res); got != "done after 5 steps" {
			t.Fatalf("result %q", got)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.notes {
			f := n.Params.AdditionalFields
			if f["total"] != 5.0 || f["message"] != fmt.Sprintf("step %d", i+1) {
				t.Errorf("notification %d: %v", i, f)
			}
		}
	})
}

// TestBurstLossless repeats 500-notification bursts, some of them
// concurrently on one session next to a blocked call, and wants every
// notification, in order, before each result.
func TestBurstLossless(t *testing.T) {
	const count = 500
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		for i := range 20 {
			token := fmt.Sprintf("seq-%d", i)
			res := call(t, c, "burst", map[string]any{"count": count}, token)
			if got := c.progress(token); !slices.Equal(got, seq(count)) {
				t.Fatalf("%s: got %d notifications, in order: %v", token, len(got), slices.IsSorted(got))
			}
			if got := text(t, res); got != fmt.Sprintf("burst of %d", count) {
				t.Fatalf("result %q", got)
			}
		}

		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := c.call(10*time.Second, "wait", map[string]any{"seconds": 0.3}, ""); err != nil {
				t.Error(err)
			}
		})
		for i := range 4 {
			wg.Go(func() {
				token := fmt.Sprintf("par-%d", i)
				if _, err := c.call(30*time.Second, "burst", map[string]any{"count": count}, token); err != nil {
					t.Error(err)
					return
				}
				if got := c.progress(token); !slices.Equal(got, seq(count)) {
					t.Errorf("%s: got %d notifications, in order: %v", token, len(got), slices.IsSorted(got))
				}
			})
		}
		wg.Wait()
	})
}

// TestBurstWire reads a streamable HTTP burst off the wire: an event stream
// of 500 progress events and then the result, framed like mcp-go's events.
func TestBurstWire(t *testing.T) {
	s := Start(t, Options{Transport: StreamableHTTP})
	post := func(session string, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, s.StreamableURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	init := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	session := init.Header.Get("Mcp-Session-Id")
	if init.StatusCode != http.StatusOK || session == "" {
		t.Fatalf("initialize: %s, session %q", init.Status, session)
	}
	post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	resp := post(session, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"burst","arguments":{"count":500},"_meta":{"progressToken":7}}}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || line == "event: message":
		case strings.HasPrefix(line, "data: "):
			events = append(events, strings.TrimPrefix(line, "data: "))
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	if len(events) != 501 {
		t.Fatalf("%d events", len(events))
	}
	for i, e := range events[:500] {
		var n struct {
			Method string
			Params struct {
				ProgressToken json.RawMessage
				Progress      int
			}
		}
		if err := json.Unmarshal([]byte(e), &n); err != nil || n.Method != "notifications/progress" ||
			n.Params.Progress != i+1 || string(n.Params.ProgressToken) != "7" {
			t.Fatalf("event %d: %s", i, e)
		}
	}
	var result struct {
		ID     int
		Result struct{ Content []struct{ Text string } }
	}
	if err := json.Unmarshal([]byte(events[500]), &result); err != nil || result.ID != 2 ||
		result.Result.Content[0].Text != "burst of 500" {
		t.Fatalf("last event: %s", events[500])
	}
	if !bytes.Contains([]byte(events[500]), []byte(`"jsonrpc":"2.0"`)) {
		t.Fatalf("last event: %s", events[500])
	}
}
