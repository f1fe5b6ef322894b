// Package bridge is the hub between one agent and the enabled remote MCP
// servers: it owns their connections' lifecycle, merges what they offer
// and serves it to the agent over stdio.
//
// A [Bridge] owns one [Upstream] per server, connected in parallel in the
// background and reconnected when lost; each speaks MCP through a session
// of package client. The set of servers follows the catalog as it is read
// anew ([Bridge.SetServers]). The [Registry] names every server's tools,
// prompts and resources (naming.go), judges tools by the user's [Policy]
// and the [Pins] of their definitions, and routes calls back. [Serve] speaks MCP
// with the agent (server.go, routes.go, handshake.go): it answers
// initialize at once, waits a little for upstreams on the first list,
// forwards progress in order and cancellation both ways, records calls in
// the [Audit] log, and never lets one server hold up another. Names and the
// tool list are fitted to the agent once it names itself
// ([Bridge.FitClient], clients.go), with tool search past its tool cap
// (search.go).
package bridge

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// change while it serves (SetServers), as a catalog is read anew.
type Bridge struct {
	opts     Options
	log      *slog.Logger
	Registry *Registry

	// mu guards the set of upstreams and whether they run. An upstream's
	// news reaches the registry under its read lock, and only while the
	// upstream is in the set, so that one taken out never comes back.
	mu        sync.RWMutex
	upstreams map[string]*Upstream
	order     []string
	running   bool // Start has run: upstreams added later start at once
	closed    bool // Close has run: the set changes no more
	started   time.Time
	retired   sync.WaitGroup // upstreams taken out, closing

	// onChange, onNotify, onRequest and clientCaps are set before Start
	// and only read after: the upstreams' goroutines start after they are
	// set.
	onChange  func(kinds []string)
	onNotify  func(method string, params json.RawMessage)
	onRequest func(ctx context.Context, server, method string, params json.RawMessage) (json.RawMessage, error)
	// clientCaps are the client capabilities declared to every upstream;
	// preferModern, that the agent speaks the stateless era, which
	// upstreams of both eras are then spoken to in.
	clientCaps   json.RawMessage
	preferModern bool

	tasks sync.WaitGroup // notifications to upstreams on their way
	// logLevel is the params of the agent's latest logging/setLevel.
	logLevel atomic.Pointer[json.RawMessage]
	// fit is what the agent's client gets, once known (clients.go).
	fit     atomic.Pointer[Fit]
	fitOnce sync.Once
	// asked is closed by Asked: the agent has had its first answer, and
	// what start-up held back (connections to servers with kept lists,
	// the state folder's writes) may go.
	asked     chan struct{}
	askedOnce sync.Once
	// startedUp is closed when the start-up is over: the agent has had its
	// first answer, or the start-up wait has passed without one.
	startedUp chan struct{}
	// writes holds the state folder's writes during start-up
	// (writehold.go); b.mu guards it.
	writes *writeHold
	// serversKnown is closed by the first SetServers, or by New unless
	// the servers come later (Options.ServersLater); launched says the
	// upstreams known then have been started (launch). b.mu guards
	// launched.
	serversKnown     chan struct{}
	serversKnownOnce sync.Once
	launched         bool
	// load is closed when serve may read its catalog and the servers'
	// files: at once, unless the agent's first lists may be answered
	// ahead (firstlists.go), then once they have been, or the agent asks
	// for more.
	load     chan struct{}
	loadOnce sync.Once
	// onKept is told once every upstream known at start has served its
	// kept lists, or found it has none, before any connects.
	onKept func()
}

