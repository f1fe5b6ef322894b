package agent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// hostileTOML are Codex files the bridge did not write: refused, or edited
// in the entry's lines alone.
var hostileTOML = []struct {
	name    string
	data    string
	refused bool
	want    string // for an edit: what Add gives
}{
	{name: "not TOML", data: "model = \n", refused: true},
	{name: "servers inline", data: "mcp_servers = { docs = { command = \"x\" } }\n", refused: true},
	{name: "entry dotted at the top", data: "mcp_servers.bridge.command = \"/old\"\n", refused: true},
	{name: "entry inline in the servers table", data: "[mcp_servers]\nbridge = { command = \"/old\" }\n", refused: true},
	{name: "entry an array of tables", data: "[[mcp_servers.bridge]]\ncommand = \"/old\"\n", refused: true},
	{name: "entry twice", data: "[mcp_servers.bridge]\n[mcp_servers.bridge]\n", refused: true},
	{
		name: "an outdated entry keeps its other keys",
		data: "[mcp_servers.bridge]\n# mine\ncommand = \"/old/bridge\" # old\nargs = [\n  \"serve\",\n]\nstartup_timeout_sec = 20\n\n[mcp_servers.bridge.env]\nX = \"1\"\n",
		want: "[mcp_servers.bridge]\n# mine\ncommand = \"/usr/local/bin/bridge\"\nargs = [\"serve\"]\nstartup_timeout_sec = 20\n\n[mcp_servers.bridge.env]\nX = \"1\"\n",
	},
	{
		name: "an entry without command or args",
		data: "[mcp_servers.bridge]\nenabled = true\n",
		want: "[mcp_servers.bridge]\ncommand = \"/usr/local/bin/bridge\"\nargs = [\"serve\"]\nenabled = true\n",
	},
	{
		name: "a header inside a string is text",
		data: "note = \"\"\"\n[mcp_servers.bridge]\n\"\"\"\n",
		want: "note = \"\"\"\n[mcp_servers.bridge]\n\"\"\"\n\n[mcp_servers.bridge]\ncommand = \"/usr/local/bin/bridge\"\nargs = [\"serve\"]\n",
	},
	{
		name: "a quoted name",
		data: "[mcp_servers.\"bridge\"]\ncommand = \"/old\"\nargs = [\"serve\"]\n",
		want: "[mcp_servers.\"bridge\"]\ncommand = \"/usr/local/bin/bridge\"\nargs = [\"serve\"]\n",
	},
	{
		name: "no final newline",
		data: "model = \"o3\"",
		want: "model = \"o3\"\n\n[mcp_servers.bridge]\ncommand = \"/usr/local/bin/bridge\"\nargs = [\"serve\"]\n",
	},
}

func TestHostileTOMLIsRefusedOrEditedInItsLines(t *testing.T) {
	a, _ := Find("codex")
	for _, tc := range hostileTOML {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := a.Add([]byte(tc.data), "bridge", launch)
			if tc.refused {
				if !errors.Is(err, ErrNotTOML) {
					t.Fatalf("Add = %q, %v; want ErrNotTOML", out, err)
				}
				if _, _, err := a.Remove([]byte(tc.data), "bridge", false); err != nil && !errors.Is(err, ErrNotTOML) {
					t.Errorf("Remove: %v", err)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Fatalf("Add = %v\n%s\nwant\n%s", err, out, tc.want)
			}
			removed, changed, err := a.Remove(out, "bridge", false)
			var left map[string]any
			if err != nil || !changed || toml.Unmarshal(removed, &left) != nil || left["mcp_servers"] != nil {
				t.Fatalf("Remove = %v %v\n%s", changed, err, removed)
			}
		})
	}
}

// FuzzTOML edits any file: refused, or the entry set and everything else
// as it was; removing the entry gives back what the file held.
func FuzzTOML(f *testing.F) {
	for _, tc := range hostileTOML {
		f.Add([]byte(tc.data))
	}
	originals, _ := filepath.Glob(filepath.Join("testdata", "*", "original.toml"))
	for _, path := range originals {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	a, _ := Find("codex")
	f.Fuzz(func(t *testing.T, data []byte) {
		added, _, err := a.Add(data, "bridge", launch)
		if err != nil {
			if !errors.Is(err, ErrNotTOML) {
				t.Fatalf("Add(%q): %v, not ErrNotTOML", data, err)
			}
			return
		}
		var before, after map[string]any
		if len(bytes.TrimSpace(data)) == 0 {
			data = nil // a blank file is replaced whole
		}
		if toml.Unmarshal(data, &before) != nil || toml.Unmarshal(added, &after) != nil {
			t.Fatalf("Add(%q) = %q: does not parse", data, added)
		}
		if !reflect.DeepEqual(withoutEmpty(after), withoutEmpty(withEntry(before, "mcp_servers", "bridge", launch))) {
			t.Fatalf("Add(%q) = %q changed more than the entry", data, added)
		}
		removed, _, err := a.Remove(added, "bridge", false)
		if err != nil {
			t.Fatalf("Remove(%q): %v", added, err)
		}
		var back map[string]any
		if toml.Unmarshal(removed, &back) != nil || !reflect.DeepEqual(withoutEmpty(back), withoutEmpty(withoutEntry(before, "mcp_servers", "bridge"))) {
			t.Fatalf("Remove(Add(%q)) = %q", data, removed)
		}
	})
}

func TestTOMLKeysAreQuotedWhenTheyMustBe(t *testing.T) {
	for key, want := range map[string]string{
		"bridge":      "bridge",
		"my-bridge_2": "my-bridge_2",
		"":            `""`,
		"a.b":         `"a.b"`,
		"my bridge":   `"my bridge"`,
		"brücke":      `"brücke"`,
	} {
		if got := tomlKey(key); got != want {
			t.Errorf("tomlKey(%q) = %s, want %s", key, got, want)
		}
	}
}
