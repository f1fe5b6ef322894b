package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadEvents(t *testing.T) {
	for _, tc := range []struct {
		name, stream string
		want         []sseEvent
	}{
		{"one event", "data: {\"a\":1}\n\n", []sseEvent{{data: []byte(`{"a":1}`)}}},
		{"lines joined", "event: message\ndata: one\ndata:two\n\n", []sseEvent{{name: "message", data: []byte("one\ntwo")}}},
		{"CRLF", "id: 7\r\ndata: x\r\n\r\n", []sseEvent{{id: "7", data: []byte("x")}}},
		{"lone CR", "data: a\rdata: b\r\rdata: c\r\r\n", []sseEvent{{data: []byte("a\nb")}, {data: []byte("c")}}},
		{"comments and unknown fields", ": ping\nfoo: bar\ndata: x\n\n", []sseEvent{{data: []byte("x")}}},
		{"id carries over", "id: 1\ndata: a\n\ndata: b\n\n", []sseEvent{{id: "1", data: []byte("a")}, {id: "1", data: []byte("b")}}},
		{"retry", "retry: 250\ndata: a\n\n", []sseEvent{{data: []byte("a"), retry: 250 * time.Millisecond}}},
		{"no data, no event", "event: x\nid: 2\n\ndata: a\n\n", []sseEvent{{id: "2", data: []byte("a")}}},
		{"cut off at the end", "data: a\n\ndata: b", []sseEvent{{data: []byte("a")}}},
		{"long line", "data: " + strings.Repeat("y", 100<<10) + "\n\n", []sseEvent{{data: []byte(strings.Repeat("y", 100<<10))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []sseEvent
			err := readEvents(strings.NewReader(tc.stream), DefaultMaxMessageSize, func(ev sseEvent) bool { got = append(got, ev); return true })
			if err != nil || !slices.EqualFunc(got, tc.want, sameEvent) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	// Handling stops when asked to.
	n := 0
	_ = readEvents(strings.NewReader("data: a\n\ndata: b\n\n"), DefaultMaxMessageSize, func(sseEvent) bool { n++; return false })
	if n != 1 {
		t.Errorf("%d events after stop", n)
	}
}

func sameEvent(a, b sseEvent) bool {
	return a.name == b.name && a.id == b.id && string(a.data) == string(b.data) && a.retry == b.retry
}

func TestAnswerFor(t *testing.T) {
	for _, tc := range []struct {
		data, want string
		err        string
	}{
		{`{"jsonrpc":"2.0","id":5,"result":{"ok":true}}`, `{"ok":true}`, ""},
		{`{"jsonrpc":"2.0","id":"5","result":[]}`, `[]`, ""},
		{`{"jsonrpc":"2.0","id":5.0,"result":1}`, `1`, ""},
		{`{"jsonrpc":"2.0","id":5,"error":{"code":-32001,"message":"no","data":{"x":1}}}`, "", "no (code -32001)"},
		{`{"jsonrpc":"2.0","id":6,"result":{}}`, "", "the answer is to request 6, not 5"},
		{`{"jsonrpc":"2.0","id":5}`, "", "neither result nor error"},
		{`{"jsonrpc":"2.0","id":5,"result":{"a":tru}}`, "", "not valid JSON"},
		{`[1]`, "", "not a JSON-RPC response"},
	} {
		got, err := answerFor([]byte(tc.data), "5")
		if string(got) != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("answerFor(%s) = %s, %v; want %s, %q", tc.data, got, err, tc.want, tc.err)
		}
	}
	_, err := answerFor([]byte(`{"id":5,"error":{"code":1,"message":"m","data":[2]}}`), "5")
	var rpc *RPCError
	if !errors.As(err, &rpc) || rpc.Code != 1 || string(rpc.Data) != "[2]" {
		t.Errorf("error answer: %#v", err)
	}
}

// TestStreamablePicksAnAnswerUpAgain: a server that ends an answer's event stream
// after an event ID, before the answer, is asked again from that ID, and
// the progress on the way arrives once each, in order.
func TestStreamablePicksAnAnswerUpAgain(t *testing.T) {
	var resumedFrom []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch r.Method {
		case http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(body), `"id":9`) || r.Header.Get("Mcp-Protocol-Version") != "2025-11-25" || r.Header.Get("X-Team") != "blue" {
				http.Error(w, "unexpected request: "+string(body), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, "id: e1\nretry: 10\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":1}}\n\n")
		case http.MethodGet:
			resumedFrom = append(resumedFrom, r.Header.Get("Last-Event-ID"))
			fmt.Fprint(w, "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p\",\"progress\":2}}\n\n")
			fmt.Fprint(w, "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"done\":true}}\n\n")
		}
	}))
	defer srv.Close()
	var progress []string
	l := link{client: srv.Client(), log: slog.New(slog.DiscardHandler), limit: DefaultMaxMessageSize, life: context.Background(),
		headers: func(context.Context) map[string]string { return map[string]string{"X-Team": "blue"} },
		notify:  func(method string, p json.RawMessage) { progress = append(progress, method+" "+string(p)) }}
	s := &streamable{link: l, url: srv.URL, tasks: &sync.WaitGroup{}}
	s.version.Store("2025-11-25")
	res, err := s.call(context.Background(), 9, "tools/call", json.RawMessage(`{"name":"x"}`))
	if err != nil || string(res) != `{"done":true}` {
		t.Fatalf("call = %s, %v", res, err)
	}
	if !slices.Equal(resumedFrom, []string{"e1"}) {
		t.Errorf("resumed from %q", resumedFrom)
	}
	if len(progress) != 2 || !strings.Contains(progress[0], `"progress":1`) || !strings.Contains(progress[1], `"progress":2`) {
		t.Errorf("progress = %q", progress)
	}
}

