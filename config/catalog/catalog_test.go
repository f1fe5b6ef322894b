package catalog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/config"
)

const testdata = "../../testdata/catalog/"

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func loadFiles(t *testing.T, files ...string) *Catalog {
	t.Helper()
	cfg, err := config.Load(filepath.Join(t.TempDir(), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Load(context.Background(), cfg, Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestSeedExamplesAreAvailable(t *testing.T) {
	cat := loadFiles(t, testdata+"examples.yaml")
	type row struct{ id, transport, url, auth string }
	var got []row
	for _, s := range cat.Servers {
		if !s.Available() {
			t.Errorf("%s unavailable: %q", s.ID, s.Reasons)
		}
		tr, _ := s.Transport()
		auth := string(s.Auth.Method) + ":" + s.Auth.APIID + s.Auth.PluginID + ":" + strings.Join(s.Auth.Scopes, ",")
		got = append(got, row{s.ID, tr.Type, tr.URL, auth})
	}
	want := []row{
		{"example-mcp", "streamable-http", "https://example-mcp.spotify.net/mcp", "none::"},
		{"github-mcp", "streamable-http", "https://api.githubcopilot.com/mcp", "oauth-provider:core.auth.github:repo,read:packages,read:org"},
		{"mcp-actions", "streamable-http", "https://your-portal.spotifyportal.com/api/mcp-actions/v1", "plugin:mcp-actions:"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("servers:\n got %+v\nwant %+v", got, want)
	}
	if len(cat.Problems) != 0 {
		t.Errorf("problems: %v", cat.Problems)
	}
}

func TestUpstreamShapes(t *testing.T) {
	cat := loadFiles(t, testdata+"upstream.yaml")
	var got []string
	for _, s := range cat.Servers {
		tr, _ := s.Transport()
		fb, _ := s.Fallback()
		got = append(got, s.ID+" "+string(s.Shape)+" "+tr.URL+" "+fb.URL)
		if !s.Available() {
			t.Errorf("%s unavailable: %q", s.ID, s.Reasons)
		}
	}
	want := []string{
		"docs-search backstage https://docs-search.example.com/mcp ",
		"sre/incidents backstage https://incidents.example.com/mcp https://incidents.example.com/sse",
		"lint backstage https://lint.example.com/mcp ",
		"metrics portal https://metrics.example.com/sse ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("servers:\n got %q\nwant %q", got, want)
	}
}

// TestCatalogGolden reads each example catalog of the repository, both
// shapes and every broken variant, and compares what the bridge makes of
// each entity with testdata/<catalog>.golden (rewritten with -update).
func TestCatalogGolden(t *testing.T) {
	for _, name := range []string{"examples.yaml", "upstream.yaml", "broken.yaml"} {
		t.Run(name, func(t *testing.T) {
			got := describe(loadFiles(t, testdata+name))
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".yaml")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, golden, got)
			}
		})
	}
}

// describe is a catalog as text: each server with its shape, remotes,
// auth, reasons and warnings, then each problem.
func describe(cat *Catalog) string {
	var b strings.Builder
	for _, s := range cat.Servers {
		status := "available"
		if !s.Available() {
			status = "unavailable"
		}
		fmt.Fprintf(&b, "%s (%s) at %s: %s, %s\n", s.ID, s.Ref(), strings.TrimPrefix(s.Source, testdata), s.Shape, status)
		if s.Definition.Name != "" || s.Definition.Version != "" {
			fmt.Fprintf(&b, "  definition: %s %s\n", s.Definition.Name, s.Definition.Version)
		}
		for _, r := range s.Definition.Remotes {
			fmt.Fprintf(&b, "  remote: %s %s\n", r.Type, r.URL)
		}
		fmt.Fprintf(&b, "  auth: %s%s%s%s\n", s.Auth.Method, prefixed(" ", s.Auth.APIID), prefixed(" ", s.Auth.PluginID), prefixed(" scopes ", strings.Join(s.Auth.Scopes, ",")))
		for _, r := range s.Reasons {
			fmt.Fprintf(&b, "  reason: %s\n", strings.ReplaceAll(r, testdata, ""))
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", strings.ReplaceAll(w, testdata, ""))
		}
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(&b, "problem: %s: %s\n", strings.TrimPrefix(p.Location, testdata), p.Reason)
	}
	return b.String()
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func TestBrokenCatalogReportsEveryReason(t *testing.T) {
	cat := loadFiles(t, testdata+"broken.yaml")
	avail := 0
	var reasons []string
	for _, s := range cat.Servers {
		if s.Available() {
			avail++
		}
		reasons = append(reasons, s.Reasons...)
	}
	if avail != 1 {
		t.Errorf("%d available, want only the healthy one", avail)
	}
	for _, want := range []string{
		`lifecycle "experimental"`, "spec.lifecycle is missing", "schema-version is missing",
		`schema-version "2099-01-01" is not supported`, "must be a string holding server.json",
		"definition: invalid YAML at line 3", "not a mapping of server.json fields",
		"definition: name is missing", "definition: description is missing",
		"definition: version is missing", "definition: remotes is missing",
		"spec.definition is missing", "remotes is empty", `remotes[0].type "websocket" is not streamable-http or sse`,
		"is not an absolute http(s) URL", "remotes[2].url is missing", "remotes[3].type is missing",
		"must not carry credentials", "headers[0].name is missing", `spec.remotes[0].type "grpc"`,
		"auth-api-id and auth-plugin-id are both set: use one", "auth-scopes is not a JSON array of strings",
		"duplicate: api:default/healthy is also defined at",
	} {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no reason says %q", want)
		}
	}
	if len(cat.Problems) != 2 {
		t.Fatalf("problems = %v, want the nameless entity and the invalid YAML", cat.Problems)
	}
	if !strings.Contains(cat.Problems[1].Reason, "invalid YAML: line 272") {
		t.Errorf("invalid YAML reported as %q, want its line", cat.Problems[1].Reason)
	}
}

func TestDuplicateAcrossSourcesIsReported(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a.yaml"), string(entity(t, nil)))
	b := writeFile(t, filepath.Join(dir, "b.yaml"), string(entity(t, func(_, meta, _, _ map[string]any) { meta["name"] = "SRV" })))
	cat := loadFiles(t, a, b)
	if len(cat.Servers) != 2 {
		t.Fatalf("%d servers, want both listed", len(cat.Servers))
	}
	first, second := cat.Servers[0], cat.Servers[1]
	if !first.Available() || len(first.Warnings) != 1 || !strings.Contains(first.Warnings[0], b) {
		t.Errorf("first: available %v, warnings %q", first.Available(), first.Warnings)
	}
	if second.Available() || second.DuplicateOf != a+":1" {
		t.Errorf("second: reasons %q, duplicate of %q", second.Reasons, second.DuplicateOf)
	}
	if s, err := cat.Lookup("srv"); err != nil || s != first {
		t.Errorf("Lookup picks %v, %v; want the first", s, err)
	}
}

func TestFileSourcesGlobsAndFolders(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cat", "one.yaml"), string(entity(t, func(_, meta, _, _ map[string]any) { meta["name"] = "one" })))
	writeFile(t, filepath.Join(dir, "cat", "sub", "two.yml"), string(entity(t, func(_, meta, _, _ map[string]any) { meta["name"] = "two" })))
	writeFile(t, filepath.Join(dir, "cat", "notes.txt"), "not yaml")
	writeFile(t, filepath.Join(dir, "cat", ".hidden", "three.yaml"), string(entity(t, nil)))
	cfgPath := writeFile(t, filepath.Join(dir, "config.yaml"), "catalog:\n  files: [cat, 'cat/*.yaml', missing.yaml, 'none-*.yaml']\n")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Load(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cat.Sources {
		e := ""
		if s.Err != nil {
			e = s.Err.Error()
		}
		got = append(got, s.Name+"|"+s.Kind+"|"+strings.Repeat("*", s.Servers)+"|"+e)
	}
	want := []string{
		"cat|file|**|",
		"cat/*.yaml|file|*|",
		"missing.yaml|file||" + filepath.Join(dir, "missing.yaml") + ": no such file or folder",
		`none-*.yaml|file||"none-*.yaml" matches no files`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sources:\n got %q\nwant %q", got, want)
	}
}

func TestNoSourcesIsAnError(t *testing.T) {
	cfg, _ := config.Load(filepath.Join(t.TempDir(), "config.yaml"))
	_, err := Load(context.Background(), cfg, Options{})
	if !errors.Is(err, ErrNoCatalog) || !strings.Contains(err.Error(), "--catalog") {
		t.Errorf("err = %v", err)
	}
}

func TestLookup(t *testing.T) {
	cat := loadFiles(t, testdata+"examples.yaml", testdata+"upstream.yaml")
	tests := []struct {
		name, want, err string
	}{
		{"github-mcp", "github-mcp", ""},
		{"api:default/github-mcp", "github-mcp", ""},
		{"api:github-mcp", "github-mcp", ""},
		{"API:Default/GitHub-MCP", "github-mcp", ""},
		{"com.spotify/github-mcp", "github-mcp", ""},
		{"sre/incidents", "sre/incidents", ""},
		{"api:sre/incidents", "sre/incidents", ""},
		{"incidents", "", `unknown server "incidents"; did you mean "sre/incidents"?`},
		{"gihub-mcp", "", `unknown server "gihub-mcp"; did you mean "github-mcp"?`},
		{"githb", "", `did you mean "github-mcp"?`},
		{"zzzzzzzzzzzz", "", `unknown server "zzzzzzzzzzzz": the catalog has no such server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := cat.Lookup(tt.name)
			if tt.err != "" {
				if !errors.Is(err, ErrUnknownServer) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || s.ID != tt.want {
				t.Errorf("Lookup = %v, %v; want %s", s, err, tt.want)
			}
		})
	}
}

func TestLookupAmbiguousDefinitionName(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, filepath.Join(dir, "c.yaml"), string(entity(t, nil))+"---\n"+
		string(entity(t, func(_, meta, _, _ map[string]any) { meta["name"] = "other" })))
	cat := loadFiles(t, f)
	_, err := cat.Lookup("com.example/srv")
	if !errors.Is(err, ErrUnknownServer) || !strings.Contains(err.Error(), "names 2 servers (srv, other); use the ID") {
		t.Errorf("err = %v", err)
	}
}

// actionsEntity is an entity of Backstage's shape named name with one
// streamable HTTP remote at url, as a portal lists its actions server.
func actionsEntity(name, url string) string {
	return fmt.Sprintf(`apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: %s
spec:
  type: mcp-server
  lifecycle: production
  owner: backstage
  remotes:
    - type: streamable-http
      url: %s
---
`, name, url)
}

// TestLookupByURLPath: a name that is no server's ID, ref or definition
// name finds the one server with a remote under /api/<name>/, and says so;
// several such servers are listed, never guessed between.
func TestLookupByURLPath(t *testing.T) {
	const actions = "https://portal.example.com/api/mcp-actions/v1"
	docs := actionsEntity("docs", "https://docs.example.com/mcp")
	tests := []struct {
		name    string
		catalog string
		lookup  string
		// want is the ID found and how, or err what the error says.
		want string
		by   MatchKind
		err  string
		ids  []string // of an *AmbiguousError
	}{
		{name: "the actions server under another name", catalog: docs + actionsEntity("backstage-actions-mcp", actions),
			lookup: "mcp-actions", want: "backstage-actions-mcp", by: ByURLPath},
		{name: "case does not matter", catalog: actionsEntity("backstage-actions-mcp", actions),
			lookup: "MCP-Actions", want: "backstage-actions-mcp", by: ByURLPath},
		{name: "a portal under a path of its own", catalog: actionsEntity("actions", "https://corp.example.com/backstage/api/mcp-actions/v1/named"),
			lookup: "mcp-actions", want: "actions", by: ByURLPath},
		{name: "a trailing slash", catalog: actionsEntity("actions", "https://portal.example.com/api/mcp-actions/"),
			lookup: "mcp-actions", want: "actions", by: ByURLPath},
		{name: "an ID wins over a URL path", catalog: actionsEntity("mcp-actions", "https://other.example.com/mcp") + actionsEntity("backstage-actions-mcp", actions),
			lookup: "mcp-actions", want: "mcp-actions", by: ByID},
		{name: "a name wins over another server's URL path", catalog: actionsEntity("backstage-actions-mcp", "https://portal.example.com/api/docs/v1") + docs,
			lookup: "docs", want: "docs", by: ByID},
		{name: "several under the path are listed", catalog: actionsEntity("prod-actions", actions) + docs + actionsEntity("staging-actions", "https://staging.example.com/api/mcp-actions/v1"),
			lookup: "mcp-actions", err: `unknown server "mcp-actions": 2 servers have a remote under /api/mcp-actions/ (prod-actions, staging-actions); name one by its ID`,
			ids: []string{"prod-actions", "staging-actions"}},
		{name: "only the segment after api counts", catalog: actionsEntity("backstage-actions-mcp", actions),
			lookup: "v1", err: `unknown server "v1": the catalog has no such server`},
		{name: "api itself is no plugin", catalog: actionsEntity("backstage-actions-mcp", actions),
			lookup: "api", err: `unknown server "api"`},
		{name: "a host is no path", catalog: actionsEntity("remote", "https://mcp-actions.example.com/mcp"),
			lookup: "mcp-actions", err: `unknown server "mcp-actions"`},
		{name: "a typo of the path is suggested", catalog: docs + actionsEntity("backstage-actions-mcp", actions),
			lookup: "mcp-acions", err: `unknown server "mcp-acions"; did you mean "backstage-actions-mcp" (its remote is under /api/mcp-actions/)?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := loadFiles(t, writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), tt.catalog))
			m, err := cat.Match(tt.lookup)
			if tt.err != "" {
				if !errors.Is(err, ErrUnknownServer) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				var amb *AmbiguousError
				if errors.As(err, &amb) != (tt.ids != nil) || (amb != nil && !slices.Equal(amb.IDs, tt.ids)) {
					t.Errorf("ambiguous %+v, want IDs %q", amb, tt.ids)
				}
				return
			}
			if err != nil || m.ID != tt.want || m.By != tt.by {
				t.Fatalf("Match = %+v, %v; want %s by %s", m, err, tt.want, tt.by)
			}
			if s, err := cat.Lookup(tt.lookup); err != nil || s != m.Server {
				t.Errorf("Lookup = %v, %v; want what Match found", s, err)
			}
			if note := m.Note(); (note != "") != (tt.by == ByURLPath) {
				t.Errorf("Note() = %q", note)
			}
		})
	}
}

