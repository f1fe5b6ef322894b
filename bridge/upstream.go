package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// Errors of an upstream.
var (
	// ErrDown means the upstream is not connected; calls fail at once.
	ErrDown = errors.New("not connected")
	// ErrClosed means the bridge is shutting down.
	ErrClosed = client.ErrClosed
)

// Lists are what an upstream offers, as the raw JSON objects it sent.
type Lists struct {
	Tools, Prompts, Resources, Templates []json.RawMessage
	// Cache is what each list said of keeping it, by list method (the
	// stateless era's ttlMs and cacheScope), kept for a cache of lists.
	Cache map[string]client.Cache
}

// upstreamEvents are how an upstream tells the bridge what happened.
type upstreamEvents interface {
	// upstreamCached reports the lists kept from the server's last
	// connection, served while it connects.
	upstreamCached(u *Upstream, l Lists)
	// upstreamReady reports a (re)connected upstream and its lists.
	upstreamReady(u *Upstream, l Lists)
	// upstreamListChanged reports new lists.
	upstreamListChanged(u *Upstream, l Lists)
	// upstreamNotification passes on a notification for the agent
	// (resources/updated).
	upstreamNotification(u *Upstream, method string, params json.RawMessage)
	// upstreamNeedsLogin reports a server that cannot connect until the
	// user logs in; true when the login needed no user and is done.
	upstreamNeedsLogin(u *Upstream) (loggedIn bool)
	// upstreamRequest passes on a request from the server for the agent
	// (sampling, elicitation, roots) and returns the agent's answer.
	upstreamRequest(ctx context.Context, u *Upstream, method string, params json.RawMessage) (json.RawMessage, error)
	// agentLogLevel is the params of the agent's latest logging/setLevel,
	// nil before any.
	agentLogLevel() json.RawMessage
}

// Upstream keeps one remote MCP server connected: it connects in the
// background, reconnects with backoff when the session is lost, and keeps
// the server's lists. Its run loop is the one owner of its session; the
// session (package client) does the protocol.
type Upstream struct {
	server *catalog.Server
	log    *slog.Logger
	events upstreamEvents
	opts   Options

	// clientCaps are the client capabilities declared to the server, and
	// preferModern whether to try the stateless era first; set before run.
	clientCaps   json.RawMessage
	preferModern bool

	logs rate // the server's log messages to the agent

	ready     chan struct{} // closed once the first connection attempt ends
	readyOnce sync.Once
	// listed is closed once the upstream has lists to show: kept from its
	// last connection, or once its first connection attempt ends.
	listed     chan struct{}
	listedOnce sync.Once
	// cached: its lists in the registry are the kept ones, not yet
	// replaced by the live ones.
	cached atomic.Bool
	// unattended counts the logins the bridge ran itself since the last
	// connection (Options.Unattended).
	unattended atomic.Int32
	// keptServed, when set, is told that the kept lists are served (or
	// that there are none), and the upstream connects once connectAfter
	// is closed: those that start together serve their kept lists first.
	keptServed   func()
	connectAfter <-chan struct{}

	refresh   chan struct{} // a list changed: the run loop lists again
	reconnect chan struct{} // wakes the run loop's wait
	lifetime  context.Context
	stop      context.CancelFunc
	done      chan struct{} // closed when the run loop has ended

	mu      sync.Mutex
	session *client.Session
	lastErr error
	lists   Lists
	closed  bool
}

