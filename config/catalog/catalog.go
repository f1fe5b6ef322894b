// Package catalog owns the Software Catalog as the bridge reads it: its
// sources (local files of multi-document YAML, a Backstage portal's
// catalog API with a disk cache for offline use), the API entities of type
// mcp-server parsed and validated into [Server] values, and which of them
// the user enabled.
//
// An invalid entity is kept with the reasons it cannot be used, so that a
// broken entry never hides the others.
package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/state"
)

// Catalog is what the catalog sources offer, read once.
type Catalog struct {
	// Servers are every mcp-server entity, available or not, in source order.
	Servers []*Server
	// Problems are documents that could not become a Server at all.
	Problems []Problem
	// Sources say how each source's read went.
	Sources []SourceStatus
}

// SourceStatus is the outcome of reading one catalog source.
type SourceStatus struct {
	Name    string // the file entry, or the portal URL
	Kind    string // "file" or "portal"
	Servers int    // mcp-server entities read from it
	// Err is why nothing could be read from this source.
	Err error
	// CachedAt is when the entities were fetched, when they came from the
	// cache because the portal could not be read (Stale says why).
	CachedAt time.Time
	Stale    error
	// Warnings are problems that did not stop the read.
	Warnings []string
}

// Options adjust how LoadCatalog reads.
type Options struct {
	// Files, when set, replace every configured source: one-off use of a
	// catalog file (--catalog).
	Files []string
	// HTTPClient talks to the portal; nil means a default client.
	HTTPClient *http.Client
	// StateDir holds the portal cache; empty means state.Dir().
	StateDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PreferCache reads a portal from its cache when there is one, and
	// refreshes the cache in the background.
	PreferCache bool
	// PortalLogin gives the user's portal login token ("" for none); the
	// token in portal.token_env is the fallback.
	PortalLogin func(ctx context.Context) string
	// Log hears how Follow's reads in the background go; nil hears nothing.
	Log *slog.Logger
}

// ErrNoCatalog means no catalog source is configured.
var ErrNoCatalog = errors.New("no catalog configured")

// ErrNotRead marks a portal that has not been read yet: Follow reads it in
// the background.
var ErrNotRead = errors.New("not read yet")

// ErrUnknownServer marks a name that matches no server in the catalog.
var ErrUnknownServer = errors.New("unknown server")

// BuiltinActionsID is the ID of the portal's own actions server, which the
// portal registers by itself and the bridge therefore offers whenever a
// portal is configured.
const BuiltinActionsID = "mcp-actions"

type source interface {
	name() string
	kind() string
	read(ctx context.Context) (readResult, error)
}

type readResult struct {
	docs     []document
	cachedAt time.Time
	stale    error
	warnings []string
}

// Load reads every source of cfg in parallel. A source that fails is
// reported in Sources and costs only its own entities; the only error is
// ErrNoCatalog.
func Load(ctx context.Context, cfg *config.Config, opts Options) (*Catalog, error) {
	sources, err := sources(cfg, opts)
	if err != nil {
		return nil, err
	}
	reads := make([]sourceRead, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() { reads[i].res, reads[i].err = s.read(ctx) })
	}
	wg.Wait()
	return assemble(cfg, opts, sources, reads), nil
}

// sourceRead is how the read of one source went.
type sourceRead struct {
	res readResult
	err error
}

// assemble makes the catalog of the sources' reads: their entities parsed,
// duplicates marked, the portal's actions server offered.
func assemble(cfg *config.Config, opts Options, sources []source, reads []sourceRead) *Catalog {
	c := &Catalog{}
	for i, s := range sources {
		r := reads[i]
		st := SourceStatus{Name: s.name(), Kind: s.kind(), Err: r.err,
			CachedAt: r.res.cachedAt, Stale: r.res.stale, Warnings: r.res.warnings}
		for _, doc := range r.res.docs {
			srv, problem := parseEntity(doc)
			if problem != nil {
				c.Problems = append(c.Problems, *problem)
			}
			if srv != nil {
				c.Servers = append(c.Servers, srv)
				st.Servers++
			}
		}
		c.Sources = append(c.Sources, st)
	}
	c.markDuplicates()
	if cfg.Portal.URL != "" && len(opts.Files) == 0 {
		c.addBuiltinActions(portalBase(cfg.Portal.URL))
	}
	return c
}

