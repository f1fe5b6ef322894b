package bridge

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

func TestPolicyJudge(t *testing.T) {
	read := ToolFacts{Name: "get_x", ReadOnly: true}
	write := ToolFacts{Name: "set_x"}
	destructive := ToolFacts{Name: "drop_x", Destructive: true}
	tests := []struct {
		name   string
		policy Policy
		tool   ToolFacts
		rules  []string
	}{
		{"nothing set", Policy{}, destructive, nil},
		{"read-only keeps reads", Policy{ReadOnly: true}, read, nil},
		{"read-only withholds writes", Policy{ReadOnly: true}, write, []string{RuleReadOnly}},
		{"hide destructive", Policy{HideDestructive: true}, destructive, []string{RuleDestructive}},
		{"hide destructive keeps plain writes", Policy{HideDestructive: true}, write, nil},
		{"deny glob", Policy{Deny: []string{"drop_*"}}, destructive, []string{RuleDeny}},
		{"allow glob", Policy{Allow: []string{"get_*"}}, write, []string{RuleAllow}},
		{"deny wins over allow", Policy{Allow: []string{"*"}, Deny: []string{"get_?"}}, read, []string{RuleDeny}},
		{"changed tool", Policy{}, ToolFacts{Name: "a", Change: "changed: description"}, []string{RuleUntrusted}},
		{"changed tool, warn only", Policy{WarnOnly: true}, ToolFacts{Name: "a", Change: "new"}, nil},
		{"several rules", Policy{ReadOnly: true, HideDestructive: true, Deny: []string{"drop_x"}}, destructive,
			[]string{RuleReadOnly, RuleDestructive, RuleDeny}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.policy.Judge(tt.tool)
			if !slices.Equal(v.Rules, tt.rules) || (v.Reason == "") != (len(tt.rules) == 0) {
				t.Errorf("Judge = %+v, want rules %v", v, tt.rules)
			}
		})
	}
}

func TestPolicyForConfig(t *testing.T) {
	cfg := &config.Config{ReadOnly: false, HideDestructive: true, Pins: config.PinsWarn,
		Servers: map[string]config.ServerConfig{"a": {ReadOnly: true, Allow: []string{"x"}}}}
	p := PolicyFor(cfg, "a")
	if !p.ReadOnly || !p.HideDestructive || !p.WarnOnly || !slices.Equal(p.Allow, []string{"x"}) {
		t.Errorf("PolicyFor(a) = %+v", p)
	}
	if p := PolicyFor(cfg, "b"); p.ReadOnly || !p.HideDestructive {
		t.Errorf("PolicyFor(b) = %+v", p)
	}
}