func newUpstream(s *catalog.Server, opts Options, events upstreamEvents, log *slog.Logger) *Upstream {
	ctx, stop := context.WithCancel(context.Background())
	return &Upstream{
		server: s, opts: opts, events: events, log: log.With("server", s.ID),
		ready: make(chan struct{}), listed: make(chan struct{}), lifetime: ctx, stop: stop,
		refresh: make(chan struct{}, 1), reconnect: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// ID is the server's ID.
func (u *Upstream) ID() string { return u.server.ID }

// Lists are what the upstream offered when last listed.
func (u *Upstream) Lists() Lists {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lists
}

// Wake makes a waiting reconnect attempt happen now (after a login).
func (u *Upstream) Wake() {
	select {
	case u.reconnect <- struct{}{}:
	default:
	}
}

// Ready is closed once the first connection attempt has ended, either way.
func (u *Upstream) Ready() <-chan struct{} { return u.ready }

// Listed is closed once the upstream has lists to show: those kept from
// its last connection, served while it connects, or else once its first
// connection attempt has ended, either way.
func (u *Upstream) Listed() <-chan struct{} { return u.listed }

func (u *Upstream) markListed() { u.listedOnce.Do(func() { close(u.listed) }) }

// awaitFirstAttempt waits, at most wait, for an upstream still making its
// first connection attempt: a call to a server whose lists are served from
// the cache waits for the server rather than failing at once. It returns
// early only when ctx ends.
func (u *Upstream) awaitFirstAttempt(ctx context.Context, wait time.Duration) error {
	select {
	case <-u.ready:
		return nil
	default:
	}
	u.log.Debug("a call waits for the server to connect", "at_most", wait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-u.ready:
	case <-timer.C:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}

// serveKept puts the lists kept from the server's last connection in the
// registry, for the agent to see while the server connects, and reports
// whether there were any.
func (u *Upstream) serveKept() bool {
	l, seen, err := u.opts.Lists.Load(u.server)
	var notKept *errNotKept
	switch {
	case errors.As(err, &notKept):
		u.log.Info("its lists are not served from the cache", "reason", notKept.reason)
		return false
	case err != nil:
		u.log.Warn("its lists are not served from the cache", "err", err)
		return false
	case l.Cache == nil:
		return false
	}
	u.cached.Store(true)
	u.log.Info("serving its lists as last seen while it connects", "seen", seen.UTC().Format(time.RFC3339), "tools", len(l.Tools))
	u.events.upstreamCached(u, l)
	return true
}

// Err is why the upstream is not connected, or nil when it is.
func (u *Upstream) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.session != nil {
		return nil
	}
	if u.lastErr == nil {
		return errors.New("connecting")
	}
	return u.lastErr
}

// run connects and keeps the upstream connected until Close, retrying with
// capped exponential backoff and jitter.
func (u *Upstream) run() {
	defer close(u.done)
	if u.serveKept() {
		u.markListed()
	}
	if u.keptServed != nil {
		u.keptServed()
		select {
		case <-u.connectAfter:
		case <-u.lifetime.Done():
			return
		}
	}
	attempt := 0
	for {
		sess, lists, err := u.connect(u.lifetime)
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			if sess != nil {
				sess.Close()
			}
			return
		}
		if err == nil {
			u.session, u.lastErr, u.lists = sess, nil, lists
			attempt = 0
			u.unattended.Store(0)
		} else {
			u.lastErr = err
		}
		u.mu.Unlock()
		if err == nil {
			u.log.Info("connected", "transport", u.transport(), "era", sess.Era(), "tools", len(lists.Tools))
			if level := u.events.agentLogLevel(); level != nil {
				u.setLogLevel(u.lifetime, level)
			}
			u.events.upstreamReady(u, lists)
		} else {
			u.log.Warn("cannot connect", "err", err)
			// A server that refuses to list for want of scope is offered
			// as its login tool too: that login asks for the scope.
			if u.opts.Auth != nil && (u.opts.Auth.NeedsLogin(err) || u.opts.Auth.NeedsStepUp(err)) && u.events.upstreamNeedsLogin(u) {
				continue // logged in without a person: at once again
			}
		}
		u.readyOnce.Do(func() { close(u.ready) })
		u.markListed()

		if err == nil {
			if !u.serve(sess) {
				return
			}
			u.log.Warn("connection lost", "err", sess.Err())
		}
		delay := client.Backoff(attempt, u.opts.ReconnectMin, u.opts.ReconnectMax)
		attempt++
		select {
		case <-time.After(delay):
		case <-u.reconnect:
		case <-u.lifetime.Done():
			return
		}
	}
}

// serve keeps sess until it is lost, listing again whenever the server
// says a list changed; a flood of changes is one list each time round. It
// reports false when the upstream is closing (Close closes the session).
func (u *Upstream) serve(sess *client.Session) bool {
	for {
		select {
		case <-sess.Done():
			u.mu.Lock()
			if u.session == sess {
				u.session, u.lastErr = nil, sess.Err()
			}
			u.mu.Unlock()
			sess.Close()
			return true
		case <-u.lifetime.Done():
			return false
		case <-u.refresh:
			u.refreshLists(sess)
		}
	}
}

// transport is the transport of the remote the upstream connects to.
func (u *Upstream) transport() string {
	remote, _ := u.server.Transport()
	return remote.Type
}

// connect opens a session and lists it: streamable HTTP when the
// definition has it, SSE when it has only that or when streamable HTTP is
// refused with the signs of an SSE-only server.
func (u *Upstream) connect(ctx context.Context) (*client.Session, Lists, error) {
	remote, ok := u.server.Transport()
	if !ok {
		return nil, Lists{}, errors.New("no remote to connect to")
	}
	headers, err := u.headers(remote)
	if err != nil {
		return nil, Lists{}, err
	}
	sess, lists, err := u.connectTo(ctx, remote, headers)
	if fb, ok := u.server.Fallback(); ok && errors.Is(err, client.ErrSSEOnly) {
		u.log.Info("streamable HTTP refused; trying SSE", "url", fb.URL)
		headers, herr := u.headers(fb)
		if herr != nil {
			return nil, Lists{}, herr
		}
		sess, lists, err = u.connectTo(ctx, fb, headers)
	}
	return sess, lists, err
}

func (u *Upstream) connectTo(ctx context.Context, remote catalog.Remote, headers map[string]string) (*client.Session, Lists, error) {
	ctx, stop := context.WithTimeout(ctx, u.opts.ConnectTimeout)
	defer stop()
	r := client.Remote{
		URL: remote.URL, Transport: remote.Type, Headers: headers, HTTPClient: u.opts.HTTPClient,
		Name: "mcp-bridge", Version: u.opts.Version, Logger: u.log, Capabilities: u.clientCaps,
		Era: u.opts.Eras.Get(remote.URL), PreferModern: u.preferModern, MaxMessageSize: u.opts.MaxMessageSize,
	}
	if u.opts.Auth != nil {
		r.Auth = serverAuth{a: u.opts.Auth, s: u.server, url: remote.URL}
	}
	sess, err := client.Connect(ctx, r, handler{u})
	if err != nil {
		return nil, Lists{}, fmt.Errorf("%s %s: %w", remote.Type, remote.URL, err)
	}
	if remote.Type != client.SSE {
		u.opts.Eras.Set(remote.URL, sess.Era())
	}
	lists, err := listAll(ctx, sess)
	if err != nil {
		sess.Close()
		return nil, Lists{}, fmt.Errorf("%s %s: %w", remote.Type, remote.URL, err)
	}
	return sess, lists, nil
}

// listAll fetches every list the server's capabilities offer.
func listAll(ctx context.Context, sess *client.Session) (Lists, error) {
	l := Lists{Cache: map[string]client.Cache{}}
	caps := sess.Capabilities()
	for _, list := range []struct {
		offered bool
		method  string
		key     string
		into    *[]json.RawMessage
	}{
		{caps.Tools, "tools/list", "tools", &l.Tools},
		{caps.Prompts, "prompts/list", "prompts", &l.Prompts},
		{caps.Resources, "resources/list", "resources", &l.Resources},
		{caps.Resources, "resources/templates/list", "resourceTemplates", &l.Templates},
	} {
		if !list.offered {
			continue
		}
		items, cache, err := sess.ListKept(ctx, list.method, list.key)
		if err != nil {
			return l, err
		}
		*list.into, l.Cache[list.method] = items, cache
	}
	return l, nil
}

// refreshLists fetches every list again after the server said one changed.
func (u *Upstream) refreshLists(sess *client.Session) {
	ctx, cancel := context.WithTimeout(u.lifetime, u.opts.ConnectTimeout)
	defer cancel()
	lists, err := listAll(ctx, sess)
	if err != nil {
		u.log.Warn("refreshing lists failed", "err", err)
		u.checkLogin(sess, err)
		return
	}
	u.mu.Lock()
	if u.session != sess {
		u.mu.Unlock()
		return
	}
	u.lists = lists
	u.mu.Unlock()
	u.events.upstreamListChanged(u, lists)
}

// Close ends the session (DELETE on streamable HTTP) and stops reconnecting.
func (u *Upstream) Close() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.closed = true
	sess := u.session
	u.session = nil
	u.mu.Unlock()
	u.stop()
	if sess != nil {
		sess.Close()
	}
	<-u.done
	u.log.Debug("closed")
}

