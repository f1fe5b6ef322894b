package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// revokeGrant revokes a token's refresh token at the real authorization
// server (RFC 7009), as a user removing the bridge's access there would.
func revokeGrant(t *testing.T, as *oauthtest.Server, tok *auth.Token) {
	t.Helper()
	res, err := http.PostForm(tok.RevokeURL, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {tok.ClientID}})
	must(t, err)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || as.Active(t, tok.RefreshToken) {
		t.Fatalf("revoking the refresh token: %s", res.Status)
	}
}

// waitChange waits for a tools/list_changed, unless it is among notes
// already read.
func (a *agent) waitChange(notes []rpcMessage) {
	a.t.Helper()
	for _, n := range notes {
		if n.Method == "notifications/tools/list_changed" {
			return
		}
	}
	a.waitNotification("notifications/tools/list_changed", 60*time.Second)
}

// TestATokenRefusedMidSessionBecomesTheLoginTool: when the remote refuses
// the token in the middle of a session and the grant is gone at the
// authorization server, the call fails saying to log in, the server's
// tools give way to its login tool with list_changed, and a login in a
// terminal brings them back.
func TestATokenRefusedMidSessionBecomesTheLoginTool(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "5s")
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["sso__echo"]; !ok {
		t.Fatalf("tools after login: %v\n%s", keys(listTools(a)), a.stderr.String())
	}
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "before"}); errm != nil || text != "before" {
		t.Fatalf("sso__echo: %q %v\n%s", text, errm, a.stderr.String())
	}
	tok := o.token(t)
	o.remote.refuse(tok.AccessToken)
	revokeGrant(t, o.as, tok)

	m, notes := a.call("tools/call", map[string]any{"name": "sso__echo", "arguments": map[string]any{"text": "refused"}})
	if msg := string(m.raw); (m.Error == nil && !strings.Contains(msg, `"isError":true`)) || !strings.Contains(msg, `bridge login sso`) {
		t.Fatalf("sso__echo with the grant revoked: %s", msg)
	}
	a.waitChange(notes)
	if tools := keys(listTools(a)); len(tools) != 1 || tools[0] != "sso__login" {
		t.Fatalf("tools once the token is refused: %v", tools)
	}

	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code != 0 {
		t.Fatalf("login again: %d %s %s", code, out, errOut)
	}
	a.waitNotification("notifications/tools/list_changed", 60*time.Second)
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "after"}); errm != nil || text != "after" {
		t.Fatalf("sso__echo after logging in again: %q %v\n%s", text, errm, a.stderr.String())
	}
	if strings.Contains(a.stderr.String(), tok.AccessToken) || strings.Contains(a.stderr.String(), tok.RefreshToken) {
		t.Error("a token appears in the log")
	}
}

// TestLoginToAServerThatAsksForATokenAfterInitialize: a server that
// answers initialize without a token and 401 to tools/list is logged in
// to at once by "bridge login", whose probe goes on past initialize; when
// serve meets such a refusal first, the server is offered as its login
// tool and the challenge serve saw is kept in the state folder, which a
// later "bridge login" starts from too. Serve picks the login up.
func TestLoginToAServerThatAsksForATokenAfterInitialize(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "lazy", Transport: upstreamtest.StreamableHTTP})
	lazy := as.ProtectAfterInitialize(t, up.StreamableURL, []string{"mcp:tools"})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("MCP_BRIDGE_STATE_DIR", state)
	t.Setenv("BROWSER", "fake-browser")
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(entityYAML("lazy", [2]string{"streamable-http", lazy.URL})), 0o644))
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [lazy]\ntoken_store: file\n"), 0o644))

	a := spawnAgent(t, cfg, state, "--startup-wait", "5s")
	a.initialize("2025-11-25")
	if tools := keys(listTools(a)); len(tools) != 1 || tools[0] != "lazy__login" {
		t.Fatalf("tools before login: %v\n%s", tools, a.stderr.String())
	}
	if data, err := os.ReadFile(filepath.Join(state, "challenges.json")); err != nil || !strings.Contains(string(data), "oauth-protected-resource") {
		t.Fatalf("the challenge was not kept: %s %v", data, err)
	}
	if code, out, errOut := runBridge(t, "login", "--config", cfg, "lazy"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	a.waitNotification("notifications/tools/list_changed", 60*time.Second)
	if text, errm := a.toolText("lazy__echo", map[string]any{"text": "asked"}); errm != nil || text != "asked" {
		t.Fatalf("lazy__echo after the login: %q %v\n%s", text, errm, a.stderr.String())
	}
	if n, _ := lazy.Accepted(); n == 0 {
		t.Error("the protected server accepted no request with a token")
	}

	// A login before serve ever met the server needs nothing serve kept.
	t.Setenv("MCP_BRIDGE_STATE_DIR", filepath.Join(dir, "fresh-state"))
	if code, out, errOut := runBridge(t, "login", "--config", cfg, "lazy"); code != 0 {
		t.Fatalf("login with no challenge kept: %d %s %s", code, out, errOut)
	}
}
