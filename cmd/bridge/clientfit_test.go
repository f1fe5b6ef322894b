package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// rawTool is a tool definition for an upstreamtest server.
func rawTool(name, description string, readOnly bool, args ...string) json.RawMessage {
	props := map[string]any{}
	for _, a := range args {
		props[a] = map[string]any{"type": "string"}
	}
	out, _ := json.Marshal(map[string]any{"name": name, "description": description,
		"inputSchema": map[string]any{"type": "object", "properties": props},
		"annotations": map[string]any{"readOnlyHint": readOnly, "destructiveHint": false}})
	return out
}

// initializeAs initializes as the agent that calls itself client.
func initializeAs(a *agent, client string) {
	a.t.Helper()
	a.result("initialize", map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": client, "version": "1"},
	}, nil)
	a.notify("notifications/initialized", map[string]any{})
}

// breakingServer serves tools built to break every client's rules: long
// names, a digit first (for a client that put nothing before it), dots, colons and dashes, "-" against "_".
func breakingServer(t *testing.T) (catalog string) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP, Tools: []json.RawMessage{
		rawTool("query_metrics_timeseries_with_aggregation_over_a_long_time_range", "Queries.", true),
		rawTool("get-dashboard", "Gets a dashboard.", true),
		rawTool("get_dashboard", "Gets a dashboard too.", true),
		rawTool("logs.search", "Searches logs.", true),
		rawTool("traces:find", "Finds traces.", true),
	}})
	return entityYAML("observability-platform-eu", [2]string{"streamable-http", up.StreamableURL}) +
		entityYAML("3d-printer", [2]string{"streamable-http", upstreamtest.Start(t, upstreamtest.Options{Name: "p", Transport: upstreamtest.StreamableHTTP}).StreamableURL})
}

func TestServeFitsNamesToEachClient(t *testing.T) {
	catalog := breakingServer(t)
	enabled := []string{"observability-platform-eu", "3d-printer"}
	tests := []struct {
		client string
		own    string // what the client puts before each name
		max    int    // the whole name's length, own prefix counted
		valid  string
	}{
		{"claude-ai", "", 64, `^[a-zA-Z0-9_-]{1,64}$`},
		{"claude-code", "mcp__bridge__", 64, `^[a-zA-Z0-9_-]+$`},
		{"cursor-vscode", "bridge", 60, `^[a-zA-Z0-9_-]+$`},
		{"Visual Studio Code", "", 64, `^[a-zA-Z0-9_-]{1,64}$`},
		{"codex-mcp-client", "mcp__bridge__", 64, `^[a-zA-Z0-9_]+$`},
		{"gemini-cli-mcp-client", "mcp_bridge_", 63, `^mcp_bridge_[a-zA-Z0-9_.:-]+$`},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			a := startAgent(t, catalog, enabled, "")
			initializeAs(a, tt.client)
			tools := exposedTools(a)
			if len(tools) != 5+2*len(servedFixedTools) {
				t.Fatalf("%d tools: %v", len(tools), tools)
			}
			valid := regexp.MustCompile(tt.valid)
			for _, name := range tools {
				if whole := tt.own + name; len(whole) > tt.max || !valid.MatchString(whole) {
					t.Errorf("%s is given %q (%d characters in all)", tt.client, whole, len(whole))
				}
			}
			// Every name still calls its tool.
			for _, name := range tools {
				if strings.Contains(name, "dashboard") {
					if text, errm := a.toolText(name, map[string]any{}); errm != nil || !strings.HasPrefix(text, "get") {
						t.Errorf("%s: %q %v", name, text, errm)
					}
				}
			}
		})
	}
}

// servedFixedTools are upstreamtest's fixed tools, which every server
// serves.
var servedFixedTools = []string{"echo", "progress", "burst", "wait", "fail", "rpc_error", "note", "catalog.get-entity", upstreamtest.LongToolName}

func TestServeModernAgentIsFittedFromItsMeta(t *testing.T) {
	catalog := breakingServer(t)
	a := startAgent(t, catalog, []string{"observability-platform-eu", "3d-printer"}, "")
	meta := modernMeta(nil)
	meta["io.modelcontextprotocol/clientInfo"] = map[string]any{"name": "codex-mcp-client", "version": "1"}
	var list struct {
		Tools []tool `json:"tools"`
	}
	a.result("tools/list", map[string]any{"_meta": meta}, &list)
	// A later request naming another client changes nothing: the first
	// name seen wins.
	other := modernMeta(nil)
	other["io.modelcontextprotocol/clientInfo"] = map[string]any{"name": "claude-ai", "version": "1"}
	var again struct {
		Tools []tool `json:"tools"`
	}
	a.result("tools/list", map[string]any{"_meta": other}, &again)
	if len(list.Tools) == 0 || !slices.Equal(promptNames(list.Tools), promptNames(again.Tools)) {
		t.Fatalf("names changed with the second client info: %v then %v", promptNames(list.Tools), promptNames(again.Tools))
	}
	for _, tl := range list.Tools {
		if strings.Contains(tl.Name, "-") || len("mcp__bridge__"+tl.Name) > 64 {
			t.Errorf("codex is given %q", tl.Name)
		}
	}
}

