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

// Locks are cross-process locks in a folder, one file per token key, so
// that two bridges (two agents) never race one rotating refresh token: the
// second waits, then finds the token the first saved.
type Locks struct {
	Dir string
}

// Lock takes the lock for key, waiting at most until ctx ends. The
// function returned releases it.
func (l Locks) Lock(ctx context.Context, key string) (func(), error) {
	if l.Dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock folder: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	f, err := os.OpenFile(filepath.Join(l.Dir, hex.EncodeToString(sum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- lockFile(f) }()
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
		return nil, fmt.Errorf("waiting for another bridge to finish renewing the token: %w", ctx.Err())
	case <-time.After(time.Minute):
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("another bridge has held the lock on this token for a minute; giving up")
	}
}
