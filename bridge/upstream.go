package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// UpstreamProtocolVersion is the protocol the bridge asks remotes for: the
// last one with an initialize handshake. It accepts any it speaks itself
// (protocolVersions).
const UpstreamProtocolVersion = "2025-11-25"

// Errors of an upstream.
var (
	// ErrDown means the upstream is not connected; calls fail at once.
	ErrDown = errors.New("not connected")
	// ErrClosed means the bridge is shutting down.
	ErrClosed = errors.New("bridge shutting down")

	errConnLost = errors.New("connection lost")
)

// RPCError is a JSON-RPC error an upstream answered with; the bridge passes
// its code, message and data on unchanged.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Lists are what an upstream offers, as the raw JSON objects it sent.
type Lists struct {
	Tools, Prompts, Resources, Templates []json.RawMessage
}

// upstreamEvents are how an upstream tells the bridge what happened.
type upstreamEvents interface {
	// upstreamReady reports a (re)connected upstream and its lists.
	upstreamReady(u *Upstream, l Lists)
	// upstreamListChanged reports a new list of one kind.
	upstreamListChanged(u *Upstream, l Lists)
	// upstreamNotification passes on a notification for the agent
	// (resources/updated).
	upstreamNotification(u *Upstream, method string, params json.RawMessage)
	// upstreamNeedsLogin reports a server that cannot connect until the
	// user logs in.
	upstreamNeedsLogin(u *Upstream)
}

// Upstream is the connection to one remote MCP server. It connects in the
// background, reconnects with backoff when the connection is lost, and
// re-initializes when the server forgets the session.
type Upstream struct {
	server *catalog.Server
	log    *slog.Logger
	events upstreamEvents
	opts   Options

	ready     chan struct{} // closed once the first connection attempt ends
	readyOnce sync.Once
	nextID    atomic.Int64
	progress  sync.Map // upstream progress token (string) → func(json.RawMessage)

	mu        sync.Mutex
	conn      *conn
	lastErr   error
	lists     Lists
	closed    bool
	lifetime  context.Context
	stop      context.CancelFunc
	reconnect chan struct{} // wakes the connect loop
	done      chan struct{} // closed when the connect loop has ended
}

// conn is one initialized connection of an upstream.
type conn struct {
	w     wire
	kind  string // catalog.RemoteStreamableHTTP or catalog.RemoteSSE
	url   string
	authz atomic.Value // string: the Authorization header, "" for none
	// forbidden is the WWW-Authenticate of the latest 403 ([]string), for
	// the Authorizer to read an insufficient_scope challenge from.
	forbidden atomic.Value
	ctx       context.Context
	cancel    context.CancelCauseFunc
	caps      struct{ tools, prompts, resources bool }
	// initMu makes concurrent calls that find the session expired
	// re-initialize it once.
	initMu  sync.Mutex
	initGen int
}

func newUpstream(s *catalog.Server, opts Options, events upstreamEvents, log *slog.Logger) *Upstream {
	ctx, stop := context.WithCancel(context.Background())
	return &Upstream{
		server: s, opts: opts, events: events, log: log.With("server", s.ID),
		ready: make(chan struct{}), lifetime: ctx, stop: stop,
		reconnect: make(chan struct{}, 1), done: make(chan struct{}),
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

// Err is why the upstream is not connected, or nil when it is.
func (u *Upstream) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
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
	attempt := 0
	for {
		c, lists, err := u.connect(u.lifetime)
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			if c != nil {
				c.close()
			}
			return
		}
		if err == nil {
			u.conn, u.lastErr, u.lists = c, nil, lists
			attempt = 0
		} else {
			u.lastErr = err
		}
		u.mu.Unlock()
		if err == nil {
			u.log.Info("connected", "transport", c.kind, "tools", len(lists.Tools))
			u.events.upstreamReady(u, lists)
		} else {
			u.log.Warn("cannot connect", "err", err)
			if u.opts.Auth != nil && u.opts.Auth.NeedsLogin(err) {
				u.events.upstreamNeedsLogin(u)
			}
		}
		u.readyOnce.Do(func() { close(u.ready) })

		if err == nil {
			// Wait until the connection is lost.
			select {
			case <-c.ctx.Done():
			case <-u.lifetime.Done():
				return
			}
			u.log.Warn("connection lost", "err", context.Cause(c.ctx))
		}
		delay := backoff(attempt, u.opts.ReconnectMin, u.opts.ReconnectMax)
		attempt++
		select {
		case <-time.After(delay):
		case <-u.reconnect:
		case <-u.lifetime.Done():
			return
		}
	}
}

