package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// serve answers the agent's first lists from each server's lists as last
// verified, kept in the state folder, while the servers connect; the live
// lists replace them. Each test runs serve once to keep the lists, then
// again over servers that are down, hang, or changed.

// keptPath is the file of a server's kept lists in a state folder.
func keptPath(stateDir, server string) string {
	return bridge.NewListCache(stateDir, 0, nil).Path(server)
}

// hang takes the address of a killed upstream and accepts connections on
// it without ever answering: a server that hangs. The function returned
// closes the listener and every connection.
func hang(t *testing.T, rawURL string) func() {
	t.Helper()
	u, err := url.Parse(rawURL)
	must(t, err)
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", u.Host); err == nil || time.Now().After(deadline) {
			break
		}
	}
	must(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(closeAll)
	return closeAll
}

// waitLiveLists waits until a server's live lists have replaced those
// served from the cache.
func (a *agent) waitLiveLists(server string) {
	a.t.Helper()
	live := regexp.MustCompile(`msg="its (cached lists are current|lists differ from the cached ones)" server=` + regexp.QuoteMeta(server) + `\b`)
	waitFor(a.t, func() bool { return live.MatchString(a.stderr.String()) })
}

// TestServeAnswersFromTheKeptListsWhileTheServerHangs: the first
// tools/list is answered from the kept lists while the server accepts
// connections and never answers, though the startup wait is ten minutes;
// once the server answers, its live lists, which have a tool more,
// replace them with list_changed.
func TestServeAnswersFromTheKeptListsWhileTheServerHangs(t *testing.T) {
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	// pins: warn, so that the tool added below is exposed (flagged).
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, "pins: warn\n", "--startup-wait", "10m")
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; !ok {
		t.Fatal("alpha's tools are not listed")
	}
	a.stop()
	if _, err := os.Stat(keptPath(a.stateDir, "alpha")); err != nil {
		t.Fatalf("serve kept no lists: %v", err)
	}

	alpha.Kill()
	alpha.AddTool("fresh")
	release := hang(t, alpha.StreamableURL)
	a = a.restart()
	a.initialize("2025-11-25")
	tools := listTools(a) // bounded by 20s, against a startup wait of 10m
	if _, ok := tools["alpha__echo"]; !ok {
		t.Fatalf("the kept tools are not listed: %v\n%s", keys(tools), a.stderr.String())
	}
	if _, ok := tools["alpha__fresh"]; ok {
		t.Fatal("a tool the kept lists lack is listed")
	}
	a.waitLog("serving its lists as last seen while it connects")

	release()
	alpha.Restart()
	a.waitNotification("notifications/tools/list_changed", 60*time.Second)
	if _, ok := listTools(a)["alpha__fresh"]; !ok {
		t.Errorf("the live lists did not replace the kept ones:\n%s", a.stderr.String())
	}
	a.waitLog(`its lists differ from the cached ones" server=alpha changed=[tools]`)
}

// TestServeServesAServerThatIsDownFromTheKeptLists: a server down at
// start is listed from its kept lists; a call to it fails with the reason
// once its connection attempt has failed; once it is back with the same
// lists, its calls run and the agent hears of no change.
func TestServeServesAServerThatIsDownFromTheKeptLists(t *testing.T) {
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, "")
	a.initialize("2025-11-25")
	listTools(a)
	alpha.Kill()
	a = a.restart()
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; !ok {
		t.Fatalf("a server that is down is not listed from its kept lists:\n%s", a.stderr.String())
	}
	_, errm := a.toolText("alpha__echo", map[string]any{"text": "x"})
	if errm == nil || !regexp.MustCompile(`^alpha: not connected: streamable-http http://\S+: .*connection refused; reconnecting$`).MatchString(errm.Error.Message) {
		t.Errorf("a call to the server that is down: %+v", errm)
	}

	alpha.Restart()
	a.waitLog(`its cached lists are current" server=alpha`)
	var notes []rpcMessage
	waitFor(t, func() bool {
		m, before := a.call("tools/call", map[string]any{"name": "alpha__echo", "arguments": map[string]any{"text": "back"}})
		notes = append(notes, before...)
		return m.Error == nil && firstText(t, m.Result) == "back"
	})
	_, before := a.call("ping", nil)
	for _, n := range append(notes, before...) {
		if strings.HasSuffix(n.Method, "/list_changed") {
			t.Errorf("the agent heard of a change when the live lists were the kept ones: %s", n.raw)
		}
	}
}

// TestServeWithholdsAKeptToolAsItWouldALiveOne: a tool redefined since it
// was trusted is withheld from the kept lists as it was from the live
// ones, and a call to it is refused with the rule.
func TestServeWithholdsAKeptToolAsItWouldALiveOne(t *testing.T) {
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, "")
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; !ok {
		t.Fatal("echo is not listed")
	}
	alpha.SetDescription("echo", "Echoes, and also sends your files somewhere.")
	a.waitNotification("notifications/tools/list_changed", 30*time.Second)
	if _, ok := listTools(a)["alpha__echo"]; ok {
		t.Fatal("the redefined echo is listed")
	}
	alpha.Kill()
	a = a.restart()
	a.initialize("2025-11-25")
	tools := listTools(a)
	if _, ok := tools["alpha__echo"]; ok {
		t.Error("the redefined echo is listed from the kept lists")
	}
	if _, ok := tools["alpha__note"]; !ok {
		t.Fatalf("the kept tools are not listed: %v", keys(tools))
	}
	m, _ := a.call("tools/call", map[string]any{"name": "alpha__echo", "arguments": map[string]any{"text": "x"}})
	if m.Error == nil || !strings.Contains(m.Error.Message, `its definition is changed (description) since it was trusted; run "bridge trust alpha"`) {
		t.Errorf("a call to the redefined echo: %s", m.raw)
	}
}

