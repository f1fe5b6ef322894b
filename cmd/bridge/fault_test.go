// The fault-injection suite: each fault the bridge must survive, and the
// tests that cover it (in this file unless another is named).
//
//   - A server down at start and up later: the bridge starts without it, and
//     its tools arrive with notifications/tools/list_changed.
//     TestServeStartsAtOnceAndAddsLateServers (serve_test.go)
//   - A server killed mid-call: that call fails promptly with an error naming
//     the server; calls to the other servers are unaffected; the bridge
//     reconnects once it is back.
//     TestServeSurvivesAServerDying (serve_test.go)
//   - A server that hangs: the call fails after --call-timeout and is
//     cancelled on the server; progress keeps a slow call alive.
//     TestServeTimesOutAHungCall (serve_test.go)
//     And nothing leaks: after a hundred such calls the bridge's open file
//     descriptors and threads are back near their count before them.
//     TestHangingCallsTimeOutWithoutLeaking
//   - Session expiry (the server answers 404 for the session) between calls:
//     the next call succeeds after exactly one re-initialize.
//     TestServeReinitializesAnExpiredSession (serve_test.go)
//   - Session expiry during a call, the server finishing or dropping the call,
//     and over SSE: the call in flight gets its result or an error naming the
//     server, and the bridge initializes exactly once more.
//     TestSessionExpiryDuringACall
//   - 401 and a token refresh: on connecting, with a token the server no
//     longer takes,
//     TestExpiredTokenIsRefreshedOnceOn401 (auth_test.go)
//     and mid-session, with many calls meeting the 401: one refresh, the
//     calls sent again, the session kept.
//     TestTokenExpiredMidSessionIsRefreshedOnce
//   - 500s, malformed JSON and malformed SSE from a server cost only that call;
//     a 50 MB result passes whole.
//     TestFaultsFromAServerCostOnlyThatCall
//   - Bad input from the agent (malformed JSON, a message over the size
//     limit, an unknown method) is answered, not fatal.
//     TestBadInputFromTheAgentIsAnsweredNotFatal
//   - 1000 sequential and 200 concurrent calls lose nothing, and each call's
//     progress comes in order before its result.
//     TestManyCallsLoseNothing
//   - SIGTERM during calls: a prompt, clean exit that ends the sessions.
//     TestSIGTERMDuringCallsShutsDownCleanly
//   - Requests sent just before the agent closes stdin are answered.
//     TestRequestsJustBeforeEOFAreAnswered

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// faultyServer is a hand-made MCP server over streamable HTTP whose tool
// calls go wrong on purpose: 500s, broken JSON, broken SSE, and a 50 MB
// result. Real MCP servers cannot be made to misbehave like this.
func faultyServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &req) != nil || len(req.ID) == 0 {
			w.WriteHeader(http.StatusAccepted) // notifications
			return
		}
		reply := func(result string) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
		}
		switch req.Method {
		case "initialize":
			reply(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"faulty","version":"1"}}`)
		case "tools/list":
			reply(`{"tools":[{"name":"status500","inputSchema":{"type":"object"}},{"name":"badjson","inputSchema":{"type":"object"}},` +
				`{"name":"badsse","inputSchema":{"type":"object"}},{"name":"huge","inputSchema":{"type":"object"}},{"name":"fine","inputSchema":{"type":"object"}}]}`)
		case "tools/call":
			switch req.Params.Name {
			case "status500":
				http.Error(w, "internal error", http.StatusInternalServerError)
			case "badjson":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{"content":[`)
			case "badsse":
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "event: message\ndata: {not json at all\n\n")
			case "huge":
				text := strings.Repeat("x", 50<<20)
				reply(`{"content":[{"type":"text","text":"` + text + `"}]}`)
			default:
				reply(`{"content":[{"type":"text","text":"fine"}]}`)
			}
		default:
			reply(`{}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFaultsFromAServerCostOnlyThatCall(t *testing.T) {
	bad := faultyServer(t)
	a := startAgent(t, entityYAML("faulty", [2]string{"streamable-http", bad.URL + "/mcp"}), []string{"faulty"}, "")
	a.initialize("2025-11-25")
	listTools(a)
	for _, tool := range []string{"status500", "badjson", "badsse"} {
		start := time.Now()
		m, _ := a.call("tools/call", map[string]any{"name": "faulty__" + tool, "arguments": map[string]any{}})
		if m.Error == nil || !strings.Contains(m.Error.Message, "faulty") {
			t.Errorf("%s: %s", tool, m.raw)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("%s took %s", tool, d)
		}
		if text, errm := a.toolText("faulty__fine", map[string]any{}); errm != nil || text != "fine" {
			t.Fatalf("after %s the server no longer works: %q %v", tool, text, errm)
		}
	}
	// A 50 MB result passes through whole.
	m, _ := a.call("tools/call", map[string]any{"name": "faulty__huge", "arguments": map[string]any{}})
	if m.Error != nil || len(firstText(t, m.Result)) != 50<<20 {
		t.Errorf("50 MB result: error %v, %d bytes", m.Error, len(m.raw))
	}
}

func TestBadInputFromTheAgentIsAnsweredNotFatal(t *testing.T) {
	a := startAgent(t, "", nil, "")
	a.initialize("2025-11-25")
	if _, err := io.WriteString(a.stdin, "{this is not json\n"); err != nil {
		t.Fatal(err)
	}
	m := <-a.msgs
	if m.Error == nil || m.Error.Code != -32700 {
		t.Errorf("malformed JSON: %s", m.raw)
	}
	// An oversized message is refused whole, and the next one still works.
	big := `{"jsonrpc":"2.0","id":99,"method":"ping","params":{"pad":"` + strings.Repeat("p", 33<<20) + `"}}` + "\n"
	if _, err := io.WriteString(a.stdin, big); err != nil {
		t.Fatal(err)
	}
	m = <-a.msgs
	if m.Error == nil || m.Error.Code != -32600 || !strings.Contains(m.Error.Message, "larger than") {
		t.Errorf("oversized: %s", m.raw)
	}
	m2, _ := a.call("no/such/method", map[string]any{})
	if m2.Error == nil || m2.Error.Code != -32601 {
		t.Errorf("unknown method: %s", m2.raw)
	}
	if p, _ := a.call("ping", nil); p.Error != nil {
		t.Errorf("ping after bad input: %s", p.raw)
	}
}

func TestManyCallsLoseNothing(t *testing.T) {
	f := startFleet(t)
	a := startAgent(t, f.catalog, servers, "")
	a.initialize("2025-11-25")
	listTools(a)
	for i := range 1000 {
		want := fmt.Sprintf("seq-%d", i)
		if text, errm := a.toolText(servers[i%3]+"__echo", map[string]any{"text": want}); errm != nil || text != want {
			t.Fatalf("call %d: %q %v", i, text, errm)
		}
	}
	// 200 at once, each with progress: every answer arrives, and each
	// call's progress comes before its own answer, in order.
	ids := map[string]int{}
	for i := range 200 {
		ids[fmt.Sprint(a.request("tools/call", map[string]any{"name": servers[i%3] + "__progress",
			"arguments": map[string]any{"steps": 3, "delay_ms": 0}, "_meta": map[string]any{"progressToken": fmt.Sprintf("c%d", i)}}))] = i
	}
	seen := map[string]int{} // token → last progress
	answered := 0
	deadline := time.After(60 * time.Second)
	for answered < 200 {
		select {
		case m := <-a.msgs:
			if m.Method == "notifications/progress" {
				var p struct {
					Token    string  `json:"progressToken"`
					Progress float64 `json:"progress"`
				}
				must(t, json.Unmarshal(m.Params, &p))
				if int(p.Progress) != seen[p.Token]+1 {
					t.Fatalf("progress for %s out of order: %v after %d", p.Token, p.Progress, seen[p.Token])
				}
				seen[p.Token] = int(p.Progress)
				continue
			}
			i, ok := ids[string(m.ID)]
			if !ok || m.Error != nil {
				t.Fatalf("unexpected: %s", m.raw)
			}
			if seen[fmt.Sprintf("c%d", i)] != 3 {
				t.Fatalf("call %d answered after %d of 3 progress notifications", i, seen[fmt.Sprintf("c%d", i)])
			}
			answered++
		case <-deadline:
			t.Fatalf("%d of 200 concurrent calls answered", answered)
		}
	}
}

func TestSIGTERMDuringCallsShutsDownCleanly(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", up.StreamableURL}), []string{"alpha"}, "")
	a.initialize("2025-11-25")
	listTools(a)
	for range 5 {
		a.request("tools/call", map[string]any{"name": "alpha__wait", "arguments": map[string]any{"seconds": 30}})
	}
	waitFor(t, func() bool { return up.Stats().ToolCalls >= 5 })
	start := time.Now()
	must(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
		if a.err != nil {
			t.Errorf("exit after SIGTERM: %v", a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge did not exit on SIGTERM")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	if up.Stats().Deletes == 0 {
		t.Error("the session was not deleted")
	}
}

func TestRequestsJustBeforeEOFAreAnswered(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", up.StreamableURL}), []string{"alpha"}, "")
	a.initialize("2025-11-25")
	listTools(a)
	ping := a.request("ping", nil)
	call := a.request("tools/call", map[string]any{"name": "alpha__echo", "arguments": map[string]any{"text": "last"}})
	a.stdin.Close()
	got := map[string]bool{}
	for m := range a.msgs {
		got[string(m.ID)] = true
	}
	if !got[fmt.Sprint(ping)] || !got[fmt.Sprint(call)] {
		t.Errorf("answers before exit: %v", got)
	}
}

// remoteOf is the catalog remote of a test server: streamable HTTP when it
// serves that, else SSE.
func remoteOf(up *upstreamtest.Server) [2]string {
	if up.StreamableURL != "" {
		return [2]string{"streamable-http", up.StreamableURL}
	}
	return [2]string{"sse", up.SSEURL}
}

// TestHangingCallsTimeOutWithoutLeaking: calls to a server that never answers
// fail after --call-timeout with an error naming the server, the server sees
// each one cancelled, and a hundred of them leave the bridge holding no more
// open files (connections included) or threads than before. It reads /proc,
// so it runs on Linux only.
func TestHangingCallsTimeOutWithoutLeaking(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("counting a process's open files and threads needs Linux's /proc; this is %s", runtime.GOOS)
	}
	const (
		timeout = 150 * time.Millisecond
		batch   = 10 // calls sent at once
		rounds  = 10
		// slack is how far above the baseline the counts may end: idle
		// pooled connections come and go, up to about one per call in
		// flight at once. A leak of one file or thread per call would end
		// a hundred above it.
		slack = batch + 5
	)
	for _, transport := range []upstreamtest.Transport{upstreamtest.StreamableHTTP, upstreamtest.SSE} {
		t.Run(string(transport), func(t *testing.T) {
			t.Parallel()
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: transport})
			a := startAgent(t, entityYAML("alpha", remoteOf(up)), []string{"alpha"}, "", "--call-timeout", timeout.String())
			a.initialize("2025-11-25")
			listTools(a)
			calls := 0
			// round makes batch calls at once that all hang, and waits
			// until the server has seen each of them cancelled.
			round := func() {
				t.Helper()
				ids := make([]int, batch)
				for i := range ids {
					ids[i] = a.request("tools/call", map[string]any{"name": "alpha__wait", "arguments": map[string]any{"seconds": 60}})
				}
				answers, _ := a.awaitAll(20*time.Second, ids...)
				for _, m := range answers {
					if m.Error == nil || !strings.Contains(m.Error.Message, "alpha: no answer or progress within "+timeout.String()) {
						t.Fatalf("hung call: %s", m.raw)
					}
				}
				calls += batch
				// Told so (notifications/cancelled), and the call's
				// handler on the server ended.
				deadline := time.Now().Add(15 * time.Second)
				for s := up.Stats(); s.Cancelled != calls || s.WaitsCancelled != calls; s = up.Stats() {
					if time.Now().After(deadline) {
						t.Fatalf("%d calls timed out; the server got %d notifications/cancelled and saw %d calls cancelled",
							calls, s.Cancelled, s.WaitsCancelled)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// The first round grows the connection pool to what this load
			// needs; the baseline is taken after it.
			round()
			files0, threads0 := processCounts(t, a.pid())
			for range rounds {
				round()
			}
			// Whatever a timed-out call holds, it has let go of once the
			// server has seen it cancelled; allow a moment all the same.
			var files, threads int
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				files, threads = processCounts(t, a.pid())
				if files <= files0+slack && threads <= threads0+slack {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d timed-out calls the bridge has %d open files (%d before) and %d threads (%d before); open files:\n%s",
						rounds*batch, files, files0, threads, threads0, openFiles(a.pid()))
				}
			}
			t.Logf("open files %d → %d, threads %d → %d over %d timed-out calls", files0, files, threads0, threads, rounds*batch)
			if text, errm := a.toolText("alpha__echo", map[string]any{"text": "still here"}); errm != nil || text != "still here" {
				t.Errorf("after the timeouts: %q %v", text, errm)
			}
		})
	}
}

// processCounts is how many files a process has open and how many threads
// it runs.
func processCounts(t *testing.T, pid int) (files, threads int) {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	must(t, err)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	must(t, err)
	return len(fds), len(tasks)
}

// openFiles lists what a process's file descriptors point to.
func openFiles(pid int) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join(dir, fd.Name()))
		fmt.Fprintf(&b, "  %s -> %s\n", fd.Name(), target)
	}
	return b.String()
}

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
