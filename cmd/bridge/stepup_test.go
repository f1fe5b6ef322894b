package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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
	"sync/atomic"
	"testing"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// scopeGate stands between the protected endpoint (which checks the
// token) and the upstream, and answers tools/call with 403
// insufficient_scope, asking for challenge, unless the access token
// carries the scope need: a server whose tools need more permission than
// its lists.
type scopeGate struct {
	*httptest.Server
	refused atomic.Int32
}

func newScopeGate(t *testing.T, upstream, need, challenge string) *scopeGate {
	t.Helper()
	target, err := url.Parse(upstream)
	must(t, err)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.URL.Path = target.Path },
		FlushInterval: -1,
	}
	g := &scopeGate{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct{ Method string }
		if json.Unmarshal(body, &m) == nil && m.Method == "tools/call" && !slices.Contains(tokenScopes(r.Header.Get("Authorization")), need) {
			g.refused.Add(1)
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, challenge))
			http.Error(w, `{"error":"insufficient_scope"}`, http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// tokenScopes reads the scope claim of a JWT bearer token (the protected
// endpoint in front has checked its signature).
func tokenScopes(header string) []string {
	parts := strings.Split(strings.TrimPrefix(header, "Bearer "), ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims struct{ Scope string }
	_ = json.Unmarshal(payload, &claims)
	return strings.Fields(claims.Scope)
}

// stepUpSetup is a server behind a real authorization server whose
// tools/call is gated on a scope, logged in to with "bridge login".
type stepUpSetup struct {
	as              *oauthtest.Server
	gate            *scopeGate
	cfg, state, dir string
	origin, marker  string
}

func newStepUpSetup(t *testing.T, need, challenge string) *stepUpSetup {
	t.Helper()
	o := &stepUpSetup{as: oauthtest.Start(t, oauthtest.Options{}), dir: t.TempDir()}
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "wide", Transport: upstreamtest.StreamableHTTP})
	o.gate = newScopeGate(t, up.StreamableURL, need, challenge)
	prot := o.as.Protect(t, o.gate.URL, []string{"mcp:tools"})
	o.origin, _ = auth.Origin(prot.URL)
	o.state = filepath.Join(o.dir, "state")
	must(t, os.WriteFile(filepath.Join(o.dir, "catalog.yaml"), []byte(entityYAML("wide", [2]string{"streamable-http", prot.URL})), 0o644))
	o.cfg = filepath.Join(o.dir, "config.yaml")
	must(t, os.WriteFile(o.cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [wide]\ntoken_store: file\n"), 0o644))
	t.Setenv("MCP_BRIDGE_STATE_DIR", o.state)
	t.Setenv("BROWSER", "fake-browser")
	if code, out, errOut := runBridge(t, "login", "--config", o.cfg, "wide"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	// From here on a browser opened by the bridge would leave a mark.
	o.marker = filepath.Join(o.dir, "browser-opened")
	t.Setenv("BROWSER", "touch "+o.marker)
	return o
}

// authorizations counts the authorization requests the server has had.
func (o *stepUpSetup) authorizations(t *testing.T) int {
	n := 0
	for _, r := range o.as.Requests(t) {
		if strings.HasPrefix(r, "GET /auth?") {
			n++
		}
	}
	return n
}

// stepUpCall calls wide__echo and answers the bridge's URL elicitations as
// a user would with action: visiting the URL first when accepting. It
// returns the answer and the URLs elicited.
func stepUpCall(t *testing.T, a *agent, action string) (rpcMessage, []string) {
	t.Helper()
	var elicited []string
	m, _, _ := callAnswering(a, "wide__echo", map[string]any{"text": "granted"}, func(m rpcMessage) any {
		var p struct{ Mode, URL, Message string }
		if m.Method != "elicitation/create" || json.Unmarshal(m.Params, &p) != nil || p.Mode != "url" || !strings.Contains(p.Message, "needs more permission") {
			t.Errorf("unexpected request: %s", m.raw)
			return &rpcError{Code: -32601, Message: "not expected"}
		}
		elicited = append(elicited, p.URL)
		if action == "accept" {
			if err := browse(p.URL); err != nil {
				t.Errorf("visiting the login URL: %v", err)
			}
		}
		return map[string]any{"action": action}
	})
	return m, elicited
}

// errorText is a call's error, as a JSON-RPC error or a tool error.
func errorText(t *testing.T, m rpcMessage) string {
	t.Helper()
	if m.Error != nil {
		return m.Error.Message
	}
	if !strings.Contains(string(m.Result), `"isError":true`) {
		return ""
	}
	return firstText(t, m.Result)
}

// TestStepUpInServe: a server whose tools/call answers 403
// insufficient_scope until the token carries more scope. An agent that
// can show a URL is asked to log in again, and once the user has, gets
// the call's result; one that declines, or cannot show a URL, gets an
// error that says how to grant it, and no browser opens. No token shows
// in an answer or the log.
func TestStepUpInServe(t *testing.T) {
	for _, tc := range []struct {
		name, action string
		elicit       bool
		wantText     string // the result's text, or
		wantErr      string // the error's
	}{
		{name: "accepted", action: "accept", elicit: true, wantText: "granted"},
		{name: "declined", action: "decline", elicit: true, wantErr: `run "bridge login wide" to grant it`},
		{name: "no URL elicitation", wantErr: `run "bridge login wide" to grant it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newStepUpSetup(t, "mcp:write", "mcp:tools mcp:write")
			a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "5s")
			caps := map[string]any{}
			if tc.elicit {
				caps["elicitation"] = map[string]any{"url": map[string]any{}}
			}
			a.result("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": caps,
				"clientInfo": map[string]any{"name": "e2e", "version": "1"}}, nil)
			a.notify("notifications/initialized", map[string]any{})
			if _, ok := listTools(a)["wide__echo"]; !ok {
				t.Fatalf("tools: %v\n%s", keys(listTools(a)), a.stderr.String())
			}
			m, elicited := stepUpCall(t, a, tc.action)
			if want := map[bool]int{true: 1, false: 0}[tc.elicit]; len(elicited) != want || (want == 1 && !strings.HasPrefix(elicited[0], o.as.Issuer)) {
				t.Fatalf("elicited %v, want %d login at the authorization server", elicited, want)
			}
			if tc.elicit && !strings.Contains(elicited[0], "mcp%3Awrite") {
				t.Errorf("the step-up login does not ask for the scope: %s", elicited[0])
			}
			if tc.wantText != "" {
				if text := firstText(t, m.Result); m.Error != nil || text != tc.wantText {
					t.Fatalf("the call after the step-up: %s\n%s", m.raw, a.stderr.String())
				}
				if n := o.gate.refused.Load(); n != 1 {
					t.Errorf("the server refused %d calls; want the first only", n)
				}
			} else if msg := errorText(t, m); !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, "needs more permission (mcp:tools mcp:write)") {
				t.Fatalf("the refused call: %s", m.raw)
			}
			if tc.action == "decline" {
				// A declined login is no refusal of the server's: the
				// next call asks again, and says how to be asked again.
				if !strings.Contains(errorText(t, m), "or call it again to log in here (the login asked for did not complete: the user chose decline)") {
					t.Errorf("the declined call: %s", m.raw)
				}
				if again, elicited := stepUpCall(t, a, tc.action); len(elicited) != 1 || !strings.Contains(errorText(t, again), tc.wantErr) {
					t.Errorf("the next call, declined too: elicited %v, %s", elicited, again.raw)
				}
			}
			if _, err := os.Stat(o.marker); err == nil {
				t.Error("serve opened a browser")
			}
			assertNoToken(t, o, a.stderr.String()+string(m.raw))
		})
	}
}

// TestStepUpInServeIsBounded: a server that refuses whatever the login
// grants gets a bounded number of step-up logins — no more than three
// authorizations with the first — and then an error naming it and saying
// a login would not help, asked for no more.
func TestStepUpInServeIsBounded(t *testing.T) {
	o := newStepUpSetup(t, "mcp:never-granted", "mcp:admin")
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "5s")
	a.result("initialize", map[string]any{"protocolVersion": "2025-11-25",
		"capabilities": map[string]any{"elicitation": map[string]any{"url": map[string]any{}}},
		"clientInfo":   map[string]any{"name": "e2e", "version": "1"}}, nil)
	a.notify("notifications/initialized", map[string]any{})
	listTools(a)
	var asked int
	var last string
	for range 4 {
		m, elicited := stepUpCall(t, a, "accept")
		asked += len(elicited)
		if last = errorText(t, m); last == "" {
			t.Fatalf("a call the server refuses succeeded: %s", m.raw)
		}
		assertNoToken(t, o, string(m.raw))
	}
	if asked != 2 {
		t.Errorf("serve asked for %d step-up logins; want 2", asked)
	}
	if n := o.authorizations(t); n > 3 {
		t.Errorf("%d authorization requests; want at most 3", n)
	}
	if !strings.Contains(last, "wide: needs more permission (mcp:admin) and still refuses after 2 logins") || !strings.Contains(last, "ask the server's owners") {
		t.Errorf("the last refusal: %s", last)
	}
	if strings.Count(last, "wide: ") != 1 {
		t.Errorf("the server's name is given more than once: %s", last)
	}
	assertNoToken(t, o, a.stderr.String())
}

// assertNoToken fails when the stored token shows in text.
func assertNoToken(t *testing.T, o *stepUpSetup, text string) {
	t.Helper()
	tok, err := (&auth.Tokens{Secrets: auth.NewFile(o.state, nil)}).Get(context.Background(), "wide", o.origin)
	must(t, err)
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
		if secret != "" && strings.Contains(text, secret) {
			t.Error("a token appears in an answer or the log")
		}
	}
}
