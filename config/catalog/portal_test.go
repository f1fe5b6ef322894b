package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/backstagetest"
)

const tokenEnv = "BRIDGE_TEST_PORTAL_TOKEN"

// portalConfig writes a config for a portal at url and returns it with a
// state folder for the cache.
func portalConfig(t *testing.T, url, extra string) (*config.Config, Options) {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "config.yaml"),
		fmt.Sprintf("portal:\n  url: %s\n  token_env: %s\n%s", url, tokenEnv, extra))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, Options{StateDir: filepath.Join(dir, "state")}
}

func loadPortal(t *testing.T, cfg *config.Config, opts Options) (*Catalog, SourceStatus) {
	t.Helper()
	cat, err := Load(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Sources) != 1 {
		t.Fatalf("%d sources, want the portal", len(cat.Sources))
	}
	return cat, cat.Sources[0]
}

func manyEntities(n int) []json.RawMessage {
	var out []json.RawMessage
	for i := range n {
		out = append(out, backstagetest.MCPServerEntity("default", fmt.Sprintf("srv-%03d", i), fmt.Sprintf("https://srv-%03d.example.com/mcp", i)))
	}
	return out
}

func TestPortalListsEveryPage(t *testing.T) {
	srv := backstagetest.New(t, append(manyEntities(250),
		json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"svc"},"spec":{"type":"service"}}`)))
	t.Setenv(tokenEnv, srv.Token)
	cfg, opts := portalConfig(t, srv.URL+"/", "")
	cat, st := loadPortal(t, cfg, opts)
	if st.Err != nil || st.Servers != 250 || st.Kind != "portal" {
		t.Fatalf("source = %+v", st)
	}
	seen := map[string]bool{}
	for _, s := range cat.Servers {
		if !s.Available() {
			t.Errorf("%s unavailable: %q", s.ID, s.Reasons)
		}
		seen[s.ID] = true
	}
	for i := range 250 {
		if id := fmt.Sprintf("srv-%03d", i); !seen[id] {
			t.Errorf("%s missing", id)
		}
	}
	if !seen[BuiltinActionsID] || len(cat.Servers) != 251 {
		t.Errorf("%d servers, want 250 and the portal's actions server", len(cat.Servers))
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages of 100", len(reqs))
	}
	for i, r := range reqs {
		if !r.HasAuth {
			t.Errorf("request %d sent no token", i)
		}
		if got := r.Query.Get("fields"); got != portalFields {
			t.Errorf("request %d fields = %q", i, got)
		}
		if i == 0 && r.Query.Get("filter") != portalFilter {
			t.Errorf("first request filter = %q", r.Query.Get("filter"))
		}
		if i > 0 && (r.Query.Has("filter") || r.Query.Has("orderField") || r.Query.Get("cursor") == "") {
			t.Errorf("request %d sends %v; later pages send only cursor, fields and limit", i, r.Query)
		}
	}
}

func TestPortalBuiltinActionsServer(t *testing.T) {
	srv := backstagetest.New(t, nil)
	t.Setenv(tokenEnv, srv.Token)
	cfg, opts := portalConfig(t, srv.URL, "")
	cat, _ := loadPortal(t, cfg, opts)
	s, err := cat.Lookup("mcp-actions")
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := s.Transport()
	if !s.Available() || tr.URL != srv.URL+"/api/mcp-actions/v1" || s.Auth.Method != AuthPlugin || s.Auth.PluginID != "mcp-actions" || s.Shape != ShapeBuiltin {
		t.Errorf("built-in server = %+v", s)
	}

	// An entity of the catalog for the same endpoint replaces it.
	srv.SetEntities([]json.RawMessage{backstagetest.MCPServerEntity("default", "portal-actions", srv.URL+"/api/mcp-actions/v1")})
	cat, _ = loadPortal(t, cfg, opts)
	if len(cat.Servers) != 1 || cat.Servers[0].ID != "portal-actions" {
		t.Errorf("servers = %v, want only the catalog's entity", cat.Servers)
	}
}

// TestPortalServesBothShapes: a portal whose catalog holds entities of the
// Portal's shape and of Backstage's own lists both as available, each with
// its shape; the actions server of Backstage's shape, whatever its name,
// stands in for the built-in one and is found as "mcp-actions".
func TestPortalServesBothShapes(t *testing.T) {
	srv := backstagetest.New(t, nil)
	srv.SetEntities([]json.RawMessage{
		backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp"),
		backstagetest.BackstageMCPServerEntity("default", "search", "https://search.example.com/mcp",
			map[string]string{AnnotationAuthAPIID: "core.auth.github"}),
		backstagetest.BackstageMCPServerEntity("default", "backstage-actions-mcp", srv.URL+"/api/mcp-actions/v1",
			map[string]string{AnnotationAuthPluginID: "mcp-actions"}),
	})
	t.Setenv(tokenEnv, srv.Token)
	cfg, opts := portalConfig(t, srv.URL, "")
	cat, st := loadPortal(t, cfg, opts)
	if st.Err != nil || st.Servers != 3 {
		t.Fatalf("source = %+v", st)
	}
	var got []string
	for _, s := range cat.Servers {
		tr, _ := s.Transport()
		got = append(got, fmt.Sprintf("%s %s %s %s %v", s.ID, s.Shape, s.Auth.Method, strings.TrimPrefix(tr.URL, srv.URL), s.Reasons))
	}
	want := []string{
		"backstage-actions-mcp backstage plugin /api/mcp-actions/v1 []",
		"docs portal none https://docs.example.com/mcp []",
		"search backstage oauth-provider https://search.example.com/mcp []",
	}
	if !slices.Equal(got, want) {
		t.Errorf("servers:\n got %q\nwant %q", got, want)
	}
	m, err := cat.Match(BuiltinActionsID)
	if err != nil || m.ID != "backstage-actions-mcp" || m.By != ByURLPath {
		t.Errorf("Match(%q) = %+v, %v; want the catalog's actions server by its URL path", BuiltinActionsID, m, err)
	}
}

func TestPortalErrorsSayWhatToDo(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>a sign-in page</html>")
	}))
	t.Cleanup(html.Close)
	srv := backstagetest.New(t, nil)

	tests := []struct {
		name  string
		url   string
		token string
		fail  int
		extra string
		want  []string
	}{
		{"no token", srv.URL, "", 0, "", []string{"401 Unauthorized: Missing credentials", "$" + tokenEnv + " is empty"}},
		{"wrong token", srv.URL, "not-the-token", 0, "", []string{"401 Unauthorized: Invalid token", "refused by the portal: the token in $" + tokenEnv + " (it may be wrong or expired)"}},
		{"forbidden", srv.URL, srv.Token, http.StatusForbidden, "", []string{"403 Forbidden", "may not read the catalog"}},
		{"not a portal", srv.URL + "/somewhere", srv.Token, 0, "", []string{"404 Not Found", "portal.url should be the portal's base URL"}},
		{"server error", srv.URL, srv.Token, http.StatusInternalServerError, "", []string{"500 Internal Server Error", "try again later"}},
		{"untrusted certificate", tlsSrv.URL, srv.Token, 0, "", []string{"TLS certificate not trusted", "certificate signed by unknown authority", "trust store"}},
		{"not TLS", strings.Replace(srv.URL, "http:", "https:", 1), srv.Token, 0, "", []string{"does not speak TLS"}},
		{"unreachable", deadURL, srv.Token, 0, "", []string{"cannot reach the portal", "connection refused"}},
		{"unknown host", "https://portal.invalid", srv.Token, 0, "", []string{"cannot reach the portal", `host "portal.invalid" not found`}},
		{"timeout", slow.URL, srv.Token, 0, "  timeout: 200ms\n", []string{"no answer within 200ms", "portal.timeout"}},
		{"not JSON", html.URL, srv.Token, 0, "", []string{"is not a catalog page", "check portal.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tt.token)
			srv.FailWith(tt.fail)
			defer srv.FailWith(0)
			cfg, opts := portalConfig(t, tt.url, tt.extra)
			_, st := loadPortal(t, cfg, opts)
			if !errors.Is(st.Err, ErrPortal) {
				t.Fatalf("source error = %v, want ErrPortal", st.Err)
			}
			for _, w := range tt.want {
				if !strings.Contains(st.Err.Error(), w) {
					t.Errorf("error %q does not say %q", st.Err, w)
				}
			}
			if srv.Token != "" && strings.Contains(st.Err.Error(), srv.Token) {
				t.Errorf("error %q shows the token", st.Err)
			}
		})
	}
}

func TestPortalNoTokenConfigured(t *testing.T) {
	srv := backstagetest.New(t, nil)
	dir := t.TempDir()
	cfg, err := config.Load(writeFile(t, filepath.Join(dir, "config.yaml"), "portal: {url: '"+srv.URL+"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, st := loadPortal(t, cfg, Options{StateDir: dir})
	if st.Err == nil || !strings.Contains(st.Err.Error(), "set portal.token_env") {
		t.Errorf("err = %v", st.Err)
	}
}

func TestPortalCacheServesOfflineAndSaysHowOld(t *testing.T) {
	srv := backstagetest.New(t, manyEntities(3))
	t.Setenv(tokenEnv, srv.Token)
	cfg, opts := portalConfig(t, srv.URL, "")
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts.Now = func() time.Time { return fetched }
	if _, st := loadPortal(t, cfg, opts); st.Err != nil || st.Stale != nil || !st.CachedAt.IsZero() {
		t.Fatalf("fresh read: %+v", st)
	}

	srv.FailWith(http.StatusServiceUnavailable)
	cat, st := loadPortal(t, cfg, opts)
	if st.Err != nil || !errors.Is(st.Stale, ErrPortal) || !st.CachedAt.Equal(fetched) || st.Servers != 3 {
		t.Fatalf("offline read: %+v", st)
	}
	if len(cat.Servers) != 4 {
		t.Errorf("%d servers from the cache, want 3 and the built-in one", len(cat.Servers))
	}

	// A corrupt cache is named and left as it is, never silently reset.
	matches, _ := filepath.Glob(filepath.Join(opts.StateDir, "catalog", "*.json"))
	if len(matches) != 1 {
		t.Fatalf("cache files: %v", matches)
	}
	writeFile(t, matches[0], "{not json")
	_, st = loadPortal(t, cfg, opts)
	if st.Err == nil || !strings.Contains(st.Err.Error(), matches[0]+" is corrupt") || !strings.Contains(st.Err.Error(), "503") {
		t.Errorf("err = %v, want both the portal's error and the corrupt cache file", st.Err)
	}
	if data, _ := os.ReadFile(matches[0]); string(data) != "{not json" {
		t.Errorf("corrupt cache was rewritten: %q", data)
	}

	// The next good read replaces it.
	srv.FailWith(0)
	if _, st = loadPortal(t, cfg, opts); st.Err != nil {
		t.Fatal(st.Err)
	}
	if data, _ := os.ReadFile(matches[0]); !json.Valid(data) {
		t.Errorf("cache not replaced after a good read")
	}
}

func TestPortalAndFilesTogether(t *testing.T) {
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "example-mcp", "https://other.example.com/mcp")})
	t.Setenv(tokenEnv, srv.Token)
	abs, _ := filepath.Abs(testdata + "examples.yaml")
	cfg, opts := portalConfig(t, srv.URL, "catalog:\n  files: ['"+abs+"']\n")
	cat, err := Load(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	var dups []string
	for _, s := range cat.Servers {
		if s.DuplicateOf != "" {
			dups = append(dups, s.ID+" from "+s.Source)
		}
	}
	want := "example-mcp from " + srv.URL + " api:default/example-mcp"
	if len(dups) != 1 || dups[0] != want {
		t.Errorf("duplicates = %q, want %q", dups, want)
	}
}

func TestPortalPreferCacheAnswersAtOnceAndRefreshes(t *testing.T) {
	srv := backstagetest.New(t, manyEntities(2))
	t.Setenv(tokenEnv, srv.Token)
	cfg, opts := portalConfig(t, srv.URL, "")
	opts.PreferCache = true
	// No cache yet: the portal is read.
	if _, st := loadPortal(t, cfg, opts); st.Err != nil || st.Servers != 2 || !st.CachedAt.IsZero() {
		t.Fatalf("first read: %+v", st)
	}
	srv.SetEntities(manyEntities(5))
	before := len(srv.Requests())
	_, st := loadPortal(t, cfg, opts)
	if st.Err != nil || st.Stale != nil || st.Servers != 2 || st.CachedAt.IsZero() {
		t.Fatalf("cached read: %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Requests()) == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(srv.Requests()) == before {
		t.Fatal("the cache was not refreshed in the background")
	}
	for time.Now().Before(deadline) {
		if _, st = loadPortal(t, cfg, opts); st.Servers == 5 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Servers != 5 {
		t.Errorf("the refreshed cache was not used: %+v", st)
	}
	// Each read started a refresh; let them finish before the folder goes.
	for n := -1; n != len(srv.Requests()); {
		n = len(srv.Requests())
		time.Sleep(200 * time.Millisecond)
	}
}
