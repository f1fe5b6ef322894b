// Package state owns the files the bridge keeps between runs: where the
// state folder is, how a JSON file in it is read and written, the atomic
// write every file of the bridge goes through, and the cross-process locks
// beside them.
//
// Folders it creates are readable by the user alone (0700); a file that
// cannot be parsed is an error that names it, never silently reset.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// EnvDir names the environment variable that overrides the state folder.
const EnvDir = "MCP_BRIDGE_STATE_DIR"

// Dir is the folder for what the bridge keeps between runs: the catalog
// cache, tool pins, registrations and lock files. It is never next to the
// binary: $XDG_STATE_HOME/mcp-bridge (default ~/.local/state/mcp-bridge) on
// Linux and BSD, the user config folder on macOS, %LocalAppData% on Windows.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	switch runtime.GOOS {
	case "darwin":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", dirError(err)
		}
		return filepath.Join(dir, "mcp-bridge", "state"), nil
	case "windows":
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", dirError(err)
		}
		return filepath.Join(dir, "mcp-bridge"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mcp-bridge"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", dirError(err)
	}
	return filepath.Join(home, ".local", "state", "mcp-bridge"), nil
}

func dirError(err error) error {
	return fmt.Errorf("no folder for state: %w; set %s", err, EnvDir)
}

// MkdirAll creates dir and its parents, readable by the user alone. A
// folder that exists keeps its permissions.
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return nil
}

// ReadJSON reads a JSON file into v. A missing file leaves v as it was;
// one that cannot be read or parsed is an error that names it and says
// what to do (remedy), and is never reset.
func ReadJSON(path string, v any, remedy string) error {
	return ReadWith(path, func(data []byte) error { return json.Unmarshal(data, v) }, remedy)
}

// ReadWith is ReadJSON with a reader of the file's own: decode is given
// the content of a file that exists and does not hold null, and its error
// makes the file corrupt.
func ReadWith(path string, decode func(data []byte) error, remedy string) error {
	data, err := ReadLimited(path, MaxFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s", err, remedy)
	}
	return decodeWith(path, data, decode, remedy)
}

// MaxFile bounds a file of the state folder, or the config, read whole:
// far more than any the bridge writes, and less than a file grown by
// mistake or by another program could cost in memory.
const MaxFile = 64 << 20

// ReadLimited reads the file at path, of at most limit bytes: a larger
// one is an error that names it, and no more than limit+1 bytes of it are
// read. A missing file is an error that wraps fs.ErrNotExist.
func ReadLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	// A regular file's size says how much to read: read into a buffer of
	// that size and one byte more, the one read that finds the end, where
	// growing a buffer from nothing read a state file of 10 KB in eight
	// reads and copies. A file that grows meanwhile is read on, still
	// bounded.
	size := 512
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
		}
		size = int(fi.Size()) + 1
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
		}
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, int(min(int64(cap(data)), limit+1-int64(len(data)))))
		}
	}
}

// decodeJSON parses the content of the file at path into v.
func decodeJSON(path string, data []byte, v any, remedy string) error {
	return decodeWith(path, data, func(data []byte) error { return json.Unmarshal(data, v) }, remedy)
}

// decodeWith parses the content of the file at path with decode.
func decodeWith(path string, data []byte, decode func([]byte) error, remedy string) error {
	// null decodes into anything, leaving a map nil for the first write
	// to panic on: it is as wrong as any other content that is not the
	// file's.
	if string(bytes.TrimSpace(data)) == "null" {
		return fmt.Errorf("%s is corrupt (it holds null): %s", path, remedy)
	}
	if err := decode(data); err != nil {
		return fmt.Errorf("%s is corrupt (%w): %s", path, err, remedy)
	}
	return nil
}

// WriteJSON writes v to a file as indented JSON, atomically, readable by
// the user alone.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFile(path, data, 0o600)
}

// WriteFile writes data to a temporary file beside path's target (see
// Target) and renames it into place, so that readers see the old file or
// the new one, never a part, and a symlink stays a symlink. A missing
// folder is created 0700; an existing file keeps its permissions.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	path, err := Target(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := MkdirAll(dir); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := writeAll(f, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeAll writes, chmods, syncs and closes f.
func writeAll(f *os.File, data []byte, perm fs.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
