package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Benchmarks of one tools/call of echo, through the bridge (in-process,
// over pipes, as an agent would) and directly to the same upstream, for
// three result sizes. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench Call -benchmem
//
// The difference between the two is what the bridge adds to a call.
var benchSizes = []int{100, 10 << 10, 1 << 20}

func BenchmarkCallDirect(b *testing.B) {
	up := upstreamtest.Start(b, upstreamtest.Options{Name: "bench", Transport: upstreamtest.StreamableHTTP})
	tr, err := transport.NewStreamableHTTP(up.StreamableURL)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	if err := tr.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(0), Method: "initialize",
		Params: map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "b", "version": "1"}}}); err != nil {
		b.Fatal(err)
	}
	for _, size := range benchSizes {
		text := strings.Repeat("x", size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				resp, err := tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(i + 1)), Method: "tools/call",
					Params: map[string]any{"name": "echo", "arguments": map[string]any{"text": text}}})
				if err != nil || resp.Error != nil {
					b.Fatal(err, resp)
				}
			}
		})
	}
}

func BenchmarkCallBridge(b *testing.B) {
	up := upstreamtest.Start(b, upstreamtest.Options{Name: "bench", Transport: upstreamtest.StreamableHTTP})
	br := New([]*catalog.Server{testServer("bench", catalog.RemoteStreamableHTTP, up.StreamableURL)}, Options{})
	roundTrip, stop := serveInProcess(b, br)
	defer stop()
	roundTrip(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
	if r := roundTrip(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !strings.Contains(r, "bench__echo") {
		b.Fatalf("tools/list: %.200s", r)
	}
	for _, size := range benchSizes {
		call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bench__echo","arguments":{"text":"` + strings.Repeat("x", size) + `"}}}`
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if r := roundTrip(call); !strings.Contains(r, `"result"`) {
					b.Fatalf("call: %.200s", r)
				}
			}
		})
	}
}

// BenchmarkRegistrySet is the work of one server's arrival: pins reviewed,
// 20 tools named, cleaned and judged, the merged list rebuilt, with 9
// servers there already. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench RegistrySet -benchmem
func BenchmarkRegistrySet(b *testing.B) {
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("s%02d", i))
	}
	tools := make([]json.RawMessage, 20)
	for k := range tools {
		tools[k] = json.RawMessage(fmt.Sprintf(`{"name":"tool_%02d","description":"Tool %d: looks something up by its identifier and returns what is known about it, in a few lines of text.","inputSchema":{"type":"object","properties":{"id":{"type":"string","description":"the identifier to look up"},"limit":{"type":"number","description":"at most this many lines"},"verbose":{"type":"boolean","description":"include every field"}},"required":["id"]},"annotations":{"readOnlyHint":true}}`, k, k))
	}
	pins := NewPins(b.TempDir())
	r := NewRegistry(ids, RegistryOptions{Pins: pins})
	for _, id := range ids[1:] {
		r.Set(id, Lists{Tools: tools})
	}
	r.Set(ids[0], Lists{Tools: tools})
	pins.Wait()
	for b.Loop() {
		r.Set(ids[0], Lists{Tools: tools})
	}
	pins.Wait()
}

// BenchmarkCallLargeResult is one tools/call whose result is a text block
// of 1 MB, 10 MB or 50 MB, through the bridge in-process, from a server
// that sends a body made once, so that only the bridge's work is measured:
// reading the answer, checking it, and writing it to the agent. The body
// comes as JSON of unknown length (chunked, as mcp-go sends it), as JSON
// with its Content-Length, or as one event. B/op is what the bridge (and
// the test server's request handling, a few KB) allocates per forwarded
// result: against the result's size, the copies the bridge makes. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench LargeResult -benchmem
func BenchmarkCallLargeResult(b *testing.B) {
	for _, size := range []int{1 << 20, 10 << 20, 50 << 20} {
		for _, body := range []string{"json", "json-length", "sse"} {
			b.Run(fmt.Sprintf("%dMB/%s", size>>20, body), func(b *testing.B) { benchLargeResult(b, size, body) })
		}
	}
}

// BenchmarkCallForwarded is one tools/call of a small result, 100 bytes
// or 10 KB, through the bridge in-process, from the same server of fixed
// answers as BenchmarkCallLargeResult: allocs/op and B/op are the
// bridge's own per call (and a few of the test server's), with no MCP
// server's decoding and encoding among them. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench Forwarded -benchmem
func BenchmarkCallForwarded(b *testing.B) {
	for _, size := range []int{100, 10 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) { benchLargeResult(b, size, "json") })
	}
}

