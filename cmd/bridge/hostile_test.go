package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// What a careless server or agent does to serve, and what serve does about
// it.

// TestUpdatesOfResourcesNobodySubscribedToAreDropped: the agent hears of
// the resources it subscribed to, not of every one a server mentions.
func TestUpdatesOfResourcesNobodySubscribedToAreDropped(t *testing.T) {
	f, a := serveFleet(t)
	uri := "test://alpha/readme"
	a.result("resources/subscribe", map[string]any{"uri": uri}, nil)
	for i := range 50 {
		f.alpha.NotifyAll("notifications/resources/updated", map[string]any{"uri": "test://alpha/items/" + itoa(i)})
	}
	f.alpha.UpdateResource(uri)
	n := a.waitNotification("notifications/resources/updated", 10*time.Second)
	if !strings.Contains(string(n.Params), uri) {
		t.Errorf("the first update the agent heard of: %s; it subscribed only to %s", n.Params, uri)
	}
}

// TestAnAgentThatClosesStdoutEndsServeCleanly: a write to an agent that
// is gone ends serve as the end of stdin does: sessions deleted, exit 0,
// no SIGPIPE.
func TestAnAgentThatClosesStdoutEndsServeCleanly(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP})
	dir := t.TempDir()
	catPath, cfgPath := filepath.Join(dir, "catalog.yaml"), filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(catPath, []byte(entityYAML("x", [2]string{"streamable-http", up.StreamableURL})), 0o644))
	must(t, os.WriteFile(cfgPath, []byte("catalog:\n  files: ["+catPath+"]\nenabled: [x]\n"), 0o644))
	exe, err := exec.LookPath("bridge")
	must(t, err)
	cmd := exec.Command(exe, "serve", "--config", cfgPath, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "MCP_BRIDGE_STATE_DIR="+filepath.Join(dir, "state"), "GORACE=atexit_sleep_ms=0")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	send := func(v any) {
		data, _ := json.Marshal(v)
		_, _ = stdin.Write(append(data, '\n'))
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}}})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("no answer to initialize")
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
	if !sc.Scan() {
		t.Fatal("no answer to tools/list")
	}
	stdout.Close() // the agent is gone
	for i := 3; i < 10; i++ {
		send(map[string]any{"jsonrpc": "2.0", "id": i, "method": "ping"})
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v; want a clean exit\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve is still running 30s after its agent closed stdout\n%s", stderr.String())
	}
	if up.Stats().Deletes == 0 {
		t.Errorf("the session was not deleted\n%s", stderr.String())
	}
}

// TestAFloodOfListChangesIsOneListingAtATime: however many list_changed a
// server sends, the bridge lists it again once at a time, and the last
// change still counts.
func TestAFloodOfListChangesIsOneListingAtATime(t *testing.T) {
	f := startFleet(t)
	a := startAgent(t, f.catalog, servers, "pins: warn\n")
	a.initialize("2025-11-25")
	listTools(a)
	before := f.alpha.Stats().ToolLists
	for range 500 {
		f.alpha.NotifyAll("notifications/tools/list_changed", nil)
	}
	f.alpha.AddTool("last")
	waitFor(t, func() bool { _, ok := listTools(a)["alpha__last"]; return ok })
	// Pages of 3: each listing is several requests.
	pages := (len(rawToolsList(t, f.alpha.StreamableURL)) + 2) / 3
	n := (f.alpha.Stats().ToolLists - before) / max(pages, 1)
	t.Logf("%d listings for 500 list_changed", n)
	if n > 20 {
		t.Errorf("%d listings for 500 list_changed; want a few", n)
	}
}