// New makes a bridge over these servers; Start connects them.
func New(servers []*catalog.Server, opts Options) *Bridge {
	opts = opts.withDefaults()
	b := &Bridge{opts: opts, log: opts.Logger, upstreams: map[string]*Upstream{}, asked: make(chan struct{}), startedUp: make(chan struct{}),
		serversKnown: make(chan struct{}), load: make(chan struct{})}
	if !opts.ServersLater {
		b.knowServers()
	}
	if opts.First == nil || !opts.First.had {
		b.Load()
	}
	for _, s := range servers {
		b.upstreams[s.ID] = newUpstream(s, opts, b, opts.Logger)
		b.order = append(b.order, s.ID)
	}
	slices.Sort(b.order)
	ids := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(opts.ServerIDs), b.order...))))
	b.Registry = NewRegistry(ids, RegistryOptions{
		Prefixes: opts.Prefixes, MaxNameLength: opts.MaxNameLength, MaxDescriptionLength: opts.MaxDescriptionLength,
		Policies: opts.Policies, Pins: opts.Pins, Log: opts.Logger,
	})
	return b
}

// Start connects every upstream in parallel, in the background; once, and
// never after Close.
func (b *Bridge) Start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running || b.closed {
		return
	}
	b.running, b.started = true, time.Now()
	if b.known() {
		b.launch()
	}
	b.writesAfterStartup()
}

// knowServers notes that the bridge has its servers.
func (b *Bridge) knowServers() { b.serversKnownOnce.Do(func() { close(b.serversKnown) }) }

func (b *Bridge) known() bool {
	select {
	case <-b.serversKnown:
		return true
	default:
		return false
	}
}

// Load lets serve read its catalog and the servers' files (see
// Options.First); once, and at once when nothing is answered ahead.
func (b *Bridge) Load() { b.loadOnce.Do(func() { close(b.load) }) }

// Loading is closed once serve may read its catalog (Load).
func (b *Bridge) Loading() <-chan struct{} { return b.load }

// launch starts the upstreams known at start, once; b.mu is held, and
// b.running.
func (b *Bridge) launch() {
	if b.launched {
		return
	}
	b.launched = true
	// Every server's kept lists are in before any server connects, and
	// when some were kept the servers connect once the agent has had its
	// first answer from them (or asks for anything else, or KeptHold has
	// passed): the connections would take the CPU that answer needs.
	var kept sync.WaitGroup
	served := make(chan struct{})
	for _, id := range b.order {
		u := b.upstreams[id]
		kept.Add(1)
		u.keptServed, u.connectAfter = kept.Done, served
		b.run(u)
	}
	go func() {
		kept.Wait()
		if b.onKept != nil {
			b.onKept()
		}
		if b.anyCached() {
			hold := time.NewTimer(b.opts.KeptHold)
			defer hold.Stop()
			select {
			case <-b.asked:
			case <-hold.C:
			}
		}
		close(served)
	}()
}

// anyCached reports whether some upstream is serving kept lists.
func (b *Bridge) anyCached() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, u := range b.upstreams {
		if u.cached.Load() {
			return true
		}
	}
	return false
}

// Asked tells the bridge that the agent has had an answer from its lists,
// or wants more than its lists: servers held back while the kept lists
// were answered connect now.
func (b *Bridge) Asked() {
	b.askedOnce.Do(func() { close(b.asked) })
	b.Load()
}

// askedSoon is Asked, listedGrace from now: what was held back for the
// agent's first list waits for the agent to have read it.
func (b *Bridge) askedSoon() {
	select {
	case <-b.asked:
	default:
		time.AfterFunc(listedGrace, b.Asked) // read now: the tests change it
	}
}

// listedGrace is how long after answering a list the bridge waits before
// it lets go what start-up held back (the held servers' connections, the
// state folder's writes), unless the agent asks for more first: an agent
// reads a list of a thousand tools, half a megabyte, on the same CPUs,
// and fifty connections starting at once held that read up by a fifth of
// the start-up. A call lets them go at once. (A variable for the tests.)
var listedGrace = 30 * time.Millisecond

// StartedUp is closed when the start-up is over, as the state folder's
// writes are let go (writehold.go): once the agent has had its first
// answer, or a little after the start-up wait without one.
func (b *Bridge) StartedUp() <-chan struct{} { return b.startedUp }