func benchLargeResult(b *testing.B, size int, body string) {
	result := `{"content":[{"type":"text","text":"` + strings.Repeat("x", size) + `"}]}`
	sse := body == "sse"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		req, _ := io.ReadAll(r.Body)
		id, _, _ := rawjson.Lookup(req, "id")
		method, _ := rawjson.LookupString(req, "method")
		if len(id) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		res := `{}`
		switch method {
		case "initialize":
			res = `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"large","version":"1"}}`
		case "tools/list":
			res = `{"tools":[{"name":"large","inputSchema":{"type":"object"}}]}`
		case "tools/call":
			res = result
		}
		head := `{"jsonrpc":"2.0","id":` + string(id) + `,"result":`
		switch body {
		case "sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message\ndata: ")
		case "json-length":
			w.Header().Set("Content-Length", fmt.Sprint(len(head)+len(res)+1))
			fallthrough
		default:
			w.Header().Set("Content-Type", "application/json")
		}
		io.WriteString(w, head)
		io.WriteString(w, res)
		io.WriteString(w, "}")
		if sse {
			io.WriteString(w, "\n\n")
		}
	}))
	defer up.Close()
	br := New([]*catalog.Server{testServer("big", catalog.RemoteStreamableHTTP, up.URL+"/mcp")}, Options{MaxMessageSize: 64 << 20})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() { _ = Serve(context.Background(), br, inR, outW); outW.Close() }()
	defer inW.Close()
	// The agent's side reads each reply into one buffer it keeps, so that
	// what is allocated per call is the bridge's.
	replies := bufio.NewReaderSize(outR, 4<<20)
	reply := make([]byte, 0, size+1<<20)
	roundTrip := func(line string) []byte {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			b.Fatal(err)
		}
		reply = reply[:0]
		for {
			chunk, err := replies.ReadSlice('\n')
			reply = append(reply, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			return reply
		}
	}
	roundTrip(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
	if r := roundTrip(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !bytes.Contains(r, []byte("big__large")) {
		b.Fatalf("tools/list: %.200s", r)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		if r := roundTrip(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"big__large","arguments":{}}}`); len(r) < size {
			b.Fatalf("call: %.200s", r)
		}
	}
}

// BenchmarkStartup is the agent's initialize and first tools/list through
// a bridge starting over real servers (mcp-go, streamable HTTP,
// loopback): cold, where the list waits for every server to connect and
// list, and warm, where it is answered from the lists kept from the last
// run while the servers connect behind it; and fresh, cold on a state
// folder never used, as the bench's cold start is: every server's pins
// and lists are new, to be written. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench Startup -benchmem
func BenchmarkStartup(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		var servers []*catalog.Server
		for i := range n {
			id := fmt.Sprintf("s%02d", i)
			up := upstreamtest.Start(b, upstreamtest.Options{Name: id, Transport: upstreamtest.StreamableHTTP})
			servers = append(servers, testServer(id, catalog.RemoteStreamableHTTP, up.StreamableURL))
		}
		dir := b.TempDir()
		// One run keeps the lists and trusts the tools, for both.
		keep := New(servers, Options{Lists: NewListCache(dir, 0, nil), Pins: NewPins(dir)})
		keep.Start()
		if !keep.WaitConnected(context.Background()) {
			b.Fatal("the servers did not connect")
		}
		keep.Close(context.Background())
		last := fmt.Sprintf(`"s%02d__echo"`, n-1)
		for _, start := range []string{"cold", "warm", "fresh"} {
			b.Run(fmt.Sprintf("%s/servers=%d", start, n), func(b *testing.B) {
				for range b.N {
					opts := Options{Pins: NewPins(dir), StartupWait: time.Minute}
					switch start {
					case "warm":
						opts.Lists = NewListCache(dir, 0, nil)
					case "fresh":
						b.StopTimer()
						fresh := b.TempDir()
						b.StartTimer()
						opts.Pins, opts.Lists, opts.Eras = NewPins(fresh), NewListCache(fresh, 0, nil), NewEras(fresh)
					}
					br := New(servers, opts)
					roundTrip, stop := serveInProcess(b, br)
					roundTrip(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
					if r := roundTrip(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !strings.Contains(r, last) {
						b.Fatalf("tools/list: %.200s", r)
					}
					b.StopTimer()
					// The servers connected behind a warm start are part of
					// the next round's work no more.
					br.WaitConnected(context.Background())
					stop()
					// Nor are the files it was writing when it stopped.
					opts.Pins.Wait()
					opts.Lists.Wait()
					opts.Eras.Wait()
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkFingerprint is the pinning of one tool seen for the first
// time, as every tool of a server is on a new state folder. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench Fingerprint -benchmem
func BenchmarkFingerprint(b *testing.B) {
	tool := json.RawMessage(`{"name":"tool_01","description":"Tool 1: looks something up by its identifier and returns what is known about it, in a few lines of text.","inputSchema":{"type":"object","properties":{"id":{"type":"string","description":"the identifier to look up"},"limit":{"type":"number","description":"at most this many lines"},"verbose":{"type":"boolean","description":"include every field"}},"required":["id"]},"annotations":{"readOnlyHint":true}}`)
	for b.Loop() {
		fingerprint(tool)
	}
}
