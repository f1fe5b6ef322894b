package bridge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/rawjson"
	"github.com/mcp-bridge/bridge/config/state"
)

// ListCache keeps, per server, the lists the bridge last verified — its
// tools, prompts, resources and resource templates, as the bytes the
// server sent, with the server's ttlMs and cacheScope and the time they
// were seen — in the state folder (lists/), so that serve answers the
// agent's first lists at once while the servers connect. The live lists
// replace them as each server arrives.
//
// Kept lists are served only to the same definition of the server (its
// remotes, headers and auth as the catalog gives them), only while they
// are younger than a bound, and a list the server marked private
// (cacheScope "private", 2026-07-28) only to the login it came with: it
// is keyed by a digest of the login's name and the remote's origin, never
// by the token, and leaves the file when that login is logged out, logged
// in again, or found gone.
//
// Files are written in the background, one writer per file, the newest
// lists winning, under the file's cross-process lock.
type ListCache struct {
	dir    string // "" keeps nothing
	locks  state.Locks
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu     sync.Mutex
	slots  map[string]*listSlot // file path → its writes
	writes sync.WaitGroup
	held   heldWrites            // the bridge's start-up holds the writes (writehold.go)
	ahead  readAhead[*keptLists] // files read during start-up (readahead.go)
}

// listSlot is what is to be done to one file, by its one writer.
type listSlot struct {
	pending *keptLists // the newest lists, not yet written
	forget  string     // a login whose private lists are to leave the file
	writing bool       // a writer is at work
	// onDisk is a digest of what the file holds as far as this process
	// knows, but for the time, and onDiskAt that time: lists sent again
	// unchanged are written again only once they are listsRefresh old.
	// read is what Load read, whose digest the writer takes, off the path
	// of the agent's first list.
	onDisk   [sha256.Size]byte
	onDiskAt time.Time
	read     *keptLists
}

// DefaultCacheMaxAge is the oldest kept lists may be to be served.
const DefaultCacheMaxAge = 7 * 24 * time.Hour

// maxListsFile bounds a file of kept lists, read or written.
const maxListsFile = 64 << 20

// listsRefresh is how old kept lists may grow before the same lists, seen
// again, are written again with the new time.
const listsRefresh = time.Hour

// keptLists is one server's file.
type keptLists struct {
	Version int    `json:"version"`
	Server  string `json:"server"`
	// Definition is a digest of the server's definition in the catalog.
	Definition string    `json:"definition"`
	At         time.Time `json:"at"`
	// LoginOf names the login the private lists came with (the server's
	// ID, or "portal"), and Login is their key: a digest of that name and
	// the remote's origin. Both only when a list is private.
	LoginOf string `json:"login_of,omitempty"`
	Login   string `json:"login,omitempty"`
	// Lists are by list method.
	Lists map[string]keptList `json:"lists"`
}

// keptList is one list as the server sent it.
type keptList struct {
	TTLMs      *int64            `json:"ttlMs,omitempty"`
	CacheScope string            `json:"cacheScope,omitempty"`
	Items      []json.RawMessage `json:"items"`
}

const keptListsVersion = 1

// listFields are the list methods and where each goes in Lists.
var listFields = []struct {
	method string
	field  func(*Lists) *[]json.RawMessage
}{
	{"tools/list", func(l *Lists) *[]json.RawMessage { return &l.Tools }},
	{"prompts/list", func(l *Lists) *[]json.RawMessage { return &l.Prompts }},
	{"resources/list", func(l *Lists) *[]json.RawMessage { return &l.Resources }},
	{"resources/templates/list", func(l *Lists) *[]json.RawMessage { return &l.Templates }},
}

var listMethods = []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"}

