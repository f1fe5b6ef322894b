package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
	"github.com/mcp-bridge/bridge/config/state"
)

// Pins records a fingerprint of each tool of a server the first time the
// server's tools are listed, so that a server that later redefines a tool,
// or adds one, is caught. It also keeps what was last seen of each server,
// so that "bridge list" can tell what is withheld without connecting.
//
// Files are written in the background, one writer per server: each write
// is synced to disk, and at start-up a sync per server, one after another,
// would hold up every server's tools. Until a write is done, the process
// reads what it wrote from memory.
type Pins struct {
	dir   string // empty: nothing is pinned
	locks state.Locks
	now   func() time.Time
	log   *slog.Logger

	mu        sync.Mutex
	reviewing map[string]chan struct{} // server ID → closed when its review or trust is done: see lockServer
	unsaved   map[string]*pinFile      // server ID → its file, not yet on disk; never changed once here
	writing   map[string]bool          // server ID → a writer is at work
	errs      map[string]error         // server ID → how its last write failed
	writes    sync.WaitGroup
	held      heldWrites          // the bridge's start-up holds the writes (writehold.go)
	ahead     readAhead[*pinFile] // files read during start-up (readahead.go)
}

// pinFile is one server's file in the pins folder.
type pinFile struct {
	Trusted map[string]Pin `json:"trusted"`
	Seen    *Seen          `json:"seen,omitempty"`
	// Prints are the fingerprints of the tools as last seen, by name,
	// each with a hash of the tool's exact bytes: a tool sent again byte
	// for byte is not fingerprinted again (that is most of the work of a
	// server's arrival).
	Prints map[string]SeenPrint `json:"prints,omitempty"`

	// trust says the file comes from Trust, whose pins replace those on
	// disk; a review's pins are only those of a first use, and never
	// replace pins "bridge trust" wrote in another process meanwhile.
	trust bool
}

// SeenPrint is a tool's fingerprint and the hash of the bytes it was
// taken from. In the file it is one string, the hashes in a row, so that
// the file reads back fast.
type SeenPrint struct {
	Raw string
	Pin Pin
}

func (sp SeenPrint) MarshalText() ([]byte, error) {
	parts := []string{sp.Raw}
	for _, name := range pinnedParts {
		parts = append(parts, sp.Pin[name])
	}
	return []byte(strings.Join(parts, " ")), nil
}

func (sp *SeenPrint) UnmarshalText(text []byte) error { return sp.parse(string(text)) }

// parse reads a print's text, its hashes sharing the text's memory.
func (sp *SeenPrint) parse(text string) error {
	if n := strings.Count(text, " ") + 1; n != 1+len(pinnedParts) {
		return fmt.Errorf("a print of %d parts, not %d", n, 1+len(pinnedParts))
	}
	sp.Raw, text, _ = strings.Cut(text, " ")
	sp.Pin = make(Pin, len(pinnedParts))
	for _, name := range pinnedParts {
		sp.Pin[name], text, _ = strings.Cut(text, " ")
	}
	return nil
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
	p := &Pins{now: time.Now, log: slog.New(slog.DiscardHandler),
		reviewing: map[string]chan struct{}{}, unsaved: map[string]*pinFile{}, writing: map[string]bool{}, errs: map[string]error{}}
	if stateDir != "" {
		p.dir = filepath.Join(stateDir, "pins")
		p.locks = state.Locks{Dir: filepath.Join(stateDir, "locks")}
	}
	return p
}

// reader is pins over the same folder that read each file afresh: for
// working out what a start would serve (firstlists.go), which only
// checks. Nil for nil.
func (p *Pins) reader() *Pins {
	if p == nil {
		return nil
	}
	r := NewPins("")
	r.dir, r.now = p.dir, p.now
	return r
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
	return p.review(serverID, tools, true)
}

// Check compares tools with their pins as Review does, and records
// nothing: for tools not seen now but kept from before (lists served from
// the cache while the server connects), which were reviewed when seen.
func (p *Pins) Check(serverID string, tools []json.RawMessage) ([]ToolFacts, error) {
	return p.review(serverID, tools, false)
}

