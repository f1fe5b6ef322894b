package oauthtest_test

// The client side of these tests: a loopback callback, a browser that
// follows the authorization redirects, and an OAuth client's token requests,
// all in plain HTTP.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
)

// callback is a loopback redirect target that records the query it receives.
type callback struct {
	uri string
	got chan url.Values
}

func newCallback(t *testing.T) *callback {
	t.Helper()
	cb := &callback{got: make(chan url.Values, 1)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			select {
			case cb.got <- r.URL.Query():
			default:
			}
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(ts.Close)
	cb.uri = ts.URL + "/callback"
	return cb
}

func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeQuery(clientID, redirectURI, challenge, state string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid"},
		"state":                 {state},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// followAuthorization GETs the authorization URL and follows redirects with
// a cookie jar, as a browser would, until the callback is hit.
func followAuthorization(t *testing.T, srv *oauthtest.Server, q url.Values, cb *callback) url.Values {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.Get(srv.Issuer + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	select {
	case got := <-cb.got:
		return got
	default:
		t.Fatalf("authorization ended at %s (%s) without reaching the callback: %.500s", resp.Request.URL, resp.Status, body)
		return nil
	}
}

// authorize runs the authorization request; extra adds or overrides parameters.
func authorize(t *testing.T, srv *oauthtest.Server, clientID string, cb *callback, extra url.Values) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	state := rand.Text()
	q := authorizeQuery(clientID, cb.uri, challenge, state)
	for k, v := range extra {
		q[k] = v
	}
	got := followAuthorization(t, srv, q, cb)
	if got.Get("state") != state || got.Get("code") == "" {
		t.Fatalf("callback got %v, want a code and state %s", got, state)
	}
	if got.Get("iss") != srv.Issuer {
		t.Errorf("callback iss = %q, want %s (RFC 9207)", got.Get("iss"), srv.Issuer)
	}
	return got.Get("code"), verifier
}

// exchange redeems a code and returns the token response's string fields;
// extra holds more form key/value pairs.
func exchange(t *testing.T, srv *oauthtest.Server, clientID, redirectURI, code, verifier string, extra ...string) map[string]string {
	t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"code":          {code},
		"code_verifier": {verifier},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	status, body := postForm(t, tokenURL(srv), form)
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	out := map[string]string{}
	for k, v := range body {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func tokenURL(srv *oauthtest.Server) string { return srv.Issuer + "/token" }

func postForm(t *testing.T, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, decode(t, resp)
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return decode(t, resp)
}

// decode reads a JSON object body; an empty body (as from revocation) is an empty map.
func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %s: not a JSON object: %.300s", resp.Request.Method, resp.Request.URL, resp.Status, raw)
		}
	}
	return m
}

// decodeJWT returns a compact JWS's header and claims without checking the signature.
func decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT: %q", token)
	}
	part := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT part %q: %v", s, err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("JWT part %q: %v", raw, err)
		}
		return m
	}
	return part(parts[0]), part(parts[1])
}
