package bridge

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// TestSetServersFollowsTheCatalog: as the catalog changes under a running
// bridge, a server that arrives connects and its tools come in, one whose
// remote changed connects afresh and its old session is ended, one that
// left is closed and its tools go, and one left as it was keeps its
// session. Each change is announced. After Close nothing changes.
func TestSetServersFollowsTheCatalog(t *testing.T) {
	one := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	two := upstreamtest.Start(t, upstreamtest.Options{Name: "two", Transport: upstreamtest.SSE})
	moved := upstreamtest.Start(t, upstreamtest.Options{Name: "moved", Transport: upstreamtest.StreamableHTTP})
	b := New([]*catalog.Server{testServer("one", catalog.RemoteStreamableHTTP, one.StreamableURL)}, Options{ServerIDs: []string{"one", "two"}})
	changes := make(chan []string, 1000)
	b.OnChange(func(kinds []string) { changes <- kinds }, nil)
	b.Start()
	defer b.Close(context.Background())
	waitEchoes(t, b, "one__echo")

	for _, step := range []struct {
		name    string
		servers []*catalog.Server
		echoes  []string
		settled func(upstreamtest.Stats, upstreamtest.Stats, upstreamtest.Stats) bool // one's, two's and moved's
	}{
		{"a server arrives", []*catalog.Server{
			testServer("one", catalog.RemoteStreamableHTTP, one.StreamableURL),
			testServer("two", catalog.RemoteSSE, two.SSEURL),
		}, []string{"one__echo", "two__echo"}, func(o, tw, m upstreamtest.Stats) bool {
			return o.Initializes == 1 && o.Deletes == 0 && tw.Initializes == 1
		}},
		{"a server's remote changes", []*catalog.Server{
			testServer("one", catalog.RemoteStreamableHTTP, moved.StreamableURL),
			testServer("two", catalog.RemoteSSE, two.SSEURL),
		}, []string{"one__echo", "two__echo"}, func(o, tw, m upstreamtest.Stats) bool {
			return o.Deletes == 1 && m.Initializes == 1 && tw.Initializes == 1
		}},
		{"a server leaves", []*catalog.Server{
			testServer("two", catalog.RemoteSSE, two.SSEURL),
		}, []string{"two__echo"}, func(o, tw, m upstreamtest.Stats) bool {
			return m.Deletes == 1 && tw.Initializes == 1
		}},
	} {
		drain(changes)
		b.SetServers(step.servers)
		waitEchoes(t, b, step.echoes...)
		waitTools(t, changes, step.name)
		deadline := time.Now().Add(15 * time.Second)
		for !step.settled(one.Stats(), two.Stats(), moved.Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: one %+v, two %+v, moved %+v", step.name, one.Stats(), two.Stats(), moved.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
		var ids []string
		for _, u := range b.Upstreams() {
			ids = append(ids, u.ID())
		}
		if want := servedIDs(step.servers); !slices.Equal(ids, want) {
			t.Errorf("%s: upstreams %v, want %v", step.name, ids, want)
		}
	}

	b.Close(context.Background())
	b.SetServers([]*catalog.Server{testServer("one", catalog.RemoteStreamableHTTP, one.StreamableURL)})
	if _, ok := b.Upstream("one"); ok {
		t.Error("a server was added after Close")
	}
}

func servedIDs(servers []*catalog.Server) []string {
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	return ids
}

// waitEchoes waits until the merged tools' echo tools are these.
func waitEchoes(t *testing.T, b *Bridge, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = nil
		for _, e := range b.Registry.Tools() {
			if strings.HasSuffix(e.Name, "__echo") {
				got = append(got, e.Name)
			}
		}
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("echo tools %v, want %v", got, want)
}

// waitTools waits for a change of the tools list to be announced.
func waitTools(t *testing.T, changes <-chan []string, step string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case kinds := <-changes:
			if slices.Contains(kinds, KindTools) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no change of the tools announced", step)
		}
	}
}

func drain(c <-chan []string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
