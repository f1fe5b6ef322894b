package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Locks are cross-process locks in a folder, one file per key: two bridges
// (two agents, or serve and a login in a terminal) never race one rotating
// refresh token, and never lose each other's change to a file.
type Locks struct {
	Dir string
}

// lockPatience is how long a lock is waited for before the holder is taken
// to be stuck.
const lockPatience = time.Minute

// Lock takes the lock for key, waiting at most until ctx ends; waiting
// says what a wait is for, in errors ("another bridge to finish …"). The
// function returned releases it. Without a folder it locks nothing.
func (l Locks) Lock(ctx context.Context, key, waiting string) (func(), error) {
	if l.Dir == "" {
		return func() {}, nil
	}
	return lockAt(ctx, l.file(key), waiting)
}

// file is the lock file for key in the folder.
func (l Locks) file(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(l.Dir, hex.EncodeToString(sum[:8])+".lock")
}

// lockAt takes an exclusive lock on the file at path, creating it and its
// folder; waiting names what is waited for, in errors.
func lockAt(ctx context.Context, path, waiting string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- lockFile(f) }()
	timer := time.NewTimer(lockPatience)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// The lock may still be granted later; closing the file then
		// releases it.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("waiting for %s: %w", waiting, ctx.Err())
	case <-timer.C:
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("waited %s for %s (a process still holds %s); giving up: end that bridge if it is stuck, and try again", lockPatience, waiting, path)
	}
}
