package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/rawjson"
	"github.com/mcp-bridge/bridge/config/state"
)

// A start of serve answers the agent's first lists from each server's
// kept lists (listcache.go), but only once it has read its catalog and,
// for every server, its kept lists and pins, and named, judged and merged
// them: with fifty servers, most of the start. What that work gives is a
// function of the files it reads, the agent and the build, so a run of
// serve, as it ends, works out what the next start would answer from the
// files it leaves, and keeps it with a digest of those files
// (FirstLists). The next start that finds the same files, the same agent
// and the same build answers the agent's first lists from it at once,
// and only then reads the catalog and the files; once every server's
// kept lists are in place, what the agent was answered is compared with
// them, and a list that differs brings its list_changed. Every call goes
// through the registry as always: an answer ahead only ever lists.

// FirstLists keeps, per agent, the answers to its first lists (tools,
// prompts, resources, resource templates) a start of serve would give
// from the state folder as the last run left it, in first/ of the state
// folder, one file per agent, named by a digest of the agent's
// initialize params. A file is used only with the digest it names: of
// the bridge's executable and arguments, the config file, the catalog's
// files (the portal's cache among them), and the kept lists and pins of
// every server the config enables; and only until the oldest of those kept lists is
// older than serve.cache_max_age.
type FirstLists struct {
	dir    string // "" keeps nothing
	locks  state.Locks
	build  string // the executable's identity and the arguments
	files  func() ([]string, error)
	ids    []string // the servers the config enables, whose files count
	atHand func(ctx context.Context) ([]*catalog.Server, error)
	lists  *ListCache // for the paths of the servers' files
	pins   *Pins
	now    func() time.Time
	log    *slog.Logger
	// had says the folder held answers when serve began: the start may
	// answer ahead, so serve holds its catalog back for the agent's
	// first message (Bridge.Load).
	had   bool
	early *earlyFirst // set before serve reads the agent's first message

	// started is closed once startDigest, the digest of the files as
	// the start found them, has been taken (when had), in the
	// background from the start on.
	started     chan struct{}
	startDigest [sha256.Size]byte
	startErr    error

	mu     sync.Mutex
	client []byte // the agent's initialize params, this run
	hit    bool   // answers were found at start, and current
}

// FirstListsOptions say where a start's answers come from.
type FirstListsOptions struct {
	StateDir string
	// Files are the files besides the servers' own that the answers are
	// made of: the config file and the catalog's files.
	Files func() ([]string, error)
	// Enabled are the IDs of the servers the config enables: every server
	// a start may answer for is one of them.
	Enabled []string
	// AtHand are the enabled servers a start finds in the catalog at hand.
	AtHand func(ctx context.Context) ([]*catalog.Server, error)
	Log    *slog.Logger
}

// firstListsVersion is the version of a file of answers.
const firstListsVersion = 1

// maxFirstFile bounds a file of answers: four lists of the size one
// message may have.
const maxFirstFile = 4 * client.DefaultMaxMessageSize

// NewFirstLists keeps answers in stateDir/first; an empty stateDir keeps
// none.
func NewFirstLists(o FirstListsOptions) *FirstLists {
	f := &FirstLists{files: o.Files, atHand: o.AtHand, now: time.Now, log: o.Log, build: buildIdentity(),
		ids: slices.Compact(slices.Sorted(slices.Values(o.Enabled)))}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if o.StateDir == "" {
		return f
	}
	f.dir = filepath.Join(o.StateDir, "first")
	f.locks = state.Locks{Dir: filepath.Join(o.StateDir, "locks")}
	f.lists, f.pins = NewListCache(o.StateDir, 0, nil), NewPins(o.StateDir)
	entries, _ := os.ReadDir(f.dir)
	f.had = slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return strings.HasSuffix(e.Name(), ".json") })
	if f.had {
		// The files are read while serve reads the agent's first message,
		// and the answers most likely for it.
		f.readEarly(entries)
		f.started = make(chan struct{})
		go func() {
			f.startDigest, f.startErr = f.digest()
			close(f.started)
		}()
	}
	return f
}