// run starts an upstream's run loop; b.mu is held, and b.running.
func (b *Bridge) run(u *Upstream) {
	u.clientCaps, u.preferModern = b.clientCaps, b.preferModern
	go u.run()
}

// SetServers makes these the bridge's servers, as a catalog read anew
// says: a server new to the bridge is connected (at once when it has
// started), one it no longer has is closed and its tools, prompts and
// resources leave, and one whose remotes or auth changed is connected
// afresh. The agent hears of what changes with list_changed. Servers
// left as they were keep their sessions. After Close it does nothing.
func (b *Bridge) SetServers(servers []*catalog.Server) {
	want := map[string]*catalog.Server{}
	for _, s := range servers {
		want[s.ID] = s
	}
	var changed []string
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	for _, id := range b.order {
		u := b.upstreams[id]
		s, keep := want[id]
		if keep && sameConnection(u.server, s) {
			continue
		}
		if keep {
			b.log.Info("server changed in the catalog; connecting afresh", "server", id)
		} else {
			b.log.Info("server no longer served", "server", id)
		}
		delete(b.upstreams, id)
		changed = append(changed, b.Registry.Remove(id)...)
		if b.running {
			b.retired.Go(u.Close)
		}
	}
	first := !b.known()
	for _, s := range servers {
		if _, ok := b.upstreams[s.ID]; ok {
			continue
		}
		b.Registry.addServer(s.ID)
		u := newUpstream(s, b.opts, b, b.log)
		b.upstreams[s.ID] = u
		if b.running && !first {
			b.log.Info("server added from the catalog", "server", s.ID)
			b.run(u)
		}
	}
	b.order = slices.Sorted(maps.Keys(b.upstreams))
	if first {
		// The servers a start has: they start as those given to New do.
		b.knowServers()
		if b.running {
			b.launch()
		}
	}
	b.mu.Unlock()
	b.changed(changed)
}

// sameConnection reports whether two entries of a server connect alike:
// the same remotes, headers and auth.
func sameConnection(a, b *catalog.Server) bool {
	return reflect.DeepEqual(a.Definition.Remotes, b.Definition.Remotes) && reflect.DeepEqual(a.Auth, b.Auth)
}

// Upstream returns the upstream of a server ID.
func (b *Bridge) Upstream(id string) (*Upstream, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	u, ok := b.upstreams[id]
	return u, ok
}

// Upstreams lists the upstreams in ID order.
func (b *Bridge) Upstreams() []*Upstream {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*Upstream, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, b.upstreams[id])
	}
	return out
}

// WaitStartup waits until every upstream has lists to show — those kept
// from its last connection, or once it has made its first connection
// attempt — or the startup wait, counted from Start, has passed. It
// reports whether every upstream was done. Upstreams added after the wait
// has passed are not waited for: they arrive with list_changed.
func (b *Bridge) WaitStartup(ctx context.Context) bool {
	return b.waitStartup(ctx, (*Upstream).Listed)
}

// WaitConnected is WaitStartup for every upstream's first connection
// attempt, whether or not its lists are served from the cache meanwhile.
func (b *Bridge) WaitConnected(ctx context.Context) bool {
	return b.waitStartup(ctx, (*Upstream).Ready)
}

