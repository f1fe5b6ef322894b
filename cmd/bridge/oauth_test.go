package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// oauthSetup is a real authorization server, a real upstream behind a
// proxy that wants a bearer token, and a config whose provider is that
// authorization server.
type oauthSetup struct {
	as                      *oauthtest.Server
	up                      *upstreamtest.Server
	remote                  *authProxy
	dir, cfg, state, origin string
}

func newOAuthSetup(t *testing.T, opts oauthtest.Options) *oauthSetup {
	o := &oauthSetup{as: oauthtest.Start(t, opts)}
	o.up = upstreamtest.Start(t, upstreamtest.Options{Name: "sso", Transport: upstreamtest.StreamableHTTP})
	o.remote = newAuthProxy(t, o.up, "")
	o.remote.acceptAny = true
	o.dir = t.TempDir()
	o.state = filepath.Join(o.dir, "state")
	o.origin, _ = auth.Origin(o.remote.URL)
	catalog := annotated(entityYAML("sso", [2]string{"streamable-http", o.remote.URL + "/mcp"}), "mcp.spotify.com/auth-api-id: core.auth.test-sso")
	must(t, os.WriteFile(filepath.Join(o.dir, "catalog.yaml"), []byte(catalog), 0o644))
	o.cfg = filepath.Join(o.dir, "config.yaml")
	must(t, os.WriteFile(o.cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [sso]\ntoken_store: file\nproviders:\n  core.auth.test-sso:\n    issuer: "+
		o.as.Issuer+"\n    client_id: "+o.as.ClientID+"\n"), 0o644))
	t.Setenv("MCP_BRIDGE_STATE_DIR", o.state)
	t.Setenv("BROWSER", "fake-browser")
	return o
}

func (o *oauthSetup) token(t *testing.T) *auth.Token {
	t.Helper()
	tok, err := (&auth.Tokens{Secrets: auth.NewFile(o.state, nil)}).Get(context.Background(), "sso", o.origin)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLoginWithPKCEAgainstARealAuthorizationServer(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso")
	if code != 0 || !strings.HasPrefix(out, "logged in to sso") {
		t.Fatalf("login: %d %q\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, o.as.Issuer) || !strings.Contains(errOut, "code_challenge_method=S256") {
		t.Errorf("the login URL was not printed:\n%s", errOut)
	}
	tok := o.token(t)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Origin != o.origin || tok.TokenURL == "" || tok.Expiry.IsZero() {
		t.Fatalf("stored token %v", tok)
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
		if strings.Contains(out+errOut, secret) {
			t.Error("a token appears in the output")
		}
	}

	// The agent then uses the server with no prompt.
	a := spawnAgent(t, o.cfg, o.state)
	a.initialize("2025-11-25")
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "logged in"}); errm != nil || text != "logged in" {
		t.Fatalf("sso__echo: %q %v", text, errm)
	}
	if got := o.up.Stats().LastAuthorization; got != "Bearer "+tok.AccessToken {
		t.Error("the upstream did not get the token from the login")
	}

	// Refresh tokens rotate, and reusing a spent one revokes the grant.
	client := &http.Client{Timeout: 10 * time.Second}
	nt, err := auth.Refresh(context.Background(), client, tok)
	if err != nil || nt.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v %v", nt, err)
	}
	if _, err := auth.Refresh(context.Background(), client, tok); !errors.Is(err, auth.ErrGrantRevoked) {
		t.Errorf("reusing a spent refresh token: %v", err)
	}
	if _, err := auth.Refresh(context.Background(), client, nt); !errors.Is(err, auth.ErrGrantRevoked) {
		t.Errorf("after reuse the grant should be revoked: %v", err)
	}
}

func TestDeviceLoginAgainstARealAuthorizationServer(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	exe, err := exec.LookPath("bridge")
	must(t, err)
	cmd := exec.Command(exe, "login", "--device", "--config", o.cfg, "sso")
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	codeLine := regexp.MustCompile(`enter the code (\S+)`)
	var userCode string
	waitFor(t, func() bool {
		if m := codeLine.FindStringSubmatch(stderr.String()); m != nil {
			userCode = m[1]
			return true
		}
		return false
	})
	o.as.ApproveDevice(t, userCode)
	select {
	case err := <-done:
		if err != nil || !strings.HasPrefix(stdout.String(), "logged in to sso") {
			t.Fatalf("device login: %v %q\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the device login did not finish")
	}
	if tok := o.token(t); tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Errorf("stored token %v", tok)
	}
}