func sources(c *config.Config, opts Options) ([]source, error) {
	if len(opts.Files) > 0 {
		var out []source
		for _, f := range opts.Files {
			out = append(out, fileSource{entry: f, path: f})
		}
		return out, nil
	}
	var out []source
	for _, f := range c.Catalog.Files {
		out = append(out, fileSource{entry: f, path: c.Resolve(f)})
	}
	if c.Portal.URL != "" {
		p, err := newPortalSource(c, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: set catalog.files or portal.url in %s, or pass --catalog FILE", ErrNoCatalog, c.Path())
	}
	return out, nil
}

func newPortalSource(c *config.Config, opts Options) (*portalSource, error) {
	timeout := time.Duration(c.Portal.Timeout)
	if timeout == 0 {
		timeout = DefaultPortalTimeout
	}
	client := SafeClient(opts.HTTPClient, 0)
	dir := opts.StateDir
	if dir == "" {
		d, err := state.Dir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &portalSource{
		url:      portalBase(c.Portal.URL),
		tokenEnv: c.Portal.TokenEnv,
		timeout:  timeout,
		client:   client,
		cache:    snapshotCache{dir: dir, now: now},

		preferCache: opts.PreferCache,
		login:       opts.PortalLogin,
	}, nil
}

// markDuplicates reports an entity that more than one source (or one source
// twice) defines: the first one read is used, the others are listed as
// unavailable, and the one used carries a warning naming them.
func (c *Catalog) markDuplicates() {
	first := map[string]*Server{}
	for _, s := range c.Servers {
		key := strings.ToLower(s.Ref())
		f, ok := first[key]
		if !ok {
			first[key] = s
			continue
		}
		s.DuplicateOf = f.Source
		s.Reasons = append([]string{fmt.Sprintf("duplicate: %s is also defined at %s, which is used; remove one", s.Ref(), f.Source)}, s.Reasons...)
		f.Warnings = append(f.Warnings, fmt.Sprintf("%s is defined again at %s (ignored)", f.Ref(), s.Source))
	}
}

// addBuiltinActions offers the portal's actions server unless the catalog
// already has an entity for it.
func (c *Catalog) addBuiltinActions(portal string) {
	endpoint := portal + "/api/mcp-actions/v1"
	for _, s := range c.Servers {
		if s.ID == BuiltinActionsID {
			return
		}
		for _, r := range s.Definition.Remotes {
			if strings.TrimRight(r.URL, "/") == endpoint {
				return
			}
		}
	}
	c.Servers = append(c.Servers, &Server{
		ID:          BuiltinActionsID,
		Namespace:   "default",
		Name:        BuiltinActionsID,
		Title:       "Portal actions",
		Description: "The portal's own actions (catalog, scaffolder, …) over MCP.",
		Lifecycle:   "production",
		Shape:       ShapeBuiltin,
		Source:      portal + " (built in)",
		Definition: Definition{
			Name:        BuiltinActionsID,
			Description: "The portal's own actions over MCP.",
			Remotes:     []Remote{{Type: RemoteStreamableHTTP, URL: endpoint}},
		},
		Auth: Auth{Method: AuthPlugin, PluginID: "mcp-actions"},
	})
}

const (
	// SkipMissing: the catalog has no server of that ID.
	SkipMissing SkipReason = "missing"
	// SkipUnavailable: the server is in the catalog but cannot be used
	// (Server.Reasons say why).
	SkipUnavailable SkipReason = "unavailable"
	// SkipUnread: the server is not in what was read, but the portal could
	// not be read (or is still being read), so it may yet be there.
	SkipUnread SkipReason = "unread"
)

// SkipReason is why an enabled server is left out.
type SkipReason string

// Skipped is an enabled server that is not served.
type Skipped struct {
	ID     string
	Reason SkipReason
	// Server is the catalog's entry, nil unless Reason is SkipUnavailable.
	Server *Server
	// Source and Err name the portal that could not be read and why, when
	// Reason is SkipUnread.
	Source string
	Err    error
}

// String says what is wrong, for a log line or a doctor's finding.
func (s Skipped) String() string {
	switch {
	case s.Reason == SkipMissing:
		return s.ID + " is enabled but not in the catalog"
	case s.Reason == SkipUnread && errors.Is(s.Err, ErrNotRead):
		return fmt.Sprintf("%s is enabled, but the catalog is not read yet: reading %s in the background", s.ID, s.Source)
	case s.Reason == SkipUnread:
		return fmt.Sprintf("%s is enabled, but the catalog is not read yet: %v", s.ID, s.Err)
	}
	return fmt.Sprintf("%s is enabled but unavailable: %s", s.ID, strings.Join(s.Server.Reasons, "; "))
}

// Enabled returns the enabled servers that are available, and each enabled
// one that is not, with the reason. An enabled server the catalog lacks
// while its portal could not be read, or stands on its cache, is
// SkipUnread, not missing: the portal may have it. (A catalog file that
// is missing is the config's to fix, and its servers are missing.)
func (c *Catalog) Enabled(cfg *config.Config) (servers []*Server, skipped []Skipped) {
	var unread *Skipped
	for _, st := range c.Sources {
		if err := cmp.Or(st.Err, st.Stale); err != nil && st.Kind == "portal" {
			unread = &Skipped{Reason: SkipUnread, Source: st.Name, Err: err}
			break
		}
	}
	for _, id := range cfg.Enabled {
		var found *Server
		for _, s := range c.Servers {
			if s.ID == id && s.DuplicateOf == "" {
				found = s
				break
			}
		}
		switch {
		case found == nil && unread != nil:
			sk := *unread
			sk.ID = id
			skipped = append(skipped, sk)
		case found == nil:
			skipped = append(skipped, Skipped{ID: id, Reason: SkipMissing})
		case !found.Available():
			skipped = append(skipped, Skipped{ID: id, Reason: SkipUnavailable, Server: found})
		default:
			servers = append(servers, found)
		}
	}
	return servers, skipped
}
