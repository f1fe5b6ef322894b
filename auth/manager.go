package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// ErrNeedsLogin means a server needs the user to log in before it can be
// used; the message says how.
var ErrNeedsLogin = errors.New("needs login")

// ErrRefused means the bridge will not send a token where it was asked to.
var ErrRefused = errors.New("token refused")

// PortalID is the key the portal's own token is kept under.
const PortalID = catalog.PortalID

// Manager decides which token goes with a request to a server's remote,
// and keeps tokens fresh. It caches tokens in memory so that requests do
// not wait on the keychain.
type Manager struct {
	Tokens *Tokens
	// Portal is the portal's base URL, "" when none is configured.
	Portal string
	// PortalTokenEnv names an environment variable with a static portal
	// token, used when no portal login is stored.
	PortalTokenEnv string
	// Refresher renews an expired token; nil means tokens are not renewed.
	// Its errors say what failed as Refresh's do: ErrGrantRevoked for a
	// refused grant (a login cures it), ErrTransient for a failing or
	// unreachable authorization server (tried again a few times, then
	// reported without touching the stored token).
	Refresher func(ctx context.Context, t *Token) (*Token, error)
	// Locks keep two processes from renewing one token at once.
	Locks state.Locks
	// Scopes remember what servers asked for with insufficient_scope.
	Scopes *Scopes
	// Challenges remember what servers' 401s said.
	Challenges *Challenges
	Now        func() time.Time
	// Log hears what goes wrong without failing a request; nil is silent.
	Log *slog.Logger

	mu    sync.Mutex
	cache map[string]*Token
}

// Authorization is the Authorization header for a request to remoteURL of
// server s: "" when the server needs none, "Bearer …" when it has a token,
// ErrNeedsLogin when it needs one it does not have (or its grant was
// refused), ErrTransient when the token needs renewing and the
// authorization server is failing, ErrRefused when the remote is not where
// the token may go.
func (m *Manager) Authorization(ctx context.Context, s *catalog.Server, remoteURL string) (string, error) {
	origin, err := Origin(remoteURL)
	if err != nil {
		return "", err
	}
	switch s.Auth.Method {
	case catalog.AuthPlugin:
		if err := m.pluginAllowed(s, remoteURL); err != nil {
			return "", err
		}
		if catalog.InClear(remoteURL) {
			return "", clearError(s, remoteURL)
		}
		return m.portalAuthorization(ctx)
	case catalog.AuthProvider:
		if catalog.InClear(remoteURL) {
			return "", clearError(s, remoteURL)
		}
		t, err := m.token(ctx, s.ID, origin)
		switch {
		case errors.Is(err, ErrNoToken):
			return "", fmt.Errorf("%s: %w: run \"bridge login %s\"", s.ID, ErrNeedsLogin, s.ID)
		case errors.Is(err, ErrNeedsLogin):
			return "", fmt.Errorf("%s: %w; run \"bridge login %s\"", s.ID, err, s.ID)
		case errors.Is(err, ErrTransient):
			return "", transientError(s.ID, err)
		case err != nil:
			return "", err
		}
		return bearer(t), nil
	}
	// No annotation: no token, and no keychain call, so that servers that
	// need none start at once. One that has answered 401 (now or in an
	// earlier run) gets the token a login through its own authorization
	// stored; without one it goes without, and its 401 is put to Rejected,
	// which says what to do.
	if _, asked := m.Challenges.Last(s.ID); asked && !catalog.InClear(remoteURL) {
		if t, err := m.token(ctx, s.ID, origin); err == nil {
			return bearer(t), nil
		}
	}
	return "", nil
}

