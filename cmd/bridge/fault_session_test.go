package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// Part of the fault-injection suite indexed in fault_test.go: a session or
// a token that expires while calls are in flight.

// TestSessionExpiryDuringACall: the server forgets the bridge's session while
// a long call is in flight. That call gets a clear answer, never a hang: its
// result when the server still gives it, otherwise an error naming the
// server. A call made meanwhile succeeds over streamable HTTP, and later
// calls succeed, after exactly one new initialize.
func TestSessionExpiryDuringACall(t *testing.T) {
	progress := map[string]any{"steps": 5, "delay_ms": 200}
	for _, tc := range []struct {
		name      string
		transport upstreamtest.Transport
		tool      string // progress (the answer is under way) or wait (nothing sent yet)
		args      map[string]any
		drop      bool // the server drops the calls of the sessions it forgets
		answered  bool // the call in flight gets its result, not an error
		// reconnects: over SSE a forgotten session ends the event stream,
		// which is a lost connection; calls fail, naming the server, until
		// the bridge has reconnected.
		reconnects bool
	}{
		{"streamable HTTP server finishes the call", upstreamtest.StreamableHTTP, "progress", progress, false, true, false},
		{"streamable HTTP server drops the call mid-answer", upstreamtest.StreamableHTTP, "progress", progress, true, false, false},
		{"streamable HTTP server drops the call before answering", upstreamtest.StreamableHTTP, "wait", map[string]any{"seconds": 60}, true, false, false},
		{"SSE event stream ends", upstreamtest.SSE, "progress", progress, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: tc.transport})
			// The default call timeout: an answer that never comes would
			// not be cut short by it within the test.
			a := startAgent(t, entityYAML("alpha", remoteOf(up)), []string{"alpha"}, "")
			a.initialize("2025-11-25")
			listTools(a)
			before := up.Stats().Initializes
			long := a.request("tools/call", map[string]any{"name": "alpha__" + tc.tool, "arguments": tc.args,
				"_meta": map[string]any{"progressToken": "long"}})
			if tc.tool == "progress" {
				a.waitNotification("notifications/progress", 10*time.Second) // the first of 5
			} else {
				waitFor(t, func() bool { return up.Stats().ToolCalls > 0 })
			}
			if tc.drop {
				up.ExpireSessionsDroppingCalls()
			} else {
				up.ExpireSessions()
			}
			meanwhile := a.request("tools/call", map[string]any{"name": "alpha__echo", "arguments": map[string]any{"text": "meanwhile"}})
			answers, notes := a.awaitAll(15*time.Second, long, meanwhile)

			m := answers[long]
			switch {
			case tc.answered && m.Error != nil:
				t.Errorf("the call in flight failed: %s", m.raw)
			case tc.answered:
				if text := firstText(t, m.Result); text != "done after 5 steps" {
					t.Errorf("the call in flight: %q", text)
				}
				if got := progressOf(t, notes[long], "long"); !slices.Equal(got, []float64{2, 3, 4, 5}) {
					t.Errorf("progress before the result: %v, want the rest of 5 in order", got)
				}
			case m.Error == nil || !strings.Contains(m.Error.Message, "alpha: "):
				t.Errorf("the call in flight, dropped: %s", m.raw)
			}

			m = answers[meanwhile]
			switch {
			case m.Error != nil && (!tc.reconnects || !strings.Contains(m.Error.Message, "alpha: ")):
				t.Errorf("a call right after the expiry: %s", m.raw)
			case m.Error == nil && firstText(t, m.Result) != "meanwhile":
				t.Errorf("a call right after the expiry: %s", m.raw)
			}
			// The next call succeeds; over SSE calls fail, naming the
			// server, until the bridge has reconnected.
			waitFor(t, func() bool {
				text, errm := a.toolText("alpha__echo", map[string]any{"text": "after"})
				switch {
				case errm != nil && (!tc.reconnects || !strings.Contains(errm.Error.Message, "alpha: ")):
					t.Fatalf("the next call: %s", errm.raw)
				case errm == nil && text != "after":
					t.Fatalf("the next call: %q", text)
				}
				return errm == nil
			})
			if n := up.Stats().Initializes; n != before+1 {
				t.Errorf("initializes %d → %d, want exactly one more", before, n)
			}
		})
	}
}

// progressOf is the progress values of the notifications for token, in order.
func progressOf(t *testing.T, notes []rpcMessage, token string) []float64 {
	t.Helper()
	var got []float64
	for _, n := range notes {
		if n.Method != "notifications/progress" {
			continue
		}
		var p struct {
			Token    string  `json:"progressToken"`
			Progress float64 `json:"progress"`
		}
		must(t, json.Unmarshal(n.Params, &p))
		if p.Token == token {
			got = append(got, p.Progress)
		}
	}
	return got
}

// TestTokenExpiredMidSessionIsRefreshedOnce: the server starts refusing the
// access token of a live session, as when it was revoked or expired early.
// The calls that meet the 401 cause one refresh between them, are sent again
// with the new token and succeed, on the same session.
func TestTokenExpiredMidSessionIsRefreshedOnce(t *testing.T) {
	r, a := startRefreshing(t, "first-access", "second-access", "first-access")
	up, remote := r.up, r.remote
	a.initialize("2025-11-25")
	if text, errm := a.toolText("gh__echo", map[string]any{"text": "before"}); errm != nil || text != "before" {
		t.Fatalf("gh__echo with the first token: %q %v", text, errm)
	}
	initializes := up.Stats().Initializes

	remote.mu.Lock()
	remote.accept = "second-access"
	remote.mu.Unlock()
	// Calls a moment apart: some meet the 401 while others have already
	// renewed the token, and the renewed one must not be renewed again.
	ids := map[int]string{}
	for i := range 32 {
		text := fmt.Sprintf("after-%d", i)
		ids[a.request("tools/call", map[string]any{"name": "gh__echo", "arguments": map[string]any{"text": text}})] = text
		time.Sleep(time.Millisecond)
	}
	answers, _ := a.awaitAll(15*time.Second, slices.Collect(maps.Keys(ids))...)
	for id, m := range answers {
		if m.Error != nil || firstText(t, m.Result) != ids[id] {
			t.Errorf("a call that met the 401: %s", m.raw)
		}
	}
	if got := r.refreshed(); len(got) != 1 || got[0] != "first" {
		t.Errorf("refreshes = %q, want one, with the stored refresh token", got)
	}
	if n := up.Stats().Initializes; n != initializes {
		t.Errorf("initializes %d → %d: the 401 cost the session", initializes, n)
	}
	if got := up.Stats().LastAuthorization; got != "Bearer second-access" {
		t.Errorf("the server last saw %q", got)
	}
	r.checkStored(t, "second-access")
}
