package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Update changes the file at path: edit is given what the file holds now
// (nil when there is no file) and returns what it is to hold. It runs
// under a cross-process lock on the file, so that two processes changing
// one file both keep their change; the file is written atomically, through
// a symlink to its target, and only when the content changed; an edit
// that returns nil removes the file. An error from edit
// leaves the file as it was and is returned as it is.
//
// The lock is a file in the folder, named for the file's target; without a
// folder it is a hidden file beside the target.
func (l Locks) Update(ctx context.Context, path string, perm fs.FileMode, edit func(old []byte) ([]byte, error)) error {
	target, err := Target(path)
	if err != nil {
		return err
	}
	lock := filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".lock")
	if l.Dir != "" {
		lock = l.file("file:" + target)
	}
	unlock, err := lockAt(ctx, lock, "another bridge to finish writing "+path)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := ReadLimited(target, MaxFile)
	if errors.Is(err, fs.ErrNotExist) {
		old = nil
	} else if err != nil {
		return fmt.Errorf("reading %w", err)
	}
	data, err := edit(old)
	if err != nil {
		return err
	}
	switch {
	case data == nil:
		if old == nil {
			return nil
		}
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("removing %s: %w", path, err)
		}
		return nil
	case old != nil && bytes.Equal(old, data):
		return nil
	}
	return WriteFile(target, data, perm)
}

// UpdateJSON changes the JSON file at path as Update does: the file is read
// into v (a missing file leaves v as it is; a corrupt one is an error that
// names it and says what to do, remedy, and is kept), change changes v,
// and v is written back, readable by the user alone.
func (l Locks) UpdateJSON(ctx context.Context, path, remedy string, v any, change func() error) error {
	return l.Update(ctx, path, 0o600, func(old []byte) ([]byte, error) {
		if old != nil {
			if err := decodeJSON(path, old, v, remedy); err != nil {
				return nil, err
			}
		}
		if err := change(); err != nil {
			return nil, err
		}
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return data, nil
	})
}

// maxLinks bounds the symlinks followed to a file's target.
const maxLinks = 40

// Target is the file a path names once its symlinks are followed, so that
// writing it keeps a symlinked file (a dotfiles checkout) a symlink and
// updates what it points at. A path that names no file is its own target;
// a dangling symlink's target is the file it would point at.
func Target(path string) (string, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", fmt.Errorf("%s: more than %d symlinks to follow", path, maxLinks)
}

// Backup writes data beside path as path.bak-<time>, in a file of its own
// that no other backup can take (two in the same second get -2, -3, …),
// readable by the user alone, and returns its name.
func Backup(path string, data []byte, now time.Time) (string, error) {
	base := path + ".bak-" + now.Format("20060102-150405")
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && n < 1000 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("backing up %s: %w", path, err)
		}
		if err := writeAll(f, data, 0o600); err != nil {
			os.Remove(name)
			return "", fmt.Errorf("backing up %s: %w", path, err)
		}
		return name, nil
	}
}
