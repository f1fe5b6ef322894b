package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/config"
)

// fakeAS is a minimal authorization server that checks PKCE the way a real
// one must; the end-to-end login tests use a real one (oauthtest).
func fakeAS(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	challenges := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "PKCE S256 required", http.StatusBadRequest)
			return
		}
		mu.Lock()
		challenges["code-1"] = q.Get("code_challenge")
		mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=code-1&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		must(t, r.ParseForm())
		mu.Lock()
		want := challenges[r.Form.Get("code")]
		mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if want == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != want || r.Form.Get("redirect_uri") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"at","refresh_token":"rt","token_type":"Bearer","expires_in":60,"scope":"a b"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func follow(u string) error {
	res, err := http.Get(u)
	if err == nil {
		res.Body.Close()
	}
	return err
}

func TestCodeLoginWithPKCE(t *testing.T) {
	as := fakeAS(t)
	var out strings.Builder
	tok, err := Login(context.Background(), LoginOptions{
		Endpoints: Endpoints{AuthURL: as.URL + "/authorize", TokenURL: as.URL + "/token", RevokeURL: as.URL + "/revoke"},
		ClientID:  "cid", Scopes: []string{"a", "b"}, Origin: "https://mcp.example.com",
		Browser: func(u string) error { go follow(u); return nil }, Out: &out, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at" || tok.RefreshToken != "rt" || tok.Origin != "https://mcp.example.com" || tok.TokenURL != as.URL+"/token" ||
		tok.ClientID != "cid" || tok.Expiry.IsZero() {
		t.Errorf("token = %+v", tok)
	}
	if !strings.Contains(out.String(), as.URL+"/authorize?") {
		t.Errorf("the URL was not printed:\n%s", out.String())
	}
}

func TestCodeLoginRefusesAnotherState(t *testing.T) {
	_, err := Login(context.Background(), LoginOptions{
		Endpoints: Endpoints{AuthURL: "http://127.0.0.1:9/authorize", TokenURL: "http://127.0.0.1:9/token"},
		ClientID:  "cid", Timeout: 10 * time.Second,
		Browser: func(u string) error {
			p, _ := url.Parse(u)
			go follow(p.Query().Get("redirect_uri") + "?code=x&state=forged")
			return nil
		},
	})
	if err == nil || !strings.Contains(err.Error(), "does not carry this login's state") {
		t.Errorf("err = %v", err)
	}
}

func TestCodeLoginBusyPortAndTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = Login(context.Background(), LoginOptions{RedirectPort: port, Browser: func(string) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d on 127.0.0.1 is in use", port)) {
		t.Errorf("busy port: %v", err)
	}
	opened := 0
	_, err = Login(context.Background(), LoginOptions{Endpoints: Endpoints{AuthURL: "http://127.0.0.1:9/a"}, Timeout: 100 * time.Millisecond,
		Browser: func(string) error { opened++; return nil }})
	if !errors.Is(err, ErrLoginTimeout) || opened != 1 {
		t.Errorf("timeout: %v, browser opened %d times", err, opened)
	}
}

func TestOpenBrowserUsesTheBROWSERVariable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BROWSER", "touch")
	target := dir + "/opened"
	if err := OpenBrowser(target); err != nil {
		t.Fatal(err)
	}
	waitFile(t, target)
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for range 100 {
		if _, err := http.Dir("/").Open(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%s was not created", path)
}

func TestProviderFor(t *testing.T) {
	ctx := context.Background()
	issuer := httptest.NewServer(nil)
	defer issuer.Close()
	issuer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":"%[1]s/auth","token_endpoint":"%[1]s/token","device_authorization_endpoint":"%[1]s/device"}`, issuer.URL)
	})
	t.Setenv("BRIDGE_TEST_SECRET", "s")
	cfg := &config.Config{Providers: map[string]config.ProviderConfig{
		"core.auth.github":    {ClientID: "gh", Host: "ghe.example.com", Scopes: []string{"read:org"}},
		"core.auth.bitbucket": {ClientID: "bb"},
		"core.auth.atlassian": {ClientID: "at", ClientSecretEnv: "BRIDGE_TEST_SECRET"},
		"core.auth.microsoft": {ClientID: "ms", Tenant: "contoso"},
		"core.auth.google":    {ClientID: "go", Issuer: issuer.URL},
		"core.auth.acme-sso":  {ClientID: "acme", Issuer: issuer.URL},
		"core.auth.okta":      {ClientID: "okta"},
		"core.auth.wrong":     {ClientID: "w", Issuer: issuer.URL + "/other"},
	}}
	tests := []struct {
		apiID     string
		entity    []string
		auth, err string
		scopes    string
	}{
		{apiID: "core.auth.github", entity: []string{"repo", "read:user"}, auth: "https://ghe.example.com/login/oauth/authorize", scopes: "read:user read:org repo"},
		{apiID: "core.auth.gitlab", err: "set providers.core.auth.gitlab.client_id in the config"},
		{apiID: "core.auth.bitbucket", err: "Bitbucket demands a client secret: set providers.core.auth.bitbucket.client_secret_env"},
		{apiID: "core.auth.atlassian", auth: "https://auth.atlassian.com/authorize", scopes: "offline_access read:me read:jira-work read:jira-user"},
		{apiID: "core.auth.microsoft", entity: []string{"api://app/.default"}, auth: "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize", scopes: "api://app/.default offline_access"},
		{apiID: "core.auth.google", auth: issuer.URL + "/auth", scopes: "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"},
		{apiID: "core.auth.acme-sso", auth: issuer.URL + "/auth", scopes: "openid offline_access"},
		{apiID: "core.auth.okta", err: "set providers.core.auth.okta.issuer"},
		{apiID: "core.auth.wrong", err: "refusing it"},
		{apiID: "core.auth.aws-alb", err: "proxy-style provider"},
		{apiID: "core.auth.mystery", err: "not a provider this bridge knows: set providers.core.auth.mystery.issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.apiID, func(t *testing.T) {
			lo, err := ProviderFor(ctx, issuer.Client(), cfg, tt.apiID, tt.entity)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lo.AuthURL != tt.auth || strings.Join(lo.Scopes, " ") != tt.scopes {
				t.Errorf("auth %s, scopes %q", lo.AuthURL, strings.Join(lo.Scopes, " "))
			}
		})
	}
}

