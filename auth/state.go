package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
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

// RefusedByPortal is the login state of a server that uses the portal's
// token, once the portal has refused that token: whatever the store holds,
// it is not a login that works.
func (m *Manager) RefusedByPortal(st LoginState) LoginState {
	if st.State == StateStatic {
		return LoginState{State: StateNeedsLogin, Detail: fmt.Sprintf("refused by the portal: the token in $%s; set a valid one, or run \"bridge login %s\"", m.PortalTokenEnv, PortalID)}
	}
	return LoginState{State: StateNeedsLogin, Detail: fmt.Sprintf("refused by the portal; run \"bridge login %s\"", PortalID)}
}

// Login runs a login (Login's) for the server, or the portal, whose token
// is kept under id, and stores the token. It first checks that the store
// can keep one, so that a missing, locked or silent keychain fails before a
// browser opens or a URL is printed. A token that still cannot be stored is
// revoked where the authorization server offers revocation (RFC 7009), so
// that no live token is left that nobody holds; the error says how that
// went. A login that asked for the scopes the server asked for with a 403
// is counted, to bound the step-ups (stepup.go).
func (m *Manager) Login(ctx context.Context, id string, o LoginOptions) (*Token, error) {
	if err := m.Tokens.Check(ctx); err != nil {
		return nil, fmt.Errorf("the login was not started: %w", err)
	}
	t, err := Login(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := m.Save(ctx, id, t); err != nil {
		return nil, fmt.Errorf("the login worked, but %w; %s", err, discard(ctx, o, t))
	}
	if err := m.Scopes.granted(ctx, id, o.Scopes); err != nil {
		return t, fmt.Errorf("the login worked and its token is stored, but %w", err)
	}
	return t, nil
}

// revokeTimeout bounds the revocation of a token that could not be stored:
// it is best effort, and the user is waiting for the error.
const revokeTimeout = 10 * time.Second

// discard revokes a token nobody will hold: the refresh token, which ends
// the grant at most servers, then the access token. It says how it went,
// and what to do next.
func discard(ctx context.Context, o LoginOptions, t *Token) string {
	const again = "log in again once the token can be stored"
	until := "until it expires"
	if !t.Expiry.IsZero() {
		until = fmt.Sprintf("until it expires (in %s)", time.Until(t.Expiry).Round(time.Second))
	}
	if o.RevokeURL == "" {
		return fmt.Sprintf("the authorization server offers no revocation, so the token stays valid %s: %s", until, again)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	client := catalog.SafeClient(o.HTTP, revokeTimeout)
	var failed []string
	for _, part := range []struct{ hint, token string }{{"refresh_token", t.RefreshToken}, {"access_token", t.AccessToken}} {
		if part.token == "" {
			continue
		}
		if err := revokeToken(ctx, client, o.RevokeURL, o.ClientID, o.ClientSecret, part.token, part.hint); err != nil {
			failed = append(failed, fmt.Sprintf("the %s: %v", strings.ReplaceAll(part.hint, "_", " "), err))
		}
	}
	if len(failed) == 0 {
		return fmt.Sprintf("the token was revoked at %s, so none is left live: %s", o.RevokeURL, again)
	}
	return fmt.Sprintf("revoking it at %s failed (%s), so it may stay valid %s: remove the bridge's access in your account at the provider, and %s",
		o.RevokeURL, strings.Join(failed, "; "), until, again)
}

// Logout removes a server's token from the store, after revoking it where
// the authorization server offers revocation (RFC 7009). It reports
// whether a token was found, and how the revocation went: revoked only
// when the server said so, else that the token stays valid until it
// expires.
func (m *Manager) Logout(ctx context.Context, client *http.Client, id, origin string) (found bool, revocation string, err error) {
	t, err := m.Tokens.Get(ctx, id, origin)
	if errors.Is(err, ErrNoToken) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	switch {
	case t.RevokeURL == "":
		revocation = "the authorization server offers no revocation, so the token stays valid " + untilExpiry(t)
	default:
		if rerr := revoke(ctx, client, t); rerr != nil {
			revocation = fmt.Sprintf("revoking it failed (%v), so the token stays valid %s", rerr, untilExpiry(t))
		} else {
			revocation = "the token was revoked"
		}
	}
	if err := m.Tokens.Delete(ctx, id, origin); err != nil && !errors.Is(err, ErrNoToken) {
		return true, revocation, err
	}
	m.forget(id, origin)
	return true, revocation, nil
}

// untilExpiry says until when a token is valid.
func untilExpiry(t *Token) string {
	if t.Expiry.IsZero() {
		return "until it expires"
	}
	return fmt.Sprintf("until it expires (in %s)", time.Until(t.Expiry).Round(time.Second))
}

// revoke asks the authorization server to revoke the refresh token (which
// revokes the grant), or the access token when there is none.
func revoke(ctx context.Context, client *http.Client, t *Token) error {
	if t.RefreshToken != "" {
		return revokeToken(ctx, client, t.RevokeURL, t.ClientID, "", t.RefreshToken, "refresh_token")
	}
	return revokeToken(ctx, client, t.RevokeURL, t.ClientID, "", t.AccessToken, "access_token")
}

// revokeToken asks a revocation endpoint to revoke one token (RFC 7009 §2.1).
func revokeToken(ctx context.Context, client *http.Client, endpoint, clientID, clientSecret, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if clientID != "" {
		form.Set("client_id", clientID)
	}
	if clientSecret != "" {
		form.Set("client_secret", clientSecret)
	}
	res, body, err := post(ctx, client, endpoint, form)
	if err != nil {
		return fmt.Errorf("revocation endpoint %w", err)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(body, &e) == nil && e.Error != "":
		return &OAuthError{Endpoint: endpoint, Code: e.Error, Description: e.Description, Status: res.StatusCode}
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("revocation endpoint %s: %s", endpoint, res.Status)
	}
	return nil // RFC 7009 §2.2: a 200, whether or not the token was valid
}
