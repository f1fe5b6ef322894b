package bridge

import (
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// TestServersServedFromTheCacheConnectOnceTheAgentIsAnswered: a server
// whose lists were kept connects once the agent has had its first list
// (the connections would take the CPU that answer needs), when the agent
// asks for anything else, or after KeptHold whatever the agent does; a
// server with nothing kept connects at once.
func TestServersServedFromTheCacheConnectOnceTheAgentIsAnswered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kept    bool
		hold    time.Duration
		request string // the agent's, after the kept lists are in
	}{
		{name: "after the first list", kept: true, hold: time.Hour, request: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{name: "when a tool is called", kept: true, hold: time.Hour, request: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"one__echo","arguments":{"text":"hi"}}}`},
		{name: "after KeptHold", kept: true, hold: time.Millisecond},
		{name: "at once without kept lists", hold: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
			dir := t.TempDir()
			s := testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)
			if tc.kept {
				keepLists(t, dir, s)
			}
			before := up.Stats().Initializes
			b := New([]*catalog.Server{s}, Options{Lists: NewListCache(dir, 0, nil), KeptHold: tc.hold, StartupWait: time.Hour})
			roundTrip, stop := serveInProcess(t, b)
			defer stop()
			roundTrip(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
			u, _ := b.Upstream("one")
			if tc.kept && tc.hold == time.Hour {
				<-u.Listed()
				if n := up.Stats().Initializes - before; n != 0 {
					t.Fatalf("the server was connected (%d initialize) before the agent had an answer", n)
				}
			}
			if tc.request != "" {
				roundTrip(tc.request)
			}
			select {
			case <-u.Ready():
			case <-time.After(time.Minute):
				t.Fatal("the server never connected")
			}
			if err := u.Err(); err != nil {
				t.Fatalf("the server did not connect: %v", err)
			}
		})
	}
}

// TestAListAnswerLetsTheAgentReadItFirst: the connections held back for
// the agent's first list wait listedGrace after it is answered, so that
// they do not take the CPUs the agent reads it with; a call lets them go
// at once.
func TestAListAnswerLetsTheAgentReadItFirst(t *testing.T) {
	was := listedGrace
	listedGrace = time.Hour
	defer func() { listedGrace = was }()
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	dir := t.TempDir()
	s := testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)
	keepLists(t, dir, s)
	before := up.Stats().Initializes
	b := New([]*catalog.Server{s}, Options{Lists: NewListCache(dir, 0, nil), KeptHold: time.Hour, StartupWait: time.Hour})
	roundTrip, stop := serveInProcess(t, b)
	defer stop()
	roundTrip(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	roundTrip(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	roundTrip(`{"jsonrpc":"2.0","id":2,"method":"prompts/list"}`)
	u, _ := b.Upstream("one")
	select {
	case <-u.Ready():
		t.Fatal("the server connected while the agent was reading its lists")
	default:
	}
	if n := up.Stats().Initializes - before; n != 0 {
		t.Fatalf("the server was sent %d initialize while the agent was reading its lists", n)
	}
	roundTrip(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"one__echo","arguments":{"text":"hi"}}}`)
	select {
	case <-u.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the server never connected after the call")
	}
}
