package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/config/backstagetest"
)

// TestAPortalLoginSurvivesTheExpiryOfItsAccessToken: a portal login whose
// access token has expired is renewed with its refresh token at the real
// authorization server, and the catalog is read, with no user action. The
// portal stands in front of the Backstage catalog and takes the tokens the
// authorization server says are active.
func TestAPortalLoginSurvivesTheExpiryOfItsAccessToken(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	catalogAPI := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")})
	target, _ := url.Parse(catalogAPI.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		res, err := http.PostForm(o.as.Issuer+"/token/introspection", url.Values{"client_id": {o.as.ClientID}, "token": {token}})
		var got struct {
			Active bool `json:"active"`
		}
		if err == nil {
			json.NewDecoder(res.Body).Decode(&got)
			res.Body.Close()
		}
		if !got.Active {
			http.Error(w, `{"error":{"message":"Invalid token"}}`, http.StatusUnauthorized)
			return
		}
		r.Header.Set("Authorization", "Bearer "+catalogAPI.Token)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(portal.Close)

	// The login's token, as a portal login whose access token has expired.
	tok := o.token(t)
	origin, _ := auth.Origin(portal.URL)
	tok.Origin, tok.Expiry = origin, time.Now().Add(-time.Minute)
	tokens := &auth.Tokens{Secrets: auth.NewFile(o.state, nil)}
	must(t, tokens.Save(context.Background(), auth.PortalID, tok))
	cfg := filepath.Join(o.dir, "portal.yaml")
	must(t, os.WriteFile(cfg, []byte("portal:\n  url: "+portal.URL+"\ntoken_store: file\n"), 0o644))

	code, out, errOut := runBridge(t, "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "docs ") || strings.Contains(errOut, "bridge login") {
		t.Fatalf("list with an expired portal login: %d\n%s\n%s", code, out, errOut)
	}
	renewed, err := tokens.Get(context.Background(), auth.PortalID, origin)
	if err != nil || renewed.AccessToken == tok.AccessToken || renewed.RefreshToken == "" || !renewed.Valid(time.Now()) {
		t.Errorf("the portal login after the expiry: %v %v", renewed, err)
	}
}
