package oauthtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
)

// These tests speak plain HTTP to the server, so they check the server itself
// rather than any OAuth client library.

func TestDiscovery(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})

	oidc := getJSON(t, srv.Issuer+"/.well-known/openid-configuration")
	oauth := getJSON(t, srv.Issuer+"/.well-known/oauth-authorization-server")
	for name, md := range map[string]map[string]any{"openid-configuration": oidc, "oauth-authorization-server": oauth} {
		if md["issuer"] != srv.Issuer {
			t.Errorf("%s: issuer = %v, want %s", name, md["issuer"], srv.Issuer)
		}
		if methods, _ := md["code_challenge_methods_supported"].([]any); !slices.Contains(methods, any("S256")) {
			t.Errorf("%s: code_challenge_methods_supported = %v, want S256 in it", name, methods)
		}
		for _, key := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint",
			"device_authorization_endpoint", "revocation_endpoint", "introspection_endpoint"} {
			if s, _ := md[key].(string); !strings.HasPrefix(s, srv.Issuer+"/") {
				t.Errorf("%s: %s = %v, want a URL under the issuer", name, key, md[key])
			}
		}
	}
}

func TestCodeFlowWithPKCE(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	// A loopback listener on a random port: the registered redirect URI has
	// no port, and the server must accept any (RFC 8252).
	cb := newCallback(t)

	code, verifier := authorize(t, srv, srv.ClientID, cb, nil)
	tok := exchange(t, srv, srv.ClientID, cb.uri, code, verifier)
	if tok["access_token"] == "" || tok["refresh_token"] == "" {
		t.Fatalf("token response lacks access or refresh token: %v", tok)
	}
	if tok["token_type"] != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", tok["token_type"])
	}
}

// TestManualConsentForms walks through the real login and consent pages, as
// a person in a browser would.
func TestManualConsentForms(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{ManualConsent: true})
	cb := newCallback(t)
	verifier, challenge := pkce()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", resp.Request.URL, resp.Status)
		}
		return string(body)
	}
	formAction := func(html string) string {
		t.Helper()
		m := regexp.MustCompile(`<form[^>]*action="([^"]+)"`).FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("no form in page: %.500s", html)
		}
		return m[1]
	}

	login := page(browser.Get(srv.Issuer + "/auth?" + authorizeQuery(srv.ClientID, cb.uri, challenge, "st").Encode()))
	if !strings.Contains(login, `name="password"`) {
		t.Fatalf("expected the login form, got %.500s", login)
	}
	consent := page(browser.PostForm(formAction(login), url.Values{"prompt": {"login"}, "login": {"alice"}, "password": {"x"}}))
	if !strings.Contains(consent, `value="consent"`) {
		t.Fatalf("expected the consent form, got %.500s", consent)
	}
	page(browser.PostForm(formAction(consent), url.Values{"prompt": {"consent"}}))

	var got url.Values
	select {
	case got = <-cb.got:
	default:
		t.Fatal("consent did not redirect to the callback")
	}
	if got.Get("state") != "st" || got.Get("code") == "" {
		t.Fatalf("callback got %v", got)
	}
	tok := exchange(t, srv, srv.ClientID, cb.uri, got.Get("code"), verifier)
	if _, claims := decodeJWT(t, tok["id_token"]); claims["sub"] != "alice" {
		t.Errorf("id_token sub = %v, want alice", claims["sub"])
	}
}

