package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// portalWithMetadata serves a Backstage auth backend's metadata, naming
// issuer (the portal's base URL + /api/auth, unless given).
func portalWithMetadata(t *testing.T, scopes []string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		base := srv.URL + "/api/auth"
		json.NewEncoder(w).Encode(map[string]any{"issuer": base, "authorization_endpoint": base + "/v1/authorize",
			"token_endpoint": base + "/v1/token", "revocation_endpoint": base + "/v1/revoke", "scopes_supported": scopes})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPortalLoginAsksForOfflineAccessWhereOffered(t *testing.T) {
	for _, tc := range []struct {
		offered, want []string
	}{
		{[]string{"openid", "offline_access"}, []string{"openid", "offline_access"}},
		{[]string{"openid"}, nil},
	} {
		portal := portalWithMetadata(t, tc.offered)
		lo, err := PortalLogin(context.Background(), nil, portal.URL)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lo.Scopes, tc.want) || lo.ClientID != portal.URL+"/api/auth/.well-known/oauth-client/cli.json" || lo.TokenURL != portal.URL+"/api/auth/v1/token" {
			t.Errorf("offered %v: scopes %v, client %s, token endpoint %s", tc.offered, lo.Scopes, lo.ClientID, lo.TokenURL)
		}
	}
}

// TestPortalLoginSaysAtOnceWhenPortalURLIsNotTheIssuer: a portal reached
// as localhost whose auth backend knows itself as 127.0.0.1 is refused
// before any browser opens, with the portal.url to set.
func TestPortalLoginSaysAtOnceWhenPortalURLIsNotTheIssuer(t *testing.T) {
	portal := portalWithMetadata(t, []string{"openid", "offline_access"})
	viaLocalhost := strings.Replace(portal.URL, "127.0.0.1", "localhost", 1)
	_, err := PortalLogin(context.Background(), nil, viaLocalhost)
	if !errors.Is(err, ErrPortalIssuer) || !strings.Contains(err.Error(), "set portal.url to "+portal.URL) || !strings.Contains(err.Error(), "400 Invalid client_id") {
		t.Errorf("PortalLogin(%s) = %v", viaLocalhost, err)
	}
}