// FuzzSSE reads arbitrary streams: nothing panics, and data never holds a
// line end of the stream's own.
func FuzzSSE(f *testing.F) {
	for _, seed := range []string{
		"data: {\"a\":1}\n\n", "id: 1\r\ndata: a\r\ndata: b\r\n\r\n", ": c\nretry: x\nevent: e\n\n",
		"data", "\n\n\n", "data: a\rb\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		_ = readEvents(strings.NewReader(string(stream)), 1<<10, func(ev sseEvent) bool {
			for _, line := range strings.Split(string(ev.data), "\n") {
				if strings.HasSuffix(line, "\r") {
					t.Fatalf("data line %q keeps its CR (stream %q)", line, stream)
				}
			}
			return true
		})
	})
}

// TestStreamableListensWithoutASession: a server that keeps no sessions
// still gets the GET stream, and its notifications arrive.
func TestStreamableListensWithoutASession(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Mcp-Session-Id") != "" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	l := link{client: srv.Client(), log: slog.New(slog.DiscardHandler), limit: DefaultMaxMessageSize, life: ctx,
		headers: func(context.Context) map[string]string { return nil },
		notify: func(method string, _ json.RawMessage) {
			select {
			case got <- method:
			default:
			}
		}}
	s := &streamable{link: l, url: srv.URL, tasks: &sync.WaitGroup{}}
	s.initialized("2025-11-25")
	s.initialized("2025-11-25") // once is enough
	select {
	case m := <-got:
		if m != "notifications/tools/list_changed" {
			t.Errorf("notification %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification from the GET stream")
	}
}

// TestLegacySSEKeepsRequestsOnTheStreamsOrigin: requests carry the
// session's token, so an endpoint event naming another origin is refused.
func TestLegacySSEKeepsRequestsOnTheStreamsOrigin(t *testing.T) {
	for _, tc := range []struct{ endpoint, err string }{
		{"/message?session=1", ""},
		{"https://elsewhere.example/message", "not on the stream's origin"},
		{"//elsewhere.example/message", "not on the stream's origin"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: endpoint\ndata: %s\n\n", tc.endpoint)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		ctx, cancel := context.WithCancel(context.Background())
		l := link{client: srv.Client(), log: slog.New(slog.DiscardHandler), limit: DefaultMaxMessageSize, life: ctx,
			headers: func(context.Context) map[string]string { return nil }, notify: func(string, json.RawMessage) {}}
		s := &legacySSE{link: l, url: srv.URL + "/sse", tasks: &sync.WaitGroup{}, lost: func(error) {}}
		err := s.open(ctx)
		endpoint, _ := s.endpoint.Load().(string)
		switch {
		case tc.err == "" && (err != nil || endpoint != srv.URL+tc.endpoint):
			t.Errorf("%s: %v, endpoint %q", tc.endpoint, err, endpoint)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || endpoint != ""):
			t.Errorf("%s: %v, endpoint %q; want an error", tc.endpoint, err, endpoint)
		}
		cancel()
		srv.Close()
	}
}
