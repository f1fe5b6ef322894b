package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// Sessions of the stateless era (2026-07-28) against mcp-go servers that
// speak it alone, or both eras.

// answering is a Handler that answers elicitation with accept and counts
// what it was asked.
type answering struct {
	notes
	mu    sync.Mutex
	asked []string
}

func (a *answering) Request(_ context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	a.mu.Lock()
	a.asked = append(a.asked, method+" "+string(params))
	a.mu.Unlock()
	if method != "elicitation/create" {
		return nil, &RPCError{Code: -32601, Message: method}
	}
	return json.RawMessage(`{"action":"accept","content":{"ok":true}}`), nil
}

func TestStatelessSessionAgainstAModernServer(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP, Era: upstreamtest.ModernOnly, Interactive: true})
	h := &answering{}
	s := connect(t, up.StreamableURL, StreamableHTTP, h)
	if s.Era() != EraModern {
		t.Fatalf("era %s against a server of 2026-07-28 alone", s.Era())
	}
	// initialize first (the agent's era), refused; then server/discover.
	if st := up.Stats(); st.Initializes != 1 || st.Discovers != 1 {
		t.Errorf("%d initializes and %d discovers; want one refused, then one", st.Initializes, st.Discovers)
	}
	if caps := s.Capabilities(); !caps.Tools || !caps.Resources {
		t.Errorf("capabilities %+v from server/discover", caps)
	}
	tools, err := s.List(context.Background(), "tools/list", "tools")
	if err != nil || len(tools) < 8 {
		t.Fatalf("tools/list: %d tools, %v", len(tools), err)
	}
	res, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"echo","arguments":{"text":"hi"}}`), nil)
	if err != nil || !strings.Contains(string(res), `"text":"hi"`) {
		t.Fatalf("echo: %s, %v", res, err)
	}
	var progress []string
	_, err = s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"progress","arguments":{"steps":3}}`),
		func(p json.RawMessage) { progress = append(progress, string(p)) })
	if err != nil || len(progress) != 3 {
		t.Errorf("progress: %d notifications before the result, %v", len(progress), err)
	}

	// A multi round-trip request: the server's input request goes to the
	// Handler, and the call is made again with the answer and the state.
	res, err = s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"confirm","arguments":{}}`), nil)
	if err != nil || !strings.Contains(string(res), `confirmed: accept {\"ok\":true}, state \"step-1\"`) {
		t.Fatalf("confirm: %s, %v", res, err)
	}
	h.mu.Lock()
	asked := h.asked
	h.mu.Unlock()
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "elicitation/create ") || !strings.Contains(asked[0], "Go ahead?") {
		t.Errorf("the handler was asked %q", asked)
	}

	// List changes come on subscriptions/listen.
	waitUntil(t, func() bool { return up.Stats().Listens > 0 })
	up.AddTool("fresh")
	waitUntil(t, func() bool {
		h.notes.mu.Lock()
		defer h.notes.mu.Unlock()
		for _, m := range h.methods {
			if m == "notifications/tools/list_changed" {
				return true
			}
		}
		return false
	})

	// Giving up on a call closes its stream, which is the cancellation.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"wait","arguments":{"seconds":30}}`), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past its deadline: %v", err)
	}
	waitUntil(t, func() bool { return up.Stats().WaitsCancelled == 1 })
	if n := up.Stats().Cancelled; n != 0 {
		t.Errorf("%d notifications/cancelled; the stateless era sends none over HTTP", n)
	}
}

// TestADualEraServerIsSpokenToInTheHandshakeEra: the bridge's agent
// speaks the handshake era, and so does a server of both with it, unless
// it was found speaking the stateless one before.
func TestADualEraServerIsSpokenToInTheHandshakeEra(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP, Era: upstreamtest.DualEra})
	s := connect(t, up.StreamableURL, StreamableHTTP, &notes{})
	if st := up.Stats(); s.Era() != EraLegacy || st.Discovers != 0 {
		t.Errorf("era %s with %d discovers", s.Era(), st.Discovers)
	}
}

