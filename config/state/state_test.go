package state

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "/tmp/state-here")
	if d, err := Dir(); err != nil || d != "/tmp/state-here" {
		t.Errorf("Dir() = %q, %v", d, err)
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	d, err := Dir()
	if err != nil || (d != "/xdg/state/mcp-bridge" && !strings.HasSuffix(d, "mcp-bridge")) {
		t.Errorf("Dir() = %q, %v", d, err)
	}
}

func TestWriteFileCreatesPrivateFoldersAndKeepsPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "f.json")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s was created %o, want 0700", d, perm)
		}
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if data, _ := os.ReadFile(path); string(data) != "two" || fi.Mode().Perm() != 0o640 {
		t.Errorf("after a second write: %q, %o; want \"two\", 0640", data, fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestReadJSONNamesACorruptFileAndKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	var v map[string]int
	if err := ReadJSON(path, &v, "delete it"); err != nil || v != nil {
		t.Fatalf("a missing file: %v, %v; want nil, nil", v, err)
	}
	if err := os.WriteFile(path, []byte(`{"a":`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ReadJSON(path, &v, "delete it")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("a corrupt file: %v; want an error naming %s and the remedy", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != `{"a":` {
		t.Errorf("the corrupt file was changed: %q", data)
	}
	for _, odd := range []string{"null", " null\n"} {
		if err := os.WriteFile(path, []byte(odd), 0o600); err != nil {
			t.Fatal(err)
		}
		var m map[string]int
		if err := ReadJSON(path, &m, "delete it"); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("a file holding %q: %v; want an error naming it", odd, err)
		}
	}
	if err := WriteJSON(path, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(path, &v, ""); err != nil || v["a"] != 1 {
		t.Errorf("read back %v, %v", v, err)
	}
}

func TestReadLimitedRefusesAFileLargerThanItsBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.json")
	if _, err := ReadLimited(path, 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("1234"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadLimited(path, 4); err != nil || string(data) != "1234" {
		t.Errorf("a file of the bound: %q, %v", data, err)
	}
	if _, err := ReadLimited(path, 3); err == nil || !strings.Contains(err.Error(), path+" is larger than 3 bytes") {
		t.Errorf("a file past the bound: %v", err)
	}
}

// A file larger than MaxFile is not read whole, by a read or an update:
// the error names it, and the file is left as it is.
func TestAFileTooLargeIsNamedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: its size is past the bound, without writing it.
	if err := f.Truncate(MaxFile + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var v any
	if err := ReadJSON(path, &v, "delete it"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadJSON of a file too large: %v", err)
	}
	edited := false
	err = Locks{Dir: t.TempDir()}.Update(context.Background(), path, 0o600, func(old []byte) ([]byte, error) {
		edited = true
		return []byte("{}"), nil
	})
	if err == nil || edited || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Update of a file too large: %v (edited: %v)", err, edited)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != MaxFile+1 {
		t.Errorf("the file too large was changed: %v, %v", fi.Size(), err)
	}
}
