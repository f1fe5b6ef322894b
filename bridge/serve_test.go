package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

func testServer(id, typ, url string) *catalog.Server {
	return &catalog.Server{ID: id, Namespace: "default", Name: id, Lifecycle: "production",
		Definition: catalog.Definition{Name: "com.example/" + id, Remotes: []catalog.Remote{{Type: typ, URL: url}}}}
}

// TestServeLeavesNoGoroutinesBehind runs the bridge in-process over two real
// upstreams, makes calls, ends stdin, and checks that every goroutine the
// bridge started has ended.
func TestServeLeavesNoGoroutinesBehind(t *testing.T) {
	http1 := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	sse := upstreamtest.Start(t, upstreamtest.Options{Name: "two", Transport: upstreamtest.SSE})

	b := New([]*catalog.Server{
		testServer("one", catalog.RemoteStreamableHTTP, http1.StreamableURL),
		testServer("two", catalog.RemoteSSE, sse.SSEURL),
	}, Options{})
	send, stop := serveInProcess(t, b)
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if r := send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); !strings.Contains(r, `"one__echo"`) || !strings.Contains(r, `"two__echo"`) {
		t.Fatalf("tools/list: %s", r)
	}
	for _, name := range []string{"one__echo", "two__echo"} {
		r := send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"` + name + `","arguments":{"text":"x"}}}`)
		var m struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(r), &m) != nil || !strings.Contains(string(m.Result), `"text":"x"`) {
			t.Fatalf("%s: %s", name, r)
		}
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for len(bridgeGoroutines()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := bridgeGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines of the bridge left after shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// serveInProcess runs b's stdio server over pipes. send writes one line and
// returns the next line written back; stop ends stdin and waits for Serve.
func serveInProcess(t testing.TB, b *Bridge) (send func(line string) string, stop func()) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), b, inR, outW); outW.Close() }()
	replies := bufio.NewScanner(outR)
	replies.Buffer(make([]byte, 1<<20), 1<<24)
	send = func(line string) string {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
		if !replies.Scan() {
			t.Fatal("no reply")
		}
		return replies.Text()
	}
	stop = func() {
		t.Helper()
		inW.Close()
		go io.Copy(io.Discard, outR)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after stdin ended")
		}
	}
	return send, stop
}

// TestServeRefusesANameGivenTwice: a Go server reads params keys without
// regard to case, so {"name":"a__echo","NAME":"fail"} would have the
// bridge check one tool and the server run another. The bridge refuses it.
func TestServeRefusesANameGivenTwice(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	b := New([]*catalog.Server{testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)}, Options{})
	send, stop := serveInProcess(t, b)
	defer stop()
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	for _, params := range []string{
		`{"name":"one__echo","NAME":"fail","arguments":{"text":"x"}}`,
		`{"Name":"one__fail","name":"one__echo","arguments":{"text":"x"}}`,
		`{"name":"one__echo","name":"one__fail","arguments":{"text":"x"}}`,
	} {
		r := send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":` + params + `}`)
		if !strings.Contains(r, `"code":-32602`) || !strings.Contains(r, "params.name is given more than once") {
			t.Errorf("%s: %s", params, r)
		}
	}
	if n := up.Stats().ToolCalls; n != 0 {
		t.Errorf("the server ran %d tool calls", n)
	}
	r := send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"one__echo","arguments":{"text":"x"},"_meta":{"progressToken":1}}}`)
	if !strings.Contains(r, `"text":"x"`) {
		t.Errorf("a plain call after them: %s", r)
	}
}

// bridgeGoroutines are the stacks of goroutines that belong to the bridge's
// side: its own code and its HTTP client connections. The test upstreams'
// server goroutines are not counted.
func bridgeGoroutines() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "TestServeLeavesNoGoroutinesBehind") || strings.Contains(g, "upstreamtest.") {
			continue
		}
		if strings.Contains(g, "mcp-bridge/bridge/bridge.") || strings.Contains(g, "mcp-bridge/bridge/bridge/client.") || strings.Contains(g, "net/http.(*persistConn)") {
			out = append(out, g)
		}
	}
	return out
}
