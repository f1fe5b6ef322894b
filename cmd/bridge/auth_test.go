package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// authProxy fronts a real upstream and demands a bearer token, as an
// OAuth-protected remote or the portal's plugin endpoint would.
type authProxy struct {
	*httptest.Server
	mu        sync.Mutex
	accept    string   // the token it takes
	acceptAny bool     // or any bearer token
	refused   string   // but never this one, as if it had expired
	seen      []string // Authorization headers it received
	// forbid names a tool whose calls get 403 insufficient_scope.
	forbid string
}

func newAuthProxy(t *testing.T, up *upstreamtest.Server, accept string) *authProxy {
	target, _ := url.Parse(up.StreamableURL)
	p := &authProxy{accept: accept}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.URL.Path = target.Path },
		FlushInterval: -1,
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/catalog/") {
			http.NotFound(w, r) // not a portal's catalog: only its plugin endpoint
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Header.Get("Authorization"))
		h := r.Header.Get("Authorization")
		ok := h == "Bearer "+p.accept || (p.acceptAny && strings.HasPrefix(h, "Bearer ") && len(h) > len("Bearer "))
		ok = ok && (p.refused == "" || h != "Bearer "+p.refused)
		p.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if p.forbid != "" && r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"name":"`+p.forbid+`"`)) {
				w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="admin"`)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// refuse makes the proxy answer 401 to token from now on.
func (p *authProxy) refuse(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = token
}

func (p *authProxy) headers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func annotated(entity, annotation string) string {
	return strings.Replace(entity, "    mcp.spotify.com/schema-version: '2025-09-29'\n",
		"    mcp.spotify.com/schema-version: '2025-09-29'\n    "+annotation+"\n", 1)
}

func TestPluginAuthSendsThePortalTokenOnlyToThePortal(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "actions", Transport: upstreamtest.StreamableHTTP})
	portal := newAuthProxy(t, up, "portal-token")
	t.Setenv("BRIDGE_TEST_PORTAL_TOKEN", "portal-token")
	catalog := annotated(entityYAML("actions", [2]string{"streamable-http", portal.URL + "/api/mcp-actions/v1"}), "mcp.spotify.com/auth-plugin-id: mcp-actions") +
		annotated(entityYAML("elsewhere", [2]string{"streamable-http", up.StreamableURL}), "mcp.spotify.com/auth-plugin-id: mcp-actions")
	a := startAgent(t, catalog, []string{"actions", "elsewhere"},
		"portal:\n  url: "+portal.URL+"\n  token_env: BRIDGE_TEST_PORTAL_TOKEN\n  timeout: 1s\n", "--startup-wait", "2s")
	a.initialize("2025-11-25")
	if text, errm := a.toolText("actions__echo", map[string]any{"text": "with token"}); errm != nil || text != "with token" {
		t.Fatalf("actions__echo: %q %v", text, errm)
	}
	if _, ok := listTools(a)["elsewhere__echo"]; ok {
		t.Error("a plugin-auth server outside the portal was connected")
	}
	waitFor(t, func() bool {
		return strings.Contains(a.stderr.String(), "the portal's token goes only to "+portal.URL+"/api/mcp-actions/…")
	})
	if got := up.Stats().LastAuthorization; got != "Bearer portal-token" {
		t.Errorf("the upstream behind the portal saw %q", got)
	}
	if strings.Contains(a.stderr.String(), "portal-token") {
		t.Error("the token appears in the log")
	}
}

// refreshing is a server "gh" behind a proxy that accepts one access token,
// with a stored token for it that a loopback token endpoint refreshes,
// handing out fresh and the refresh token "rotated".
type refreshing struct {
	up     *upstreamtest.Server
	remote *authProxy
	tokens *auth.Tokens
	origin string

	mu        sync.Mutex
	refreshes []string // the refresh tokens the endpoint was given
}

