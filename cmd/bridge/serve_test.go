package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// entityYAML is a catalog entity for a server with these remotes.
func entityYAML(name string, remotes ...[2]string) string {
	return upstreamtest.Entity(name, remotes...)
}

// fleet is three real upstreams: streamable HTTP only, SSE only, and one
// that lists both (streamable HTTP is used).
type fleet struct {
	alpha, beta, gamma *upstreamtest.Server
	catalog            string
}

func startFleet(t *testing.T) *fleet {
	f := &fleet{
		alpha: upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP, PageSize: 3}),
		beta:  upstreamtest.Start(t, upstreamtest.Options{Name: "beta", Transport: upstreamtest.SSE}),
		gamma: upstreamtest.Start(t, upstreamtest.Options{Name: "gamma", Transport: upstreamtest.Both}),
	}
	f.catalog = entityYAML("alpha", [2]string{"streamable-http", f.alpha.StreamableURL}) +
		entityYAML("beta", [2]string{"sse", f.beta.SSEURL}) +
		entityYAML("gamma", [2]string{"sse", f.gamma.SSEURL}, [2]string{"streamable-http", f.gamma.StreamableURL})
	return f
}

var servers = []string{"alpha", "beta", "gamma"}

// serveFleet starts the fleet and serve over all of it, initialized and
// with its tools listed once; args are serve's flags.
func serveFleet(t *testing.T, args ...string) (*fleet, *agent) {
	f := startFleet(t)
	a := startAgent(t, f.catalog, servers, "", args...)
	a.initialize("2025-11-25")
	listTools(a)
	return f, a
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

type tool struct {
	Name string `json:"name"`
}

func listTools(a *agent) map[string]json.RawMessage {
	a.t.Helper()
	var res struct {
		Tools []json.RawMessage `json:"tools"`
	}
	a.result("tools/list", map[string]any{}, &res)
	out := map[string]json.RawMessage{}
	for _, raw := range res.Tools {
		var tl tool
		must(a.t, json.Unmarshal(raw, &tl))
		out[tl.Name] = raw
	}
	return out
}

func TestServeNegotiatesEveryProtocolVersion(t *testing.T) {
	for _, v := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"} {
		t.Run(v, func(t *testing.T) {
			a := startAgent(t, "", nil, "")
			var res struct {
				ProtocolVersion string `json:"protocolVersion"`
				Capabilities    struct {
					Tools     struct{ ListChanged bool }            `json:"tools"`
					Prompts   struct{ ListChanged bool }            `json:"prompts"`
					Resources struct{ ListChanged, Subscribe bool } `json:"resources"`
				} `json:"capabilities"`
			}
			must(t, json.Unmarshal(a.initialize(v), &res))
			c := res.Capabilities
			if res.ProtocolVersion != v || !c.Tools.ListChanged || !c.Prompts.ListChanged || !c.Resources.ListChanged || !c.Resources.Subscribe {
				t.Errorf("initialize result %+v", res)
			}
		})
	}
}

