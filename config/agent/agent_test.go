package agent

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const bin = "/usr/local/bin/bridge"

var launch = Serve(bin, "")

// TestGolden edits each agent's file: original → after-add → after-remove,
// which must be the original again, byte for byte.
func TestGolden(t *testing.T) {
	cases := map[string]string{
		"claude-desktop": "claude-desktop", "claude-code": "claude-code", "cursor": "cursor", "vscode": "vscode",
		"empty-object": "cursor", "no-servers": "claude-desktop", "gemini": "gemini",
		"codex": "codex", "codex-crlf": "codex", "codex-no-servers": "codex",
	}
	for dir, name := range cases {
		t.Run(dir, func(t *testing.T) {
			a, err := Find(name)
			if err != nil {
				t.Fatal(err)
			}
			ext := ".json"
			if a.toml {
				ext = ".toml"
			}
			original, err := os.ReadFile(filepath.Join("testdata", dir, "original"+ext))
			if err != nil {
				t.Fatal(err)
			}
			added, changed, err := a.Add(original, "bridge", launch)
			if err != nil || !changed {
				t.Fatalf("Add: changed %v, %v", changed, err)
			}
			golden(t, filepath.Join("testdata", dir, "after-add"+ext), added)
			again, changed, err := a.Add(added, "bridge", launch)
			if err != nil || changed || string(again) != string(added) {
				t.Errorf("a second Add changed the file: %v", err)
			}
			removed, changed, err := a.Remove(added, "bridge", a.Created(original))
			if err != nil || !changed {
				t.Fatalf("Remove: changed %v, %v", changed, err)
			}
			golden(t, filepath.Join("testdata", dir, "after-remove"+ext), removed)
			if string(removed) != string(original) {
				t.Errorf("remove did not restore the original:\n%s\nwant\n%s", removed, original)
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s:\n%s\nwant\n%s", path, got, want)
	}
}

func TestAddReplacesAnOutdatedEntryAndStartsEmptyFiles(t *testing.T) {
	a, _ := Find("cursor")
	old := []byte(`{"mcpServers": {"bridge": {"command": "/old/bridge", "args": ["serve"]}, "other": {}}}`)
	got, changed, err := a.Add(old, "bridge", launch)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	if want := `{"mcpServers": {"bridge": {
      "args": [
        "serve"
      ],
      "command": "/usr/local/bin/bridge"
    }, "other": {}}}`; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	fresh, changed, err := a.Add(nil, "bridge", launch)
	if err != nil || !changed || string(fresh) != a.Snippet("bridge", launch) {
		t.Errorf("empty file: %s %v", fresh, err)
	}
}

func TestFilesThatAreNotPlainJSONAreLeftAlone(t *testing.T) {
	a, _ := Find("vscode")
	for _, data := range []string{"// comment\n{}", "[1, 2]", `{"servers": []}`, `{"a": 1} trailing`} {
		if _, _, err := a.Add([]byte(data), "bridge", launch); !errors.Is(err, ErrNotJSON) {
			t.Errorf("%q: %v", data, err)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		agent string
		env   Env
		want  string
	}{
		{"claude-desktop", Env{GOOS: "darwin", Home: "/Users/me"}, "/Users/me/Library/Application Support/Claude/claude_desktop_config.json"},
		{"claude-desktop", Env{GOOS: "windows", Home: `C:\Users\me`, AppData: `C:\Users\me\AppData\Roaming`}, filepath.Join(`C:\Users\me\AppData\Roaming`, "Claude", "claude_desktop_config.json")},
		{"claude-desktop", Env{GOOS: "linux", Home: "/home/me"}, "/home/me/.config/Claude/claude_desktop_config.json"},
		{"claude-desktop", Env{GOOS: "linux", Home: "/home/me", XDG: "/cfg"}, "/cfg/Claude/claude_desktop_config.json"},
		{"claude-code", Env{GOOS: "linux", Home: "/home/me"}, "/home/me/.claude.json"},
		{"cursor", Env{GOOS: "darwin", Home: "/Users/me"}, "/Users/me/.cursor/mcp.json"},
		{"vscode", Env{GOOS: "darwin", Home: "/Users/me"}, "/Users/me/Library/Application Support/Code/User/mcp.json"},
		{"vscode", Env{GOOS: "linux", Home: "/home/me"}, "/home/me/.config/Code/User/mcp.json"},
		{"gemini", Env{GOOS: "linux", Home: "/home/me"}, "/home/me/.gemini/settings.json"},
		{"gemini", Env{GOOS: "darwin", Home: "/Users/me"}, "/Users/me/.gemini/settings.json"},
		{"gemini", Env{GOOS: "windows", Home: `C:\Users\me`}, filepath.Join(`C:\Users\me`, ".gemini", "settings.json")},
		{"codex", Env{GOOS: "linux", Home: "/home/me"}, "/home/me/.codex/config.toml"},
		{"codex", Env{GOOS: "darwin", Home: "/Users/me", CodexHome: "/opt/codex"}, "/opt/codex/config.toml"},
		{"codex", Env{GOOS: "windows", Home: `C:\Users\me`}, filepath.Join(`C:\Users\me`, ".codex", "config.toml")},
	}
	for _, tt := range tests {
		a, _ := Find(tt.agent)
		if got := a.Path(tt.env); got != tt.want {
			t.Errorf("%s on %s: %s, want %s", tt.agent, tt.env.GOOS, got, tt.want)
		}
	}
	if _, err := Find("emacs"); err == nil {
		t.Error("an unknown agent was found")
	}
}

// A config file other than the default goes into the entry's arguments,
// for agents that start servers without the user's environment.
func TestTheEntryCarriesTheConfigFile(t *testing.T) {
	l := Serve(bin, "/home/me/work/bridge.yaml")
	for _, name := range []string{"cursor", "codex"} {
		a, _ := Find(name)
		out, _, err := a.Add(nil, "bridge", l)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"serve", "--config", "/home/me/work/bridge.yaml"`) &&
			!strings.Contains(strings.Join(strings.Fields(string(out)), " "), `"serve", "--config", "/home/me/work/bridge.yaml"`) {
			t.Errorf("%s: the entry lacks the config file:\n%s", name, out)
		}
	}
}