func TestMatchNoteNamesTheServerAndItsRemote(t *testing.T) {
	cat := loadFiles(t, writeFile(t, filepath.Join(t.TempDir(), "c.yaml"),
		actionsEntity("backstage-actions-mcp", "https://portal.example.com/api/mcp-actions/v1")))
	m, err := cat.Match("mcp-actions")
	if err != nil {
		t.Fatal(err)
	}
	want := `"mcp-actions" is backstage-actions-mcp: its remote https://portal.example.com/api/mcp-actions/v1 is under /api/mcp-actions/`
	if m.Note() != want {
		t.Errorf("Note() = %q\nwant %q", m.Note(), want)
	}
}

func TestPluginPath(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://portal.example.com/api/mcp-actions/v1", "mcp-actions"},
		{"https://portal.example.com/api/mcp-actions", "mcp-actions"},
		{"https://portal.example.com/backstage/api/mcp-actions/v1", "mcp-actions"},
		{"https://portal.example.com/api/", ""},
		{"https://portal.example.com/api", ""},
		{"https://portal.example.com/", ""},
		{"https://portal.example.com", ""},
		{"https://portal.example.com/mcp", ""},
		{"https://portal.example.com/v1/api/x/api/y", "x"},
		{"://bad", ""},
	} {
		if got := pluginPath(tt.url); got != tt.want {
			t.Errorf("pluginPath(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"github", "gihtub", 2}, {"é", "e", 1}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

// writeFile writes text to path, creating its folder, and returns path.
func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(text), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}