// backoff is the wait before reconnect attempt n: doubling from min, capped
// at max, with ±20% jitter so that many bridges do not retry in step.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for range n {
		d *= 2
		if d >= max {
			d = max
			break
		}
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// connect opens, initializes and lists one connection: streamable HTTP when
// the definition has it, SSE when it has only that or when streamable HTTP is
// refused with the signs of an SSE-only server.
func (u *Upstream) connect(ctx context.Context) (*conn, Lists, error) {
	remote, ok := u.server.Transport()
	if !ok {
		return nil, Lists{}, errors.New("no remote to connect to")
	}
	headers, err := u.headers(remote)
	if err != nil {
		return nil, Lists{}, err
	}
	c, lists, err := u.connectTo(ctx, remote, headers)
	if fb, ok := u.server.Fallback(); ok && errors.Is(err, errLegacySSE) {
		u.log.Info("streamable HTTP refused; trying SSE", "url", fb.URL)
		headers, herr := u.headers(fb)
		if herr != nil {
			return nil, Lists{}, herr
		}
		c, lists, err = u.connectTo(ctx, fb, headers)
	}
	return c, lists, err
}

func (u *Upstream) connectTo(ctx context.Context, remote catalog.Remote, headers map[string]string) (*conn, Lists, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	c := &conn{kind: remote.Type, url: remote.URL, ctx: cctx, cancel: cancel}
	c.authz.Store("")
	if u.opts.Auth != nil {
		h, err := u.opts.Auth.Authorization(ctx, u.server, remote.URL)
		if err != nil {
			cancel(err)
			return nil, Lists{}, err
		}
		c.authz.Store(h)
	}
	client := &http.Client{Transport: &forbiddenRecorder{next: u.opts.HTTPClient.Transport, c: c}, CheckRedirect: u.opts.HTTPClient.CheckRedirect}
	headerFunc := func(context.Context) map[string]string {
		h := headers
		if a := c.authz.Load().(string); a != "" {
			h = make(map[string]string, len(headers)+1)
			maps.Copy(h, headers)
			h["Authorization"] = a
		}
		return h
	}
	l := link{client: client, headers: headerFunc, log: u.log, notify: u.notified, life: cctx}
	switch remote.Type {
	case catalog.RemoteSSE:
		c.w = &legacySSE{link: l, url: remote.URL, lost: func(err error) { c.cancel(fmt.Errorf("SSE stream ended: %w", err)) }}
	default:
		c.w = &streamable{link: l, url: remote.URL}
	}
	startCtx, stop := context.WithTimeout(cctx, u.opts.ConnectTimeout)
	defer stop()
	err := u.start(startCtx, c)
	if retry, aerr := u.reauthorize(startCtx, c, err, c.authz.Load().(string)); retry {
		err = u.start(startCtx, c)
	} else if aerr != nil {
		err = aerr
	}
	if err != nil {
		c.close()
		return nil, Lists{}, fmt.Errorf("%s %s: %w", remote.Type, remote.URL, err)
	}
	lists, err := c.listAll(startCtx, u)
	if err != nil {
		c.close()
		return nil, Lists{}, fmt.Errorf("%s %s: %w", remote.Type, remote.URL, err)
	}
	return c, lists, nil
}

// start opens the connection and initializes. An SSE stream lives on
// c.ctx: opened with the short start context it would end with it.
func (u *Upstream) start(ctx context.Context, c *conn) error {
	if err := c.w.open(ctx); err != nil {
		return err
	}
	return u.initialize(ctx, c)
}