// searchFleet is a server of more tools than VS Code takes (128), with
// the fixed tools among them, and a read-only server beside it.
func searchFleet(t *testing.T) (bulk, ro *upstreamtest.Server, catalog string) {
	var tools []json.RawMessage
	for i := range 130 {
		tools = append(tools, rawTool(fmt.Sprintf("op_%03d", i), fmt.Sprintf("Runs numbered operation %d.", i), true, "target"))
	}
	tools = append(tools, rawTool("rotate_certificate", "Rotates the TLS certificate of a load balancer before it expires.", false, "balancer", "region"))
	bulk = upstreamtest.Start(t, upstreamtest.Options{Name: "bulk", Transport: upstreamtest.StreamableHTTP, Tools: tools})
	ro = upstreamtest.Start(t, upstreamtest.Options{Name: "ro", Transport: upstreamtest.StreamableHTTP})
	catalog = entityYAML("bulk", [2]string{"streamable-http", bulk.StreamableURL}) + entityYAML("ro", [2]string{"streamable-http", ro.StreamableURL})
	return bulk, ro, catalog
}

// findTools calls find_tools and returns the names found, best first.
func findTools(a *agent, query string) []string {
	a.t.Helper()
	var res struct {
		Structured struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"structuredContent"`
	}
	a.result("tools/call", map[string]any{"name": "find_tools", "arguments": map[string]any{"query": query, "limit": 10}}, &res)
	var out []string
	for _, tl := range res.Structured.Tools {
		out = append(out, tl.Name)
	}
	return out
}

func TestServeToolSearchPastTheClientsCap(t *testing.T) {
	bulk, ro, catalog := searchFleet(t)
	// pins: warn, so that a tool added later is exposed (flagged).
	a := startAgent(t, catalog, []string{"bulk", "ro"}, "pins: warn\nservers:\n  ro:\n    read_only: true\n")
	initializeAs(a, "Visual Studio Code")
	if got := exposedTools(a); !slices.Equal(got, []string{"call_tool", "describe_tool", "find_tools"}) {
		t.Fatalf("VS Code past 128 tools is listed %v, want the search tools", got)
	}

	if found := findTools(a, "rotate the tls certificate"); len(found) == 0 || found[0] != "bulk__rotate_certificate" {
		t.Errorf("find_tools: %v", found)
	}
	// A read-only server's write tool is neither found nor callable; its
	// read-only tool is both.
	found := findTools(a, "write a note")
	if slices.Contains(found, "ro__note") || !slices.Contains(found, "bulk__note") {
		t.Errorf("find_tools for a note: %v: want bulk__note and never ro__note", found)
	}
	m, _ := a.call("tools/call", map[string]any{"name": "call_tool", "arguments": map[string]any{"name": "ro__note", "arguments": map[string]any{"text": "x"}}})
	if m.Error == nil || !strings.Contains(m.Error.Message, `tool "ro__note" is withheld: read-only mode is on for ro`) {
		t.Errorf("call_tool of a withheld tool: %s", m.raw)
	}
	m, _ = a.call("tools/call", map[string]any{"name": "describe_tool", "arguments": map[string]any{"name": "ro__note"}})
	if m.Error != nil || !strings.Contains(firstText(t, m.Result), "withheld") {
		t.Errorf("describe_tool of a withheld tool: %s", m.raw)
	}
	if slices.Contains(findTools(a, "looks an entity up by name"), "ro__catalog_get-entity") == false {
		t.Errorf("the read-only server's read-only tool is not found")
	}
	if text, errm := a.toolText("call_tool", map[string]any{"name": "ro__echo", "arguments": map[string]any{"text": "through"}}); errm != nil || text != "through" {
		t.Errorf("call_tool ro__echo: %q %v", text, errm)
	}

	// describe_tool gives the definition as the agent would be listed it.
	var def struct {
		Structured struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"structuredContent"`
	}
	a.result("tools/call", map[string]any{"name": "describe_tool", "arguments": map[string]any{"name": "bulk__rotate_certificate"}}, &def)
	if def.Structured.Name != "bulk__rotate_certificate" || !strings.Contains(string(def.Structured.InputSchema), `"balancer"`) {
		t.Errorf("describe_tool: %+v", def)
	}

	// Progress through call_tool reaches the agent under its own token,
	// before the result.
	id := a.request("tools/call", map[string]any{"name": "call_tool",
		"arguments": map[string]any{"name": "bulk__progress", "arguments": map[string]any{"steps": 3}},
		"_meta":     map[string]any{"progressToken": "search-1"}})
	res, notes := a.await(id, 20*time.Second)
	progress := 0
	for _, n := range notes {
		if n.Method == "notifications/progress" && strings.Contains(string(n.Params), `"progressToken":"search-1"`) {
			progress++
		}
	}
	if res.Error != nil || progress != 3 || firstText(t, res.Result) != "done after 3 steps" {
		t.Errorf("progress through call_tool: %d notifications, %s", progress, res.raw)
	}

	// Cancelling call_tool cancels the call on its server.
	calls := bulk.Stats().ToolCalls
	id = a.request("tools/call", map[string]any{"name": "call_tool", "arguments": map[string]any{"name": "bulk__wait", "arguments": map[string]any{"seconds": 30}}})
	waitFor(t, func() bool { return bulk.Stats().ToolCalls > calls })
	a.notify("notifications/cancelled", map[string]any{"requestId": id})
	waitFor(t, func() bool { return bulk.Stats().WaitsCancelled == 1 })

	// A tool a server adds is found once its list_changed has come; the
	// read-only server's, not annotated read-only, never is.
	ro.AddTool("defragment_the_flux_capacitor")
	bulk.AddTool("defragment_the_flux_capacitor")
	a.waitNotification("notifications/tools/list_changed", 10*time.Second)
	waitFor(t, func() bool {
		return slices.Contains(findTools(a, "flux capacitor"), "bulk__defragment_the_flux_capacitor")
	})
	// Once the bridge knows ro's new tool, describe_tool names its rule.
	waitFor(t, func() bool {
		m, _ := a.call("tools/call", map[string]any{"name": "describe_tool", "arguments": map[string]any{"name": "ro__defragment_the_flux_capacitor"}})
		return m.Error == nil && strings.Contains(firstText(t, m.Result), "withheld: read-only mode")
	})
	if found := findTools(a, "defragment the flux capacitor"); slices.Contains(found, "ro__defragment_the_flux_capacitor") {
		t.Errorf("the read-only server's write tool is found: %v", found)
	}
}

