package bridge

import (
	"regexp"
	"strings"
	"testing"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func strp(s string) *string { return &s }

func TestNames(t *testing.T) {
	long := strings.Repeat("x", 70)
	tests := []struct {
		name      string
		max       int
		prefix    string
		originals []string
		want      map[string]string
	}{
		{"plain", 64, "github", []string{"search_code"}, map[string]string{"search_code": "github__search_code"}},
		{"dotted names map cleanly", 64, "mcp-actions", []string{"catalog.get-catalog-entity"},
			map[string]string{"catalog.get-catalog-entity": "mcp-actions__catalog_get-catalog-entity"}},
		{"empty prefix", 64, "", []string{"echo"}, map[string]string{"echo": "echo"}},
		{"collision after sanitizing: the clean name keeps it", 64, "p", []string{"a.b", "a_b"},
			map[string]string{"a_b": "p__a_b", "a.b": "p__a_b_" + hash8("s\x00a.b")}},
		{"too long", 64, "p", []string{long}, map[string]string{long: "p__" + strings.Repeat("x", 52) + "_" + hash8("s\x00"+long)}},
		{"max name length", 20, "server", []string{"a_long_tool_name"},
			map[string]string{"a_long_tool_name": "server__a_l_" + hash8("s\x00a_long_tool_name")}},
		{"unicode", 64, "p", []string{"héllo wörld"}, map[string]string{"héllo wörld": "p__h_llo_w_rld"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Namer{Max: tt.max}.Names("s", tt.prefix, tt.originals)
			for orig, want := range tt.want {
				if got[orig] != want {
					t.Errorf("%q → %q, want %q", orig, got[orig], want)
				}
				if len(got[orig]) > tt.max || !validName.MatchString(got[orig]) {
					t.Errorf("%q is not a valid name within %d", got[orig], tt.max)
				}
			}
		})
	}
}

func hash8(key string) string { return shorten("", 9, key)[1:] }

func TestNamesAreStableWhenToolsAreAdded(t *testing.T) {
	n := Namer{}
	before := n.Names("s", "p", []string{"b", "a.c"})
	after := n.Names("s", "p", []string{"z", "a_c", "b", "a.c"})
	for orig, name := range before {
		if orig != "a.c" && after[orig] != name {
			t.Errorf("%q renamed from %q to %q when tools were added", orig, name, after[orig])
		}
	}
	if after["a_c"] == after["a.c"] {
		t.Errorf("collision: %v", after)
	}
}

func TestPrefixes(t *testing.T) {
	got := Namer{}.Prefixes([]string{"sre/incidents", "sre_incidents", "github-mcp", "solo", strings.Repeat("n", 40)},
		map[string]*string{"github-mcp": strp("gh"), "solo": strp("")})
	want := map[string]string{
		"github-mcp":            "gh",
		"solo":                  "",
		"sre/incidents":         "sre_incidents",
		"sre_incidents":         "sre_incidents_" + hash8("sre_incidents"),
		strings.Repeat("n", 40): strings.Repeat("n", 23) + "_" + hash8(strings.Repeat("n", 40)),
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("prefix of %q = %q, want %q", id, got[id], w)
		}
	}
}

// FuzzNames checks that any set of names from any server yields valid,
// distinct, deterministic exposed names.
func FuzzNames(f *testing.F) {
	f.Add("mcp-actions", "catalog.get-entity", "catalog_get-entity", 64)
	f.Add("", strings.Repeat("é", 80), "x", 16)
	f.Add("a/b", "", "??", 30)
	f.Add(strings.Repeat("s", 200), "x", "y", 16)
	f.Fuzz(func(t *testing.T, server, a, b string, max int) {
		if max < 0 || max > 1000 {
			return
		}
		// The plain namer, and each client's (clients.go).
		namers := []Namer{{Max: max}}
		for _, c := range Clients {
			namers = append(namers, FitClient(c.Name, ClientOptions{MaxNameLength: max}).Namer)
		}
		for _, n := range namers {
			prefix := n.Prefixes([]string{server}, nil)[server]
			names := n.Names(server, prefix, []string{a, b})
			again := n.Names(server, prefix, []string{b, a})
			limit := n.max()
			valid := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
			switch {
			case n.NoDash:
				valid = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
			}
			seen := map[string]string{}
			for orig, name := range names {
				if again[orig] != name {
					t.Fatalf("%+v: %q named %q, then %q", n, orig, name, again[orig])
				}
				if len(name) == 0 || len(name) > limit || !valid.MatchString(name) {
					t.Fatalf("%+v: %q → invalid name %q (max %d)", n, orig, name, limit)
				}
				if other, ok := seen[name]; ok {
					t.Fatalf("%+v: %q and %q both named %q", n, orig, other, name)
				}
				seen[name] = orig
			}
		}
	})
}