// TestTwoProcessesRenewOneTokenWithoutRevokingIt runs two "bridge serve" at once
// with an expired token, against a server that rotates refresh tokens and
// revokes the grant when a spent one is reused.
func TestTwoProcessesRenewOneTokenWithoutRevokingIt(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	tokens := &auth.Tokens{Secrets: auth.NewFile(o.state, nil)}
	tok := o.token(t)
	tok.Expiry = time.Now().Add(-time.Minute)
	must(t, tokens.Save(context.Background(), "sso", tok))

	// Two agents start the bridge at the same moment; both find the token
	// expired.
	agents := []*agent{spawnAgent(t, o.cfg, o.state), spawnAgent(t, o.cfg, o.state)}
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() { a.initialize("2025-11-25") })
	}
	wg.Wait()
	for i, a := range agents {
		if text, errm := a.toolText("sso__echo", map[string]any{"text": "both"}); errm != nil || text != "both" {
			t.Errorf("bridge %d: %q %v\n%s", i, text, errm, a.stderr.String())
		}
	}
	// The grant survived: the refresh token now stored still works.
	final := o.token(t)
	if final.RefreshToken == tok.RefreshToken {
		t.Fatal("the token was not renewed")
	}
	if _, err := auth.Refresh(context.Background(), &http.Client{Timeout: 10 * time.Second}, final); err != nil {
		t.Errorf("the grant did not survive two renewing processes: %v", err)
	}
}

func TestLoginToolBringsTheServersToolsIn(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "300ms")
	a.initialize("2025-11-25")
	if tools := keys(listTools(a)); len(tools) != 1 || tools[0] != "sso__login" {
		t.Fatalf("tools before login: %v", tools)
	}
	m, notes := a.call("tools/call", map[string]any{"name": "sso__login", "arguments": map[string]any{},
		"_meta": map[string]any{"progressToken": "login"}})
	if m.Error != nil || strings.Contains(string(m.Result), `"isError":true`) || !strings.Contains(firstText(t, m.Result), "Logged in to sso") {
		t.Fatalf("sso__login: %s\n%s", m.raw, a.stderr.String())
	}
	var sawURL bool
	for _, n := range notes {
		sawURL = sawURL || (n.Method == "notifications/progress" && strings.Contains(string(n.Params), o.as.Issuer))
	}
	if !sawURL {
		t.Error("the login URL did not reach the agent")
	}
	a.waitNotification("notifications/tools/list_changed", 10*time.Second)
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "now"}); errm != nil || text != "now" {
		t.Errorf("sso__echo after login: %q %v", text, errm)
	}
}

// TestDiscoveryLoginForAServerThatAnswers401 logs in to a server with no
// auth annotation through the MCP authorization spec: resource metadata,
// authorization server metadata, dynamic registration, PKCE and a token
// bound to the server by RFC 8707, which the server checks.
func TestDiscoveryLoginForAServerThatAnswers401(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "guarded", Transport: upstreamtest.StreamableHTTP})
	guarded := as.Protect(t, up.StreamableURL, []string{"mcp:tools"})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("MCP_BRIDGE_STATE_DIR", state)
	t.Setenv("BROWSER", "fake-browser")
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(entityYAML("guarded", [2]string{"streamable-http", guarded.URL})), 0o644))
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [guarded]\ntoken_store: file\n"), 0o644))

	// Before a login, serve offers the login tool.
	a := spawnAgent(t, cfg, state, "--startup-wait", "500ms")
	a.initialize("2025-11-25")
	if tools := keys(listTools(a)); len(tools) != 1 || tools[0] != "guarded__login" {
		t.Fatalf("tools before login: %v", tools)
	}
	a.stop()

	code, out, errOut := runBridge(t, "login", "--config", cfg, "guarded")
	if code != 0 {
		t.Fatalf("login: %d %s\n%s", code, out, errOut)
	}
	if data, err := os.ReadFile(filepath.Join(state, "registrations.json")); err != nil || !strings.Contains(string(data), as.Issuer) {
		t.Errorf("the dynamic registration was not kept: %s %v", data, err)
	}
	origin, _ := auth.Origin(guarded.URL)
	tok, err := (&auth.Tokens{Secrets: auth.NewFile(state, nil)}).Get(context.Background(), "guarded", origin)
	if err != nil || tok.Resource != guarded.URL || tok.RefreshToken == "" {
		t.Fatalf("stored token: %v %v", tok, err)
	}

	a = spawnAgent(t, cfg, state)
	a.initialize("2025-11-25")
	if text, errm := a.toolText("guarded__echo", map[string]any{"text": "bound"}); errm != nil || text != "bound" {
		t.Fatalf("guarded__echo: %q %v\n%s", text, errm, a.stderr.String())
	}
	if n, _ := guarded.Accepted(); n == 0 {
		t.Error("the protected server accepted no request")
	}
}