// FirstListsFor are the first answers serve keeps, over the catalog the
// config and these options read: nil when it keeps no lists (lists is
// nil, serve.cached_lists false).
func FirstListsFor(cfg *config.Config, catOpts catalog.Options, stateDir string, lists *ListCache, log *slog.Logger) *FirstLists {
	if lists == nil {
		return nil
	}
	return NewFirstLists(FirstListsOptions{
		StateDir: stateDir, Log: log, Enabled: cfg.Enabled,
		Files: func() ([]string, error) {
			files, err := catalog.Inputs(cfg, catOpts)
			return append([]string{cfg.Path()}, files...), err
		},
		AtHand: func(ctx context.Context) ([]*catalog.Server, error) {
			cat, err := catalog.AtHand(ctx, cfg, catOpts)
			if err != nil {
				return nil, err
			}
			servers, _ := cat.Enabled(cfg)
			return servers, nil
		},
	})
}

// buildIdentity names the running executable by its path, size and time,
// and the arguments it was started with: another build, or other flags,
// may answer otherwise.
func buildIdentity() string {
	var b strings.Builder
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(&b, "%s\x00%d\x00%d", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	for _, a := range os.Args[1:] {
		b.WriteString("\x00" + a)
	}
	return b.String()
}

// firstFile is one agent's file of answers.
type firstFile struct {
	Version int       `json:"version"`
	Inputs  string    `json:"inputs"` // the digest of the files the answers were made of
	Until   time.Time `json:"until"`  // when the oldest kept lists grow too old
	// Lists are the results, by list method.
	Lists map[string]json.RawMessage `json:"lists"`
}

// path is the file of answers for the agent that initialized with these
// params.
func (f *FirstLists) path(client []byte) string {
	sum := sha256.Sum256(client)
	return filepath.Join(f.dir, hex.EncodeToString(sum[:8])+".json")
}

// note notes the agent's initialize params: the run's end keeps the
// answers for that agent.
func (f *FirstLists) note(params json.RawMessage) {
	f.mu.Lock()
	f.client = bytes.Clone(params)
	f.mu.Unlock()
}

// lookup returns the answers to the first lists of the agent that
// initialized with these params, when the state folder is as they were
// made from; nil when there are none to give, saying why in the log.
func (f *FirstLists) lookup(params json.RawMessage) map[string]json.RawMessage {
	if f.dir == "" {
		return nil
	}
	path := f.path(params)
	ff, err := f.read(path)
	if errors.Is(err, fs.ErrNotExist) {
		f.log.Debug("no first lists kept for this agent")
		return nil
	}
	if err != nil {
		f.log.Warn("first lists", "err", err)
		return nil
	}
	<-f.started
	switch {
	case f.startErr != nil:
		f.log.Info("the first lists are not answered ahead", "reason", f.startErr.Error())
		return nil
	case hex.EncodeToString(f.startDigest[:]) != ff.Inputs:
		f.log.Info("the first lists are not answered ahead", "reason", "the config, the catalog or the servers' files changed since they were made")
		return nil
	case !f.now().Before(ff.Until):
		f.log.Info("the first lists are not answered ahead", "reason", "the oldest kept lists they were made of are older than serve.cache_max_age")
		return nil
	}
	f.mu.Lock()
	f.hit = true
	f.mu.Unlock()
	f.log.Debug("answering the first lists ahead, as the last run left the state folder")
	return ff.Lists
}

// read reads and decodes the file of answers at path: the one read ahead,
// when it is that one.
func (f *FirstLists) read(path string) (*firstFile, error) {
	if e := f.early; e != nil && e.path == path {
		<-e.done
		return e.ff, e.err
	}
	return readFirst(path)
}

// readFirst reads and decodes a file of answers; a missing file is an
// error that wraps fs.ErrNotExist.
func readFirst(path string) (*firstFile, error) {
	data, err := state.ReadLimited(path, maxFirstFile)
	if err != nil {
		return nil, err
	}
	ff, err := decodeFirst(data)
	if err != nil {
		return nil, fmt.Errorf("%s is corrupt (%w); it is not used, and this run's end replaces it", path, err)
	}
	return ff, nil
}

// earlyFirst is the file of answers read before the agent's first
// message: the one last written, most likely that of the agent that
// starts serve again.
type earlyFirst struct {
	path string
	done chan struct{}
	ff   *firstFile
	err  error
}

// readEarly reads the newest file of answers among entries, in the
// background.
func (f *FirstLists) readEarly(entries []fs.DirEntry) {
	var newest string
	var at time.Time
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".json") || !info.Mode().IsRegular() {
			continue
		}
		if newest == "" || info.ModTime().After(at) {
			newest, at = e.Name(), info.ModTime()
		}
	}
	if newest == "" {
		return
	}
	e := &earlyFirst{path: filepath.Join(f.dir, newest), done: make(chan struct{})}
	f.early = e
	go func() {
		e.ff, e.err = readFirst(e.path)
		close(e.done)
	}()
}