func TestPKCERequired(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	cb := newCallback(t)

	t.Run("no code_verifier", func(t *testing.T) {
		code, _ := authorize(t, srv, srv.ClientID, cb, nil)
		status, body := postForm(t, tokenURL(srv), url.Values{
			"grant_type":   {"authorization_code"},
			"client_id":    {srv.ClientID},
			"redirect_uri": {cb.uri},
			"code":         {code},
		})
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("exchange without code_verifier: %d %v, want 400 invalid_grant", status, body)
		}
	})

	t.Run("no code_challenge", func(t *testing.T) {
		q := authorizeQuery(srv.ClientID, cb.uri, "", "st")
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		got := followAuthorization(t, srv, q, cb)
		if got.Get("error") != "invalid_request" || got.Get("code") != "" {
			t.Errorf("authorization without code_challenge redirected with %v, want error=invalid_request", got)
		}
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	cb := newCallback(t)
	code, verifier := authorize(t, srv, srv.ClientID, cb, nil)
	first := exchange(t, srv, srv.ClientID, cb.uri, code, verifier)["refresh_token"]

	refresh := func(rt string) (int, map[string]any) {
		return postForm(t, tokenURL(srv), url.Values{
			"grant_type": {"refresh_token"}, "client_id": {srv.ClientID}, "refresh_token": {rt},
		})
	}

	status, body := refresh(first)
	second, _ := body["refresh_token"].(string)
	if status != http.StatusOK || body["access_token"] == nil || second == "" || second == first {
		t.Fatalf("refresh: %d %v, want 200 with a new refresh token", status, body)
	}

	// Reusing the rotated token looks like theft: it fails and revokes the
	// grant, taking the legitimately rotated token down with it.
	if status, body := refresh(first); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("reusing old refresh token: %d %v, want 400 invalid_grant", status, body)
	}
	if status, body := refresh(second); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("new refresh token after reuse: %d %v, want 400 invalid_grant", status, body)
	}
}

func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	md := getJSON(t, srv.Issuer+"/.well-known/oauth-authorization-server")

	status, da := postForm(t, md["device_authorization_endpoint"].(string), url.Values{
		"client_id": {srv.ClientID}, "scope": {"openid"},
	})
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, da)
	}
	deviceCode, _ := da["device_code"].(string)
	userCode, _ := da["user_code"].(string)
	if deviceCode == "" || userCode == "" || da["verification_uri"] == nil {
		t.Fatalf("device authorization response incomplete: %v", da)
	}
	if da["interval"] != 1.0 {
		t.Errorf("interval = %v, want 1", da["interval"])
	}

	poll := func() (int, map[string]any) {
		return postForm(t, tokenURL(srv), url.Values{
			"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id":   {srv.ClientID},
			"device_code": {deviceCode},
		})
	}
	if status, body := poll(); status != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("poll before approval: %d %v, want authorization_pending", status, body)
	}

	srv.ApproveDevice(t, userCode)

	status, tok := poll()
	if status != http.StatusOK || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("poll after approval: %d %v, want access, refresh and id tokens", status, tok)
	}

	// A user code works once.
	resp, err := http.PostForm(srv.Issuer+"/test/device/approve", url.Values{"user_code": {userCode}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second approval: %s, want 400", resp.Status)
	}
}