// TestLoginToolUsesURLElicitation: an agent that can show a URL
// (elicitation in URL mode) is asked to, and the bridge opens no browser;
// a user who declines ends the login at once.
func TestLoginToolUsesURLElicitation(t *testing.T) {
	for _, action := range []string{"accept", "decline"} {
		t.Run(action, func(t *testing.T) { elicitLogin(t, action) })
	}
}

func elicitLogin(t *testing.T, action string) {
	o := newOAuthSetup(t, oauthtest.Options{})
	marker := filepath.Join(o.dir, "browser-opened")
	t.Setenv("BROWSER", "touch "+marker)
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "300ms")
	var init json.RawMessage
	a.result("initialize", map[string]any{"protocolVersion": "2025-11-25",
		"capabilities": map[string]any{"elicitation": map[string]any{"url": map[string]any{}}},
		"clientInfo":   map[string]any{"name": "e2e", "version": "1"}}, &init)
	a.notify("notifications/initialized", map[string]any{})
	listTools(a)
	id := a.request("tools/call", map[string]any{"name": "sso__login", "arguments": map[string]any{}})
	deadline := time.After(30 * time.Second)
	elicited := false
	for {
		select {
		case m := <-a.msgs:
			if m.Method == "elicitation/create" {
				var p struct{ Mode, URL string }
				must(t, json.Unmarshal(m.Params, &p))
				if p.Mode != "url" || !strings.HasPrefix(p.URL, o.as.Issuer) {
					t.Fatalf("elicitation: %s", m.raw)
				}
				elicited = true
				if action == "accept" {
					go func() {
						jar, _ := cookiejar.New(nil)
						if res, err := (&http.Client{Jar: jar}).Get(p.URL); err == nil {
							res.Body.Close()
						}
					}()
				}
				a.send(map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(m.ID), "result": map[string]any{"action": action}})
				continue
			}
			if m.Method != "" || string(m.ID) != fmt.Sprint(id) {
				continue
			}
			want := "Logged in to sso"
			if action == "decline" {
				want = "Login to sso failed: the user chose decline"
			}
			if !elicited || m.Error != nil || !strings.Contains(firstText(t, m.Result), want) {
				t.Fatalf("login: elicited %v, %s", elicited, m.raw)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the bridge opened a browser although the agent showed the URL")
			}
			return
		case <-deadline:
			t.Fatal("no answer to the login")
		}
	}
}

// TestLoginWithoutAKeychainFailsBeforeTheBrowser: with no keychain to
// keep the token, "bridge login" says so and what to do before it prints
// a URL or opens a browser, and the authorization server is asked for no
// authorization or token.
func TestLoginWithoutAKeychainFailsBeforeTheBrowser(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the keychain is missing only where it is a D-Bus service")
	}
	o := newOAuthSetup(t, oauthtest.Options{})
	config, err := os.ReadFile(o.cfg)
	must(t, err)
	must(t, os.WriteFile(o.cfg, bytes.Replace(config, []byte("token_store: file\n"), nil, 1), 0o644))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	marker := filepath.Join(o.dir, "browser-opened")
	t.Setenv("BROWSER", "touch "+marker)

	code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso")
	if code != exitFailure || !strings.Contains(errOut, "the login was not started: the OS keychain cannot keep the token") ||
		!strings.Contains(errOut, "--insecure-storage") {
		t.Fatalf("login: %d %q\n%s", code, out, errOut)
	}
	if strings.Contains(errOut, "/auth?") || strings.Contains(errOut, "Opening the browser") {
		t.Errorf("a login URL was printed:\n%s", errOut)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a browser was opened")
	}
	for _, r := range o.as.Requests(t) {
		if !strings.HasPrefix(r, "GET /.well-known/") {
			t.Errorf("the authorization server was asked %q; want only its metadata read", r)
		}
	}
}