// startRefreshing starts the server, accepting the access token accept,
// stores the token stored (refresh token "first") and starts the bridge
// with it in a file store.
func startRefreshing(t *testing.T, stored, fresh, accept string) (*refreshing, *agent) {
	r := &refreshing{up: upstreamtest.Start(t, upstreamtest.Options{Name: "gh", Transport: upstreamtest.StreamableHTTP})}
	r.remote = newAuthProxy(t, r.up, accept)
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		must(t, req.ParseForm())
		r.mu.Lock()
		r.refreshes = append(r.refreshes, req.Form.Get("refresh_token"))
		r.mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600,"refresh_token":"rotated"}`, fresh)
	}))
	t.Cleanup(tokenEndpoint.Close)

	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	r.origin, _ = auth.Origin(r.remote.URL)
	r.tokens = &auth.Tokens{Secrets: auth.NewFile(stateDir, nil)}
	must(t, r.tokens.Save(context.Background(), "gh", &auth.Token{AccessToken: stored, RefreshToken: "first",
		Origin: r.origin, TokenURL: tokenEndpoint.URL, Expiry: time.Now().Add(time.Hour)}))
	catalog := annotated(entityYAML("gh", [2]string{"streamable-http", r.remote.URL + "/mcp"}), "mcp.spotify.com/auth-api-id: core.auth.github")
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(catalog), 0o644))
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [gh]\n"), 0o644))
	return r, spawnAgent(t, cfg, stateDir, "--insecure-storage")
}

func (r *refreshing) refreshed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refreshes)
}

// checkStored checks that the refreshed token was stored.
func (r *refreshing) checkStored(t *testing.T, fresh string) {
	t.Helper()
	stored, err := r.tokens.Get(context.Background(), "gh", r.origin)
	if err != nil || stored.AccessToken != fresh || stored.RefreshToken != "rotated" {
		t.Errorf("stored after the refresh: %v, %v", stored, err)
	}
}

func TestExpiredTokenIsRefreshedOnceOn401(t *testing.T) {
	// The server takes only the fresh token: the stored one meets a 401.
	r, a := startRefreshing(t, "old-access", "new-access", "new-access")
	remote := r.remote
	a.initialize("2025-11-25")
	if text, errm := a.toolText("gh__echo", map[string]any{"text": "refreshed"}); errm != nil || text != "refreshed" {
		t.Fatalf("gh__echo: %q %v", text, errm)
	}
	if got := r.refreshed(); len(got) != 1 || got[0] != "first" {
		t.Errorf("refreshes = %q, want one with the stored refresh token", got)
	}
	r.checkStored(t, "new-access")
	seen := remote.headers()
	if seen[0] != "Bearer old-access" || seen[len(seen)-1] != "Bearer new-access" {
		t.Errorf("the remote saw %q", seen)
	}
	if !strings.Contains(a.stderr.String(), "plain file") {
		t.Error("the file store was used without a warning")
	}
}

func TestProviderServerWithoutLoginSaysHowToLogIn(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "gh", Transport: upstreamtest.StreamableHTTP})
	catalog := annotated(entityYAML("gh", [2]string{"streamable-http", up.StreamableURL}), "mcp.spotify.com/auth-api-id: core.auth.github")
	a := startAgent(t, catalog, []string{"gh"}, "", "--insecure-storage", "--startup-wait", "300ms")
	a.initialize("2025-11-25")
	// The server stands in as one tool that runs its login.
	if tools := keys(listTools(a)); len(tools) != 1 || tools[0] != "gh__login" {
		t.Errorf("tools without a login: %v", tools)
	}
	waitFor(t, func() bool { return strings.Contains(a.stderr.String(), `gh: needs login: run \"bridge login gh\"`) })
	if up.Stats().Initializes != 0 {
		t.Error("the server was contacted without the token it needs")
	}
	// Without a client configured the login says what to set, as a result
	// the agent can show.
	m, _ := a.call("tools/call", map[string]any{"name": "gh__login", "arguments": map[string]any{}})
	if m.Error != nil || !strings.Contains(string(m.Result), `"isError":true`) ||
		!strings.Contains(firstText(t, m.Result), "set providers.core.auth.github.client_id in the config") {
		t.Errorf("gh__login: %s", m.raw)
	}
}

