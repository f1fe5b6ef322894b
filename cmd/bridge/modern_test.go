package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// A server that speaks only the stateless revision (2026-07-28), reached
// through the bridge by an agent of the handshake era.

func TestAServerOfTheStatelessEraWorksFromALegacyAgent(t *testing.T) {
	// New tools are not withheld, so that the one added later is listed.
	up, a := startInteractiveEra(t, upstreamtest.ModernOnly, map[string]any{"elicitation": map[string]any{}}, "pins: warn\n")
	tools := listTools(a)
	for _, name := range []string{"x__echo", "x__confirm", "x__progress"} {
		if _, ok := tools[name]; !ok {
			t.Fatalf("%s is not listed: %v", name, keys(tools))
		}
	}
	if text, errm := a.toolText("x__echo", map[string]any{"text": "hi"}); errm != nil || text != "hi" {
		t.Errorf("echo: %q %v", text, errm)
	}

	// The server's multi round-trip request becomes an elicitation the
	// agent answers; the bridge asks the server again with the answer.
	m, requests, _ := callAnswering(a, "x__confirm", map[string]any{},
		func(rpcMessage) any { return map[string]any{"action": "accept", "content": map[string]any{"ok": true}} })
	if len(requests) != 1 || requests[0].Method != "elicitation/create" || !strings.Contains(string(requests[0].Params), "Go ahead?") {
		t.Errorf("the agent was asked %v", requests)
	}
	if m.Error != nil || !strings.Contains(firstText(t, m.Result), `confirmed: accept {"ok":true}, state "step-1"`) {
		t.Errorf("confirm: %s", m.raw)
	}

	notes := a.result("tools/call", map[string]any{"name": "x__progress", "arguments": map[string]any{"steps": 3},
		"_meta": map[string]any{"progressToken": "p-1"}}, nil)
	checkProgress(t, notes, `"p-1"`, 3)

	var read struct {
		Contents []struct{ Text string } `json:"contents"`
	}
	a.result("resources/read", map[string]any{"uri": "test://x/readme"}, &read)
	if len(read.Contents) != 1 || read.Contents[0].Text != "readme of x" {
		t.Errorf("resources/read: %+v", read)
	}

	// One initialize, refused, then the stateless era's discovery.
	if st := up.Stats(); st.Initializes != 1 || st.Discovers != 1 {
		t.Errorf("%d initializes and %d discovers: the bridge should speak the server's era", st.Initializes, st.Discovers)
	}

	// List changes come over subscriptions/listen, and reach the agent.
	waitFor(t, func() bool { return up.Stats().Listens > 0 })
	up.AddTool("late")
	a.waitNotification("notifications/tools/list_changed", 20*time.Second)
	if _, ok := listTools(a)["x__late"]; !ok {
		t.Error("the tool added later is not listed")
	}

	// The era is remembered for the next start (written in the
	// background).
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(a.stateDir, "eras.json"))
		return strings.Contains(string(data), `"modern"`)
	})
}

// TestAnEraRememberedWronglyCostsOnlyATry: a server remembered as of the
// stateless era that now speaks only the handshake is still reached, and
// the finding is put right.
func TestAnEraRememberedWronglyCostsOnlyATry(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP})
	dir := t.TempDir()
	catPath, cfgPath, stateDir := filepath.Join(dir, "catalog.yaml"), filepath.Join(dir, "config.yaml"), filepath.Join(dir, "state")
	must(t, os.WriteFile(catPath, []byte(entityYAML("x", [2]string{"streamable-http", up.StreamableURL})), 0o644))
	must(t, os.WriteFile(cfgPath, []byte("catalog:\n  files: ["+catPath+"]\nenabled: [x]\n"), 0o644))
	must(t, os.MkdirAll(stateDir, 0o700))
	origin := strings.TrimSuffix(up.StreamableURL, "/mcp")
	must(t, os.WriteFile(filepath.Join(stateDir, "eras.json"), []byte(`{"`+origin+`": "modern"}`), 0o600))
	a := spawnAgent(t, cfgPath, stateDir)
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["x__echo"]; !ok {
		t.Fatal("the server is not reached")
	}
	if st := up.Stats(); st.Discovers != 1 || st.Initializes != 1 {
		t.Errorf("%d discovers and %d initializes; want the remembered era's try, then the handshake", st.Discovers, st.Initializes)
	}
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(stateDir, "eras.json"))
		return strings.Contains(string(data), `"legacy"`)
	})
}