// review is Review, recording what was seen (and pinning on first use)
// only when record is set.
func (p *Pins) review(serverID string, tools []json.RawMessage, record bool) ([]ToolFacts, error) {
	facts := make([]ToolFacts, 0, len(tools))
	raws := map[string]json.RawMessage{}
	for _, raw := range tools {
		f, err := toolFacts(raw)
		if err != nil || f.Name == "" {
			continue
		}
		facts = append(facts, f)
		raws[f.Name] = raw
	}
	if p.dir == "" {
		return facts, nil
	}
	unlock := p.lockServer(serverID)
	defer unlock()
	file, err := p.load(serverID, record)
	if err != nil {
		for i := range facts {
			facts[i].Change = "changed: pin file unreadable"
		}
		return facts, err
	}
	seen, fresh := printsOf(raws, file.Prints)
	trusted := file.Trusted
	if trusted == nil {
		trusted = pinsOf(seen) // trust on first use
	}
	for i := range facts {
		facts[i].Change = compare(trusted[facts[i].Name], seen[facts[i].Name].Pin)
	}
	now := p.now().UTC()
	if !record {
		return facts, nil
	}
	if !fresh && file.Trusted != nil && file.Seen != nil && now.Sub(file.Seen.At) < seenRefresh && sameFacts(file.Seen.Tools, facts) {
		return facts, nil
	}
	p.mu.Lock()
	p.saveSoon(serverID, &pinFile{Trusted: trusted, Seen: &Seen{At: now, Tools: facts}, Prints: seen})
	p.mu.Unlock()
	return facts, nil
}

// printsOf fingerprints tools, reusing the fingerprint of a tool whose
// bytes are those last seen. fresh says whether any was taken anew.
func printsOf(tools map[string]json.RawMessage, last map[string]SeenPrint) (prints map[string]SeenPrint, fresh bool) {
	prints = make(map[string]SeenPrint, len(tools))
	for name, raw := range tools {
		sum := sha256.Sum256(raw)
		h := hex.EncodeToString(sum[:16])
		if sp, ok := last[name]; ok && sp.Raw == h && sp.Pin != nil {
			prints[name] = sp
			continue
		}
		prints[name], fresh = SeenPrint{Raw: h, Pin: fingerprint(raw)}, true
	}
	return prints, fresh || len(prints) != len(last)
}

func pinsOf(prints map[string]SeenPrint) map[string]Pin {
	out := make(map[string]Pin, len(prints))
	for name, sp := range prints {
		out[name] = sp.Pin
	}
	return out
}

// seenRefresh is how old what was seen may grow before an unchanged
// listing is written again: every start-up rewriting every server's file
// would be work for nothing.
const seenRefresh = 10 * time.Minute

func sameFacts(a, b []ToolFacts) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// Trust pins the tools as they are now, replacing earlier pins. It returns
// how many were new or changed.
func (p *Pins) Trust(serverID string, tools []json.RawMessage) (changed int, err error) {
	if p.dir == "" {
		return 0, errors.New("no state folder for pins")
	}
	unlock := p.lockServer(serverID)
	defer unlock()
	file, err := p.load(serverID, false)
	if err != nil {
		file = &pinFile{} // the user asked to trust what is there now
	}
	raws := map[string]json.RawMessage{}
	var facts []ToolFacts
	for _, raw := range tools {
		f, err := toolFacts(raw)
		if err != nil || f.Name == "" {
			continue
		}
		raws[f.Name] = raw
		facts = append(facts, f)
	}
	seen, _ := printsOf(raws, file.Prints)
	trusted := pinsOf(seen)
	for name, pin := range trusted {
		if file.Trusted == nil || compare(file.Trusted[name], pin) != "" {
			changed++
		}
	}
	p.mu.Lock()
	p.saveSoon(serverID, &pinFile{Trusted: trusted, Seen: &Seen{At: p.now().UTC(), Tools: facts}, Prints: seen, trust: true})
	p.mu.Unlock()
	p.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return changed, p.errs[serverID]
}

// Seen returns what a server offered when last listed, with changes as of
// then, or nil when it was never listed.
func (p *Pins) Seen(serverID string) (*Seen, error) {
	if p.dir == "" {
		return nil, nil
	}
	file, err := p.load(serverID, true)
	if err != nil {
		return nil, err
	}
	return file.Seen, nil
}