func TestServeToolSearchFollowsTheConfig(t *testing.T) {
	_, _, catalog := searchFleet(t)
	tests := []struct {
		name, client, config string
		search               bool
	}{
		{"Claude Code searches its own tools", "claude-code", "tools: search\n", false},
		{"tools: direct keeps the list past the cap", "Visual Studio Code", "tools: direct\n", false},
		{"tools: search for an agent without a cap", "claude-ai", "tools: search\n", true},
		{"clients.<name>.max_tools", "claude-ai", "clients:\n  claude-desktop:\n    max_tools: 100\n", true},
		{"an agent under its cap", "cursor-vscode", "clients:\n  cursor:\n    max_tools: 500\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAgent(t, catalog, []string{"bulk", "ro"}, tt.config)
			initializeAs(a, tt.client)
			tools := exposedTools(a)
			if got := slices.Equal(tools, []string{"call_tool", "describe_tool", "find_tools"}); got != tt.search {
				t.Errorf("%s is listed %d tools; want search %v", tt.client, len(tools), tt.search)
			}
		})
	}
}

func TestToolsVerbShowsWhatAClientGets(t *testing.T) {
	_, _, catalog := searchFleet(t)
	dir := t.TempDir()
	must(t, writeText(dir+"/catalog.yaml", catalog+breakingServer(t)))
	cfg := dir + "/config.yaml"
	must(t, writeText(cfg, "catalog:\n  files: ["+dir+"/catalog.yaml]\nenabled: [bulk, 3d-printer]\n"))
	t.Setenv("MCP_BRIDGE_STATE_DIR", dir)
	code, out, errOut := runBridge(t, "tools", "--config", cfg, "--client", "codex")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`(?m)^Codex: names of at most 51 \(64 with the "mcp__bridge__" it puts before them\), "-" written "_"; at most 128 tools, tool search past that\.$`,
		`(?m)^3d_printer__catalog_get_entity +3d-printer +catalog\.get-entity +yes +exposed$`,
		`(?m)^codex gets tool search instead of these tools \(149 exposed, more than 128\): find_tools, describe_tool and call_tool\.$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("tools --client codex lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runBridge(t, "tools", "--json", "--config", cfg, "--client", "claude-code", "3d-printer")
	var rows []toolRow
	must(t, json.Unmarshal([]byte(out), &rows))
	if code != 0 || len(rows) == 0 || rows[0].ShownAs != "mcp__bridge__"+rows[0].Name || strings.Contains(out, "tool search") {
		t.Errorf("tools --json --client claude-code: %d %+v", code, rows)
	}
}