func TestToolFactsDefaults(t *testing.T) {
	for raw, want := range map[string]ToolFacts{
		`{"name":"a"}`: {Name: "a", Destructive: true},
		`{"name":"a","annotations":{"readOnlyHint":true}}`:                          {Name: "a", ReadOnly: true},
		`{"name":"a","annotations":{"readOnlyHint":true,"destructiveHint":true}}`:   {Name: "a", ReadOnly: true},
		`{"name":"a","annotations":{"readOnlyHint":false,"destructiveHint":false}}`: {Name: "a"},
		// Hints given twice count as none: the cautious reading.
		`{"name":"a","annotations":{"readOnlyHint":true},"Annotations":{"readOnlyHint":true}}`:    {Name: "a", Destructive: true},
		`{"NAME":"a","execution":{"taskSupport":"required"},"annotations":{"readOnlyHint":true}}`: {Name: "a", ReadOnly: true, NeedsTasks: true},
		`{"name":"caf\u00e9"}`: {Name: "café", Destructive: true},
		`{"name":"a","annotations":{"readOnlyHint":false,"readOnlyHint":true}}`:    {Name: "a", Destructive: true},
		`{"name":"a","annotations":{"readOnlyHint":"yes","ReadOnlyHint":1}}`:       {Name: "a", Destructive: true},
		`{"name":"a","annotations":{"ReadOnlyHint":true}}`:                         {Name: "a", ReadOnly: true},
		`{"name":"a","annotations":[true],"execution":{"taskSupport":"optional"}}`: {Name: "a", Destructive: true},
	} {
		if got, err := toolFacts(json.RawMessage(raw)); err != nil || got != want {
			t.Errorf("toolFacts(%s) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
}

func TestToolFactsRefused(t *testing.T) {
	for _, raw := range []string{`{"name":"a","Name":"b"}`, `{"name":1}`, `[]`, `{"name":"a"`} {
		if got, err := toolFacts(json.RawMessage(raw)); err == nil {
			t.Errorf("toolFacts(%s) = %+v, want an error", raw, got)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                      "plain",
		"tab\tand\nnewline":          "tab\tand\nnewline",
		"bell\a esc\x1b[0m cr\r":     "bell esc[0m cr",
		"rtl\u202eoverride\u2066iso": "rtloverrideiso",
		"zero\u200bwidth\ufeff":      "zerowidth",
		"bad \xff utf8":              "bad  utf8",
		strings.Repeat("é", 25):      strings.Repeat("é", 20) + "…",
	} {
		if got := cleanText(in, 20); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPinsTrustOnFirstUseThenCatchChanges(t *testing.T) {
	dir := t.TempDir()
	p := NewPins(dir)
	v1 := []json.RawMessage{
		json.RawMessage(`{"name":"a","description":"d","inputSchema":{"type":"object","properties":{"x":{}}}}`),
		json.RawMessage(`{"name":"b","annotations":{"readOnlyHint":true}}`),
	}
	facts, err := p.Review("srv", v1)
	if err != nil || len(facts) != 2 || facts[0].Change != "" || facts[1].Change != "" {
		t.Fatalf("first review: %+v, %v", facts, err)
	}
	// Key order and spacing are no change; a new description, schema or
	// tool is.
	v2 := []json.RawMessage{
		json.RawMessage(`{ "inputSchema": {"properties":{"x":{}},"type":"object"}, "description":"d", "name":"a" }`),
		json.RawMessage(`{"name":"b","annotations":{"readOnlyHint":false},"description":"new words"}`),
		json.RawMessage(`{"name":"c"}`),
	}
	facts, err = p.Review("srv", v2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range facts {
		got = append(got, f.Name+":"+f.Change)
	}
	if want := []string{"a:", "b:changed: annotations, description", "c:new"}; !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	seen, err := p.Seen("srv")
	if err != nil || seen == nil || len(seen.Tools) != 3 {
		t.Errorf("seen = %+v, %v", seen, err)
	}
	if n, err := p.Trust("srv", v2); err != nil || n != 2 {
		t.Errorf("Trust = %d, %v", n, err)
	}
	if facts, _ = p.Review("srv", v2); facts[1].Change != "" || facts[2].Change != "" {
		t.Errorf("after trust: %+v", facts)
	}
	// Files are written in the background; once written, another process
	// reads the same.
	p.Wait()
	q := NewPins(dir)
	if facts, err = q.Review("srv", v2); err != nil || facts[1].Change != "" || facts[2].Change != "" {
		t.Errorf("read back from disk: %+v, %v", facts, err)
	}
	q.Wait()
}

func TestCorruptPinFileIsNamedAndWithholds(t *testing.T) {
	p := NewPins(t.TempDir())
	must(t, os.MkdirAll(filepath.Dir(p.Path("srv")), 0o755))
	must(t, os.WriteFile(p.Path("srv"), []byte("{broken"), 0o600))
	facts, err := p.Review("srv", []json.RawMessage{json.RawMessage(`{"name":"a"}`)})
	if err == nil || !strings.Contains(err.Error(), p.Path("srv")+" is corrupt") || !strings.Contains(err.Error(), `bridge trust srv`) {
		t.Errorf("err = %v", err)
	}
	if len(facts) != 1 || facts[0].Change == "" || !(Policy{}).Judge(facts[0]).Withheld() {
		t.Errorf("tools of a server with a corrupt pin file: %+v", facts)
	}
	p.Wait()
	if data, _ := os.ReadFile(p.Path("srv")); string(data) != "{broken" {
		t.Error("the corrupt file was overwritten")
	}
}

func TestAuditRotatesAtItsSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(config.AuditConfig{Path: path, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	a.maxSize = 300
	for i := range 20 {
		must(t, a.Record(AuditEntry{Server: "s", Tool: fmt.Sprint(i), Outcome: OutcomeOK, Arguments: json.RawMessage(`{"x":1}`)}))
	}
	must(t, a.Close())
	for _, name := range []string{path, path + ".1", path + ".2"} {
		fi, err := os.Stat(name)
		if err != nil || fi.Size() > 300 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("more rotated files than keep")
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"tool":"19"`) || strings.Contains(string(data), "arguments") {
		t.Errorf("latest file: %s", data)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPinsRewriteWhatWasSeenOnlyWhenItChangesOrAges(t *testing.T) {
	dir := t.TempDir()
	p := NewPins(dir)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	tools := []json.RawMessage{json.RawMessage(`{"name":"a"}`)}
	seenAt := func() time.Time {
		t.Helper()
		p.Wait()
		seen, err := NewPins(dir).Seen("srv")
		if err != nil || seen == nil {
			t.Fatalf("seen = %v, %v", seen, err)
		}
		return seen.At
	}
	for _, step := range []struct {
		advance time.Duration
		tools   []json.RawMessage
		written bool
	}{
		{0, tools, true},               // first listing
		{time.Minute, tools, false},    // unchanged and recent
		{9 * time.Minute, tools, true}, // unchanged, but ten minutes old
		{time.Second, append(tools, json.RawMessage(`{"name":"b"}`)), true}, // changed
	} {
		now = now.Add(step.advance)
		before := time.Time{}
		if _, err := os.Stat(p.Path("srv")); err == nil {
			before = seenAt()
		}
		if _, err := p.Review("srv", step.tools); err != nil {
			t.Fatal(err)
		}
		if got := seenAt(); got.Equal(now) != step.written || (!step.written && !got.Equal(before)) {
			t.Errorf("after %s: seen at %s, now %s; want written %v", step.advance, got, now, step.written)
		}
	}
}

// TestSecretHeadersNeverTravelInClear: a configured header, or one the
// definition calls secret, is refused over plain http to another machine.
func TestSecretHeadersNeverTravelInClear(t *testing.T) {
	s := testServer("x", catalog.RemoteStreamableHTTP, "http://mcp.example.com/mcp")
	for _, tc := range []struct {
		headers    []catalog.Header
		configured map[string]string
		url        string
		refused    bool
	}{
		{nil, map[string]string{"X-Api-Key": "k"}, "http://mcp.example.com/mcp", true},
		{[]catalog.Header{{Name: "X-Token", IsSecret: true, Default: "t"}}, nil, "http://mcp.example.com/mcp", true},
		{[]catalog.Header{{Name: "X-Team", Default: "blue"}}, nil, "http://mcp.example.com/mcp", false},
		{nil, map[string]string{"X-Api-Key": "k"}, "http://127.0.0.1:9/mcp", false},
		{nil, map[string]string{"X-Api-Key": "k"}, "https://mcp.example.com/mcp", false},
	} {
		u := newUpstream(s, Options{Headers: map[string]map[string]string{"x": tc.configured}}.withDefaults(), nil, slog.New(slog.DiscardHandler))
		_, err := u.headers(catalog.Remote{Type: catalog.RemoteStreamableHTTP, URL: tc.url, Headers: tc.headers})
		if refused := err != nil && strings.Contains(err.Error(), "in clear"); refused != tc.refused {
			t.Errorf("%v %v to %s: %v; want refused %v", tc.headers, tc.configured, tc.url, err, tc.refused)
		}
	}
}