// load reads a server's pin file, or what is about to be written to it.
func (p *Pins) load(serverID string, withSeen bool) (*pinFile, error) {
	p.mu.Lock()
	f, ok := p.unsaved[serverID]
	p.mu.Unlock()
	if ok {
		return f, nil
	}
	// A file read ahead (readahead.go) is read without what was seen.
	if f, err, ahead := p.ahead.take(p.Path(serverID)); ahead && !withSeen {
		return f, err
	}
	return p.read(serverID, withSeen)
}

// read reads a server's pin file; a missing one is an empty file.
func (p *Pins) read(serverID string, withSeen bool) (*pinFile, error) {
	f := &pinFile{}
	remedy := fmt.Sprintf("fix or delete it, then run \"bridge trust %s\"", serverID)
	err := state.ReadWith(p.Path(serverID), func(data []byte) (err error) {
		f, err = decodePinFile(data, withSeen)
		return err
	}, remedy)
	if err != nil {
		return nil, fmt.Errorf("pin file %w", err)
	}
	return f, nil
}

// lockServer makes one review or trust of a server's pins happen at a
// time; other servers' go on. A second one waits for the first to end.
func (p *Pins) lockServer(serverID string) (unlock func()) {
	p.mu.Lock()
	for {
		busy, ok := p.reviewing[serverID]
		if !ok {
			break
		}
		p.mu.Unlock()
		<-busy
		p.mu.Lock()
	}
	done := make(chan struct{})
	p.reviewing[serverID] = done
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.reviewing, serverID)
		p.mu.Unlock()
		close(done)
	}
}

// saveSoon has f written as the server's file. p.mu is held.
func (p *Pins) saveSoon(serverID string, f *pinFile) {
	p.unsaved[serverID] = f
	if p.writing[serverID] {
		return // the writer at work takes it next
	}
	p.writing[serverID] = true
	p.writes.Add(1)
	go p.writeOut(serverID)
}

// writeOut writes a server's file until nothing newer is waiting.
func (p *Pins) writeOut(serverID string) {
	defer p.writes.Done()
	p.held.wait()
	for {
		p.mu.Lock()
		f, ok := p.unsaved[serverID]
		if !ok {
			delete(p.writing, serverID)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		err := p.save(serverID, f)
		p.mu.Lock()
		if p.unsaved[serverID] == f {
			delete(p.unsaved, serverID)
		}
		p.errs[serverID] = err
		p.mu.Unlock()
		if err != nil {
			p.log.Error("pins", "server", serverID, "err", err)
		}
	}
}

// Wait waits until every pin file is written.
func (p *Pins) Wait() { p.writes.Wait() }

// save writes a server's file under the cross-process lock, on top of
// what is on disk then: a review keeps the pins found there.
func (p *Pins) save(serverID string, f *pinFile) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := p.Path(serverID)
	err := p.locks.Update(ctx, path, 0o600, func(old []byte) ([]byte, error) {
		out := pinFile{Trusted: f.Trusted, Seen: f.Seen, Prints: f.Prints}
		if !f.trust && old != nil {
			onDisk, err := decodePinFile(old, false)
			if err != nil {
				return nil, fmt.Errorf("pin file %s is corrupt (%w): fix or delete it, then run \"bridge trust %s\"", path, err, serverID)
			}
			if onDisk.Trusted != nil {
				out.Trusted = onDisk.Trusted
			}
		}
		return json.MarshalIndent(out, "", "  ")
	})
	if err != nil {
		return fmt.Errorf("saving pins: %w", err)
	}
	return nil
}

// fingerprint hashes each pinned part of a tool in a canonical form, so
// that key order and spacing do not count as changes.
func fingerprint(raw json.RawMessage) Pin {
	parts := map[string]json.RawMessage{}
	var buf [16]rawjson.Member
	ms, _ := rawjson.AppendMembers(buf[:0], raw)
	for _, m := range ms {
		// Is compares the key as decoded, without decoding it.
		for _, name := range pinnedParts {
			if m.Is(name) {
				parts[name] = raw[m.Start:m.End]
			}
		}
	}
	pin := Pin{}
	var scratch []byte // each part's canonical form in turn
	for _, name := range pinnedParts {
		canon, ok := []byte("null"), true
		if part, given := parts[name]; given {
			scratch, ok = appendCanonical(scratch[:0], part)
			canon = scratch
		}
		if !ok {
			var v any
			_ = json.Unmarshal(parts[name], &v)
			canon, _ = json.Marshal(v)
		}
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