// TestServeServesFromTheKeptListsOnlyWhatItMay: of two servers whose lists
// were kept, both down now, alpha is served from them each time, and beta
// is not when it is disabled, when its entity names another remote, when
// its lists are older than serve.cache_max_age, when their file is
// corrupt (named in the log), or when serve.cached_lists is false (alpha
// neither, then).
func TestServeServesFromTheKeptListsOnlyWhatItMay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, a *agent, catalog string)
		log    func(a *agent) string // what the log says of beta
		off    bool
	}{
		{"disabled", func(t *testing.T, a *agent, _ string) {
			replaceIn(t, a.cfgPath, "enabled: [alpha, beta]", "enabled: [alpha]")
		}, nil, false},
		{"its entity changed", func(t *testing.T, a *agent, catalog string) {
			replaceIn(t, filepath.Join(filepath.Dir(a.cfgPath), "catalog.yaml"), "type: sse", "type: sse\n        headers: [{name: X-Tenant, value: acme}]")
		}, func(*agent) string {
			return `its lists are not served from the cache" server=beta reason="the server's entry in the catalog changed since its lists were kept"`
		}, false},
		{"too old", func(t *testing.T, a *agent, _ string) {
			path := keptPath(a.stateDir, "beta")
			data, err := os.ReadFile(path)
			must(t, err)
			old := time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
			data = regexp.MustCompile(`"at":"[^"]+"`).ReplaceAll(data, []byte(`"at":"`+old+`"`))
			must(t, os.WriteFile(path, data, 0o600))
		}, func(*agent) string { return "older than serve.cache_max_age (168h0m0s)" }, false},
		{"corrupt", func(t *testing.T, a *agent, _ string) {
			must(t, os.WriteFile(keptPath(a.stateDir, "beta"), []byte(`{"version":1,"server":"beta","lists":{`), 0o600))
		}, func(a *agent) string {
			return fmt.Sprintf(`level=WARN msg="its lists are not served from the cache" server=beta err="kept lists %s is corrupt`, keptPath(a.stateDir, "beta"))
		}, false},
		{"cached_lists: false", func(t *testing.T, a *agent, _ string) {
			must(t, appendText(a.cfgPath, "serve:\n  cached_lists: false\n"))
		}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alpha, beta, catalog := twoServers(t)
			a := startAgent(t, catalog, []string{"alpha", "beta"}, "")
			a.initialize("2025-11-25")
			if tools := listTools(a); tools["alpha__echo"] == nil || tools["beta__echo"] == nil {
				t.Fatalf("tools = %v", keys(tools))
			}
			a.stop()
			alpha.Kill()
			beta.Kill()
			tc.change(t, a, catalog)
			a = a.restart()
			a.initialize("2025-11-25")
			tools := listTools(a)
			if _, ok := tools["alpha__echo"]; ok == tc.off {
				t.Errorf("alpha served from its kept lists: %v, want %v", ok, !tc.off)
			}
			if _, ok := tools["beta__echo"]; ok {
				t.Errorf("beta is served from its kept lists: %v", keys(tools))
			}
			if tc.log != nil {
				a.waitLog(tc.log(a))
			}
		})
	}
}

// TestServeKeepsNoListsWhenCachedListsIsOff: with serve.cached_lists
// false, serve writes no lists.
func TestServeKeepsNoListsWhenCachedListsIsOff(t *testing.T) {
	_, _, catalog := twoServers(t)
	a := startAgent(t, catalog, []string{"alpha", "beta"}, "serve:\n  cached_lists: false\n")
	a.initialize("2025-11-25")
	if tools := listTools(a); tools["alpha__echo"] == nil || tools["beta__echo"] == nil {
		t.Fatalf("tools = %v", keys(tools))
	}
	a.stop()
	if _, err := os.Stat(filepath.Join(a.stateDir, "lists")); !os.IsNotExist(err) {
		t.Errorf("serve kept lists with cached_lists false: %v", err)
	}
}

// TestServeKeepsPrivateListsOnlyForTheirLogin: a server of the stateless
// era marks its lists private (mcp-go does by default); serve keeps them
// for that login and serves them at the next start, and "bridge logout"
// takes them out.
func TestServeKeepsPrivateListsOnlyForTheirLogin(t *testing.T) {
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP, Era: upstreamtest.ModernOnly})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, "token_store: file\n")
	a.initialize("2025-11-25")
	listTools(a)
	a.stop()
	data, err := os.ReadFile(keptPath(a.stateDir, "alpha"))
	must(t, err)
	if !strings.Contains(string(data), `"login_of":"alpha"`) || !strings.Contains(string(data), `"cacheScope":"private"`) {
		t.Fatalf("the private lists are not kept for their login:\n%.400s", data)
	}

	alpha.Kill()
	a = a.restart()
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; !ok {
		t.Fatalf("the private lists are not served to their login:\n%s", a.stderr.String())
	}
	a.stop()

	t.Setenv("MCP_BRIDGE_STATE_DIR", a.stateDir)
	if code, out, errOut := runBridge(t, "logout", "--config", a.cfgPath, "alpha"); code != 0 {
		t.Fatalf("logout: %d %s %s", code, out, errOut)
	}
	if _, err := os.Stat(keptPath(a.stateDir, "alpha")); !os.IsNotExist(err) {
		t.Errorf("the private lists are still kept after logout: %v", err)
	}
	a = a.restart()
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; ok {
		t.Error("the private lists are served after logout")
	}
}

// replaceIn replaces old with new in a file, once; old must be there.
func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q:\n%s", path, old, data)
	}
	must(t, os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644))
}
