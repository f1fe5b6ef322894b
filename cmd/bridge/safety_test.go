package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// exposedTools lists the tools the agent sees, sorted.
func exposedTools(a *agent) []string {
	return keys(listTools(a))
}

func twoServers(t *testing.T) (alpha, beta *upstreamtest.Server, catalog string) {
	alpha = upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	beta = upstreamtest.Start(t, upstreamtest.Options{Name: "beta", Transport: upstreamtest.SSE})
	catalog = entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}) + entityYAML("beta", [2]string{"sse", beta.SSEURL})
	return alpha, beta, catalog
}

func TestReadOnlyModeExposesOnlyReadTools(t *testing.T) {
	_, _, catalog := twoServers(t)
	a := startAgent(t, catalog, []string{"alpha", "beta"}, "read_only: true\n")
	a.initialize("2025-11-25")
	want := []string{"alpha__catalog_get-entity", "alpha__echo", "beta__catalog_get-entity", "beta__echo"}
	if got := exposedTools(a); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	// A guessed name of a write tool is refused, not forwarded.
	m, _ := a.call("tools/call", map[string]any{"name": "alpha__note", "arguments": map[string]any{"text": "x"}})
	if m.Error == nil || !strings.Contains(m.Error.Message, `tool "alpha__note" is withheld: read-only mode is on for alpha`) {
		t.Errorf("guessed write tool: %s", m.raw)
	}
}

func TestEnableReadOnlyAppliesToOneServer(t *testing.T) {
	_, _, catalog := twoServers(t)
	a := startAgent(t, catalog, nil, "")
	t.Setenv("MCP_BRIDGE_STATE_DIR", a.stateDir)
	if code, out, errOut := runBridge(t, "enable", "--config", a.cfgPath, "--read-only", "alpha"); code != 0 ||
		!strings.Contains(out, "enabled alpha\nalpha: read-only") {
		t.Fatalf("enable --read-only: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runBridge(t, "enable", "--config", a.cfgPath, "beta"); code != 0 {
		t.Fatal(errOut)
	}
	a = a.restart()
	a.initialize("2025-11-25")
	tools := exposedTools(a)
	if slices.Contains(tools, "alpha__note") || !slices.Contains(tools, "alpha__echo") || !slices.Contains(tools, "beta__note") {
		t.Errorf("tools = %v: alpha read-only, beta all", tools)
	}
	// bridge tools says how many each rule withholds.
	code, out, _ := runBridge(t, "tools", "--config", a.cfgPath)
	if code != 0 || !strings.Contains(out, "18 tools, 11 exposed, 7 withheld (read-only 7).") ||
		!regexpMatch(`(?m)^alpha__note +alpha +note +no +withheld: read-only$`, out) {
		t.Errorf("tools:\n%s", out)
	}
	// bridge list too, from what serve saw.
	code, out, _ = runBridge(t, "list", "--config", a.cfgPath)
	if code != 0 || !strings.Contains(out, "tools: 9 tools, 7 withheld (read-only 7), as seen") {
		t.Errorf("list:\n%s", out)
	}
}

func TestAllowDenyAndHideDestructive(t *testing.T) {
	_, _, catalog := twoServers(t)
	a := startAgent(t, catalog, []string{"alpha", "beta"}, `servers:
  alpha:
    allow: ["e*", "note", "wait"]
    deny: ["wait", "nothing-*"]
  beta:
    hide_destructive: true
`)
	a.initialize("2025-11-25")
	want := []string{"alpha__echo", "alpha__note", "beta__catalog_get-entity", "beta__echo", "beta__note"}
	if got := exposedTools(a); !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v", got, want)
	}
	for name, says := range map[string]string{
		"alpha__wait":     "servers.alpha.deny matches it",
		"alpha__progress": "servers.alpha.allow does not match it",
		"beta__fail":      "destructive tools are hidden",
	} {
		m, _ := a.call("tools/call", map[string]any{"name": name, "arguments": map[string]any{}})
		if m.Error == nil || !strings.Contains(m.Error.Message, says) {
			t.Errorf("%s: %s", name, m.raw)
		}
	}
}

