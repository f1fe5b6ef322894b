package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/backstagetest"
)

// TestPortalOfBothShapesIsListedEnabledAndServed: a portal whose catalog
// holds entities of the Portal's shape and of Backstage's own
// (ApiV1alpha1McpServer, no annotation) lists both with their shape, in
// the table and in --json; its actions server, under a name of its own,
// stands in for the built-in one and is what "mcp-actions" enables and
// disables; and a server of Backstage's shape is enabled and served.
func TestPortalOfBothShapesIsListedEnabledAndServed(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "search", Transport: upstreamtest.StreamableHTTP})
	srv := backstagetest.New(t, nil)
	actionsURL := srv.URL + "/api/mcp-actions/v1"
	srv.SetEntities([]json.RawMessage{
		backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp"),
		backstagetest.BackstageMCPServerEntity("default", "search", up.StreamableURL, nil),
		backstagetest.BackstageMCPServerEntity("default", "backstage-actions-mcp", actionsURL,
			map[string]string{"mcp.spotify.com/auth-plugin-id": "mcp-actions"}),
	})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	state := filepath.Join(dir, "state")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf("portal:\n  url: %s\n  token_env: BRIDGE_TEST_TOKEN\n", srv.URL)), 0o644))
	t.Setenv("BRIDGE_TEST_TOKEN", srv.Token)
	t.Setenv("MCP_BRIDGE_STATE_DIR", state)

	code, out, errOut := runBridge(t, "list", "--config", cfg)
	if code != exitOK {
		t.Fatalf("list: exit %d\n%s", code, errOut)
	}
	checkGolden(t, "testdata/list_shapes.golden", out)

	code, out, errOut = runBridge(t, "list", "--json", "--config", cfg)
	if code != exitOK {
		t.Fatalf("list --json: exit %d\n%s", code, errOut)
	}
	var report struct {
		Servers []struct {
			ID, Shape, Transport, URL string
			Available                 bool
		}
	}
	must(t, json.Unmarshal([]byte(out), &report))
	shapes := map[string]string{}
	for _, s := range report.Servers {
		shapes[s.ID] = s.Shape
		if !s.Available {
			t.Errorf("%s unavailable", s.ID)
		}
	}
	want := map[string]string{"docs": "portal", "search": "backstage", "backstage-actions-mcp": "backstage"}
	if !maps.Equal(shapes, want) {
		t.Errorf("shapes in --json = %v, want %v (the catalog's actions server, and no built-in one)", shapes, want)
	}

	code, out, errOut = runBridge(t, "enable", "--config", cfg, "mcp-actions", "search")
	wantOut := fmt.Sprintf("%q is backstage-actions-mcp: its remote %s is under /api/mcp-actions/\nenabled backstage-actions-mcp\nenabled search\n", "mcp-actions", actionsURL)
	if code != exitOK || out != wantOut {
		t.Fatalf("enable: exit %d\nstdout %q\nwant   %q\nstderr %s", code, out, wantOut, errOut)
	}
	code, out, _ = runBridge(t, "disable", "--config", cfg, "mcp-actions")
	if code != exitOK || !strings.HasSuffix(out, "disabled backstage-actions-mcp\n") {
		t.Fatalf("disable: exit %d\n%s", code, out)
	}

	a := spawnAgent(t, cfg, state)
	a.initialize("2025-11-25")
	if names := slices.Sorted(maps.Keys(listTools(a))); !slices.Contains(names, "search__echo") {
		t.Fatalf("tools = %v, want search's", names)
	}
	if text, errm := a.toolText("search__echo", map[string]any{"text": "from backstage's shape"}); errm != nil || text != "from backstage's shape" {
		t.Fatalf("search__echo: %q %v", text, errm)
	}
}

// checkGolden compares got with the file at path, which -update rewrites.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		must(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
