package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadReadsEveryKey(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "config.yaml"), `
catalog:
  files: [a.yaml, "catalogs/*.yaml"]
portal:
  url: https://portal.example.com/
  token_env: BACKSTAGE_TOKEN
  timeout: 5s
enabled: [github-mcp, example-mcp]
servers:
  github-mcp:
    prefix: gh
    headers: {X-Tenant: acme}
  example-mcp:
    prefix: ""
max_name_length: 48
serve:
  startup_wait: 1s
  call_timeout: 2m
  cached_lists: false
  cache_max_age: 48h
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Catalog.Files, []string{"a.yaml", "catalogs/*.yaml"}) ||
		cfg.Portal.URL != "https://portal.example.com/" || cfg.Portal.TokenEnv != "BACKSTAGE_TOKEN" ||
		time.Duration(cfg.Portal.Timeout) != 5*time.Second || !cfg.IsEnabled("github-mcp") || cfg.IsEnabled("x") {
		t.Errorf("config = %+v", cfg)
	}
	if p := cfg.Servers["github-mcp"].Prefix; p == nil || *p != "gh" || cfg.Servers["github-mcp"].Headers["X-Tenant"] != "acme" {
		t.Errorf("servers.github-mcp = %+v", cfg.Servers["github-mcp"])
	}
	if p := cfg.Servers["example-mcp"].Prefix; p == nil || *p != "" {
		t.Errorf("an empty prefix must be kept apart from none: %v", p)
	}
	if cfg.MaxNameLength != 48 || time.Duration(cfg.Serve.StartupWait) != time.Second || time.Duration(cfg.Serve.CallTimeout) != 2*time.Minute {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Serve.CachedListsOn() || time.Duration(cfg.Serve.CacheMaxAge) != 48*time.Hour {
		t.Errorf("serve = %+v", cfg.Serve)
	}
	if !(ServeConfig{}).CachedListsOn() {
		t.Error("kept lists are off when serve.cached_lists is not set")
	}
	if got := cfg.Resolve("a.yaml"); got != filepath.Join(filepath.Dir(path), "a.yaml") {
		t.Errorf("relative catalog path resolves to %s, want beside the config", got)
	}
}

func TestLoadErrorsNameKeyAndFile(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"unknown top-level key", "catalog: {}\nportals: {}\n",
			[]string{`line 2: unknown key "portals"`, "known keys at the top level: catalog, portal, enabled, servers, max_name_length, serve"}},
		{"unknown key under a server", "servers:\n  gh:\n    prefx: g\n", []string{`line 3: unknown key "servers.gh.prefx" (known keys under servers.gh: prefix, headers, read_only, hide_destructive, allow, deny, client_id, client_secret_env, client_key_env, grant)`}},
		{"bad glob", "servers:\n  gh:\n    deny: ['[']\n", []string{`servers.gh: bad glob "["`}},
		{"bad pins", "pins: maybe\n", []string{`pins is "maybe": use "withhold" or "warn"`}},
		{"name length too short", "max_name_length: 8\n", []string{"max_name_length 8 is too short"}},
		{"bad tool surface", "tools: some\n", []string{`tools is "some": use "auto", "search" or "direct"`}},
		{"bad client tool surface", "clients:\n  cursor:\n    tools: all\n", []string{`clients.cursor.tools is "all"`}},
		{"client name length too short", "clients:\n  codex:\n    max_name_length: 10\n", []string{"clients.codex.max_name_length 10 is too short"}},
		{"unknown key under a client", "clients:\n  cursor:\n    max_tool: 3\n", []string{`unknown key "clients.cursor.max_tool" (known keys under clients.cursor: max_name_length, max_tools, entry, tools)`}},
		{"unknown nested key", "portal:\n  url: https://p.example.com\n  tokenEnv: X\n",
			[]string{`line 3: unknown key "portal.tokenEnv"`, "known keys under portal: url, token_env, timeout"}},
		{"bad duration", "portal:\n  timeout: soon\n", []string{`line 2: "soon" is not a duration`}},
		{"bad YAML", "catalog:\n  files: [a\n", []string{"line 2: did not find expected ',' or ']'"}},
		{"wrong type", "enabled: {a: b}\n", []string{"line 1: cannot unmarshal !!map into []string"}},
		{"bad portal url", "portal: {url: portal.example.com}\n", []string{`portal.url: "portal.example.com" is not an absolute http(s) URL`}},
		{"token in token_env", "portal: {url: 'https://p.example.com', token_env: 'abc def'}\n", []string{"portal.token_env is the name of an environment variable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "config.yaml"), tt.text)
			_, err := Load(path)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFileIsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none", "config.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Exists() || cfg.Path() != path || len(cfg.Enabled) != 0 {
		t.Errorf("config = %+v", cfg)
	}
}

func TestLoadPathFromEnvironment(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "enabled: [x]\n")
	t.Setenv(EnvConfig, path)
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path() != path || !cfg.IsEnabled("x") {
		t.Errorf("config = %+v", cfg)
	}
}

func TestUpdateEnabledKeepsTheRestOfTheFile(t *testing.T) {
	original := `# my bridge
catalog:
  files:
    - team.yaml # the team's servers
portal:
  url: https://portal.example.com
# servers I use
enabled:
  - a
`
	path := writeFile(t, filepath.Join(t.TempDir(), "config.yaml"), original)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.UpdateEnabled([]string{"b"}, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{"# my bridge", "- team.yaml # the team's servers", "url: https://portal.example.com", "# servers I use", "  - a\n  - b\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("rewritten config lacks %q:\n%s", want, data)
		}
	}
	again, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Enabled, []string{"a", "b"}) || again.Portal.URL != "https://portal.example.com" {
		t.Errorf("reloaded = %+v", again)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp")); len(tmp) > 0 {
		t.Errorf("a temporary file was left behind: %v", tmp)
	}
}

func TestUpdateEnabledCreatesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "config.yaml")
	cfg, _ := Load(path)
	if err := cfg.UpdateEnabled([]string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	again, err := Load(path)
	if err != nil || !again.IsEnabled("x") || !again.Exists() {
		t.Fatalf("reloaded %+v, %v", again, err)
	}
}

func TestUpdateEnabledRefusesACorruptFile(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "config.yaml"), "enabled: [a]\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "enabled: [a\n")
	err = cfg.UpdateEnabled([]string{"b"}, nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrConfig naming the file", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "enabled: [a\n" {
		t.Errorf("a corrupt file was overwritten: %q", data)
	}
}