// TestPortalLoginUsesTheAuthBackendAndItsCLIClient logs in to a stand-in
// for a portal's auth backend: its endpoints, its built-in CLI client id
// (a Client ID Metadata Document URL), PKCE and a loopback redirect.
func TestPortalLoginUsesTheAuthBackendAndItsCLIClient(t *testing.T) {
	as := fakeAS(t)
	var clientIDs []string
	var mu sync.Mutex
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/.well-known/") { // its metadata: none here
			mu.Lock()
			clientIDs = append(clientIDs, r.FormValue("client_id"))
			mu.Unlock()
		}
		switch r.URL.Path {
		case "/api/auth/v1/authorize":
			http.Redirect(w, r, as.URL+"/authorize?"+r.URL.RawQuery, http.StatusFound)
		case "/api/auth/v1/token":
			r.URL.Path = "/token"
			req, _ := http.NewRequest(http.MethodPost, as.URL+"/token", strings.NewReader(r.Form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			w.WriteHeader(res.StatusCode)
			io.Copy(w, res.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer portal.Close()
	lo, err := PortalLogin(context.Background(), nil, portal.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	lo.Browser = func(u string) error { go follow(u); return nil }
	lo.Timeout = 10 * time.Second
	tok, err := Login(context.Background(), lo.LoginOptions)
	if err != nil {
		t.Fatal(err)
	}
	want := portal.URL + "/api/auth/.well-known/oauth-client/cli.json"
	if tok.Origin != portal.URL || tok.ClientID != want || tok.RevokeURL != portal.URL+"/api/auth/v1/revoke" {
		t.Errorf("token = %+v", tok)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range clientIDs {
		if id != want {
			t.Errorf("client id sent: %q, want the portal's CLI client %q", id, want)
		}
	}
	if _, err := PortalLogin(context.Background(), nil, ""); err == nil {
		t.Error("a portal login without a portal")
	}
}

// TestALoginNeverOpensAURLThatIsNotWeb: an authorization server's endpoint
// that is not https (or http here) never reaches the browser opener: the
// class of mcp-remote's CVE-2025-6514.
func TestALoginNeverOpensAURLThatIsNotWeb(t *testing.T) {
	for _, authURL := range []string{"file:///etc/passwd", "http://login.example.com/authorize", "ms-settings:"} {
		opened := false
		_, err := Login(context.Background(), LoginOptions{
			Endpoints: Endpoints{AuthURL: authURL, TokenURL: "https://login.example.com/token"},
			ClientID:  "cid", Timeout: 10 * time.Second,
			Browser: func(string) error { opened = true; return nil },
		})
		if err == nil || !strings.Contains(err.Error(), "refusing the authorization server's endpoint") || opened {
			t.Errorf("%s: %v, browser opened %v", authURL, err, opened)
		}
	}
}

// TestConfidentialClientsAuthenticateByTheirMethod logs in, and renews,
// at a real authorization server as clients registered with
// client_secret_basic and client_secret_post: the secret goes with the
// code exchange and with the refresh, and a refresh without it is refused.
// (The conformance scenarios token-endpoint-auth-basic and -post check the
// method itself.)
func TestConfidentialClientsAuthenticateByTheirMethod(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	for _, tt := range []struct{ client, method string }{
		{oauthtest.BasicClientID, AuthSecretBasic},
		{oauthtest.PostClientID, AuthSecretPost},
	} {
		t.Run(tt.method, func(t *testing.T) {
			lo, _ := realLogin(t, as)
			lo.ClientID, lo.ClientSecret, lo.AuthMethod = tt.client, oauthtest.Secret(tt.client), tt.method
			tok, err := Login(context.Background(), lo)
			if err != nil {
				t.Fatalf("login as %s with %s: %v", tt.client, tt.method, err)
			}
			if tok.ClientSecret != lo.ClientSecret || tok.AuthMethod != tt.method || tok.RefreshToken == "" {
				t.Fatalf("the token does not keep how to renew it: %+v", *tok)
			}
			if strings.Contains(tok.String(), lo.ClientSecret) {
				t.Errorf("the token prints its client's secret: %s", tok)
			}
			nt, err := Refresh(context.Background(), http.DefaultClient, tok)
			if err != nil {
				t.Fatalf("renewing as %s with %s: %v", tt.client, tt.method, err)
			}
			if nt.AccessToken == tok.AccessToken || nt.RefreshToken == tok.RefreshToken {
				t.Errorf("the renewal gave back the same tokens")
			}
			nt.ClientSecret, nt.AuthMethod = "", AuthNone
			if _, err := Refresh(context.Background(), http.DefaultClient, nt); !errors.Is(err, ErrGrantRevoked) {
				t.Errorf("renewing without the secret: %v; want the server's refusal", err)
			}
		})
	}
}

// TestAnAuthorizationResponseFromAnotherIssuerIsNotRedeemed checks RFC
// 9207 against a real server, which names itself (iss) in its answers: the
// recorded issuer passes; another one fails before the code is sent to the
// token endpoint.
func TestAnAuthorizationResponseFromAnotherIssuerIsNotRedeemed(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	lo, _ := realLogin(t, as)
	lo.Issuer, lo.IssRequired = as.Issuer, true
	if _, err := Login(context.Background(), lo); err != nil {
		t.Fatalf("login with the server's own issuer: %v", err)
	}
	before := len(as.Requests(t))
	lo.Issuer = "https://as.example.com"
	_, err := Login(context.Background(), lo)
	if !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("login with an answer from %s recorded as %s: %v; want ErrWrongIssuer", as.Issuer, lo.Issuer, err)
	}
	for _, r := range as.Requests(t)[before:] {
		if r == "POST /token" {
			t.Errorf("the code of the wrong issuer's answer was redeemed")
		}
	}
}

// TestClientCredentialsNeedNoBrowser logs in as a machine client with the
// client-credentials grant, for a resource, and renews the token the same
// way once it has expired: no browser, no refresh token.
func TestClientCredentialsNeedNoBrowser(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	lo, b := realLogin(t, as)
	lo.Grant, lo.ClientID, lo.ClientSecret = GrantClientCredentials, oauthtest.MachineClientID, oauthtest.Secret(oauthtest.MachineClientID)
	lo.Resource = "http://127.0.0.1:9/mcp"
	tok, err := Login(context.Background(), lo)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.urls()) != 0 {
		t.Errorf("a client-credentials login opened %v", b.urls())
	}
	if !tok.Renewable() || tok.RefreshToken != "" || tok.Grant != GrantClientCredentials {
		t.Fatalf("token = %+v; want one the bridge renews by itself", *tok)
	}
	// A JWT for the resource: its payload names it as the audience.
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT for the resource")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(payload), `"aud":"http://127.0.0.1:9/mcp"`) {
		t.Errorf("the token is not for the resource: %s", payload)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	nt, err := Refresh(context.Background(), http.DefaultClient, tok)
	if err != nil {
		t.Fatal(err)
	}
	if nt.AccessToken == tok.AccessToken || !nt.Valid(time.Now()) {
		t.Errorf("the renewal gave no new token")
	}
	tok.ClientSecret = "wrong"
	if _, err := Refresh(context.Background(), http.DefaultClient, tok); !errors.Is(err, ErrGrantRevoked) {
		t.Errorf("renewal with a wrong secret: %v; want the server's refusal", err)
	}
}
