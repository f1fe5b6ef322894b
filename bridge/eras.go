package bridge

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config/state"
)

// Eras remember, per origin, the protocol era each server was found to
// speak (eras.json in the state folder), so that the next start tries that
// era first instead of probing: the spec lets a client keep the finding
// for an origin across restarts, and probe again when it fails.
type Eras struct {
	path  string // "" remembers nothing
	locks state.Locks
	log   *slog.Logger

	mu      sync.Mutex
	known   map[string]string // origin → client.EraModern or client.EraLegacy
	err     error             // the file could not be read: it is not written over
	dirty   bool              // known has news the file lacks
	writing bool              // a writer is at work
	writes  sync.WaitGroup
	held    heldWrites // the bridge's start-up holds the writes (writehold.go)
}

// NewEras keeps eras in stateDir; "" keeps none.
func NewEras(stateDir string) *Eras {
	e := &Eras{log: slog.New(slog.DiscardHandler)}
	if stateDir != "" {
		e.path = filepath.Join(stateDir, "eras.json")
		e.locks = state.Locks{Dir: filepath.Join(stateDir, "locks")}
		e.err = state.ReadJSON(e.path, &e.known, "fix or delete it; the bridge finds every server's era again")
	}
	return e
}

// Get is the era found before for a remote URL's origin, "" for none.
func (e *Eras) Get(remoteURL string) string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.known[origin(remoteURL)]
}

// Set records the era a remote URL's origin speaks. The file is written
// in the background when that is news, so that a server's arrival never
// waits on a disk's sync: under the cross-process lock, on top of what
// other bridges wrote meanwhile.
func (e *Eras) Set(remoteURL, era string) {
	if e == nil || e.path == "" {
		return
	}
	o := origin(remoteURL)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.known[o] == era {
		return
	}
	if e.known == nil {
		e.known = map[string]string{}
	}
	e.known[o] = era
	if e.err != nil {
		e.log.Warn("the era of a server is not remembered", "err", e.err)
		return
	}
	e.dirty = true
	if !e.writing {
		e.writing = true
		e.writes.Go(e.writeOut)
	}
}

// Wait waits until the file holds every era set.
func (e *Eras) Wait() {
	if e != nil {
		e.writes.Wait()
	}
}

// writeOut writes the file until nothing newer is waiting.
func (e *Eras) writeOut() {
	e.held.wait()
	for {
		e.mu.Lock()
		if !e.dirty || e.err != nil {
			e.writing = false
			e.mu.Unlock()
			return
		}
		e.dirty = false
		known := maps.Clone(e.known)
		e.mu.Unlock()
		if err := e.write(known); err != nil {
			e.log.Warn("the era of a server is not remembered", "err", err)
		}
	}
}

// write merges known into the file, under the cross-process lock.
func (e *Eras) write(known map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	onDisk := map[string]string{}
	err := e.locks.UpdateJSON(ctx, e.path, "fix or delete it", &onDisk, func() error {
		maps.Copy(onDisk, known)
		return nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		e.mu.Lock()
		e.err = err
		e.mu.Unlock()
	}
	return err
}

// origin is scheme://host[:port] of a URL, in lower case.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