func TestServeMergesNamesAndRoutesEveryKind(t *testing.T) {
	f := startFleet(t)
	a := startAgent(t, f.catalog, servers, "servers:\n  gamma:\n    prefix: g\n")
	a.initialize("2025-11-25")
	tools := listTools(a)
	for _, want := range []string{
		"alpha__echo", "beta__echo", "g__echo", "alpha__progress", "beta__burst", "g__wait",
		"alpha__catalog_get-entity", "beta__fail", "g__rpc_error",
	} {
		if _, ok := tools[want]; !ok {
			t.Errorf("tools/list lacks %s; it has %v", want, keys(tools))
		}
	}
	long := 0
	for name := range tools {
		if !validName.MatchString(name) {
			t.Errorf("invalid exposed name %q", name)
		}
		if strings.HasPrefix(name, "beta__a_very_long_tool_name") {
			long++
		}
	}
	if long != 1 {
		t.Errorf("the 70-character tool is not exposed once under a shortened name: %v", keys(tools))
	}

	// Definitions are carried byte for byte (compacted): only the name differs.
	direct := rawToolsList(t, f.alpha.StreamableURL)
	for _, item := range direct {
		var tl tool
		must(t, json.Unmarshal(item, &tl))
		exposed, ok := tools["alpha__"+strings.ReplaceAll(tl.Name, ".", "_")]
		if !ok {
			continue // the shortened one
		}
		if want := strings.Replace(compact(t, item), `"name":"`+tl.Name+`"`, `"name":"alpha__`+strings.ReplaceAll(tl.Name, ".", "_")+`"`, 1); compact(t, exposed) != want {
			t.Errorf("%s changed on the way:\n got %s\nwant %s", tl.Name, compact(t, exposed), want)
		}
	}

	for _, name := range []string{"alpha__echo", "beta__echo", "g__echo"} {
		if text, errm := a.toolText(name, map[string]any{"text": "hi " + name}); errm != nil || text != "hi "+name {
			t.Errorf("%s answered %q, %v", name, text, errm)
		}
	}
	if text, _ := a.toolText("alpha__catalog_get-entity", map[string]any{"name": "x"}); text != "entity x" {
		t.Errorf("dotted tool answered %q", text)
	}

	// An isError result passes unchanged; a JSON-RPC error keeps its code.
	m, _ := a.call("tools/call", map[string]any{"name": "beta__fail", "arguments": map[string]any{}})
	if m.Error != nil || !strings.Contains(string(m.Result), `"isError":true`) || firstText(t, m.Result) != "it failed" {
		t.Errorf("fail: %s", m.raw)
	}
	for _, name := range []string{"alpha__rpc_error", "g__rpc_error"} {
		m, _ = a.call("tools/call", map[string]any{"name": name, "arguments": map[string]any{}})
		if m.Error == nil || m.Error.Code != -32042 || m.Error.Message != "custom failure" {
			t.Errorf("%s: %s", name, m.raw)
		}
	}
	m, _ = a.call("tools/call", map[string]any{"name": "nope__echo", "arguments": map[string]any{}})
	if m.Error == nil || m.Error.Code != -32602 || !strings.Contains(m.Error.Message, `unknown tool "nope__echo"`) {
		t.Errorf("unknown tool: %s", m.raw)
	}

	// Prompts are namespaced and routed the same way.
	var prompts struct {
		Prompts []tool `json:"prompts"`
	}
	a.result("prompts/list", map[string]any{}, &prompts)
	if names := promptNames(prompts.Prompts); !slices.Equal(names, []string{"alpha__greet", "beta__greet", "g__greet"}) {
		t.Errorf("prompts = %v", names)
	}
	var got struct {
		Messages []struct {
			Content struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"messages"`
	}
	a.result("prompts/get", map[string]any{"name": "beta__greet", "arguments": map[string]string{"name": "Ada"}}, &got)
	if len(got.Messages) != 1 || got.Messages[0].Content.Text != "Hello, Ada!" {
		t.Errorf("prompts/get = %+v", got)
	}

	// Resources keep their URIs and are routed by them; templates too.
	var res struct {
		Resources []struct {
			URI string `json:"uri"`
		} `json:"resources"`
	}
	a.result("resources/list", map[string]any{}, &res)
	var uris []string
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
	}
	if !slices.Equal(uris, []string{"test://alpha/readme", "test://beta/readme", "test://gamma/readme"}) {
		t.Errorf("resources = %v", uris)
	}
	var tmpls struct {
		ResourceTemplates []struct {
			URITemplate string `json:"uriTemplate"`
		} `json:"resourceTemplates"`
	}
	a.result("resources/templates/list", map[string]any{}, &tmpls)
	if len(tmpls.ResourceTemplates) != 3 {
		t.Errorf("templates = %+v", tmpls)
	}
	for uri, want := range map[string]string{"test://beta/readme": "readme of beta", "test://gamma/items/7": "item 7"} {
		var read struct {
			Contents []struct {
				Text string `json:"text"`
			} `json:"contents"`
		}
		a.result("resources/read", map[string]any{"uri": uri}, &read)
		if len(read.Contents) != 1 || read.Contents[0].Text != want {
			t.Errorf("read %s = %+v", uri, read)
		}
	}
	m, _ = a.call("resources/read", map[string]any{"uri": "test://nowhere/x"})
	if m.Error == nil || m.Error.Code != -32002 {
		t.Errorf("unknown resource: %s", m.raw)
	}

	// Subscriptions reach the server, and its updates come back.
	for _, s := range []*upstreamtest.Server{f.alpha, f.beta} {
		uri := "test://" + map[*upstreamtest.Server]string{f.alpha: "alpha", f.beta: "beta"}[s] + "/readme"
		a.result("resources/subscribe", map[string]any{"uri": uri}, nil)
		s.UpdateResource(uri)
		n := a.waitNotification("notifications/resources/updated", 10*time.Second)
		if !strings.Contains(string(n.Params), uri) {
			t.Errorf("update for %s: %s", uri, n.raw)
		}
	}
}

func TestServeProgressComesBeforeTheResultEveryTime(t *testing.T) {
	_, a := serveFleet(t)
	const runs = 200
	for i := range runs {
		server := []string{"alpha", "beta", "gamma"}[i%3]
		token := fmt.Sprintf("tok-%d", i)
		var params any = map[string]any{"name": server + "__progress", "arguments": map[string]any{"steps": 5, "delay_ms": 0},
			"_meta": map[string]any{"progressToken": token}}
		if i%2 == 1 { // integer tokens too
			params = map[string]any{"name": server + "__progress", "arguments": map[string]any{"steps": 5, "delay_ms": 0},
				"_meta": map[string]any{"progressToken": i}}
			token = fmt.Sprint(i)
		}
		m, notes := a.call("tools/call", params)
		if m.Error != nil {
			t.Fatalf("run %d: %s", i, m.raw)
		}
		checkProgress(t, notes, token, 5)
		if text := firstText(t, m.Result); text != "done after 5 steps" {
			t.Fatalf("run %d: %q", i, text)
		}
	}
}

func TestServeLosesNoProgressInABurst(t *testing.T) {
	_, a := serveFleet(t)
	for _, server := range servers {
		m, notes := a.call("tools/call", map[string]any{"name": server + "__burst", "arguments": map[string]any{"count": 500},
			"_meta": map[string]any{"progressToken": "b-" + server}})
		if m.Error != nil {
			t.Fatalf("%s: %s", server, m.raw)
		}
		checkProgress(t, notes, `"b-`+server+`"`, 500)
	}
}

// checkProgress asserts exactly n progress notifications for token, with
// progress 1..n in order.
func checkProgress(t *testing.T, notes []rpcMessage, token string, n int) {
	t.Helper()
	if !strings.HasPrefix(token, `"`) && !regexp.MustCompile(`^\d+$`).MatchString(token) {
		token = `"` + token + `"`
	}
	var got []float64
	for _, m := range notes {
		if m.Method != "notifications/progress" {
			continue
		}
		var p struct {
			Token    json.RawMessage `json:"progressToken"`
			Progress float64         `json:"progress"`
		}
		must(t, json.Unmarshal(m.Params, &p))
		if string(p.Token) != token {
			t.Fatalf("progress for token %s, want %s", p.Token, token)
		}
		got = append(got, p.Progress)
	}
	if len(got) != n {
		t.Fatalf("%d progress notifications before the result, want %d", len(got), n)
	}
	for i, p := range got {
		if p != float64(i+1) {
			t.Fatalf("progress out of order: %v", got)
		}
	}
}

func TestServeCancellationReachesTheServer(t *testing.T) {
	f, a := serveFleet(t)
	for _, s := range []struct {
		name string
		up   *upstreamtest.Server
	}{{"alpha", f.alpha}, {"beta", f.beta}} {
		before := s.up.Stats()
		id := a.request("tools/call", map[string]any{"name": s.name + "__wait", "arguments": map[string]any{"seconds": 30}})
		waitFor(t, func() bool { return s.up.Stats().ToolCalls > before.ToolCalls })
		a.notify("notifications/cancelled", map[string]any{"requestId": id, "reason": "user stopped"})
		waitFor(t, func() bool { return s.up.Stats().WaitsCancelled > before.WaitsCancelled })
		waitFor(t, func() bool { return s.up.Stats().Cancelled > before.Cancelled })
		if ids := s.up.Stats().CancelledIDs; !regexp.MustCompile(`^\d+$`).MatchString(ids[len(ids)-1]) {
			t.Errorf("%s was cancelled with request id %s, not the bridge's own", s.name, ids[len(ids)-1])
		}
		// The cancelled request gets no response: the next one answers first.
		ping := a.request("ping", nil)
		m, _ := a.await(ping, 5*time.Second)
		if m.Error != nil {
			t.Fatalf("ping: %s", m.raw)
		}
		select {
		case m := <-a.msgs:
			t.Errorf("a message after cancelling: %s", m.raw)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func TestServeSlowServerDelaysNoOther(t *testing.T) {
	_, a := serveFleet(t)
	slow := a.request("tools/call", map[string]any{"name": "beta__wait", "arguments": map[string]any{"seconds": 30}})
	const n = 96
	ids := map[int]string{}
	for i := range n {
		server := []string{"alpha", "gamma", "beta"}[i%3]
		text := fmt.Sprintf("c%d", i)
		ids[a.request("tools/call", map[string]any{"name": server + "__echo", "arguments": map[string]any{"text": text}})] = text
	}
	deadline := time.After(20 * time.Second)
	for len(ids) > 0 {
		select {
		case m := <-a.msgs:
			var id int
			if json.Unmarshal(m.ID, &id) != nil || m.Method != "" {
				continue
			}
			want, ok := ids[id]
			if !ok {
				t.Fatalf("unexpected response: %s", m.raw)
			}
			if m.Error != nil || firstText(t, m.Result) != want {
				t.Errorf("call %d: %s", id, m.raw)
			}
			delete(ids, id)
		case <-deadline:
			t.Fatalf("%d of %d concurrent calls unanswered while one call waits", len(ids), n)
		}
	}
	a.notify("notifications/cancelled", map[string]any{"requestId": slow})
}

// rawToolsList lists a server's tools directly, as raw JSON items.
func rawToolsList(t *testing.T, url string) []json.RawMessage {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url)
	must(t, err)
	defer tr.Close()
	ctx := context.Background()
	must(t, tr.Start(ctx))
	_, err = tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(1), Method: "initialize",
		Params: map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}}})
	must(t, err)
	var items []json.RawMessage
	cursor := ""
	for {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		resp, err := tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(2), Method: "tools/list", Params: params})
		must(t, err)
		var page struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		must(t, json.Unmarshal(resp.Result, &page))
		items = append(items, page.Tools...)
		if cursor = page.NextCursor; cursor == "" {
			return items
		}
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	must(t, json.Compact(&b, raw))
	return b.String()
}

func writeText(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }

func keys(m map[string]json.RawMessage) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func promptNames(ps []tool) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond for up to 15 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
