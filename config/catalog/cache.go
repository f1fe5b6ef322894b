package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mcp-bridge/bridge/config/state"
)

// snapshotCache keeps the last good read of each portal in the state folder,
// one file per portal URL, so that the catalog works offline.
type snapshotCache struct {
	dir string // empty: no cache
	now func() time.Time
}

// snapshot is one cached read of a portal's catalog.
type snapshot struct {
	Portal    string            `json:"portal"`
	FetchedAt time.Time         `json:"fetched_at"`
	Items     []json.RawMessage `json:"items"`
}

func (c snapshotCache) path(portal string) string {
	sum := sha256.Sum256([]byte(portal))
	return filepath.Join(c.dir, "catalog", hex.EncodeToString(sum[:8])+".json")
}

func (c snapshotCache) save(portal string, items []json.RawMessage) error {
	if c.dir == "" {
		return nil
	}
	data, err := json.Marshal(snapshot{Portal: portal, FetchedAt: c.now().UTC(), Items: items})
	if err != nil {
		return fmt.Errorf("catalog cache: %w", err)
	}
	if err := state.WriteFile(c.path(portal), data, 0o600); err != nil {
		return fmt.Errorf("catalog cache not saved: %w", err)
	}
	return nil
}

// load returns the cached read, nil when there is none, or an error naming a
// cache file that cannot be read. A corrupt file is reported, not removed: the
// next good read replaces it.
func (c snapshotCache) load(portal string) (*snapshot, error) {
	if c.dir == "" {
		return nil, nil
	}
	p := c.path(portal)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog cache %s: %w", p, err)
	}
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("catalog cache %s is corrupt (%w); the next good read of the portal replaces it", p, err)
	}
	if s.Portal != portal {
		return nil, nil
	}
	return &s, nil
}
