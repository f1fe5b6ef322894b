//go:build unix

package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A file whose size is not known ahead (a pipe) is read in as many reads
// as it takes, and still no further than its bound.
func TestReadLimitedReadsAPipeToItsBound(t *testing.T) {
	for _, c := range []struct {
		name    string
		size    int
		limit   int64
		wantErr bool
	}{
		{"empty", 0, 10, false},
		{"under the first read", 100, 10_000, false},
		{"many reads", 70_000, 100_000, false},
		{"the bound", 70_000, 70_000, false},
		{"past the bound", 70_001, 70_000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pipe")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte("x"), c.size)
			go func() {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				defer f.Close()
				f.Write(want) // a reader that stops at its bound leaves the rest unread
			}()
			data, err := ReadLimited(path, c.limit)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), "larger than") {
					t.Errorf("past the bound: %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(data, want) {
				t.Errorf("read %d bytes of %d: %v", len(data), c.size, err)
			}
		})
	}
}
