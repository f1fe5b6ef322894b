package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestToolsVerbListsWhatTheAgentSees(t *testing.T) {
	f := startFleet(t)
	dir := t.TempDir()
	cat := dir + "/catalog.yaml"
	must(t, writeText(cat, f.catalog))
	cfg := dir + "/config.yaml"
	must(t, writeText(cfg, "catalog:\n  files: ["+cat+"]\nenabled: [alpha, beta]\nservers:\n  beta:\n    prefix: b\n"))
	t.Setenv("MCP_BRIDGE_STATE_DIR", dir)
	code, out, errOut := runBridge(t, "tools", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`(?m)^alpha__catalog_get-entity +alpha +catalog\.get-entity +yes +exposed$`, `(?m)^b__echo +beta +echo +yes +exposed$`, `(?m)^18 tools, 18 exposed, 0 withheld\.$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("tools output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runBridge(t, "tools", "--json", "--config", cfg, "beta")
	var rows []toolRow
	must(t, json.Unmarshal([]byte(out), &rows))
	if code != 0 || len(rows) == 0 || rows[0].Server != "beta" || !strings.HasPrefix(rows[0].Name, "b__") {
		t.Errorf("tools --json beta: %d %+v", code, rows)
	}
	if code, _, errOut = runBridge(t, "tools", "--config", cfg, "gamma"); code != 1 || !strings.Contains(errOut, "gamma is not an enabled") {
		t.Errorf("tools gamma: %d %s", code, errOut)
	}
}
