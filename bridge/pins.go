package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config"
)

// Pins records a fingerprint of each tool of a server the first time the
// server's tools are listed, so that a server that later redefines a tool,
// or adds one, is caught. It also keeps what was last seen of each server,
// so that "bridge list" can tell what is withheld without connecting.
type Pins struct {
	dir string // empty: nothing is pinned
	now func() time.Time

	mu sync.Mutex
}

// pinFile is one server's file in the pins folder.
type pinFile struct {
	Trusted map[string]Pin `json:"trusted"`
	Seen    *Seen          `json:"seen,omitempty"`
}

// Pin is the fingerprint of one tool's definition, part by part, so that a
// change can be named.
type Pin map[string]string

// Seen is what a server offered when it was last listed.
type Seen struct {
	At    time.Time   `json:"at"`
	Tools []ToolFacts `json:"tools"`
}

// pinnedParts are the parts of a tool whose change matters.
var pinnedParts = []string{"description", "inputSchema", "outputSchema", "annotations"}

// NewPins keeps pins in stateDir/pins; an empty stateDir pins nothing.
func NewPins(stateDir string) *Pins {
	p := &Pins{now: time.Now}
	if stateDir != "" {
		p.dir = filepath.Join(stateDir, "pins")
	}
	return p
}

// Path is the file holding a server's pins.
func (p *Pins) Path(serverID string) string {
	sum := sha256.Sum256([]byte(serverID))
	return filepath.Join(p.dir, sanitize(serverID)+"-"+hex.EncodeToString(sum[:4])+".json")
}

// Review compares a server's tools with their pins and records what was
// seen. On a server's first listing every tool is pinned as it is. It
// returns each tool's facts with Change set; an unreadable pin file is an
// error, and every tool counts as changed.
func (p *Pins) Review(serverID string, tools []json.RawMessage) ([]ToolFacts, error) {
	facts := make([]ToolFacts, 0, len(tools))
	prints := map[string]Pin{}
	for _, raw := range tools {
		f, err := toolFacts(raw)
		if err != nil || f.Name == "" {
			continue
		}
		facts = append(facts, f)
		prints[f.Name] = fingerprint(raw)
	}
	if p.dir == "" {
		return facts, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	file, err := p.load(serverID)
	if err != nil {
		for i := range facts {
			facts[i].Change = "changed: pin file unreadable"
		}
		return facts, err
	}
	if file.Trusted == nil {
		file.Trusted = prints // trust on first use
	}
	for i := range facts {
		facts[i].Change = compare(file.Trusted[facts[i].Name], prints[facts[i].Name])
	}
	file.Seen = &Seen{At: p.now().UTC(), Tools: facts}
	return facts, p.save(serverID, file)
}

// Trust pins the tools as they are now, replacing earlier pins. It returns
// how many were new or changed.
func (p *Pins) Trust(serverID string, tools []json.RawMessage) (changed int, err error) {
	if p.dir == "" {
		return 0, errors.New("no state folder for pins")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	file, err := p.load(serverID)
	if err != nil {
		file = &pinFile{} // the user asked to trust what is there now
	}
	trusted := map[string]Pin{}
	var facts []ToolFacts
	for _, raw := range tools {
		f, err := toolFacts(raw)
		if err != nil || f.Name == "" {
			continue
		}
		trusted[f.Name] = fingerprint(raw)
		if file.Trusted == nil || compare(file.Trusted[f.Name], trusted[f.Name]) != "" {
			changed++
		}
		facts = append(facts, f)
	}
	file.Trusted = trusted
	file.Seen = &Seen{At: p.now().UTC(), Tools: facts}
	return changed, p.save(serverID, file)
}

// Seen returns what a server offered when last listed, with changes as of
// then, or nil when it was never listed.
func (p *Pins) Seen(serverID string) (*Seen, error) {
	if p.dir == "" {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	file, err := p.load(serverID)
	if err != nil {
		return nil, err
	}
	return file.Seen, nil
}

func (p *Pins) load(serverID string) (*pinFile, error) {
	f := &pinFile{}
	remedy := fmt.Sprintf("fix or delete it, then run \"bridge trust %s\"", serverID)
	if err := config.ReadStateFile(p.Path(serverID), f, remedy); err != nil {
		return nil, fmt.Errorf("pin file %w", err)
	}
	return f, nil
}

func (p *Pins) save(serverID string, f *pinFile) error {
	if err := config.WriteStateFile(p.Path(serverID), f); err != nil {
		return fmt.Errorf("saving pins: %w", err)
	}
	return nil
}

// fingerprint hashes each pinned part of a tool in a canonical form, so
// that key order and spacing do not count as changes.
func fingerprint(raw json.RawMessage) Pin {
	var parts map[string]json.RawMessage
	_ = json.Unmarshal(raw, &parts)
	pin := Pin{}
	for _, name := range pinnedParts {
		var v any
		if part, ok := parts[name]; ok {
			_ = json.Unmarshal(part, &v)
		}
		canon, _ := json.Marshal(v)
		sum := sha256.Sum256(canon)
		pin[name] = hex.EncodeToString(sum[:16])
	}
	return pin
}

// compare names what changed between a pinned and a current fingerprint.
func compare(pinned, now Pin) string {
	if pinned == nil {
		return "new"
	}
	var changed []string
	for _, part := range pinnedParts {
		if pinned[part] != now[part] {
			changed = append(changed, part)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	slices.Sort(changed)
	return "changed: " + strings.Join(changed, ", ")
}