// NewListCache keeps lists in stateDir/lists, serving those at most
// maxAge old (DefaultCacheMaxAge when 0); an empty stateDir keeps none.
func NewListCache(stateDir string, maxAge time.Duration, log *slog.Logger) *ListCache {
	if maxAge <= 0 {
		maxAge = DefaultCacheMaxAge
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &ListCache{maxAge: maxAge, now: time.Now, log: log, slots: map[string]*listSlot{}}
	if stateDir != "" {
		c.dir = filepath.Join(stateDir, "lists")
		c.locks = state.Locks{Dir: filepath.Join(stateDir, "locks")}
	}
	return c
}

// reader is a list cache over the same folder that reads each file afresh
// and writes nothing: for working out what a start would serve
// (firstlists.go).
func (c *ListCache) reader() *ListCache {
	return &ListCache{dir: c.dir, maxAge: c.maxAge, now: c.now, log: slog.New(slog.DiscardHandler), slots: map[string]*listSlot{}}
}

// ListCacheFor is the list cache the config asks serve for: nil when
// serve.cached_lists is false.
func ListCacheFor(cfg *config.Config, stateDir string, log *slog.Logger) *ListCache {
	if !cfg.Serve.CachedListsOn() {
		return nil
	}
	return NewListCache(stateDir, time.Duration(cfg.Serve.CacheMaxAge), log)
}

// Path is the file holding a server's kept lists.
func (c *ListCache) Path(serverID string) string {
	sum := sha256.Sum256([]byte(serverID))
	return filepath.Join(c.dir, sanitize(serverID)+"-"+hex.EncodeToString(sum[:4])+".json")
}

// errNotKept says why kept lists are not served; they are not wrong.
type errNotKept struct{ reason string }

func (e *errNotKept) Error() string { return e.reason }

// Load returns the lists kept for a server and when they were seen. Lists
// not to be served — for another definition of the server, too old — come
// with an *errNotKept that says why, and private lists of another login
// are left out; a file that cannot be read or parsed is an error that
// names it. No file is no lists and no error.
func (c *ListCache) Load(s *catalog.Server) (Lists, time.Time, error) {
	if c == nil || c.dir == "" {
		return Lists{}, time.Time{}, nil
	}
	path := c.Path(s.ID)
	k, err, ahead := c.ahead.take(path)
	if !ahead {
		k, err = c.read(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Lists{}, time.Time{}, nil
	}
	if err == nil && k.Server != s.ID {
		err = fmt.Errorf("%s holds the lists of %q", path, k.Server)
	}
	if err != nil {
		c.mu.Lock()
		slot := c.slot(path) // whatever the file held, the next lists are written
		slot.onDisk, slot.read = [sha256.Size]byte{}, nil
		c.mu.Unlock()
		return Lists{}, time.Time{}, fmt.Errorf("kept lists %w; they are not served, and the server's next lists replace them", err)
	}
	c.noteOnDisk(path, k)
	switch age := c.now().Sub(k.At); {
	case k.Definition != definitionDigest(s):
		return Lists{}, k.At, &errNotKept{"the server's entry in the catalog changed since its lists were kept"}
	case age > c.maxAge:
		return Lists{}, k.At, &errNotKept{fmt.Sprintf("its kept lists are %s old, older than serve.cache_max_age (%s)", age.Round(time.Second), c.maxAge)}
	case age < -time.Hour:
		return Lists{}, k.At, &errNotKept{"its kept lists were seen at " + k.At.Format(time.RFC3339) + ", in the future"}
	}
	_, key := listLogin(s)
	l := Lists{Cache: map[string]client.Cache{}}
	for _, f := range listFields {
		kl, ok := k.Lists[f.method]
		if !ok {
			continue
		}
		if kl.CacheScope == "private" && (k.Login == "" || k.Login != key) {
			c.log.Debug("a private list kept for another login is not served", "server", s.ID, "list", f.method)
			continue
		}
		*f.field(&l) = kl.Items
		cache := client.Cache{Scope: kl.CacheScope}
		if kl.TTLMs != nil {
			cache.TTL = time.Duration(*kl.TTLMs) * time.Millisecond
		}
		l.Cache[f.method] = cache
	}
	if len(l.Cache) == 0 {
		return Lists{}, k.At, &errNotKept{"its only kept lists are private to another login"}
	}
	return l, k.At, nil
}

// read reads and parses the file at path; a missing file is an error that
// wraps fs.ErrNotExist.
func (c *ListCache) read(path string) (*keptLists, error) {
	data, err := state.ReadLimited(path, maxListsFile)
	if err != nil {
		return nil, err
	}
	return parseKept(path, data)
}

// parseKept reads a file of kept lists. The items are kept as the bytes
// they are in the file, which are those the server sent.
func parseKept(path string, data []byte) (*keptLists, error) {
	k, err := decodeKept(data)
	switch {
	case err != nil:
	case k.Version != keptListsVersion:
		err = fmt.Errorf("version %d, not %d", k.Version, keptListsVersion)
	case k.Server == "" || k.Definition == "" || k.At.IsZero() || k.Lists == nil:
		err = errors.New("server, definition, at or lists missing")
	}
	for method := range k.Lists {
		if err == nil && !slices.Contains(listMethods, method) {
			err = fmt.Errorf("a list %q", method)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is corrupt (%w)", path, err)
	}
	return k, nil
}

// decodeKept reads the file's members as encoding/json would read them
// into keptLists (keys without regard to case, the last of a key given
// twice), walking the lists in place: their items are spans of data, not
// copies, and the file is scanned twice where decoding it took several
// slow passes.
func decodeKept(data []byte) (*keptLists, error) {
	k := &keptLists{}
	if !rawjson.Valid(data) {
		return k, errors.New("not JSON")
	}
	var errs []error
	field := func(v []byte, into any) {
		if err := json.Unmarshal(v, into); err != nil {
			errs = append(errs, err)
		}
	}
	head := []struct {
		key  string
		into any
	}{{"version", &k.Version}, {"server", &k.Server}, {"definition", &k.Definition}, {"at", &k.At}, {"login_of", &k.LoginOf}, {"login", &k.Login}}
	err := rawjson.Walk(data, func(m rawjson.Member) {
		v := data[m.Start:m.End]
		if m.Matches("lists") {
			lists, err := decodeLists(v)
			if err != nil {
				errs = append(errs, err)
			}
			k.Lists = lists
			return
		}
		for _, h := range head {
			if m.Matches(h.key) {
				field(v, h.into)
			}
		}
	})
	if err != nil {
		return k, err
	}
	return k, errors.Join(errs...)
}

// decodeLists reads the lists member: a list's items stay spans of v.
func decodeLists(v []byte) (map[string]keptList, error) {
	if string(v) == "null" {
		return nil, nil
	}
	lists := map[string]keptList{}
	var errs []error
	err := rawjson.Walk(v, func(m rawjson.Member) {
		method, err := rawjson.String(m.Key)
		if err != nil {
			errs = append(errs, err)
			return
		}
		var l keptList
		lv := v[m.Start:m.End]
		if err := rawjson.Walk(lv, func(f rawjson.Member) {
			fv := lv[f.Start:f.End]
			var err error
			switch {
			case f.Matches("ttlMs"):
				err = json.Unmarshal(fv, &l.TTLMs)
			case f.Matches("cacheScope"):
				err = json.Unmarshal(fv, &l.CacheScope)
			case f.Matches("items"):
				if string(fv) == "null" {
					l.Items = nil
					break
				}
				var items []json.RawMessage
				if items, err = rawjson.Elements(fv); items == nil {
					items = []json.RawMessage{} // [], as encoding/json reads it
				}
				l.Items = items
			}
			if err != nil {
				errs = append(errs, err)
			}
		}); err != nil {
			errs = append(errs, err)
		}
		lists[method] = l
	})
	if err != nil {
		return nil, err
	}
	return lists, errors.Join(errs...)
}

func (k *keptLists) encode() []byte {
	var b bytes.Buffer
	head, _ := json.Marshal(struct {
		Version    int       `json:"version"`
		Server     string    `json:"server"`
		Definition string    `json:"definition"`
		At         time.Time `json:"at"`
		LoginOf    string    `json:"login_of,omitempty"`
		Login      string    `json:"login,omitempty"`
	}{k.Version, k.Server, k.Definition, k.At, k.LoginOf, k.Login})
	b.Write(head[:len(head)-1])
	b.WriteString(",\n\"lists\":{")
	first := true
	for _, f := range listFields {
		kl, ok := k.Lists[f.method]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "\n%q:{", f.method)
		if kl.TTLMs != nil {
			fmt.Fprintf(&b, `"ttlMs":%d,`, *kl.TTLMs)
		}
		if kl.CacheScope != "" {
			scope, _ := json.Marshal(kl.CacheScope)
			fmt.Fprintf(&b, `"cacheScope":%s,`, scope)
		}
		b.WriteString(`"items":[`)
		for i, it := range kl.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n")
			b.Write(it)
		}
		b.WriteString("]}")
	}
	b.WriteString("}}\n")
	return b.Bytes()
}

// definitionDigest is a digest of what the catalog says of how to reach a
// server — its remotes (transports, URLs, headers) and auth — which is
// what SetServers compares (sameConnection): an entry that changed there
// is another server as far as kept lists go.
func definitionDigest(s *catalog.Server) string {
	data, _ := json.Marshal(struct {
		Remotes []catalog.Remote
		Auth    catalog.Auth
	}{s.Definition.Remotes, s.Auth})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// listLogin names the login a server's private lists come with — the
// portal's for a server on the portal's auth, else the server's own — and
// their key, a digest of that name and the remote's origin.
func listLogin(s *catalog.Server) (loginOf, key string) {
	loginOf = s.ID
	if s.Auth.Method == catalog.AuthPlugin {
		loginOf = catalog.PortalID
	}
	remote, _ := s.Transport()
	sum := sha256.Sum256([]byte("lists of a login\x00" + loginOf + "\x00" + origin(remote.URL)))
	return loginOf, hex.EncodeToString(sum[:16])
}