func (b *Bridge) waitStartup(ctx context.Context, done func(*Upstream) <-chan struct{}) bool {
	b.mu.RLock()
	started := b.started
	b.mu.RUnlock()
	deadline := time.NewTimer(time.Until(started.Add(b.opts.StartupWait)))
	defer deadline.Stop()
	select {
	case <-b.serversKnown:
	case <-deadline.C:
		return false
	case <-ctx.Done():
		return false
	}
	for _, u := range b.Upstreams() {
		select {
		case <-done(u):
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// OnChange registers what to do when merged lists change, and what to do
// with notifications for the agent. It is called before Start.
func (b *Bridge) OnChange(change func(kinds []string), notify func(method string, params json.RawMessage)) {
	b.onChange, b.onNotify = change, notify
}

// upstreamCached serves the lists kept from a server's last connection
// while it connects: named, judged and pinned as live lists are.
func (b *Bridge) upstreamCached(u *Upstream, l Lists) {
	b.fromUpstream(u, func() []string { return b.Registry.SetCached(u.ID(), l) })
}

// upstreamReady puts a server's live lists in place, and keeps them. Lists
// that replace kept ones bring list_changed only where they differ.
func (b *Bridge) upstreamReady(u *Upstream, l Lists) {
	b.fromUpstream(u, func() []string {
		kinds := b.Registry.Set(u.ID(), l)
		b.opts.Lists.Save(u.server, l)
		if u.cached.Swap(false) {
			if len(kinds) == 0 {
				u.log.Info("its cached lists are current")
			} else {
				u.log.Info("its lists differ from the cached ones", "changed", kinds)
			}
		}
		return kinds
	})
}

func (b *Bridge) upstreamListChanged(u *Upstream, l Lists) {
	b.fromUpstream(u, func() []string {
		kinds := b.Registry.Set(u.ID(), l)
		b.opts.Lists.Save(u.server, l)
		return kinds
	})
}

// fromUpstream puts an upstream's news in the registry with set, unless
// the upstream has been taken out of the set, and announces the change.
func (b *Bridge) fromUpstream(u *Upstream, set func() []string) {
	var kinds []string
	b.mu.RLock()
	if b.upstreams[u.ID()] == u {
		kinds = set()
	}
	b.mu.RUnlock()
	b.changed(kinds)
}

func (b *Bridge) agentLogLevel() json.RawMessage {
	if p := b.logLevel.Load(); p != nil {
		return *p
	}
	return nil
}

// upstreamRequest passes a request from a server on to the agent; without
// an agent (bridge tools, doctor) it is refused.
func (b *Bridge) upstreamRequest(ctx context.Context, u *Upstream, method string, params json.RawMessage) (json.RawMessage, error) {
	if b.onRequest == nil {
		return nil, &client.RPCError{Code: codeMethodNotFound, Message: "the bridge takes no requests from servers: " + method}
	}
	return b.onRequest(ctx, u.ID(), method, params)
}

func (b *Bridge) upstreamNotification(_ *Upstream, method string, params json.RawMessage) {
	if b.onNotify != nil {
		b.onNotify(method, params)
	}
}

func (b *Bridge) changed(kinds []string) {
	if len(kinds) == 0 {
		return
	}
	if b.onChange != nil {
		b.onChange(kinds)
	}
}

// Close ends every upstream's session in parallel, waiting at most until
// ctx ends.
func (b *Bridge) Close(ctx context.Context) {
	// Upstreams that never started have nothing to close, and never
	// will start now.
	b.mu.Lock()
	b.closed = true
	b.writes.release() // what is held is written before the end
	var running []*Upstream
	if b.running {
		for _, id := range b.order {
			running = append(running, b.upstreams[id])
		}
	}
	b.mu.Unlock()
	b.Asked() // nothing is held back for an answer any more
	var wg sync.WaitGroup
	for _, u := range running {
		wg.Go(u.Close)
	}
	wg.Go(b.retired.Wait)
	wg.Go(b.tasks.Wait)
	wg.Go(b.opts.Eras.Wait)
	wg.Go(b.opts.Lists.Wait)
	// Pin files still being written are finished too.
	wg.Go(b.Registry.pins.Wait)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		// The state folder is as this run leaves it: what the next start
		// answers first is worked out from it (firstlists.go).
		b.keepFirstLists(ctx)
	case <-ctx.Done():
		b.log.Warn("shutdown: some sessions were not closed in time")
	}
	b.opts.HTTPClient.CloseIdleConnections()
}