// decodeFirst reads a file of answers, its lists as spans of data.
func decodeFirst(data []byte) (*firstFile, error) {
	if !rawjson.Valid(data) {
		return nil, errors.New("not JSON")
	}
	ff := &firstFile{}
	var errs []error
	err := rawjson.Walk(data, func(m rawjson.Member) {
		v := data[m.Start:m.End]
		switch {
		case m.Is("lists"):
			ff.Lists = map[string]json.RawMessage{}
			errs = append(errs, rawjson.Walk(v, func(l rawjson.Member) {
				method, err := rawjson.String(l.Key)
				item := json.RawMessage(v[l.Start:l.End])
				if err != nil || !slices.Contains(listMethods, method) || len(item) == 0 || item[0] != '{' {
					errs = append(errs, fmt.Errorf("a list %s", method))
					return
				}
				ff.Lists[method] = item
			}))
		case m.Is("version"):
			errs = append(errs, json.Unmarshal(v, &ff.Version))
		case m.Is("inputs"):
			errs = append(errs, json.Unmarshal(v, &ff.Inputs))
		case m.Is("until"):
			errs = append(errs, json.Unmarshal(v, &ff.Until))
		}
	})
	switch err := errors.Join(append(errs, err)...); {
	case err != nil:
		return nil, err
	case ff.Version != firstListsVersion:
		return nil, fmt.Errorf("version %d, not %d", ff.Version, firstListsVersion)
	case ff.Inputs == "" || ff.Until.IsZero() || len(ff.Lists) == 0:
		return nil, errors.New("inputs, until or lists missing")
	}
	return ff, nil
}

// digest is the digest of what the answers are made of: the build, and
// the bytes of every file (or that it is missing).
func (f *FirstLists) digest() ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	files, err := f.files()
	if err != nil {
		return sum, err
	}
	for _, id := range f.ids {
		files = append(files, f.lists.Path(id), f.pins.Path(id))
	}
	h := sha256.New()
	io.WriteString(h, "mcp-bridge first lists\x00"+f.build+"\x00")
	buf := make([]byte, 32<<10)
	for _, p := range files {
		if err := hashFile(h, p, buf); err != nil {
			return sum, err
		}
	}
	h.Sum(sum[:0])
	return sum, nil
}

// hashFile writes a file's path, its bytes and their count to h; a
// missing file counts as such.
func hashFile(h io.Writer, path string, buf []byte) error {
	io.WriteString(h, path+"\x00")
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		io.WriteString(h, "missing\x00")
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	n, err := io.CopyBuffer(h, io.LimitReader(file, maxListsFile+1), buf)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if n > maxListsFile {
		return fmt.Errorf("%s is larger than %d bytes", path, maxListsFile)
	}
	var count [9]byte
	binary.BigEndian.PutUint64(count[1:], uint64(n))
	_, err = h.Write(count[:])
	return err
}
