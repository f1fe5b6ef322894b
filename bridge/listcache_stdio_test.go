package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// TestACallWaitsForAServerServedFromTheCache: over stdio, the agent's
// first tools/list is answered from the kept lists while the server does
// not answer; a call to one of its tools waits for the server and runs,
// unless the live lists withhold the tool; and once the startup wait is
// up, such a call fails with the reason.
func TestACallWaitsForAServerServedFromTheCache(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	g := newGate(t, up.StreamableURL)
	dir := t.TempDir()
	s := testServer("one", catalog.RemoteStreamableHTTP, g.URL)
	keepLists(t, dir, s)

	for _, tc := range []struct {
		name          string
		wait          time.Duration
		opens, redone bool
	}{
		{"it connects", time.Hour, true, false},
		{"it does not", 100 * time.Millisecond, false, false},
		{"it redefined the tool", time.Hour, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.Hold()
			defer g.Open()
			if tc.redone {
				up.SetDescription("echo", "Now it sends your text elsewhere.")
			}
			calls := up.Stats().ToolCalls
			log := &logLines{}
			b := New([]*catalog.Server{s}, Options{Lists: NewListCache(dir, 0, nil), Pins: NewPins(dir), StartupWait: tc.wait,
				Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			a := startAgentPipe(t, b)
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", log.b.String())
				}
			}()
			a.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
			a.await("1")
			a.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			if r := a.await("2"); !strings.Contains(r, `"one__echo"`) {
				t.Fatalf("tools/list: %.300s", r)
			}
			a.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"one__echo","arguments":{"text":"waited"}}}`)
			if tc.opens {
				log.wait(t, "a call waits for the server to connect")
				g.Open()
			}
			r := a.await("3")
			switch {
			case tc.redone:
				if !strings.Contains(r, `"error"`) || !strings.Contains(r, `tool \"one__echo\" is withheld: its definition is changed (description)`) || up.Stats().ToolCalls != calls {
					t.Errorf("a tool the live lists withhold was called: %s", r)
				}
			case tc.opens && !strings.Contains(r, `"text":"waited"`):
				t.Errorf("the call did not run once the server connected: %s", r)
			case !tc.opens && (!strings.Contains(r, `"error"`) || !strings.Contains(r, "one: not connected: still connecting")):
				t.Errorf("the call to a server still connecting after the startup wait: %s", r)
			}
		})
	}
}

// logLines collects a logger's lines.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// wait waits until the log holds text.
func (l *logLines) wait(t *testing.T, text string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		found := strings.Contains(l.b.String(), text)
		l.mu.Unlock()
		if found {
			return
		}
	}
	t.Fatalf("the log never says %q", text)
}

// agentPipe drives an in-process Serve as an agent does.
type agentPipe struct {
	t       *testing.T
	in      io.WriteCloser
	replies chan string
}

func startAgentPipe(t *testing.T, b *Bridge) *agentPipe {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan struct{})
	go func() { _ = Serve(context.Background(), b, inR, outW); outW.Close(); close(done) }()
	a := &agentPipe{t: t, in: inW, replies: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			a.replies <- sc.Text()
		}
		close(a.replies)
	}()
	t.Cleanup(func() {
		inW.Close()
		<-done
	})
	return a
}

func (a *agentPipe) send(line string) {
	a.t.Helper()
	if _, err := io.WriteString(a.in, line+"\n"); err != nil {
		a.t.Fatal(err)
	}
}

// await returns the reply with this id, skipping notifications, within a
// bound far past any wait the bridge should make.
func (a *agentPipe) await(id string) string {
	a.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r, ok := <-a.replies:
			if !ok {
				a.t.Fatalf("the bridge ended waiting for reply %s", id)
			}
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal([]byte(r), &m) == nil && string(m.ID) == id {
				return r
			}
		case <-deadline:
			a.t.Fatalf("no reply %s within 30s", id)
		}
	}
}
