package bridge

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// This file keeps, at the end of a run, the answers the next start gives
// the agent's first lists (firstlists.go).

// agent is the initialize params noted, nil when the agent
// never initialized.
func (f *FirstLists) agent() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.client
}

// keepFirstLists works out, at the end of a run, what the next start
// would answer the agent's first lists from the state folder as this run
// leaves it, and keeps it; unless the answers found at start still hold,
// the agent never initialized, or some server has no kept lists to
// answer from (the next start waits for it).
func (b *Bridge) keepFirstLists(ctx context.Context) {
	f := b.opts.First
	if f == nil || f.dir == "" || b.opts.Lists == nil {
		return
	}
	client := f.agent()
	if client == nil {
		return
	}
	before, err := f.digest()
	if err != nil {
		b.log.Debug("first lists not kept", "reason", err.Error())
		return
	}
	f.mu.Lock()
	current := f.hit && f.startDigest == before
	f.mu.Unlock()
	if current {
		return
	}
	servers, err := f.atHand(ctx)
	if err != nil {
		b.log.Debug("first lists not kept", "reason", err.Error())
		return
	}
	path := f.path(client)
	lists, until, ok := b.answersAhead(servers)
	if after, err := f.digest(); err != nil || after != before {
		b.log.Debug("first lists not kept: the state folder changed while they were made")
		return
	}
	// The lists are kept byte for byte as they are answered: encoding/json
	// would escape <, > and & in them.
	var data bytes.Buffer
	if ok {
		enc := json.NewEncoder(&data)
		enc.SetEscapeHTML(false)
		err := enc.Encode(firstFile{Version: firstListsVersion, Inputs: hex.EncodeToString(before[:]), Until: until, Lists: lists})
		ok = err == nil && data.Len() <= maxFirstFile
	}
	unlock, err := f.locks.Lock(ctx, "file:"+path, "another bridge to finish writing "+path)
	if err != nil {
		b.log.Warn("first lists not kept", "err", err)
		return
	}
	defer unlock()
	if !ok {
		// What the next start answers waits for a server: nothing to
		// answer ahead.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("first lists", "err", err)
		}
		return
	}
	if err := state.WriteFile(path, data.Bytes(), 0o600); err != nil {
		b.log.Warn("first lists not kept", "err", err)
	}
}

// answersAhead is what a start on the state folder as it is now answers
// the first lists: a bridge of the same options, over these servers,
// fitted to the same agent, reading the servers' kept lists and pins
// afresh and writing nothing, serves each server's kept lists as a start
// does. ok is false when some server has none to serve; until is when
// the oldest of them grows older than serve.cache_max_age.
func (b *Bridge) answersAhead(servers []*catalog.Server) (lists map[string]json.RawMessage, until time.Time, ok bool) {
	opts := b.opts
	opts.Lists = b.opts.Lists.reader()
	opts.Pins = b.opts.Pins.reader()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.First, opts.Audit, opts.ServersLater = nil, nil, false
	dry := New(servers, opts)
	dry.FitClient(b.Fit().Said)
	dry.Registry.agentTasks = b.Registry.agentTasks
	for _, u := range dry.Upstreams() {
		_, seen, err := opts.Lists.Load(u.server)
		if err != nil || !u.serveKept() {
			return nil, time.Time{}, false
		}
		if t := seen.Add(opts.Lists.maxAge); until.IsZero() || t.Before(until) {
			until = t
		}
	}
	if until.IsZero() {
		return nil, time.Time{}, false // no servers: nothing worth keeping
	}
	lists = map[string]json.RawMessage{}
	for _, m := range listMethods {
		lists[m] = dry.listResult(m)
	}
	return lists, until, true
}

// listResult is the merged result of a list method, as the agent is
// answered: for tools/list, tool search's own tools past the agent's cap.
func (b *Bridge) listResult(method string) json.RawMessage {
	if method == "tools/list" && b.searchSurface() {
		return searchListResult() // search.go
	}
	return b.Registry.Result(method)
}
