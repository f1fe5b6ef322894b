package auth

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/mcp-bridge/bridge/config/state"
)

// Challenges remember, per server, what its last 401 said
// (WWW-Authenticate's resource_metadata and scope), whichever request it
// answered: a server may answer initialize without a token and refuse
// only a later tools/list or tools/call. A login for the server starts
// from it, and a server that has asked for a token once gets its stored
// token with every request. They are kept in memory and in the state
// folder (challenges.json), so that "bridge login" in a terminal knows
// what serve saw.
type Challenges struct {
	Path  string
	Locks state.Locks

	mu     sync.Mutex
	loaded bool
	seen   map[string]challengeEntry
}

// NewChallenges keeps them in stateDir/challenges.json.
func NewChallenges(stateDir string) *Challenges {
	return &Challenges{Path: filepath.Join(stateDir, "challenges.json"), Locks: state.Locks{Dir: filepath.Join(stateDir, "locks")}}
}

type challengeEntry struct {
	ResourceMetadata string `json:"resource_metadata,omitempty"`
	Scope            string `json:"scope,omitempty"`
}

// Record keeps the challenge of a 401 from serverID. The file is written
// only when what it says changes.
func (c *Challenges) Record(ctx context.Context, serverID string, ch *Challenge) error {
	if c == nil {
		return nil
	}
	e := challengeEntry{ResourceMetadata: ch.ResourceMetadata, Scope: ch.Scope}
	c.mu.Lock()
	c.load()
	old, ok := c.seen[serverID]
	c.seen[serverID] = e
	c.mu.Unlock()
	if ok && old == e {
		return nil
	}
	m := map[string]challengeEntry{}
	err := c.Locks.UpdateJSON(ctx, c.Path, "fix or delete it", &m, func() error {
		m[serverID] = e
		return nil
	})
	if err != nil {
		return fmt.Errorf("remembering what %s answered: %w", serverID, err)
	}
	return nil
}

// Last is the last challenge serverID answered with, from this run or an
// earlier one; false when it never asked for a token.
func (c *Challenges) Last(serverID string) (*Challenge, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load()
	e, ok := c.seen[serverID]
	if !ok {
		return nil, false
	}
	return &Challenge{ResourceMetadata: e.ResourceMetadata, Scope: e.Scope}, true
}

// load reads the file once; one that cannot be read counts as empty here
// (Record reports it, naming the file).
func (c *Challenges) load() {
	if c.loaded {
		return
	}
	c.loaded = true
	c.seen = map[string]challengeEntry{}
	_ = state.ReadJSON(c.Path, &c.seen, "fix or delete it")
	if c.seen == nil {
		c.seen = map[string]challengeEntry{}
	}
}
