package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The child processes of TestUpdateKeepsEveryWritersChange run this: they
// add their entries to the file named in the environment and exit.
func TestMain(m *testing.M) {
	if path := os.Getenv("STATE_TEST_UPDATE"); path != "" {
		os.Exit(addEntries(path, os.Getenv("STATE_TEST_WHO"), os.Getenv("STATE_TEST_LOCKS")))
	}
	os.Exit(m.Run())
}

const entriesEach = 20

func addEntries(path, who, locks string) int {
	l := Locks{Dir: locks}
	for i := range entriesEach {
		m := map[string]int{}
		err := l.UpdateJSON(context.Background(), path, "delete it", &m, func() error {
			m[fmt.Sprintf("%s-%d", who, i)] = i
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// Six processes and six goroutines change one file at once, each through
// a read-modify-write of its own: not one change is lost.
func TestUpdateKeepsEveryWritersChange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		locks bool
	}{{"lock folder", true}, {"lock beside the file", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tokens.json")
			locks := ""
			if tc.locks {
				locks = filepath.Join(dir, "locks")
			}
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			for p := range 6 {
				wg.Go(func() {
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), "STATE_TEST_UPDATE="+path, "STATE_TEST_WHO=p"+strconv.Itoa(p), "STATE_TEST_LOCKS="+locks)
					if out, err := cmd.CombinedOutput(); err != nil {
						errs <- fmt.Errorf("process %d: %v: %s", p, err, out)
					}
				})
			}
			for g := range 6 {
				wg.Go(func() {
					if addEntries(path, "g"+strconv.Itoa(g), locks) != 0 {
						errs <- fmt.Errorf("goroutine %d failed", g)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			m := map[string]int{}
			if err := ReadJSON(path, &m, ""); err != nil {
				t.Fatal(err)
			}
			if len(m) != 12*entriesEach {
				t.Errorf("the file keeps %d entries of %d written", len(m), 12*entriesEach)
			}
		})
	}
}

func TestUpdateWritesThroughSymlinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := t.TempDir()
	dotfiles := filepath.Join(dir, "dotfiles")
	if err := os.MkdirAll(dotfiles, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dotfiles, "config.yaml")
	if err := os.WriteFile(target, []byte("one\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	relative := filepath.Join(dir, "relative.yaml")
	chained := filepath.Join(dir, "chained.yaml")
	dangling := filepath.Join(dir, "dangling.yaml")
	mustLink(t, filepath.Join("dotfiles", "config.yaml"), relative)
	mustLink(t, relative, chained)
	mustLink(t, filepath.Join(dotfiles, "new.yaml"), dangling)

	for _, tc := range []struct {
		name, path, target string
	}{
		{"relative link", relative, target},
		{"link to a link", chained, target},
		{"dangling link", dangling, filepath.Join(dotfiles, "new.yaml")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Locks{}.Update(context.Background(), tc.path, 0o600, func(old []byte) ([]byte, error) {
				return append(slices.Clone(old), "more\n"...), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(tc.path)
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("%s is no longer a symlink: %v, %v", tc.path, fi.Mode(), err)
			}
			data, err := os.ReadFile(tc.target)
			if err != nil || !slices.Contains([]string{"one\nmore\n", "one\nmore\nmore\n", "more\n"}, string(data)) {
				t.Errorf("target holds %q, %v", data, err)
			}
		})
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("the target's mode became %o", fi.Mode().Perm())
	}
	loop := filepath.Join(dir, "loop")
	mustLink(t, loop, loop)
	if _, err := Target(loop); err == nil {
		t.Error("a symlink loop was followed without end")
	}
}

func TestUpdateKeepsTheFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(path, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	err := Locks{}.UpdateJSON(context.Background(), path, "fix it", &m, func() error { m["a"] = "b"; return nil })
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	refused := errors.New("refused")
	err = Locks{}.Update(context.Background(), path, 0o600, func([]byte) ([]byte, error) { return nil, refused })
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "null" {
		t.Errorf("the file became %q", data)
	}
}

func mustLink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

// Backups taken in the same second get names of their own: none is
// written over.
func TestBackupsNeverCollide(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	now := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	var names []string
	for i := range 3 {
		name, err := Backup(path, []byte{byte('a' + i)}, now)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	for i, name := range names {
		if data, _ := os.ReadFile(name); string(data) != string(rune('a'+i)) {
			t.Errorf("backup %s holds %q", name, data)
		}
	}
	if names[0] != path+".bak-20261201-230000" || names[1] != names[0]+"-2" {
		t.Errorf("names = %v", names)
	}
}
