package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// serverID is the shape of a server's ID: an entity's name.
var serverID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

var update = flag.Bool("update", false, "rewrite the golden files")

// Every edit of the config file changes only the lines that change: the
// golden files hold each result whole.
func TestEditsChangeOnlyTheirLines(t *testing.T) {
	for _, tc := range []struct {
		file        string
		add, remove []string
		readOnly    string // a server to set read_only for, instead
		tokenStore  string // or the token store to set
	}{
		{file: "block-add", add: []string{"c"}},
		{file: "block-remove", remove: []string{"b"}},
		{file: "block-remove-all", remove: []string{"a", "b", "c"}},
		{file: "flow-add", add: []string{"c"}},
		{file: "null-add", add: []string{"a"}},
		{file: "absent-add", add: []string{"a", "b"}},
		{file: "comments-only", add: []string{"a"}},
		{file: "yes-add", add: []string{"yes", "a"}},
		{file: "crlf-add", add: []string{"y"}},
		{file: "readonly-new", readOnly: "jira"},
		{file: "readonly-flip", readOnly: "a"},
		{file: "readonly-absent", readOnly: "a"},
		{file: "readonly-flow", readOnly: "a"},
		{file: "tokenstore-new", tokenStore: "file"},
		{file: "tokenstore-flip", tokenStore: "file"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "edit", tc.file+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			writeFile(t, path, string(in))
			cfg := &Config{path: path, exists: true}
			switch {
			case tc.tokenStore != "":
				err = cfg.SetTokenStore(tc.tokenStore)
			case tc.readOnly != "":
				err = cfg.SetServerReadOnly(tc.readOnly, true)
			default:
				err = cfg.UpdateEnabled(tc.add, tc.remove)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			golden := filepath.Join("testdata", "edit", tc.file+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The child processes of TestParallelEnablesAreAllKept run this.
func TestMain(m *testing.M) {
	if path := os.Getenv("CONFIG_TEST_ENABLE"); path != "" {
		cfg := &Config{path: path, exists: true}
		for i := range 5 {
			if err := cfg.UpdateEnabled([]string{fmt.Sprintf("%s-%d", os.Getenv("CONFIG_TEST_WHO"), i)}, nil); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Parallel "bridge enable"s in several processes each keep their server,
// in a config file that is a symlink into a dotfiles folder.
func TestParallelEnablesAreAllKept(t *testing.T) {
	dir := t.TempDir()
	target := writeFile(t, filepath.Join(dir, "dotfiles", "bridge.yaml"), "# mine\nenabled:\n  - first\n")
	path := filepath.Join(dir, "config.yaml")
	if runtime.GOOS != "windows" {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	} else {
		path = target
	}
	var wg sync.WaitGroup
	for p := range 6 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CONFIG_TEST_ENABLE="+path, fmt.Sprintf("CONFIG_TEST_WHO=p%d", p))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("process %d: %v: %s", p, err, out)
			}
		})
	}
	wg.Wait()
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Enabled) != 31 || cfg.Enabled[0] != "first" {
		t.Errorf("enabled = %d servers, want 31: %v", len(cfg.Enabled), cfg.Enabled)
	}
	for p := range 6 {
		for i := range 5 {
			if !slices.Contains(cfg.Enabled, fmt.Sprintf("p%d-%d", p, i)) {
				t.Errorf("p%d-%d was lost", p, i)
			}
		}
	}
	if fi, err := os.Lstat(path); runtime.GOOS != "windows" && (err != nil || fi.Mode()&os.ModeSymlink == 0) {
		t.Errorf("the config file is no longer a symlink: %v", err)
	}
	data, _ := os.ReadFile(target)
	if !strings.HasPrefix(string(data), "# mine\nenabled:\n  - first\n") {
		t.Errorf("the target lost its first lines:\n%s", data)
	}
}

// FuzzEditConfig edits arbitrary YAML with server IDs (names as the
// catalog allows them): an edit never panics, and when it succeeds the
// list is as asked and the documents after the first are kept byte for
// byte.
func FuzzEditConfig(f *testing.F) {
	for _, name := range []string{"block-add", "block-remove", "flow-add", "null-add", "absent-add", "comments-only", "readonly-new"} {
		data, err := os.ReadFile(filepath.Join("testdata", "edit", name+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "c", "a")
	}
	f.Add([]byte("enabled: [a,\n  b]\n"), "c", "b")
	f.Add([]byte("enabled:\n- |\n  a\n- b\n"), "x", "a")
	f.Fuzz(func(t *testing.T, data []byte, add, remove string) {
		if len(data) > 4096 || !serverID.MatchString(add) || !serverID.MatchString(remove) {
			return
		}
		var got struct {
			Enabled []string `yaml:"enabled"`
		}
		if yaml.Unmarshal(data, &got) != nil {
			return // no config file to start from
		}
		var enabled []string
		out, err := applyChange(data, enabledChange([]string{add}, []string{remove}, &enabled))
		if err != nil {
			return
		}
		got.Enabled = nil
		if err := yaml.Unmarshal(out, &got); err != nil {
			t.Fatalf("the edit made YAML that does not parse (%v):\n%s\nfrom:\n%s", err, out, data)
		}
		if !slices.Equal(got.Enabled, enabled) || (add != remove && !slices.Contains(got.Enabled, add)) {
			t.Fatalf("enabled = %q, want %q, from:\n%s\nto:\n%s", got.Enabled, enabled, data, out)
		}
		in, _ := parseYAMLText(data)
		if tail := in.join(in.lines[in.end:]); !bytes.HasSuffix(out, tail) {
			t.Fatalf("the documents after the first changed:\n%s\nfrom:\n%s", out, data)
		}
	})
}

// A later document that reads only after the first as it was is never
// left unreadable by an edit of the first: the edit fails and says so.
func TestEditNeverWritesYAMLThatDoesNotRead(t *testing.T) {
	data := []byte(" e:\n:\n--- l:")
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("the file does not read to start with: %v", err)
	}
	var enabled []string
	out, err := applyChange(data, enabledChange([]string{"c"}, nil, &enabled))
	if err == nil || !strings.Contains(err.Error(), "edit it by hand") {
		t.Fatalf("applyChange = %q, %v: want an error that says to edit it by hand", out, err)
	}
}