// tokenGate stands in front of the real authorization server and answers
// 503 while it is down, as a token endpoint behind a failing proxy does.
type tokenGate struct {
	*httptest.Server
	down  atomic.Bool
	asked atomic.Int32 // requests while down
}

func newTokenGate(t *testing.T, as *oauthtest.Server) *tokenGate {
	target, err := url.Parse(as.Issuer)
	must(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	g := &tokenGate{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			g.asked.Add(1)
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// TestATokenEndpointThatIsDownKeepsTheServersTools: while the token
// endpoint answers 503, a server whose token needs renewing is not turned
// into its login tool — at start-up, and when its remote refuses the token
// in the middle of a session — and the stored token is kept. The call
// fails saying the authorization server is failing; once it is back, the
// token renews and the server works.
func TestATokenEndpointThatIsDownKeepsTheServersTools(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	gate := newTokenGate(t, o.as)
	tokens := &auth.Tokens{Secrets: auth.NewFile(o.state, nil)}
	tok := o.token(t)
	tok.TokenURL, tok.Expiry = gate.URL+"/token", time.Now().Add(-time.Minute)
	must(t, tokens.Save(context.Background(), "sso", tok))
	gate.down.Store(true)

	// At start-up the token has expired and cannot be renewed.
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "300ms")
	a.initialize("2025-11-25")
	waitFor(t, func() bool {
		return strings.Contains(a.stderr.String(), "the authorization server is unreachable or failing")
	})
	if _, ok := listTools(a)["sso__login"]; ok || gate.asked.Load() == 0 {
		t.Fatalf("tools while the token endpoint is down: %v (asked %d times)", keys(listTools(a)), gate.asked.Load())
	}
	if kept := o.token(t); kept.AccessToken != tok.AccessToken || kept.RefreshToken != tok.RefreshToken {
		t.Fatal("the stored token changed while the token endpoint was down")
	}
	gate.down.Store(false)
	a.waitNotification("notifications/tools/list_changed", 60*time.Second)
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "renewed"}); errm != nil || text != "renewed" {
		t.Fatalf("sso__echo once the token endpoint is back: %q %v\n%s", text, errm, a.stderr.String())
	}
	renewed := o.token(t)
	if renewed.AccessToken == tok.AccessToken {
		t.Fatal("the token was not renewed")
	}

	// In the middle of the session the remote refuses the token.
	o.remote.refuse(renewed.AccessToken)
	gate.down.Store(true)
	m, _ := a.call("tools/call", map[string]any{"name": "sso__echo", "arguments": map[string]any{"text": "down"}})
	msg := string(m.raw)
	if m.Error == nil && !strings.Contains(string(m.Result), `"isError":true`) {
		t.Fatalf("sso__echo with the token refused and the token endpoint down: %s", msg)
	}
	if !strings.Contains(msg, "the authorization server is unreachable or failing") || !strings.Contains(msg, "the bridge will try again") ||
		strings.Contains(msg, "bridge login") {
		t.Errorf("the call's error does not say the authorization server is failing: %s", msg)
	}
	if tools := listTools(a); tools["sso__echo"] == nil || tools["sso__login"] != nil {
		t.Errorf("tools while the token endpoint is down: %v", keys(tools))
	}
	if kept := o.token(t); kept.AccessToken != renewed.AccessToken || kept.RefreshToken != renewed.RefreshToken {
		t.Error("the stored token changed while the token endpoint was down")
	}
	gate.down.Store(false)
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "back"}); errm != nil || text != "back" {
		t.Fatalf("sso__echo once the token endpoint is back: %q %v\n%s", text, errm, a.stderr.String())
	}
	if final := o.token(t); final.AccessToken == renewed.AccessToken {
		t.Error("the refused token was not renewed")
	}
}