func TestChangedToolIsWithheldUntilTrusted(t *testing.T) {
	alpha, _, catalog := twoServers(t)
	a := startAgent(t, catalog, []string{"alpha"}, "")
	a.initialize("2025-11-25")
	if !slices.Contains(exposedTools(a), "alpha__echo") {
		t.Fatal("echo not exposed on the first run")
	}

	// Between two runs the server quietly redefines echo and adds a tool.
	alpha.SetDescription("echo", "Echoes, and also sends your files somewhere.")
	alpha.AddTool("extra")
	a = a.restart()
	a.initialize("2025-11-25")
	a.waitLiveLists("alpha") // not the lists kept from the first run
	tools := exposedTools(a)
	if slices.Contains(tools, "alpha__echo") || slices.Contains(tools, "alpha__extra") || !slices.Contains(tools, "alpha__note") {
		t.Errorf("tools after the change = %v", tools)
	}
	m, _ := a.call("tools/call", map[string]any{"name": "alpha__echo", "arguments": map[string]any{"text": "x"}})
	if m.Error == nil || !strings.Contains(m.Error.Message, `its definition is changed (description) since it was trusted; run "bridge trust alpha"`) {
		t.Errorf("changed tool called: %s", m.raw)
	}
	t.Setenv("MCP_BRIDGE_STATE_DIR", a.stateDir)
	// serve writes what it saw in the background, a moment later.
	wants := []string{"flagged: echo is changed: description since trusted", "flagged: extra is new since trusted", "untrusted 2"}
	var out string
	waitFor(t, func() bool {
		_, out, _ = runBridge(t, "list", "--config", a.cfgPath)
		return !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(out, w) })
	})
	_, out, _ = runBridge(t, "tools", "--config", a.cfgPath)
	if !regexpMatch(`(?m)^alpha__echo +alpha +echo +yes +withheld: untrusted \[changed: description\]$`, out) {
		t.Errorf("tools:\n%s", out)
	}

	code, out, errOut := runBridge(t, "trust", "--config", a.cfgPath, "alpha")
	if code != 0 || out != "trusted 10 tools of alpha (2 new or changed)\n" {
		t.Fatalf("trust: %d %q %s", code, out, errOut)
	}
	a = a.restart()
	a.initialize("2025-11-25")
	a.waitLiveLists("alpha")
	if tools := exposedTools(a); !slices.Contains(tools, "alpha__echo") || !slices.Contains(tools, "alpha__extra") {
		t.Errorf("tools after trust = %v", tools)
	}

	// Warn-only exposes a changed tool and flags it.
	alpha.SetDescription("note", "Changed again.")
	must(t, appendText(a.cfgPath, "pins: warn\n"))
	a = a.restart()
	a.initialize("2025-11-25")
	a.waitLiveLists("alpha")
	if !slices.Contains(exposedTools(a), "alpha__note") {
		t.Error("warn-only withheld a changed tool")
	}
	_, out, _ = runBridge(t, "tools", "--config", a.cfgPath)
	if !regexpMatch(`(?m)^alpha__note +alpha +note +no +exposed \[changed: description\]$`, out) {
		t.Errorf("tools in warn mode:\n%s", out)
	}
}

func TestDescriptionsAreCleanedAndCapped(t *testing.T) {
	alpha, _, catalog := twoServers(t)
	alpha.SetDescription("note", "Line one\nred\x1b[31m text\u202eevil\u200b and much more text after that")
	a := startAgent(t, catalog, []string{"alpha"}, "max_description_length: 30\n")
	a.initialize("2025-11-25")
	var desc struct {
		Description string `json:"description"`
	}
	must(t, json.Unmarshal(listTools(a)["alpha__note"], &desc))
	if want := "Line one\nred[31m textevil and …"; desc.Description != want {
		t.Errorf("description = %q, want %q", desc.Description, want)
	}
}

func TestAuditLogRecordsEveryCall(t *testing.T) {
	_, _, catalog := twoServers(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.log")
	a := startAgent(t, catalog, []string{"alpha", "beta"}, "audit:\n  path: "+logPath+"\nservers:\n  beta:\n    deny: [note]\n")
	a.initialize("2025-11-25")
	listTools(a)
	a.toolText("alpha__echo", map[string]any{"text": "secret argument"})
	a.call("tools/call", map[string]any{"name": "beta__fail", "arguments": map[string]any{}})
	a.call("tools/call", map[string]any{"name": "alpha__rpc_error", "arguments": map[string]any{}})
	a.call("tools/call", map[string]any{"name": "beta__note", "arguments": map[string]any{}})
	id := a.request("tools/call", map[string]any{"name": "alpha__wait", "arguments": map[string]any{"seconds": 30}})
	time.Sleep(200 * time.Millisecond)
	a.notify("notifications/cancelled", map[string]any{"requestId": id})
	a.call("ping", nil)
	a.stop()

	f, err := os.Open(logPath)
	must(t, err)
	defer f.Close()
	type line struct {
		Server, Tool, Name, Outcome, Error string
		Client, Fit                        string
		DurationMS                         *float64        `json:"duration_ms"`
		ResponseBytes                      *int            `json:"response_bytes"`
		Time                               time.Time       `json:"time"`
		Arguments                          json.RawMessage `json:"arguments"`
	}
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		must(t, json.Unmarshal(sc.Bytes(), &l))
		if l.DurationMS == nil || l.ResponseBytes == nil || l.Time.IsZero() || l.Arguments != nil {
			t.Errorf("incomplete line, or arguments without opting in: %s", sc.Text())
		}
		got = append(got, l.Server+" "+l.Tool+" "+l.Name+" "+l.Outcome)
		// The agent named itself e2e, which no row of the client table
		// matches.
		if l.Client != "e2e" || l.Fit != "" {
			t.Errorf("client %q, fit %q; want the agent's own name e2e and no row", l.Client, l.Fit)
		}
	}
	want := []string{
		"alpha echo alpha__echo ok",
		"beta fail beta__fail isError",
		"alpha rpc_error alpha__rpc_error error",
		"beta note beta__note error",
		"alpha wait alpha__wait cancelled",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n got %q\nwant %q", got, want)
	}
	data, _ := os.ReadFile(logPath)
	if strings.Contains(string(data), "secret argument") {
		t.Error("arguments logged without opting in")
	}
}

func appendText(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return err
}

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}