func TestEraFoundBeforeIsTriedFirstAndAWrongGuessCostsOnlyATry(t *testing.T) {
	for _, tc := range []struct {
		era  upstreamtest.Era
		hint string
		want string
	}{
		{upstreamtest.LegacyOnly, "", EraLegacy},
		{upstreamtest.ModernOnly, "", EraModern},
		{upstreamtest.DualEra, EraModern, EraModern},
		{upstreamtest.LegacyOnly, EraLegacy, EraLegacy},
		{upstreamtest.LegacyOnly, EraModern, EraLegacy},
		{upstreamtest.ModernOnly, EraLegacy, EraModern},
		{upstreamtest.ModernOnly, EraModern, EraModern},
	} {
		up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP, Era: tc.era})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := Connect(ctx, Remote{URL: up.StreamableURL, Era: tc.hint}, &notes{})
		cancel()
		if err != nil {
			t.Errorf("server %q, hint %s: %v", tc.era, tc.hint, err)
			continue
		}
		if s.Era() != tc.want {
			t.Errorf("server %q, hint %s: era %s", tc.era, tc.hint, s.Era())
		}
		st := up.Stats()
		if tc.hint == tc.want && st.Discovers+st.Initializes != 1 {
			t.Errorf("server %q, a right hint: %d discovers and %d initializes; want one try", tc.era, st.Discovers, st.Initializes)
		}
		s.Close()
	}
}

func TestHeaderValuesOutsidePlainASCIIAreEncoded(t *testing.T) {
	for in, want := range map[string]string{
		"get_weather":        "get_weather",
		"file:///a b":        "file:///a b",
		"Hello, 世界":          "=?base64?SGVsbG8sIOS4lueVjA==?=",
		" padded ":           "=?base64?IHBhZGRlZCA=?=",
		"line1\nline2":       "=?base64?bGluZTEKbGluZTI=?=",
		"=?base64?literal?=": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
	h := requestHeaders("tools/call", json.RawMessage(`{"name":"a\u00e9","arguments":{}}`))
	if h["Mcp-Method"] != "tools/call" || h["Mcp-Name"] != "=?base64?YcOp?=" {
		t.Errorf("headers %v", h)
	}
	if h := requestHeaders("tools/list", json.RawMessage(`{}`)); len(h) != 1 {
		t.Errorf("tools/list names nothing: %v", h)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAHandshakeServerGetsNoneOfTheStatelessMeta(t *testing.T) {
	in := `{"name":"x","_meta":{"progressToken":7,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"a"},"io.modelcontextprotocol/logLevel":"info"}}`
	got, err := withoutStatelessMeta(json.RawMessage(in))
	if err != nil || string(got) != `{"name":"x","_meta":{"progressToken":7}}` {
		t.Errorf("withoutStatelessMeta = %s, %v", got, err)
	}
	plain := json.RawMessage(`{"name":"x","_meta":{"progressToken":7}}`)
	if got, _ := withoutStatelessMeta(plain); &got[0] != &plain[0] {
		t.Error("params without them were copied")
	}
}

func TestAListKeepsTheShortestTTLAndTheNarrowestScopeOfItsPages(t *testing.T) {
	for _, tc := range []struct {
		pages []string
		want  Cache
	}{
		{[]string{`{"tools":[]}`}, Cache{}},
		{[]string{`{"tools":[],"ttlMs":60000,"cacheScope":"public"}`}, Cache{60 * time.Second, "public"}},
		{[]string{`{"ttlMs":60000,"cacheScope":"public"}`, `{"ttlMs":5000,"cacheScope":"private"}`, `{"ttlMs":9000,"cacheScope":"public"}`}, Cache{5 * time.Second, "private"}},
		{[]string{`{"ttlMs":-1}`}, Cache{}},
	} {
		var c Cache
		for i, p := range tc.pages {
			c = c.narrowed(json.RawMessage(p), i == 0)
		}
		if c != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.pages, c, tc.want)
		}
	}
}

// TestAServerThatAlwaysAsksIsGivenUpOn: input_required answered again and
// again ends after maxInputRounds, with an error, not a loop.
func TestAServerThatAlwaysAsksIsGivenUpOn(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &m)
		w.Header().Set("Content-Type", "application/json")
		switch m.Method {
		case "server/discover":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}}}}`, m.ID)
		case "tools/call":
			calls.Add(1)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"resultType":"input_required","inputRequests":{"q":{"method":"elicitation/create","params":{"message":"again?"}}},"requestState":"s"}}`, m.ID)
		default:
			http.Error(w, "not here", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Connect(ctx, Remote{URL: srv.URL, Era: EraModern}, &answering{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Call(ctx, "tools/call", json.RawMessage(`{"name":"x"}`), nil)
	if err == nil || !strings.Contains(err.Error(), "giving up") {
		t.Errorf("a server that always asks: %v", err)
	}
	if n := calls.Load(); n != maxInputRounds+1 {
		t.Errorf("%d calls; want the first and %d rounds", n, maxInputRounds)
	}
}

func TestParameterHeadersGoWithTheCall(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Transport: upstreamtest.StreamableHTTP, Era: upstreamtest.ModernOnly, Interactive: true})
	s := connect(t, up.StreamableURL, StreamableHTTP, &notes{})
	// Not listed first: the server's HeaderMismatch makes the session list
	// the tools, and call again with the header.
	res, err := s.Call(context.Background(), "tools/call", json.RawMessage(`{"name":"regional","arguments":{"region":"eu-west1","query":"q"}}`), nil)
	if err != nil || !strings.Contains(string(res), "ran in eu-west1") {
		t.Fatalf("regional: %s, %v", res, err)
	}
	if got := up.Stats().Headers["Mcp-Param-Region"]; got != "eu-west1" {
		t.Errorf("Mcp-Param-Region: %q", got)
	}
}

