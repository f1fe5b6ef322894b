package bridge

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// Options tune a Bridge. Zero values take the defaults.
type Options struct {
	// Version is the bridge's version, told to upstreams and the agent.
	Version string
	// HTTPClient talks to upstreams.
	HTTPClient *http.Client
	// ConnectTimeout bounds connecting, initializing and listing (10 s).
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts
	// (250 ms, 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// StartupWait is how long the first tools/list waits for upstreams that
	// are still connecting (3 s).
	StartupWait time.Duration
	// KeptHold is how long servers whose lists were served from the cache
	// wait to connect for the agent's first answer from them (250 ms).
	KeptHold time.Duration
	// CallTimeout bounds a call with no progress for that long (5 min).
	CallTimeout time.Duration
	// MaxMessageSize bounds one message, from the agent or from a server,
	// in bytes (32 MiB).
	MaxMessageSize int64
	// MaxNameLength caps exposed names (64).
	MaxNameLength int
	// Clients fit names and the tool surface to the agent (clients.go).
	Clients ClientOptions
	// ServerIDs are every server that may be served (the enabled set), so
	// that a server's prefix is the same whichever of them are served and
	// whenever each arrives (SetServers). The servers given to New are
	// added to them.
	ServerIDs []string
	// Prefixes override servers' prefixes; an empty string is allowed.
	Prefixes map[string]*string
	// Headers give values for remotes' headers, by server ID.
	Headers map[string]map[string]string
	// Policies say which tools of each server may be exposed.
	Policies map[string]Policy
	// Pins catch tools redefined since they were trusted; nil pins nothing.
	Pins *Pins
	// Eras remember which protocol era each server speaks; nil remembers
	// nothing, and every start probes.
	Eras *Eras
	// Lists keep each server's lists as last verified, and serve them
	// while the server connects; nil keeps none.
	Lists *ListCache
	// MaxDescriptionLength caps descriptions (2048).
	MaxDescriptionLength int
	// Audit logs every tool call; nil logs nothing.
	Audit *Audit
	// Auth gives the Authorization header for each server's remote; nil
	// sends none.
	Auth Authorizer
	// Login runs a login for a server that needs one, when the agent calls
	// its <prefix>__login tool; nil offers no such tool.
	Login LoginFunc
	// Unattended says which servers' logins need no person (the
	// client-credentials grant): for those the bridge runs Login itself
	// when the server needs a login, and offers the login tool only when
	// that fails.
	Unattended func(serverID string) bool
	// Logger receives the bridge's logs; never stdout.
	Logger *slog.Logger
	// ServersLater says that the bridge's servers come with its first
	// SetServers, not with New: until then nothing waits on an empty set
	// (serve, which reads its catalog once the agent's first lists are
	// answered ahead, see First).
	ServersLater bool
	// First answers the agent's first lists as the last run left the
	// state folder, ahead of the catalog and the servers (firstlists.go);
	// nil answers none so.
	First *FirstLists
}

// Authorizer decides which token goes with a server's requests. The bridge
// asks it for every request, so a renewed token goes at once, and again
// when a remote answers 401.
type Authorizer interface {
	// Authorization is the header value, "" for none; an error means the
	// server cannot be used until the user acts (logs in, fixes a setting).
	Authorization(ctx context.Context, s *catalog.Server, remoteURL string) (string, error)
	// Rejected is told that header was refused with 401, and the 401's
	// WWW-Authenticate challenge; it returns a new header (a refreshed
	// token) or an error, once, never a loop.
	Rejected(ctx context.Context, s *catalog.Server, remoteURL, header string, challenge []string) (string, error)
	// NeedsLogin tells the errors that a login would cure.
	NeedsLogin(err error) bool
	// NeedsStepUp tells the errors, of Forbidden, that a new login asking
	// for more scope may cure; past its bound, none is.
	NeedsStepUp(err error) bool
	// Forbidden is told of a 403 and its WWW-Authenticate; it returns the
	// error to report, which says what to do when the challenge asks for
	// more scope, or nil when the 403 is not about the token.
	Forbidden(ctx context.Context, s *catalog.Server, remoteURL string, challenge []string) error
}

// LoginFunc logs the user in to a server, calling show with the URL the
// user must visit; show reports whether the agent showed it, so that the
// login need not open a browser. It returns once the token is stored.
type LoginFunc func(ctx context.Context, s *catalog.Server, show func(url string) (shown bool)) error

// Defaults for Options.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultStartupWait    = 3 * time.Second
	DefaultCallTimeout    = 5 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		o.HTTPClient = client.NewHTTPClient()
		o.HTTPClient.CheckRedirect = catalog.SafeRedirects
	} else {
		o.HTTPClient = catalog.SafeClient(o.HTTPClient, 0)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 250 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	if o.StartupWait < 0 {
		o.StartupWait = 0
	} else if o.StartupWait == 0 {
		o.StartupWait = DefaultStartupWait
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.KeptHold <= 0 {
		o.KeptHold = 250 * time.Millisecond
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = client.DefaultMaxMessageSize
	}
	if o.MaxNameLength <= 0 {
		o.MaxNameLength = DefaultMaxNameLength
	}
	if o.Clients.MaxNameLength <= 0 {
		o.Clients.MaxNameLength = o.MaxNameLength
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Eras != nil {
		o.Eras.log = o.Logger
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	return o
}

// Bridge is the set of upstreams and their merged registry. The set may

// ConfigOptions are the Options the config file sets for these servers,
// with pins kept in stateDir (none when it is empty).
func ConfigOptions(cfg *config.Config, servers []*catalog.Server, stateDir string) Options {
	o := Options{
		StartupWait:          time.Duration(cfg.Serve.StartupWait),
		CallTimeout:          time.Duration(cfg.Serve.CallTimeout),
		MaxMessageSize:       int64(cfg.Serve.MaxMessageMB) << 20,
		MaxNameLength:        cfg.MaxNameLength,
		Clients:              ClientOptionsFor(cfg),
		MaxDescriptionLength: cfg.MaxDescriptionLength,
		Prefixes:             map[string]*string{},
		Headers:              map[string]map[string]string{},
		Policies:             map[string]Policy{},
		Pins:                 NewPins(stateDir),
		Eras:                 NewEras(stateDir),
		ServerIDs:            slices.Clone(cfg.Enabled),
	}
	for id, sc := range cfg.Servers {
		o.Prefixes[id] = sc.Prefix
		o.Headers[id] = sc.Headers
	}
	// Every enabled server's policy, for servers that arrive later too.
	for _, id := range cfg.Enabled {
		o.Policies[id] = PolicyFor(cfg, id)
	}
	for _, s := range servers {
		o.Policies[s.ID] = PolicyFor(cfg, s.ID)
	}
	return o
}
