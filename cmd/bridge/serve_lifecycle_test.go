package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// The connection lifecycle as the agent sees it: servers that die, come up
// late, hang, or expire a session, and the end of a session at EOF.

func TestServeSurvivesAServerDying(t *testing.T) {
	f, a := serveFleet(t)
	for _, victim := range []struct {
		name string
		up   *upstreamtest.Server
	}{{"beta", f.beta}, {"alpha", f.alpha}} {
		id := a.request("tools/call", map[string]any{"name": victim.name + "__wait", "arguments": map[string]any{"seconds": 30}})
		waitFor(t, func() bool { return victim.up.Stats().ToolCalls > 0 })
		time.Sleep(50 * time.Millisecond)
		victim.up.Kill()
		// Well under the call timeout: the call fails because its server
		// died, not because it timed out.
		m, _ := a.await(id, 30*time.Second)
		if m.Error == nil || !strings.Contains(m.Error.Message, victim.name+":") || strings.Contains(m.Error.Message, "no answer or progress within") {
			t.Errorf("%s killed mid-call: %s", victim.name, m.raw)
		}
		// The others keep working; calls to the dead one fail promptly.
		if text, errm := a.toolText("gamma__echo", map[string]any{"text": "still here"}); errm != nil || text != "still here" {
			t.Errorf("gamma after %s died: %q %v", victim.name, text, errm)
		}
		if _, errm := a.toolText(victim.name+"__echo", map[string]any{"text": "x"}); errm == nil || !strings.Contains(errm.Error.Message, victim.name) {
			t.Errorf("call to dead %s: %+v", victim.name, errm)
		}
		victim.up.Restart()
		waitFor(t, func() bool {
			text, errm := a.toolText(victim.name+"__echo", map[string]any{"text": "back"})
			return errm == nil && text == "back"
		})
	}
}

func TestServeReinitializesAnExpiredSession(t *testing.T) {
	f, a := serveFleet(t)
	before := f.alpha.Stats().Initializes
	f.alpha.ExpireSessions()
	if text, errm := a.toolText("alpha__echo", map[string]any{"text": "again"}); errm != nil || text != "again" {
		t.Fatalf("after expiry: %q %v", text, errm)
	}
	if f.alpha.Stats().Initializes != before+1 {
		t.Errorf("initializes %d → %d, want one more", before, f.alpha.Stats().Initializes)
	}
}

func TestServeStartsAtOnceAndAddsLateServers(t *testing.T) {
	f := startFleet(t)
	f.beta.Kill()
	// pins: warn, so that the tool added below is exposed (flagged) at once.
	a := startAgent(t, f.catalog, servers, "pins: warn\n", "--startup-wait", "300ms")
	a.initialize("2025-11-25")
	tools := listTools(a)
	if _, ok := tools["beta__echo"]; ok {
		t.Fatal("a dead server's tools are listed")
	}
	// On a loaded machine the live server may miss the start-up wait too:
	// then it arrives with list_changed.
	for tries := 0; tools["alpha__echo"] == nil; tries++ {
		if tries == 3 {
			t.Fatalf("tools = %v", keys(tools))
		}
		a.waitNotification("notifications/tools/list_changed", 30*time.Second)
		tools = listTools(a)
	}
	f.beta.Restart()
	a.waitNotification("notifications/tools/list_changed", 15*time.Second)
	if _, ok := listTools(a)["beta__echo"]; !ok {
		t.Error("the late server's tools are not listed after list_changed")
	}

	// A server's own list_changed refreshes its part.
	f.alpha.AddTool("fresh")
	a.waitNotification("notifications/tools/list_changed", 10*time.Second)
	if _, ok := listTools(a)["alpha__fresh"]; !ok {
		t.Error("a tool the server added is not listed")
	}
}

func TestServeTimesOutAHungCall(t *testing.T) {
	f, a := serveFleet(t, "--call-timeout", "1s")
	m, _ := a.call("tools/call", map[string]any{"name": "alpha__wait", "arguments": map[string]any{"seconds": 30}})
	if m.Error == nil || !strings.Contains(m.Error.Message, "alpha: no answer or progress within 1s") {
		t.Errorf("hung call: %s", m.raw)
	}
	waitFor(t, func() bool { return f.alpha.Stats().WaitsCancelled > 0 })
	// Progress extends the timeout: 20 steps 100 ms apart outlast 1 s,
	// with room for a loaded machine between two of them.
	m, _ = a.call("tools/call", map[string]any{"name": "alpha__progress", "arguments": map[string]any{"steps": 20, "delay_ms": 100}})
	if m.Error != nil {
		t.Errorf("a call that keeps sending progress timed out: %s", m.raw)
	}
}

func TestServeExitsOnEOFAndEndsSessions(t *testing.T) {
	f, a := serveFleet(t)
	a.stdin.Close()
	select {
	case <-a.exited:
		if a.err != nil {
			t.Errorf("exit: %v", a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge did not exit after stdin closed")
	}
	for _, s := range []*upstreamtest.Server{f.alpha, f.gamma} {
		if s.Stats().Deletes == 0 {
			t.Errorf("%s: session not deleted", s.StreamableURL)
		}
	}
}