// Rejected is called when a remote answered 401 to a request that carried
// header, with challenge its WWW-Authenticate. It refreshes the token once
// and returns the new header, or ErrNeedsLogin, never a loop; or
// ErrTransient when the authorization server is failing, which keeps the
// login. The challenge of a server with no auth annotation is kept, for
// its next login.
func (m *Manager) Rejected(ctx context.Context, s *catalog.Server, remoteURL, header string, challenge []string) (string, error) {
	origin, err := Origin(remoteURL)
	if err != nil {
		return "", err
	}
	if catalog.InClear(remoteURL) {
		return "", clearError(s, remoteURL)
	}
	if s.Auth.Method == catalog.AuthNone {
		if err := m.Challenges.Record(ctx, s.ID, ParseChallenge(challenge)); err != nil && m.Log != nil {
			m.Log.Warn("the server's challenge could not be kept for its next login", "server", s.ID, "err", err)
		}
	}
	id := s.ID
	if s.Auth.Method == catalog.AuthPlugin {
		id, origin = PortalID, mustOrigin(m.Portal)
	}
	m.forget(id, origin)
	t, err := m.token(ctx, id, origin)
	if err == nil && bearer(t) != header {
		return bearer(t), nil // another process renewed it meanwhile
	}
	if err == nil && t.RefreshToken != "" && m.Refresher != nil {
		nt, rerr := m.renew(ctx, id, origin, t)
		if rerr == nil {
			m.remember(id, origin, nt)
			return bearer(nt), nil
		}
		err = fmt.Errorf("renewing the token: %w", rerr)
	}
	// A renewal that could not reach the authorization server says so: the
	// login is good, and a new one would not help.
	switch {
	case errors.Is(err, ErrTransient):
		return "", transientError(s.ID, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "", fmt.Errorf("%s: %w", s.ID, err)
	}
	if s.Auth.Method == catalog.AuthPlugin && header == "Bearer "+os.Getenv(m.PortalTokenEnv) && m.PortalTokenEnv != "" {
		return "", fmt.Errorf("%s: %w: refused by the portal: the token in $%s (it may be wrong or expired); set a valid one, or run \"bridge login %s\"", s.ID, ErrNeedsLogin, m.PortalTokenEnv, PortalID)
	}
	login := s.ID
	if s.Auth.Method == catalog.AuthPlugin {
		login = PortalID
	}
	if err != nil && !errors.Is(err, ErrNoToken) {
		return "", fmt.Errorf("%s: %w (%v): run \"bridge login %s\"", s.ID, ErrNeedsLogin, err, login)
	}
	if header == "" {
		return "", fmt.Errorf("%s: %w: the server asks for authorization; run \"bridge login %s\"", s.ID, ErrNeedsLogin, login)
	}
	if s.Auth.Method == catalog.AuthPlugin {
		return "", fmt.Errorf("%s: %w: refused by the portal: your portal login; run \"bridge login %s\"", s.ID, ErrNeedsLogin, PortalID)
	}
	return "", fmt.Errorf("%s: %w: the server refused the token; run \"bridge login %s\"", s.ID, ErrNeedsLogin, login)
}

// transientError says that a token could not be renewed for now, and that
// nothing needs doing: the stored login stays, and the next request tries
// again.
func transientError(id string, err error) error {
	return fmt.Errorf("%s: %w; the login is kept, and the bridge will try again", id, err)
}

// clearError refuses a token to a remote it would reach in clear.
func clearError(s *catalog.Server, remoteURL string) error {
	return fmt.Errorf("%s: %w: %s is plain http to another machine, and the token would travel in clear; the remote must be https", s.ID, ErrRefused, remoteURL)
}

// NeedsLogin tells the errors that a login would cure.
func (m *Manager) NeedsLogin(err error) bool { return errors.Is(err, ErrNeedsLogin) }

// pluginAllowed enforces where a portal token may go: only to the portal's
// own origin, under /api/<plugin id>/.
func (m *Manager) pluginAllowed(s *catalog.Server, remoteURL string) error {
	if m.Portal == "" {
		return fmt.Errorf("%s: %w: it uses the portal's auth (plugin %s) and no portal is configured; set portal.url", s.ID, ErrRefused, s.Auth.PluginID)
	}
	portal, err := Origin(m.Portal)
	if err != nil {
		return err
	}
	origin, _ := Origin(remoteURL)
	u, _ := url.Parse(remoteURL)
	prefix := "/api/" + s.Auth.PluginID + "/"
	base, _ := url.Parse(m.Portal)
	if base != nil && base.Path != "" && base.Path != "/" {
		prefix = strings.TrimRight(base.Path, "/") + prefix
	}
	// The path as the portal will read it: dot segments (decoded from
	// %2e too) and doubled slashes resolved. One that needs resolving is
	// refused outright: no plugin's remote is written so.
	if u == nil {
		return fmt.Errorf("%s: %w: %q is not a URL", s.ID, ErrRefused, remoteURL)
	}
	raw := u.Path
	if raw == "" {
		raw = "/"
	}
	clean := path.Clean(raw)
	if clean != strings.TrimSuffix(raw, "/") && raw != "/" {
		return fmt.Errorf("%s: %w: the remote's path %q has . or .. segments or doubled slashes; the portal's token goes only to a plain path under %s%s", s.ID, ErrRefused, u.EscapedPath(), portal, prefix)
	}
	if origin != portal || !strings.HasPrefix(clean+"/", prefix) {
		return fmt.Errorf("%s: %w: the portal's token goes only to %s%s…, and this remote is %s", s.ID, ErrRefused, portal, prefix, remoteURL)
	}
	return nil
}

// PortalLoginToken is the user's stored portal login token, "" when there is
// none: the same token that goes to the portal's plugins reads its catalog.
func (m *Manager) PortalLoginToken(ctx context.Context) string {
	origin, err := Origin(m.Portal)
	if err != nil {
		return ""
	}
	t, err := m.token(ctx, PortalID, origin)
	if err != nil {
		return ""
	}
	return t.AccessToken
}

func (m *Manager) portalAuthorization(ctx context.Context) (string, error) {
	origin, err := Origin(m.Portal)
	if err != nil {
		return "", err
	}
	t, err := m.token(ctx, PortalID, origin)
	if err == nil {
		return bearer(t), nil
	}
	// A configured static token serves when there is no login, and when
	// the keychain cannot be read.
	if m.PortalTokenEnv != "" && os.Getenv(m.PortalTokenEnv) != "" &&
		(errors.Is(err, ErrNoToken) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout)) {
		return "Bearer " + os.Getenv(m.PortalTokenEnv), nil
	}
	if errors.Is(err, ErrTransient) {
		return "", transientError("the portal", err)
	}
	if !errors.Is(err, ErrNoToken) {
		return "", err
	}
	return "", fmt.Errorf("%w for the portal: run \"bridge login %s\", or set portal.token_env", ErrNeedsLogin, PortalID)
}