func TestDynamicClientRegistration(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	md := getJSON(t, srv.Issuer+"/.well-known/oauth-authorization-server")
	cb := newCallback(t)

	reg, _ := json.Marshal(map[string]any{
		"client_name":                "dcr test",
		"redirect_uris":              []string{cb.uri},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	resp, err := http.Post(md["registration_endpoint"].(string), "application/json", bytes.NewReader(reg))
	if err != nil {
		t.Fatal(err)
	}
	body := decode(t, resp)
	clientID, _ := body["client_id"].(string)
	if resp.StatusCode != http.StatusCreated || clientID == "" {
		t.Fatalf("registration: %s %v, want 201 with client_id", resp.Status, body)
	}

	code, verifier := authorize(t, srv, clientID, cb, nil)
	tok := exchange(t, srv, clientID, cb.uri, code, verifier)
	if tok["access_token"] == "" || tok["refresh_token"] == "" {
		t.Fatalf("token response for registered client: %v", tok)
	}
}

func TestResourceIndicatorJWT(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	cb := newCallback(t)
	const resource = "http://127.0.0.1:9/mcp"
	extra := url.Values{"resource": {resource}, "scope": {"mcp:tools"}}

	code, verifier := authorize(t, srv, srv.ClientID, cb, extra)
	tok := exchange(t, srv, srv.ClientID, cb.uri, code, verifier, "resource", resource)
	header, claims := decodeJWT(t, tok["access_token"])
	if claims["aud"] != resource {
		t.Errorf("aud = %v, want %s", claims["aud"], resource)
	}
	if claims["iss"] != srv.Issuer || claims["scope"] != "mcp:tools" {
		t.Errorf("iss, scope = %v, %v; want %s, mcp:tools", claims["iss"], claims["scope"], srv.Issuer)
	}

	// The key that signed it is the one published at jwks_uri.
	jwks := getJSON(t, getJSON(t, srv.Issuer+"/.well-known/oauth-authorization-server")["jwks_uri"].(string))
	keys, _ := jwks["keys"].([]any)
	if !slices.ContainsFunc(keys, func(k any) bool { return k.(map[string]any)["kid"] == header["kid"] }) {
		t.Errorf("token kid %v not in JWKS %v", header["kid"], jwks)
	}

	// A refreshed token is for the same audience.
	status, body := postForm(t, tokenURL(srv), url.Values{
		"grant_type": {"refresh_token"}, "client_id": {srv.ClientID},
		"refresh_token": {tok["refresh_token"]}, "resource": {resource},
	})
	if status != http.StatusOK {
		t.Fatalf("refresh with resource: %d %v", status, body)
	}
	if _, claims := decodeJWT(t, body["access_token"].(string)); claims["aud"] != resource {
		t.Errorf("refreshed aud = %v, want %s", claims["aud"], resource)
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	md := getJSON(t, srv.Issuer+"/.well-known/oauth-authorization-server")
	cb := newCallback(t)
	code, verifier := authorize(t, srv, srv.ClientID, cb, nil)
	rt := exchange(t, srv, srv.ClientID, cb.uri, code, verifier)["refresh_token"]

	introspect := func() map[string]any {
		status, body := postForm(t, md["introspection_endpoint"].(string), url.Values{"client_id": {srv.ClientID}, "token": {rt}})
		if status != http.StatusOK {
			t.Fatalf("introspection: %d %v", status, body)
		}
		return body
	}
	if got := introspect(); got["active"] != true {
		t.Fatalf("refresh token not active before revocation: %v", got)
	}
	status, body := postForm(t, md["revocation_endpoint"].(string), url.Values{"client_id": {srv.ClientID}, "token": {rt}})
	if status != http.StatusOK {
		t.Fatalf("revocation: %d %v, want 200", status, body)
	}
	if got := introspect(); got["active"] != false {
		t.Errorf("refresh token still active after revocation: %v", got)
	}
}

func TestAccessTTL(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{AccessTTL: 2 * time.Second})
	cb := newCallback(t)
	code, verifier := authorize(t, srv, srv.ClientID, cb, nil)
	status, body := postForm(t, tokenURL(srv), url.Values{
		"grant_type": {"authorization_code"}, "client_id": {srv.ClientID},
		"redirect_uri": {cb.uri}, "code": {code}, "code_verifier": {verifier},
	})
	if status != http.StatusOK || body["expires_in"] != 2.0 {
		t.Errorf("token response: %d %v, want expires_in 2", status, body)
	}
}

// TestRequestsAreRecorded: the record names each request by method and
// path, in order, and never carries a query or a body.
func TestRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	srv := oauthtest.Start(t, oauthtest.Options{})
	getJSON(t, srv.Issuer+"/.well-known/openid-configuration")
	cb := newCallback(t)
	code, verifier := authorize(t, srv, srv.ClientID, cb, nil)
	tok := exchange(t, srv, srv.ClientID, cb.uri, code, verifier)
	if !srv.Active(t, tok["refresh_token"]) {
		t.Error("a fresh refresh token is not active")
	}
	if srv.Active(t, "not-a-token") {
		t.Error("a made-up token is active")
	}
	got := srv.Requests(t)
	if len(got) == 0 || got[0] != "GET /.well-known/openid-configuration" {
		t.Fatalf("requests = %q, want discovery first", got)
	}
	auth, token := slices.Index(got, "GET /auth"), slices.Index(got, "POST /token")
	if auth < 0 || token < auth {
		t.Errorf("requests = %q, want GET /auth before POST /token", got)
	}
	for _, r := range got {
		if strings.ContainsAny(r, "?=") || strings.Contains(r, code) {
			t.Errorf("a recorded request carries more than its path: %q", r)
		}
	}
}