func TestParameterHeaderAnnotations(t *testing.T) {
	for _, tc := range []struct {
		schema string
		want   string // the headers found, or the error's start
	}{
		{`{"properties":{"a":{"type":"string"}}}`, ""},
		{`{"properties":{"r":{"type":"string","x-mcp-header":"Region"},"n":{"type":"object","properties":{"id":{"type":["integer","null"],"x-mcp-header":"Id"}}}}}`, "Id=n.id Region=r"},
		{`{"properties":{"r":{"type":"number","x-mcp-header":"R"}}}`, "property r: x-mcp-header on a"},
		{`{"properties":{"r":{"type":"string","x-mcp-header":"bad name"}}}`, "property r: x-mcp-header"},
		{`{"properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}`, "x-mcp-header \"x\" is given twice"},
		{`{"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"X"}}}}`, "x-mcp-header is allowed only"},
	} {
		hs, err := paramHeaders(json.RawMessage(tc.schema))
		var got []string
		for _, h := range hs {
			got = append(got, h.name+"="+strings.Join(h.path, "."))
		}
		switch {
		case err != nil && !strings.HasPrefix(err.Error(), tc.want):
			t.Errorf("%s: error %v, want %q", tc.schema, err, tc.want)
		case err == nil && strings.Join(got, " ") != tc.want:
			t.Errorf("%s: %v, want %q", tc.schema, got, tc.want)
		}
	}
	values := paramHeaderValues([]paramHeader{{"Region", []string{"r"}}, {"Id", []string{"n", "id"}}, {"On", []string{"on"}}, {"None", []string{"none"}}},
		json.RawMessage(`{"arguments":{"r":"caf\u00e9","n":{"id":42},"on":true,"none":null}}`))
	if values["Mcp-Param-Region"] != "=?base64?Y2Fmw6k=?=" || values["Mcp-Param-Id"] != "42" || values["Mcp-Param-On"] != "true" || len(values) != 3 {
		t.Errorf("values %v", values)
	}
}
