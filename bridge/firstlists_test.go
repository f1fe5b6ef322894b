package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeFirstRefusesWhatItCannotAnswerWith: a file of first answers
// is used only whole and of its version, each list an object of a list
// method.
func TestDecodeFirstRefusesWhatItCannotAnswerWith(t *testing.T) {
	const good = `{"version":1,"inputs":"ab","until":"2030-01-01T00:00:00Z","lists":{"tools/list":{"tools":[]}}}`
	if ff, err := decodeFirst([]byte(good)); err != nil || string(ff.Lists["tools/list"]) != `{"tools":[]}` {
		t.Fatalf("a good file: %+v %v", ff, err)
	}
	for _, tc := range []struct{ name, data, err string }{
		{"not JSON", good[:len(good)-1], "not JSON"},
		{"not an object", `[1]`, "not a JSON object"},
		{"another version", strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2, not 1"},
		{"no inputs", strings.Replace(good, `"inputs":"ab"`, `"inputs":""`, 1), "inputs, until or lists missing"},
		{"no until", strings.Replace(good, `"until":"2030-01-01T00:00:00Z"`, `"until":null`, 1), "inputs, until or lists missing"},
		{"no lists", strings.Replace(good, `{"tools/list":{"tools":[]}}`, `{}`, 1), "inputs, until or lists missing"},
		{"a list not an object", strings.Replace(good, `{"tools":[]}`, `"tools"`, 1), "a list tools/list"},
		{"another method", strings.Replace(good, `"tools/list"`, `"tools/call"`, 1), "a list tools/call"},
		{"a bad time", strings.Replace(good, `2030-01-01T00:00:00Z`, `soon`, 1), "cannot parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeFirst([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, want an error with %q", err, tc.err)
			}
		})
	}
}

// TestFirstListsDigestSeesEveryFile: the digest the answers are kept
// under changes with any byte of the config, the catalog, or an enabled
// server's kept lists or pins, and with a file that comes or goes; a
// server the config does not enable does not count.
func TestFirstListsDigestSeesEveryFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg, cat := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "catalog.yaml")
	f := NewFirstLists(FirstListsOptions{StateDir: state, Enabled: []string{"beta", "alpha"},
		Files: func() ([]string, error) { return []string{cfg, cat}, nil }})
	lists, pins := NewListCache(state, 0, nil), NewPins(state)
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "enabled: [alpha, beta]\n")
	write(cat, "kind: API\n")
	write(lists.Path("alpha"), `{"lists":1}`)
	write(pins.Path("alpha"), `{"trusted":{}}`)
	digest := func() string {
		t.Helper()
		d, err := f.digest()
		if err != nil {
			t.Fatal(err)
		}
		return string(d[:])
	}
	last := digest()
	if digest() != last {
		t.Fatal("the digest of the same files differs")
	}
	for _, tc := range []struct {
		name   string
		change func()
		counts bool
	}{
		{"the config", func() { write(cfg, "enabled: [alpha, beta] \n") }, true},
		{"the catalog", func() { write(cat, "kind: api\n") }, true},
		{"alpha's kept lists", func() { write(lists.Path("alpha"), `{"lists":2}`) }, true},
		{"alpha's pins", func() { write(pins.Path("alpha"), `{"trusted":{"a":{}}}`) }, true},
		{"beta's kept lists, new", func() { write(lists.Path("beta"), `{}`) }, true},
		{"alpha's pins, gone", func() { os.Remove(pins.Path("alpha")) }, true},
		{"alpha's pins, empty", func() { write(pins.Path("alpha"), ``) }, true},
		{"gamma's kept lists (not enabled)", func() { write(lists.Path("gamma"), `{}`) }, false},
	} {
		tc.change()
		now := digest()
		if (now != last) != tc.counts {
			t.Errorf("a change of %s: the digest changed: %v, want %v", tc.name, now != last, tc.counts)
		}
		last = now
	}
}