func TestLogoutRevokesAndListShowsLoginState(t *testing.T) {
	var mu sync.Mutex
	var revoked []string
	revocation := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		must(t, r.ParseForm())
		mu.Lock()
		revoked = append(revoked, r.Form.Get("token_type_hint")+"="+r.Form.Get("token"))
		mu.Unlock()
	}))
	t.Cleanup(revocation.Close)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	t.Setenv("MCP_BRIDGE_STATE_DIR", stateDir)
	catalog := annotated(entityYAML("gh", [2]string{"streamable-http", "https://gh.example.com/mcp"}), "mcp.spotify.com/auth-api-id: core.auth.github")
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(catalog), 0o644))
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [gh]\ntoken_store: file\n"), 0o644))

	_, out, _ := runBridge(t, "list", "--config", cfg)
	if !strings.Contains(out, `login: needs login (run "bridge login gh")`) {
		t.Errorf("list before login:\n%s", out)
	}
	tokens := &auth.Tokens{Secrets: auth.NewFile(stateDir, nil)}
	must(t, tokens.Save(context.Background(), "gh", &auth.Token{AccessToken: "at-secret", RefreshToken: "rt-secret",
		Origin: "https://gh.example.com", RevokeURL: revocation.URL, Expiry: time.Now().Add(3*time.Hour + time.Minute)}))
	_, out, errOut := runBridge(t, "list", "--config", cfg)
	if !strings.Contains(out, "login: logged in, expires in 3 hours") || !strings.Contains(errOut, "plain file") {
		t.Errorf("list after login:\n%s\n%s", out, errOut)
	}
	_, out, _ = runBridge(t, "list", "--json", "--config", cfg)
	if !strings.Contains(out, `"state": "logged-in"`) || strings.Contains(out, "secret") {
		t.Errorf("list --json:\n%s", out)
	}

	code, out, errOut := runBridge(t, "logout", "--config", cfg, "gh")
	if code != 0 || out != "logged out of gh at https://gh.example.com; the token was revoked\n" {
		t.Errorf("logout: %d %q %s", code, out, errOut)
	}
	mu.Lock()
	if len(revoked) != 1 || revoked[0] != "refresh_token=rt-secret" {
		t.Errorf("revocation requests: %q", revoked)
	}
	mu.Unlock()
	if _, err := tokens.Get(context.Background(), "gh", "https://gh.example.com"); err == nil {
		t.Error("the token is still stored")
	}
	if _, out, _ = runBridge(t, "logout", "--config", cfg, "gh"); out != "gh: not logged in\n" {
		t.Errorf("second logout: %q", out)
	}

	// A revocation that fails is not called one.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	must(t, tokens.Save(context.Background(), "gh", &auth.Token{AccessToken: "at-secret", RefreshToken: "rt-secret",
		Origin: "https://gh.example.com", RevokeURL: failing.URL, Expiry: time.Now().Add(time.Hour)}))
	code, out, errOut = runBridge(t, "logout", "--config", cfg, "gh")
	if code != 0 || strings.Contains(out, "was revoked") || !strings.Contains(out, "revoking it failed") ||
		!strings.Contains(out, "so the token stays valid until it expires (in ") || strings.Contains(out, "secret") {
		t.Errorf("logout with a failing revocation: %d %q %s", code, out, errOut)
	}
}

func TestInsufficientScopeTellsTheUserToLogInAgain(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "actions", Transport: upstreamtest.StreamableHTTP})
	portal := newAuthProxy(t, up, "portal-token")
	portal.forbid = "note"
	t.Setenv("BRIDGE_TEST_PORTAL_TOKEN", "portal-token")
	catalog := annotated(entityYAML("actions", [2]string{"streamable-http", portal.URL + "/api/mcp-actions/v1"}), "mcp.spotify.com/auth-plugin-id: mcp-actions")
	a := startAgent(t, catalog, []string{"actions"},
		"portal:\n  url: "+portal.URL+"\n  token_env: BRIDGE_TEST_PORTAL_TOKEN\n  timeout: 1s\n")
	a.initialize("2025-11-25")
	m, _ := a.call("tools/call", map[string]any{"name": "actions__note", "arguments": map[string]any{"text": "x"}})
	if m.Error == nil || !strings.Contains(m.Error.Message, `actions: needs more permission (admin): run "bridge login portal" to grant it`) {
		t.Errorf("403 insufficient_scope: %s", m.raw)
	}
	// Other tools of the server keep working.
	if text, errm := a.toolText("actions__echo", map[string]any{"text": "still"}); errm != nil || text != "still" {
		t.Errorf("echo: %q %v", text, errm)
	}
	data, err := os.ReadFile(filepath.Join(a.stateDir, "scopes.json"))
	if err != nil || !strings.Contains(string(data), `"admin"`) {
		t.Errorf("the scope was not kept for the next login: %s %v", data, err)
	}
}
