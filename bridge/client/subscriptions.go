package client

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"
)

// subscriptions are what a session of the stateless era listens for: list
// changes always, and updates of the resources subscribed to. A change of
// the set ends the current subscriptions/listen stream, which is opened
// again at once with the new filter.
type subscriptions struct {
	mu      sync.Mutex
	uris    map[string]bool
	restart context.CancelFunc // ends the current stream
}

// set subscribes to uri, or unsubscribes.
func (c *subscriptions) set(uri string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.uris[uri] == on {
		return
	}
	if c.uris == nil {
		c.uris = map[string]bool{}
	}
	if on {
		c.uris[uri] = true
	} else {
		delete(c.uris, uri)
	}
	if c.restart != nil {
		c.restart()
	}
}

// open records how to end the stream about to open, and returns its
// filter.
func (c *subscriptions) open(restart context.CancelFunc) json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restart = restart
	filter, _ := json.Marshal(map[string]any{"notifications": map[string]any{
		"toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true,
		"resourceSubscriptions": slices.Sorted(maps.Keys(c.uris)),
	}})
	return filter
}

// listen keeps a subscriptions/listen stream open for as long as the
// session lives; its notifications reach the Handler like any other.
func (s *Session) listen() {
	for attempt := 0; s.life.Err() == nil; attempt++ {
		ctx, restart := context.WithCancel(s.life)
		params, err := s.withMeta(s.subs.open(restart))
		if err == nil {
			_, err = s.w.call(ctx, s.nextID.Add(1), "subscriptions/listen", params)
		}
		changed := ctx.Err() != nil
		restart()
		switch {
		case s.life.Err() != nil:
			return
		case changed:
			attempt = -1 // the filter changed: open again at once
			continue
		}
		if rpc := (*RPCError)(nil); errors.As(err, &rpc) && rpc.Code == -32601 {
			s.log.Debug("no subscriptions/listen", "err", err)
			return
		}
		s.log.Debug("subscriptions/listen ended; opening it again", "err", err)
		if sleepCtx(s.life, Backoff(attempt, 100*time.Millisecond, 10*time.Second)) != nil {
			return
		}
	}
}
