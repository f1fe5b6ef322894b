package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// keptFixture is a server's lists as a server might send them: spacing
// and escapes an encoder would change, a private list, a TTL.
func keptFixture() Lists {
	return Lists{
		Tools: []json.RawMessage{
			json.RawMessage(`{"name": "echo", "description": "a <b> & \u00e9"}`),
			json.RawMessage("{\n  \"name\":\"look\"\n}"),
		},
		Prompts:   []json.RawMessage{json.RawMessage(`{"name":"greet"}`)},
		Resources: []json.RawMessage{},
		Cache: map[string]client.Cache{
			"tools/list":     {TTL: 90 * time.Second, Scope: "private"},
			"prompts/list":   {TTL: 0, Scope: "public"},
			"resources/list": {},
		},
	}
}

func TestKeptListsComeBackByteForByte(t *testing.T) {
	c := NewListCache(t.TempDir(), 0, nil)
	s := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
	want := keptFixture()
	c.Save(s, want)
	c.Wait()
	got, seen, err := c.Load(s)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(seen) > time.Hour || seen.After(time.Now()) {
		t.Errorf("seen at %s", seen)
	}
	for _, l := range []struct {
		name      string
		got, want []json.RawMessage
	}{{"tools", got.Tools, want.Tools}, {"prompts", got.Prompts, want.Prompts}, {"resources", got.Resources, want.Resources}} {
		if !slices.EqualFunc(l.got, l.want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Errorf("%s: %q, want %q", l.name, l.got, l.want)
		}
	}
	if got.Templates != nil {
		t.Errorf("a list the server does not offer came back: %q", got.Templates)
	}
	if !sameCaches(got.Cache, want.Cache) {
		t.Errorf("cache hints %+v, want %+v", got.Cache, want.Cache)
	}
	data, err := os.ReadFile(c.Path("one"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(c.Path("one"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the file is %v", fi.Mode().Perm())
	}
	if !bytes.Contains(data, []byte(`"login_of":"one"`)) || bytes.Contains(data, []byte("Bearer")) {
		t.Errorf("the file does not name the login of its private list:\n%s", data)
	}
}

func sameCaches(a, b map[string]client.Cache) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTheSameListsAreWrittenAgainOnlyToRenewTheirTime: lists seen again
// as they are kept are not written again, by the process that wrote them
// or one that read them, until they are listsRefresh old; other lists are
// written at once.
func TestTheSameListsAreWrittenAgainOnlyToRenewTheirTime(t *testing.T) {
	dir := t.TempDir()
	s := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
	seen := func(c *ListCache) time.Time {
		t.Helper()
		_, at, err := c.Load(s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	c := NewListCache(dir, 0, nil)
	c.Save(s, keptFixture())
	c.Wait()
	first := seen(c)
	now := time.Now()
	for _, c := range []*ListCache{c, NewListCache(dir, 0, nil)} {
		seen(c) // as a new process does at its start
		c.now = func() time.Time { return now.Add(listsRefresh / 2) }
		c.Save(s, keptFixture())
		c.Wait()
		if at := seen(c); !at.Equal(first) {
			t.Errorf("the same lists were written again: seen %s, then %s", first, at)
		}
	}
	c = NewListCache(dir, 0, nil)
	seen(c)
	c.now = func() time.Time { return now.Add(2 * listsRefresh) }
	c.Save(s, keptFixture())
	c.Wait()
	if at := seen(c); !at.After(first) {
		t.Errorf("the same lists past listsRefresh were not written again: %s", at)
	}
	other := keptFixture()
	other.Prompts = nil
	delete(other.Cache, "prompts/list")
	c.Save(s, other)
	c.Wait()
	if l, _, _ := c.Load(s); l.Prompts != nil {
		t.Errorf("other lists were not written: prompts %q", l.Prompts)
	}
}

// TestKeptListsAreNotServedWhenTheyShouldNotBe: another definition of the
// server (a URL, a transport, auth), lists older than the bound, a file
// that is corrupt or too large: none is served, and each says why; the
// corrupt file is named, and the server's next lists replace it.
func TestKeptListsAreNotServedWhenTheyShouldNotBe(t *testing.T) {
	dir := t.TempDir()
	c := NewListCache(dir, 24*time.Hour, nil)
	s := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
	c.Save(s, keptFixture())
	c.Wait()
	for _, tc := range []struct {
		name   string
		server *catalog.Server
		want   string
	}{
		{"another URL", testServer("one", catalog.RemoteStreamableHTTP, "https://two.example.com/mcp"), "entry in the catalog changed"},
		{"another transport", testServer("one", catalog.RemoteSSE, "https://one.example.com/mcp"), "entry in the catalog changed"},
		{"auth", func() *catalog.Server {
			s := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
			s.Auth = catalog.Auth{Method: catalog.AuthProvider, APIID: "core.auth.github"}
			return s
		}(), "entry in the catalog changed"},
	} {
		l, _, err := c.Load(tc.server)
		var nk *errNotKept
		if l.Cache != nil || !errors.As(err, &nk) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v", tc.name, l.Cache, err)
		}
	}
	// A title is no part of how the server is reached.
	titled := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
	titled.Title, titled.Definition.Version = "One", "2.0.0"
	if l, _, err := c.Load(titled); err != nil || l.Cache == nil {
		t.Errorf("a new title: %v", err)
	}

	c.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if l, _, err := c.Load(s); l.Cache != nil || err == nil || !strings.Contains(err.Error(), "older than serve.cache_max_age (24h0m0s)") {
		t.Errorf("lists past the bound: %v, %v", l.Cache, err)
	}
	c.now = time.Now

	path := c.Path("one")
	if err := os.WriteFile(path, []byte(`{"version":1,"server":"one","lists":`), 0o600); err != nil {
		t.Fatal(err)
	}
	l, _, err := c.Load(s)
	var nk *errNotKept
	if l.Cache != nil || err == nil || errors.As(err, &nk) || !strings.Contains(err.Error(), path+" is corrupt") {
		t.Errorf("a corrupt file: %v, %v", l.Cache, err)
	}
	c.Save(s, keptFixture())
	c.Wait()
	if l, _, err := c.Load(s); err != nil || l.Cache == nil {
		t.Errorf("the next lists did not replace the corrupt file: %v", err)
	}

	if err := os.Truncate(path, maxListsFile+1); err != nil {
		t.Fatal(err)
	}
	if l, _, err := c.Load(s); l.Cache != nil || err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file past the size bound: %v", err)
	}
}

// TestPrivateListsLeaveWithTheirLogin: a list the server marked private is
// kept for the login it came with, and leaves every file when that login
// is logged out (or in again); a public list stays, and so do the lists of
// other logins. A file left with no list is removed.
func TestPrivateListsLeaveWithTheirLogin(t *testing.T) {
	dir := t.TempDir()
	c := NewListCache(dir, 0, nil)
	one := testServer("one", catalog.RemoteStreamableHTTP, "https://one.example.com/mcp")
	two := testServer("two", catalog.RemoteStreamableHTTP, "https://two.example.com/mcp")
	portal := testServer("actions", catalog.RemoteStreamableHTTP, "https://portal.example.com/api/mcp-actions/v1")
	portal.Auth = catalog.Auth{Method: catalog.AuthPlugin, PluginID: "mcp-actions"}
	allPrivate := Lists{Tools: []json.RawMessage{json.RawMessage(`{"name":"x"}`)}, Cache: map[string]client.Cache{"tools/list": {Scope: "private"}}}
	c.Save(one, keptFixture())
	c.Save(two, allPrivate)
	c.Save(portal, allPrivate)
	c.Wait()

	c.ForgetLogin("one")
	c.Wait()
	l, _, err := c.Load(one)
	if err != nil || l.Tools != nil || len(l.Prompts) != 1 {
		t.Errorf("after the login of one left: tools %q, prompts %q, %v", l.Tools, l.Prompts, err)
	}
	if data, _ := os.ReadFile(c.Path("one")); bytes.Contains(data, []byte("login")) {
		t.Errorf("the file still names a login:\n%s", data)
	}
	for _, s := range []*catalog.Server{two, portal} {
		if l, _, err := c.Load(s); err != nil || len(l.Tools) != 1 {
			t.Errorf("%s lost its lists with another login: %v", s.ID, err)
		}
	}

	c.ForgetLogin(catalog.PortalID)
	c.Wait()
	if _, err := os.Stat(c.Path("actions")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file of private lists only is left after their login left: %v", err)
	}
	if l, _, _ := c.Load(two); len(l.Tools) != 1 {
		t.Error("the portal's login took another server's lists")
	}

	// Lists not yet written when their login leaves are never written
	// with it; those saved after it are.
	c.Save(two, allPrivate)
	c.ForgetLogin("two")
	c.Wait()
	if l, _, _ := c.Load(two); l.Cache != nil {
		t.Errorf("private lists saved before their login left were written: %+v", l)
	}
	c.ForgetLogin("two")
	c.Save(two, allPrivate)
	c.Wait()
	if l, _, _ := c.Load(two); len(l.Tools) != 1 {
		t.Error("private lists saved after a login were not written")
	}
}

// gate stands in front of a real upstream on an address of its own, and
// holds every request while it is held: a server that does not answer yet.
type gate struct {
	URL string

	mu   sync.Mutex
	open chan struct{} // closed while requests pass
}

func newGate(t *testing.T, upstreamURL string) *gate {
	target, err := url.Parse(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	g := &gate{open: make(chan struct{})}
	close(g.open)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		select {
		case <-open:
			proxy.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/mcp"
	return g
}

// Hold holds the requests that come from now on.
func (g *gate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// Open lets every request through, those held too.
func (g *gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// keepLists runs a bridge over s until its lists are in, so that they are
// kept in stateDir.
func keepLists(t *testing.T, stateDir string, s *catalog.Server) {
	t.Helper()
	b := New([]*catalog.Server{s}, Options{Lists: NewListCache(stateDir, 0, nil), Pins: NewPins(stateDir)})
	b.Start()
	u, _ := b.Upstream(s.ID)
	<-u.Ready()
	if err := u.Err(); err != nil {
		t.Fatal(err)
	}
	b.Close(context.Background())
}

// TestKeptListsStandInUntilTheLiveOnes: the kept lists are in the registry
// while the server does not answer, and the first list waits for nothing;
// the live lists replace them, announced only when they differ.
func TestKeptListsStandInUntilTheLiveOnes(t *testing.T) {
	for _, differ := range []bool{false, true} {
		name := map[bool]string{false: "the same", true: "different"}[differ]
		t.Run(name, func(t *testing.T) {
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
			g := newGate(t, up.StreamableURL)
			dir := t.TempDir()
			s := testServer("one", catalog.RemoteStreamableHTTP, g.URL)
			keepLists(t, dir, s)

			g.Hold()
			if differ {
				up.AddTool("fresh")
			}
			var mu sync.Mutex
			var changes [][]string
			// A wait for the server would show: the startup wait is far
			// longer than any bound of this test.
			b := New([]*catalog.Server{s}, Options{Lists: NewListCache(dir, 0, nil), StartupWait: time.Hour})
			b.OnChange(func(kinds []string) {
				mu.Lock()
				changes = append(changes, kinds)
				mu.Unlock()
			}, nil)
			b.Start()
			defer b.Close(context.Background())
			waited := make(chan bool, 1)
			go func() { waited <- b.WaitStartup(context.Background()) }()
			select {
			case ok := <-waited:
				if !ok {
					t.Fatal("WaitStartup gave up")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the first list waits for the server")
			}
			if _, ok := b.Registry.Tool("one__echo"); !ok {
				t.Fatalf("the kept tools are not served: %s", b.Registry.Result("tools/list"))
			}
			if _, ok := b.Registry.Tool("one__fresh"); ok {
				t.Fatal("a tool the kept lists lack is served")
			}
			u, _ := b.Upstream("one")
			g.Open()
			<-u.Ready()
			if _, ok := b.Registry.Tool("one__fresh"); ok != differ {
				t.Errorf("the live lists did not replace the kept ones: fresh served %v", ok)
			}
			mu.Lock()
			defer mu.Unlock()
			want := [][]string{{KindTools, KindPrompts, KindResources}}
			if differ {
				want = append(want, []string{KindTools})
			}
			if !slices.EqualFunc(changes, want, slices.Equal) {
				t.Errorf("changes announced %v, want %v", changes, want)
			}
		})
	}
}

// TestKeptToolsAreNamedAndJudgedAsLiveOnes: tools served from the cache
// get the names, the policy's verdicts and the pins' review the live ones
// got — a tool redefined since it was trusted is withheld alike — and
// their review records nothing as seen.
func TestKeptToolsAreNamedAndJudgedAsLiveOnes(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	dir := t.TempDir()
	s := testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)
	prefix := "p"
	opts := func(pins *Pins) Options {
		return Options{Lists: NewListCache(dir, 0, nil), Pins: pins, Prefixes: map[string]*string{"one": &prefix},
			Policies: map[string]Policy{"one": {Server: "one", HideDestructive: true}}}
	}
	b := New([]*catalog.Server{s}, opts(NewPins(dir)))
	b.Start()
	u, _ := b.Upstream("one")
	<-u.Ready()
	up.SetDescription("echo", "Now it does something else.")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if e, ok := b.Registry.Tool("p__echo"); ok && slices.Contains(e.Verdict.Rules, RuleUntrusted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the redefined tool was never withheld")
		}
	}
	live := b.Registry.Tools()
	b.Close(context.Background())
	seen, err := NewPins(dir).Seen("one")
	if err != nil || seen == nil {
		t.Fatalf("seen: %v", err)
	}
	up.Kill()

	// An hour on, a review would record what it saw anew.
	later := NewPins(dir)
	later.now = func() time.Time { return time.Now().Add(time.Hour) }
	b = New([]*catalog.Server{s}, opts(later))
	b.Start()
	defer b.Close(context.Background())
	if !b.WaitStartup(context.Background()) {
		t.Fatal("WaitStartup gave up")
	}
	kept := b.Registry.Tools()
	if len(kept) != len(live) {
		t.Fatalf("%d tools from the cache, %d live", len(kept), len(live))
	}
	withheld := 0
	for i := range live {
		l, k := live[i], kept[i]
		if l.Name != k.Name || l.Original != k.Original || l.Change != k.Change || !slices.Equal(l.Verdict.Rules, k.Verdict.Rules) || !bytes.Equal(l.raw, k.raw) {
			t.Errorf("from the cache %+v\nlive %+v", k, l)
		}
		if k.Verdict.Withheld() {
			withheld++
		}
	}
	if withheld < 2 {
		t.Errorf("only %d tools withheld; the test means the pins and the policy to withhold some", withheld)
	}
	b.Close(context.Background())
	again, err := NewPins(dir).Seen("one")
	if err != nil || !again.At.Equal(seen.At) {
		t.Errorf("the review of the kept tools recorded them as seen: %v → %v, %v", seen.At, again.At, err)
	}
}
