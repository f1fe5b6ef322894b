package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
)

// Login states, as bridge list shows them.
const (
	StateLoggedIn   = "logged-in"
	StateNeedsLogin = "needs-login"
	StateNotNeeded  = "not-needed"
	StateStatic     = "static-token"
	StateUnknown    = "unknown"
)

// LoginState is whether a server can get a token.
type LoginState struct {
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Detail says why the state is unknown, or what to run.
	Detail string `json:"detail,omitempty"`
}

// State tells a server's login state without contacting anything but the
// token store.
func (m *Manager) State(ctx context.Context, s *catalog.Server) LoginState {
	remote, ok := s.Transport()
	if !ok {
		return LoginState{State: StateUnknown, Detail: "no remote"}
	}
	id, origin := s.ID, ""
	switch s.Auth.Method {
	case catalog.AuthPlugin:
		id, origin = PortalID, mustOrigin(m.Portal)
		if origin == "" {
			return LoginState{State: StateUnknown, Detail: "no portal configured"}
		}
	default:
		origin = mustOrigin(remote.URL)
	}
	t, err := m.Tokens.Get(ctx, id, origin)
	switch {
	case err == nil && t.RefreshToken == "" && !t.Expiry.IsZero() && !t.Valid(m.now()):
		return LoginState{State: StateNeedsLogin, ExpiresAt: t.Expiry, Detail: "the token has expired; run \"bridge login " + id + "\""}
	case err == nil:
		return LoginState{State: StateLoggedIn, ExpiresAt: t.Expiry}
	case s.Auth.Method == catalog.AuthPlugin && m.PortalTokenEnv != "" && os.Getenv(m.PortalTokenEnv) != "":
		return LoginState{State: StateStatic}
	case errors.Is(err, ErrNoToken) && s.Auth.Method == catalog.AuthNone:
		return LoginState{State: StateNotNeeded}
	case errors.Is(err, ErrNoToken):
		return LoginState{State: StateNeedsLogin, Detail: "run \"bridge login " + id + "\""}
	}
	return LoginState{State: StateUnknown, Detail: err.Error()}
}

// Logout removes a server's token from the store, after revoking it where
// the authorization server offers revocation (RFC 7009). It reports whether
// a token was found and whether it was revoked.
func (m *Manager) Logout(ctx context.Context, client *http.Client, id, origin string) (found, revoked bool, err error) {
	t, err := m.Tokens.Get(ctx, id, origin)
	if errors.Is(err, ErrNoToken) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if t.RevokeURL != "" {
		revoked = revoke(ctx, client, t) == nil
	}
	if err := m.Tokens.Delete(ctx, id, origin); err != nil && !errors.Is(err, ErrNoToken) {
		return true, revoked, err
	}
	m.forget(id, origin)
	return true, revoked, nil
}

// revoke asks the authorization server to revoke the refresh token (which
// revokes the grant), or the access token when there is none.
func revoke(ctx context.Context, client *http.Client, t *Token) error {
	form := url.Values{"token": {t.AccessToken}, "token_type_hint": {"access_token"}}
	if t.RefreshToken != "" {
		form = url.Values{"token": {t.RefreshToken}, "token_type_hint": {"refresh_token"}}
	}
	if t.ClientID != "" {
		form.Set("client_id", t.ClientID)
	}
	_, err := postForm(ctx, client, t.RevokeURL, form)
	if err != nil && errors.Is(err, errNoAccessToken) {
		return nil // RFC 7009: success is an empty 200
	}
	return err
}
