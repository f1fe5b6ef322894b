package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/backstagetest"
)

// serve over a portal's catalog: start-up never waits on the portal; its
// catalog is read in the background, retried until it answers, and the
// servers it brings arrive with list_changed.

const portalTokenEnv = "BRIDGE_TEST_PORTAL_TOKEN"

// portalAgent starts "bridge serve" over the catalog of srv, with the token
// in $BRIDGE_TEST_PORTAL_TOKEN, these servers enabled and tokens in a file;
// portalKeys go under portal:, extra at the top level.
func portalAgent(t *testing.T, srv *backstagetest.Server, enabled []string, portalKeys, extra string, args ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("portal:\n  url: %s\n  token_env: %s\n%senabled: [%s]\ntoken_store: file\n%s",
		srv.URL, portalTokenEnv, portalKeys, strings.Join(enabled, ", "), extra)
	cfgPath := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	return spawnAgent(t, cfgPath, filepath.Join(dir, "state"), args...)
}

// docsPortal is a real upstream and a portal whose catalog offers it as docs.
func docsPortal(t *testing.T) (*upstreamtest.Server, *backstagetest.Server) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "docs", Transport: upstreamtest.StreamableHTTP})
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", up.StreamableURL)})
	return up, srv
}

// waitNotifications reads until each of these notifications has come, in
// whatever order.
func (a *agent) waitNotifications(timeout time.Duration, methods ...string) {
	a.t.Helper()
	want := map[string]bool{}
	for _, m := range methods {
		want[m] = true
	}
	deadline := time.After(timeout)
	for len(want) > 0 {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				a.t.Fatalf("the bridge closed stdout waiting for %v", methods)
			}
			delete(want, m.Method)
		case <-deadline:
			a.t.Fatalf("still no %v after %s", want, timeout)
		}
	}
}

// waitLog waits until the bridge's log holds text.
func (a *agent) waitLog(text string) {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.stderr.String(), text) {
		if time.Now().After(deadline) {
			a.t.Fatalf("the log never says %q:\n%s", text, a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listNames(a *agent, method, key string) []string {
	a.t.Helper()
	var res map[string][]struct {
		Name string `json:"name"`
	}
	a.result(method, map[string]any{}, &res)
	var names []string
	for _, it := range res[key] {
		names = append(names, it.Name)
	}
	return names
}

// TestServeAnswersAtOnceWhileThePortalHangs: with no cache and a portal
// that holds every request, the agent's initialize and lists are answered
// while the portal's handler is still blocked — empty, since nothing is
// known yet, and the log says the catalog is not read yet rather than "not
// in the catalog". Once the portal answers, the server's tools, prompts
// and resources arrive with list_changed.
func TestServeAnswersAtOnceWhileThePortalHangs(t *testing.T) {
	_, srv := docsPortal(t)
	t.Setenv(portalTokenEnv, srv.Token)
	held, release := srv.Hold()
	// portal.timeout is far beyond every wait of this test: an answer that
	// waited for the portal would never come in time.
	a := portalAgent(t, srv, []string{"docs"}, "  timeout: 10m\n", "")
	select {
	case <-held: // the bridge is reading the portal, which does not answer
	case <-time.After(30 * time.Second):
		t.Fatalf("the bridge never asked the portal:\n%s", a.stderr.String())
	}
	a.initialize("2025-11-25")
	if tools := listTools(a); len(tools) != 0 {
		t.Errorf("tools before the catalog is read: %v", keys(tools))
	}
	listNames(a, "prompts/list", "prompts")
	listNames(a, "resources/list", "resources")
	log := a.stderr.String()
	if strings.Contains(log, "catalog read") {
		t.Fatal("the catalog was read while the portal held every request")
	}
	if !strings.Contains(log, "docs is enabled, but the catalog is not read yet: reading "+srv.URL+" in the background") ||
		strings.Contains(log, "not in the catalog") {
		t.Errorf("the log does not say the catalog is not read yet:\n%s", log)
	}

	release()
	a.waitNotifications(30*time.Second, "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed")
	if _, ok := listTools(a)["docs__echo"]; !ok {
		t.Fatalf("the server's tools did not arrive:\n%s", a.stderr.String())
	}
	if text, errm := a.toolText("docs__echo", map[string]any{"text": "late"}); errm != nil || text != "late" {
		t.Errorf("docs__echo: %q %v", text, errm)
	}
	if prompts := listNames(a, "prompts/list", "prompts"); len(prompts) == 0 {
		t.Error("the server's prompts did not arrive")
	}
	if strings.Contains(a.stderr.String(), srv.Token) {
		t.Error("the portal's token is in the log")
	}
}

// TestServeReadsAPortalThatWasDownAtStart: with no cache and a portal that
// answers 503, or refuses connections, serve keeps reading it with backoff,
// saying so in the log, and once the portal is back on the same address
// the server's tools arrive with list_changed, in the same serve.
func TestServeReadsAPortalThatWasDownAtStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		down, up func(*backstagetest.Server)
		reason   string
	}{
		{"503", func(s *backstagetest.Server) { s.FailWith(http.StatusServiceUnavailable) }, func(s *backstagetest.Server) { s.FailWith(0) }, "503 Service Unavailable"},
		{"connection refused", (*backstagetest.Server).Kill, (*backstagetest.Server).Restart, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := docsPortal(t)
			t.Setenv(portalTokenEnv, srv.Token)
			tc.down(srv)
			a := portalAgent(t, srv, []string{"docs"}, "  retry_max: 200ms\n", "")
			a.initialize("2025-11-25")
			if tools := listTools(a); len(tools) != 0 {
				t.Errorf("tools while the portal is down: %v", keys(tools))
			}
			a.waitLog("catalog not read; retrying in 200ms; nothing cached to use meanwhile")
			if log := a.stderr.String(); !strings.Contains(log, tc.reason) || strings.Contains(log, "not in the catalog") {
				t.Errorf("the log does not give the reason, or calls docs missing:\n%s", log)
			}
			tc.up(srv)
			a.waitNotification("notifications/tools/list_changed", 30*time.Second)
			if _, ok := listTools(a)["docs__echo"]; !ok {
				t.Fatalf("the server's tools did not arrive once the portal was back:\n%s", a.stderr.String())
			}
			a.waitLog(`msg="catalog read" source=` + srv.URL)
		})
	}
}

