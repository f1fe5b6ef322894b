package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatalogTextCannotDriveTheTerminal: an entity whose title clears the
// screen and retitles the terminal is listed with those characters shown.
func TestCatalogTextCannotDriveTheTerminal(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.yaml")
	entity := strings.Replace(entityYAML("evil", [2]string{"streamable-http", "https://evil.example.com/mcp"}),
		"  name: evil\n", "  name: evil\n  title: \"x\\e[2J\\e]0;pwned\\a\\u009b31m\"\n", 1)
	must(t, os.WriteFile(cat, []byte(entity), 0o644))
	code, out, errOut := runBridge(t, "list", "--catalog", cat, "--config", filepath.Join(dir, "config.yaml"))
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	for _, raw := range []string{"\x1b", "\a", "\u009b"} {
		if strings.Contains(out+errOut, raw) {
			t.Errorf("list printed %q raw:\n%q", raw, out)
		}
	}
	if !strings.Contains(out, `x\x1b[2J\x1b]0;pwned\x07\x9b31m`) {
		t.Errorf("the title is not shown escaped:\n%s", out)
	}
	// JSON is escaped by its encoder already, and stays valid.
	if _, out, _ := runBridge(t, "list", "--json", "--catalog", cat, "--config", filepath.Join(dir, "config.yaml")); strings.Contains(out, "\x1b") || !strings.Contains(out, `\u001b[2J`) {
		t.Errorf("--json: %q", out)
	}
}