func (u *Upstream) initialize(ctx context.Context, c *conn) error {
	params := map[string]any{
		"protocolVersion": UpstreamProtocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "mcp-bridge", "version": u.opts.Version},
	}
	raw, _ := json.Marshal(params)
	res, err := c.w.call(ctx, u.nextID.Add(1), "initialize", raw)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var result struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			Tools     json.RawMessage `json:"tools"`
			Prompts   json.RawMessage `json:"prompts"`
			Resources json.RawMessage `json:"resources"`
		} `json:"capabilities"`
	}
	if err := json.Unmarshal(res, &result); err != nil {
		return fmt.Errorf("initialize: the answer is not an initialize result: %w", err)
	}
	if !slices.Contains(protocolVersions, result.ProtocolVersion) {
		return fmt.Errorf("initialize: the server speaks protocol %q, which this bridge does not", result.ProtocolVersion)
	}
	c.caps.tools = len(result.Capabilities.Tools) > 0
	c.caps.prompts = len(result.Capabilities.Prompts) > 0
	c.caps.resources = len(result.Capabilities.Resources) > 0
	c.w.initialized(result.ProtocolVersion)
	if err := c.w.notify(ctx, "notifications/initialized", nil); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	return nil
}

// maxListPages bounds the pages of one list, against a server whose
// cursors never end.
const maxListPages = 100

// listAll fetches every list the server's capabilities offer.
func (c *conn) listAll(ctx context.Context, u *Upstream) (Lists, error) {
	var l Lists
	var err error
	if c.caps.tools {
		if l.Tools, err = u.list(ctx, c, "tools/list", "tools"); err != nil {
			return l, err
		}
	}
	if c.caps.prompts {
		if l.Prompts, err = u.list(ctx, c, "prompts/list", "prompts"); err != nil {
			return l, err
		}
	}
	if c.caps.resources {
		if l.Resources, err = u.list(ctx, c, "resources/list", "resources"); err != nil {
			return l, err
		}
		if l.Templates, err = u.list(ctx, c, "resources/templates/list", "resourceTemplates"); err != nil {
			return l, err
		}
	}
	return l, nil
}

// list follows a list method's pages and keeps each item's raw JSON.
func (u *Upstream) list(ctx context.Context, c *conn, method, key string) ([]json.RawMessage, error) {
	var items []json.RawMessage
	cursor := ""
	for range maxListPages {
		params := json.RawMessage(`{}`)
		if cursor != "" {
			params, _ = json.Marshal(map[string]string{"cursor": cursor})
		}
		raw, err := u.callOn(ctx, c, method, params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		// The answer is valid JSON (answerFor checked): walk it, no decoding.
		list, ok, err := rawjson.Lookup(raw, key)
		if err != nil {
			return nil, fmt.Errorf("%s: the answer is not a list: %w", method, err)
		}
		if ok && string(list) != "null" {
			pageItems, err := rawjson.Elements(list)
			if err != nil {
				return nil, fmt.Errorf("%s: %s is not a list: %w", method, key, err)
			}
			items = append(items, pageItems...)
		}
		cursor, _ = rawjson.LookupString(raw, "nextCursor")
		if cursor == "" {
			return items, nil
		}
	}
	return nil, fmt.Errorf("%s: more than %d pages", method, maxListPages)
}

// Close ends the session (DELETE on streamable HTTP) and stops reconnecting.
func (u *Upstream) Close() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.closed = true
	c := u.conn
	u.conn = nil
	u.mu.Unlock()
	u.stop()
	if c != nil {
		c.close()
	}
	<-u.done
	u.log.Debug("closed")
}

func (c *conn) close() {
	c.cancel(ErrClosed)
	c.w.close()
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
	return out, nil
}

// forbiddenRecorder keeps the challenge of any 403 on the connection, of a
// call or of its streams, so that an insufficient_scope can be told to the
// user.
type forbiddenRecorder struct {
	next http.RoundTripper
	c    *conn
}

func (f *forbiddenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := f.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(req)
	if err == nil && res.StatusCode == http.StatusForbidden {
		f.c.forbidden.Store(res.Header.Values("WWW-Authenticate"))
	}
	return res, err
}

// httpClient is the client for upstreams: no overall timeout, which would
// cut long SSE answers; the bridge bounds each call itself.
func httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, CheckRedirect: sameOriginAuth}
}

// sameOriginAuth follows redirects but never carries the Authorization
// header to another origin than the first request's: a token goes only
// where it was issued for.
func sameOriginAuth(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != via[0].URL.Scheme || !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}