// headers are the remote's headers from server.json, valued from the config
// (servers.<id>.headers, with ${ENV} expanded), the definition's value or
// its default. A required header without a value is an error that says
// where to set it.
func (u *Upstream) headers(remote catalog.Remote) (map[string]string, error) {
	out := map[string]string{}
	set := u.opts.Headers[u.server.ID]
	for _, h := range remote.Headers {
		v, ok := set[h.Name]
		switch {
		case ok:
			v = os.ExpandEnv(v)
		case h.Value != "" && !strings.Contains(h.Value, "{"):
			v = h.Value
		case h.Default != "":
			v = h.Default
		}
		if v == "" {
			if h.IsRequired {
				return nil, fmt.Errorf("header %s is required: set servers.%s.headers.%s in the config", h.Name, u.server.ID, h.Name)
			}
			continue
		}
		out[h.Name] = v
	}
	for name, v := range set {
		if _, ok := out[name]; !ok {
			out[name] = os.ExpandEnv(v)
		}
	}
	// A configured header, or one the definition calls secret, is a
	// credential: never in clear to another machine.
	if catalog.InClear(remote.URL) {
		for _, h := range remote.Headers {
			if _, configured := set[h.Name]; (configured || h.IsSecret) && out[h.Name] != "" {
				return nil, fmt.Errorf("header %s would travel in clear: %s is plain http to another machine; the remote must be https", h.Name, remote.URL)
			}
		}
		for name := range set {
			if out[name] != "" {
				return nil, fmt.Errorf("header %s would travel in clear: %s is plain http to another machine; the remote must be https", name, remote.URL)
			}
		}
	}
	return out, nil
}