// token returns a valid token for (id, origin): from memory, else the
// store, renewed when it has expired and can be.
func (m *Manager) token(ctx context.Context, id, origin string) (*Token, error) {
	now := m.now()
	m.mu.Lock()
	t := m.cache[Key(id, origin)]
	m.mu.Unlock()
	if t.Valid(now) {
		return t, nil
	}
	t, err := m.Tokens.Get(ctx, id, origin)
	if err != nil {
		return nil, err
	}
	if t.Origin != origin {
		return nil, fmt.Errorf("%w: the stored token is for %s, not %s", ErrRefused, t.Origin, origin)
	}
	if !t.Valid(now) && t.Renewable() && m.Refresher != nil {
		nt, err := m.renew(ctx, id, origin, t)
		switch {
		case errors.Is(err, ErrGrantRevoked):
			return nil, fmt.Errorf("%w: renewing the token failed: %v", ErrNeedsLogin, err)
		case err != nil:
			// Not a refusal: the server or the way to it failed, or the
			// store did. The login stays; a new one would not help.
			return nil, fmt.Errorf("renewing the token: %w", err)
		}
		t = nt
	}
	if !t.Valid(now) {
		return nil, fmt.Errorf("%w: the token has expired", ErrNeedsLogin)
	}
	m.remember(id, origin, t)
	return t, nil
}

// renew refreshes a token under the cross-process lock. Once it holds the
// lock it reads the store again: when another process renewed the token
// meanwhile, that token is the answer, and the old refresh token (spent,
// with a rotating server) is never sent.
func (m *Manager) renew(ctx context.Context, id, origin string, stale *Token) (*Token, error) {
	unlock, err := m.Locks.Lock(ctx, Key(id, origin), "another bridge to finish renewing the token for "+id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if cur, err := m.Tokens.Get(ctx, id, origin); err == nil && cur.AccessToken != stale.AccessToken && cur.Valid(m.now()) {
		return cur, nil
	}
	nt, err := m.refresh(ctx, stale)
	if err != nil {
		return nil, err
	}
	if err := m.Tokens.Save(ctx, id, nt); err != nil {
		// The old refresh token may be spent (rotating servers revoke it
		// once used): the new token is kept in memory for this run rather
		// than thrown away with the grant.
		if m.Log != nil {
			m.Log.Warn("a renewed token could not be stored; it is used until this bridge stops, then \"bridge login "+id+"\" may be needed", "server", id, "err", err)
		}
		return nt, nil
	}
	return nt, nil
}

// Save keeps a token a login obtained, under the lock a renewal takes, so
// that a bridge renewing the server's old token in another process never
// writes over it half-way, and forgets any older token held here.
func (m *Manager) Save(ctx context.Context, id string, t *Token) error {
	unlock, err := m.Locks.Lock(ctx, Key(id, t.Origin), "another bridge to finish renewing the token for "+id)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.Tokens.Save(ctx, id, t); err != nil {
		return err
	}
	m.remember(id, t.Origin, t)
	return nil
}

// Renewals that fail transiently are tried again renewTries times in all,
// waiting renewBackoff, then twice that (with jitter) in between: enough
// for a blip, bounded for a caller that waits.
const (
	renewTries   = 3
	renewBackoff = 500 * time.Millisecond
)

// refresh asks the Refresher for a new token, trying again when the
// authorization server fails transiently. A refusal, success, or the end
// of ctx ends it at once.
func (m *Manager) refresh(ctx context.Context, t *Token) (*Token, error) {
	delay := renewBackoff
	for try := 1; ; try++ {
		nt, err := m.Refresher(ctx, t)
		if err == nil || !errors.Is(err, ErrTransient) {
			return nt, err
		}
		if try == renewTries {
			return nil, fmt.Errorf("%w (%d tries)", err, try)
		}
		select {
		case <-time.After(delay + rand.N(delay/2)):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%d tries, then %w)", err, try, ctx.Err())
		}
		delay *= 2
	}
}

func (m *Manager) remember(id, origin string, t *Token) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache == nil {
		m.cache = map[string]*Token{}
	}
	m.cache[Key(id, origin)] = t
}

func (m *Manager) forget(id, origin string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cache, Key(id, origin))
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func bearer(t *Token) string { return "Bearer " + t.AccessToken }

func mustOrigin(raw string) string {
	o, _ := Origin(raw)
	return o
}