// TestServeStartsFromTheCacheAndTakesTheFreshCatalog: with a cache, serve
// starts from it at once and its servers connect while the portal hangs;
// the portal's fresh catalog, once it answers, brings the server added
// since with list_changed, and the cached one keeps its session.
func TestServeStartsFromTheCacheAndTakesTheFreshCatalog(t *testing.T) {
	docs, srv := docsPortal(t)
	extra := upstreamtest.Start(t, upstreamtest.Options{Name: "extra", Transport: upstreamtest.StreamableHTTP})
	t.Setenv(portalTokenEnv, srv.Token)
	a := portalAgent(t, srv, []string{"docs", "extra"}, "  timeout: 10m\n", "", "--startup-wait", "30s")
	a.waitLog(`msg="catalog read"`) // cached for the next start
	a = a.restart()

	srv.SetEntities([]json.RawMessage{
		backstagetest.MCPServerEntity("default", "docs", docs.StreamableURL),
		backstagetest.MCPServerEntity("default", "extra", extra.StreamableURL),
	})
	held, release := srv.Hold()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the bridge never asked the portal:\n%s", a.stderr.String())
	}
	a.initialize("2025-11-25")
	tools := listTools(a)
	if _, ok := tools["docs__echo"]; !ok {
		t.Fatalf("the cached server's tools are not listed: %v\n%s", keys(tools), a.stderr.String())
	}
	if _, ok := tools["extra__echo"]; ok {
		t.Fatal("a server the cache lacks is listed before the portal answered")
	}
	if log := a.stderr.String(); !strings.Contains(log, "extra is enabled, but the catalog is not read yet") || strings.Contains(log, "not in the catalog") {
		t.Errorf("the log does not say the catalog is not read yet:\n%s", log)
	}
	initializes := docs.Stats().Initializes

	release()
	a.waitNotification("notifications/tools/list_changed", 30*time.Second)
	if _, ok := listTools(a)["extra__echo"]; !ok {
		t.Fatalf("the server added in the portal did not arrive:\n%s", a.stderr.String())
	}
	if n := docs.Stats().Initializes; n != initializes {
		t.Errorf("the cached server connected again (%d initializes, %d before) though its entry did not change", n, initializes)
	}
}

// TestServeReadsThePortalOnceLoggedIn: a portal that needs a login is
// reported as such in serve's log, with what to do, and read once the user
// has logged in, in the same serve.
func TestServeReadsThePortalOnceLoggedIn(t *testing.T) {
	_, srv := docsPortal(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfgPath, []byte("portal:\n  url: "+srv.URL+"\n  retry_max: 200ms\nenabled: [docs]\ntoken_store: file\n"), 0o644))
	state := filepath.Join(dir, "state")
	a := spawnAgent(t, cfgPath, state)
	a.initialize("2025-11-25")
	listTools(a)
	a.waitLog(`run \"bridge login portal\"`)

	// What "bridge login portal" leaves behind.
	origin, err := auth.Origin(srv.URL)
	must(t, err)
	tokens := &auth.Tokens{Secrets: auth.NewFile(state, nil)}
	must(t, tokens.Save(context.Background(), auth.PortalID, &auth.Token{AccessToken: srv.Token, Origin: origin}))
	a.waitNotification("notifications/tools/list_changed", 30*time.Second)
	if _, ok := listTools(a)["docs__echo"]; !ok {
		t.Fatalf("the server's tools did not arrive after the login:\n%s", a.stderr.String())
	}
}
