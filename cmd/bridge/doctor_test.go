package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// TestDoctorNamesEveryBrokenPart runs doctor on a deliberately broken
// setup and checks that each broken part has its finding and code.
func TestDoctorNamesEveryBrokenPart(t *testing.T) {
	good := upstreamtest.Start(t, upstreamtest.Options{Name: "good", Transport: upstreamtest.StreamableHTTP})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + closed.Addr().String() + "/mcp"
	closed.Close()
	dir := t.TempDir()
	catalog := entityYAML("good", [2]string{"streamable-http", good.StreamableURL}) +
		entityYAML("dead", [2]string{"streamable-http", dead}) +
		annotated(entityYAML("locked", [2]string{"streamable-http", good.StreamableURL}), "mcp.spotify.com/auth-api-id: core.auth.github") +
		strings.Replace(entityYAML("retired", [2]string{"streamable-http", good.StreamableURL}), "lifecycle: production", "lifecycle: deprecated", 1)
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(catalog), 0o644))
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml, missing.yaml]\nenabled: [good, dead, locked, retired, gone]\ntoken_store: file\n"), 0o644))
	t.Setenv("MCP_BRIDGE_STATE_DIR", filepath.Join(dir, "state"))

	code, out, errOut := runBridge(t, "doctor", "--json", "--wait", "3s", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "checks failed") {
		t.Errorf("exit %d, stderr %q; want 1 for a broken setup", code, errOut)
	}
	var findings []finding
	must(t, json.Unmarshal([]byte(out), &findings))
	got := map[string]string{}
	for _, f := range findings {
		got[f.Subject+" "+f.Code] = f.Status
		if f.Status != "ok" && f.Remedy == "" && f.Code != codeEntitiesInvalid {
			t.Errorf("%s %s has no remedy", f.Subject, f.Code)
		}
	}
	for _, want := range []string{
		"catalog.yaml source-ok", "missing.yaml source-failed", "catalog entities-invalid",
		"good server-ok", "dead server-failed", "locked server-needs-login",
		"retired enabled-unavailable", "gone enabled-missing", "tokens keychain-file",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("no finding %q; got %v", want, slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}
	if got["good server-ok"] != "ok" || got["dead server-failed"] != "fail" {
		t.Errorf("statuses: %v", got)
	}

	// The text form says the same, with the remedies.
	_, text, _ := runBridge(t, "doctor", "--wait", "3s", "--config", cfg)
	for _, want := range []string{"FAIL dead:", "[server-failed]", `→ run "bridge login locked"`, "OK good: connected; 9 tools [server-ok]"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}
