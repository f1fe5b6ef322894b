package bridge

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// breakingCatalog is a catalog built to break every client's rules: a
// long server ID, tools whose names are long, start with a digit, hold
// dots, dashes and colons, differ only in "-" against "_", and a server
// of 140 tools, past the caps of 128 and 80.
func breakingCatalog() (ids []string, lists map[string]Lists) {
	tool := func(name string) json.RawMessage {
		out, _ := json.Marshal(map[string]any{"name": name, "description": "Does " + name + ".",
			"inputSchema": map[string]any{"type": "object"}, "annotations": map[string]any{"readOnlyHint": true}})
		return out
	}
	lists = map[string]Lists{}
	lists["observability-platform-production-eu"] = Lists{Tools: []json.RawMessage{
		tool("query_metrics_timeseries_with_aggregation_over_a_long_time_range"),
		tool("get-dashboard"), tool("get_dashboard"),
		tool("logs.search"), tool("traces:find"),
	}}
	lists["3d-printer"] = Lists{Tools: []json.RawMessage{tool("status"), tool("start-print")}}
	lists["solo"] = Lists{Tools: []json.RawMessage{tool("2fa_reset"), tool("9lives"), tool("-dash-first")}}
	var many []json.RawMessage
	for i := range 140 {
		many = append(many, tool(fmt.Sprintf("op_%03d", i)))
	}
	lists["bulk"] = Lists{Tools: many}
	for id := range lists {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, lists
}

// clientRegistry is a registry over the breaking catalog, named for fit,
// its servers set in the order given.
func clientRegistry(fit Fit, order []string) *Registry {
	ids, lists := breakingCatalog()
	r := NewRegistry(ids, RegistryOptions{Prefixes: map[string]*string{"solo": strp("")}})
	r.SetNamer(fit.Namer)
	for _, id := range order {
		r.Set(id, lists[id])
	}
	return r
}

// clientPattern is what each client accepts of a whole name, its own
// prefix included.
var clientPattern = map[string]*regexp.Regexp{
	"claude-desktop": regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`),
	"claude-code":    regexp.MustCompile(`^mcp__bridge__[a-zA-Z0-9_-]+$`),
	"cursor":         regexp.MustCompile(`^[a-zA-Z0-9_-]+$`),
	"vscode":         regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`),
	"codex":          regexp.MustCompile(`^mcp__bridge__[a-zA-Z0-9_]+$`), // no "-": it would rewrite it
	"gemini":         regexp.MustCompile(`^mcp_bridge_[a-zA-Z0-9_.:-]+$`),
	"":               regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`),
}

func TestClientRulesHoldOnACatalogBuiltToBreakThem(t *testing.T) {
	tests := []struct {
		said       string // clientInfo.name
		client     string
		maxTotal   int  // the whole name, the client's prefix counted
		wantSearch bool // 149 tools: past its cap
	}{
		{"claude-ai", "claude-desktop", 64, false},
		{"claude-code", "claude-code", 64, false},
		{"cursor-vscode", "cursor", 60, true},
		{"Visual Studio Code", "vscode", 64, true},
		{"visual-studio-code", "vscode", 64, true},
		{"codex-mcp-client", "codex", 64, true},
		{"gemini-cli-mcp-client", "gemini", 63, false},
		{"some-new-agent", "", 64, false},
	}
	ids, _ := breakingCatalog()
	for _, tt := range tests {
		t.Run(tt.said, func(t *testing.T) {
			fit := FitClient(tt.said, ClientOptions{})
			if fit.Client.Name != tt.client {
				t.Fatalf("%q recognised as %q, want %q", tt.said, fit.Client.Name, tt.client)
			}
			r := clientRegistry(fit, ids)
			reversed := slices.Clone(ids)
			slices.Reverse(reversed)
			again := clientRegistry(fit, reversed) // another arrival order
			tools := r.Tools()
			if len(tools) != 150 {
				t.Fatalf("%d tools, want 150", len(tools))
			}
			seen := map[string]bool{}
			for _, e := range tools {
				whole := fit.Own + e.Name
				if len(whole) > tt.maxTotal || !clientPattern[tt.client].MatchString(whole) {
					t.Errorf("%s %q → %q: not a name %s accepts (at most %d)", e.Server, e.Original, whole, tt.said, tt.maxTotal)
				}
				seen[strings.ReplaceAll(e.Name, "-", "_")] = true
				if got, ok := again.Tool(e.Name); !ok || got.Original != e.Original {
					t.Errorf("%q is %q in one start and not in another", e.Original, e.Name)
				}
			}
			if tt.client == "codex" && len(seen) != len(tools) {
				t.Errorf("two names meet once Codex writes - as _")
			}
			if got := fit.Search(r.ExposedTools()); got != tt.wantSearch {
				t.Errorf("tool search for %d tools = %v, want %v (cap %d)", r.ExposedTools(), got, tt.wantSearch, fit.MaxTools)
			}
		})
	}
}

// TestClientNamesGolden keeps the names each client gets for the breaking
// catalog in testdata/client-names.golden: they must never change by
// accident, since agents and users remember them.
func TestClientNamesGolden(t *testing.T) {
	ids, _ := breakingCatalog()
	var b strings.Builder
	for _, c := range append(slices.Clone(Clients), Client{}) {
		said := c.Name
		if c.Name == "" {
			said = "unknown-agent"
		}
		fit := FitClient(said, ClientOptions{})
		fmt.Fprintf(&b, "# %s\n", fit.Describe())
		for _, e := range clientRegistry(fit, ids).Tools() {
			if e.Server == "bulk" && e.Original > "op_002" {
				continue
			}
			fmt.Fprintf(&b, "%s %s → %s%s\n", e.Server, e.Original, fit.Own, e.Name)
		}
	}
	golden := filepath.Join("testdata", "client-names.golden")
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	must(t, err)
	if b.String() != string(want) {
		t.Errorf("names differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

func TestFitClientTakesTheConfigsWord(t *testing.T) {
	tests := []struct {
		name   string
		said   string
		o      ClientOptions
		check  func(f Fit) bool
		expect string
	}{
		{"an unknown agent keeps max_name_length", "zed", ClientOptions{MaxNameLength: 40},
			func(f Fit) bool { return f.Namer.max() == 40 && f.MaxTools == 0 && f.Own == "" }, "names ≤ 40, no cap"},
		{"max_name_length bounds a known agent too", "claude-ai", ClientOptions{MaxNameLength: 40},
			func(f Fit) bool { return f.Namer.max() == 40 }, "names ≤ 40"},
		{"the entry name is Claude Code's prefix", "claude-code", ClientOptions{Overrides: map[string]config.ClientConfig{"claude-code": {Entry: "tools"}}},
			func(f Fit) bool { return f.Own == "mcp__tools__" && f.Namer.max() == 64-len("mcp__tools__") }, "mcp__tools__, 52 left"},
		{"clients.<name> overrides the table", "cursor-vscode", ClientOptions{Overrides: map[string]config.ClientConfig{"cursor": {MaxNameLength: 50, MaxTools: 40}}},
			func(f Fit) bool { return f.Namer.max() == 50-len("bridge") && f.MaxTools == 40 }, "names ≤ 44, 40 tools"},
		{"an unknown agent by its own name", "Zed", ClientOptions{Overrides: map[string]config.ClientConfig{"zed": {MaxTools: 50, Tools: config.ToolsSearch}}},
			func(f Fit) bool { return f.MaxTools == 50 && f.Search(1) }, "50 tools, search"},
		{"tools: search applies to agents without a search of their own", "codex-mcp-client", ClientOptions{Tools: config.ToolsSearch},
			func(f Fit) bool { return f.Search(1) }, "search"},
		{"Claude Code keeps the list under tools: search", "claude-code", ClientOptions{Tools: config.ToolsSearch},
			func(f Fit) bool { return !f.Search(1000) }, "direct"},
		{"unless clients.claude-code.tools says search", "claude-code", ClientOptions{Overrides: map[string]config.ClientConfig{"claude-code": {Tools: config.ToolsSearch}}},
			func(f Fit) bool { return f.Search(1) }, "search"},
		{"tools: direct keeps the list past the cap", "Visual Studio Code", ClientOptions{Tools: config.ToolsDirect},
			func(f Fit) bool { return !f.Search(1000) }, "direct"},
		{"a long entry leaves the least name", "cursor-vscode", ClientOptions{Overrides: map[string]config.ClientConfig{"cursor": {Entry: strings.Repeat("e", 55)}}},
			func(f Fit) bool { return f.Namer.max() == minNameLength }, "16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f := FitClient(tt.said, tt.o); !tt.check(f) {
				t.Errorf("%+v: want %s", f, tt.expect)
			}
		})
	}
}

func TestSetNamerRenamesWhatIsThereAlready(t *testing.T) {
	ids, lists := breakingCatalog()
	r := NewRegistry(ids, RegistryOptions{})
	r.Set("3d-printer", lists["3d-printer"])
	if _, ok := r.Tool("3d-printer__start-print"); !ok {
		t.Fatalf("tools before the client is known: %v", names(r.Tools()))
	}
	changed := r.SetNamer(FitClient("codex-mcp-client", ClientOptions{}).Namer)
	if !slices.Equal(changed, []string{KindTools}) {
		t.Errorf("changed = %v", changed)
	}
	if _, ok := r.Tool("3d_printer__start_print"); !ok {
		t.Errorf("tools once Codex is known: %v", names(r.Tools()))
	}
	if got := string(r.Result("tools/list")); !strings.Contains(got, `"3d_printer__start_print"`) || strings.Contains(got, "start-print\"") {
		t.Errorf("tools/list = %s", got)
	}
}

func TestClientInfoName(t *testing.T) {
	tests := []struct {
		method, params string
		stateless      bool
		want           string
	}{
		{"initialize", `{"clientInfo":{"name":"claude-code","version":"2.0"}}`, false, "claude-code"},
		{"initialize", `{"capabilities":{}}`, false, ""},
		{"tools/list", `{"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"codex-mcp-client"}}}`, true, "codex-mcp-client"},
		{"tools/list", `{"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"x"}}}`, false, ""},
		{"tools/list", `{"_meta":[]}`, true, ""},
	}
	for _, tt := range tests {
		if got := clientInfoName(tt.method, json.RawMessage(tt.params), tt.stateless); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.method, tt.params, got, tt.want)
		}
	}
}

func names(es []Exposed) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}
