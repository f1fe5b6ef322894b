package upstreamtest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

var transports = []Transport{StreamableHTTP, SSE}

// forEach runs f as a subtest per transport, each with its own server.
func forEach(t *testing.T, opts Options, f func(t *testing.T, s *Server, tr Transport)) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			o := opts
			o.Transport = tr
			f(t, Start(t, o), tr)
		})
	}
}

// conn is an mcp-go client plus every notification it received.
type conn struct {
	*client.Client
	mu    sync.Mutex
	notes []mcp.JSONRPCNotification
}

func dial(t *testing.T, s *Server, tr Transport, headers map[string]string) *conn {
	t.Helper()
	var (
		c   *client.Client
		err error
	)
	// A connection pool of its own: a pooled connection that a Kill closed a
	// moment ago would fail the next POST with EOF (net/http does not retry
	// POSTs), and clients would share http.DefaultTransport's pool.
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	// The clients log every stream a Kill breaks; that is expected here.
	quiet := slog.New(slog.DiscardHandler)
	if tr == SSE {
		c, err = client.NewSSEMCPClient(s.SSEURL, transport.WithHeaders(headers),
			transport.WithHTTPClient(hc), transport.WithSSELogger(quiet))
	} else {
		// The GET stream carries list_changed and resources/updated.
		c, err = client.NewStreamableHttpClient(s.StreamableURL, transport.WithHTTPHeaders(headers),
			transport.WithHTTPBasicClient(hc), transport.WithContinuousListening(), transport.WithHTTPLogger(quiet))
	}
	if err != nil {
		t.Fatal(err)
	}
	cn := &conn{Client: c}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		cn.notes = append(cn.notes, n)
	})
	// Both transports keep using Start's context for their streams.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "upstreamtest", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cn
}

// progress returns the progress values received so far for token.
func (c *conn) progress(token string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []int
	for _, n := range c.notes {
		if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == token {
			got = append(got, int(n.Params.AdditionalFields["progress"].(float64)))
		}
	}
	return got
}

// waitFor waits until a notification with method has arrived.
func (c *conn) waitFor(t *testing.T, method string) mcp.JSONRPCNotification {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		for _, n := range c.notes {
			if n.Method == method {
				c.mu.Unlock()
				return n
			}
		}
		c.mu.Unlock()
	}
	t.Fatalf("no %s notification", method)
	return mcp.JSONRPCNotification{}
}

func call(t *testing.T, c *conn, name string, args map[string]any, token string) *mcp.CallToolResult {
	t.Helper()
	res, err := c.call(30*time.Second, name, args, token)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

// call calls a tool, asking for progress with token unless it is empty.
func (c *conn) call(timeout time.Duration, name string, args map[string]any, token string) (*mcp.CallToolResult, error) {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	if token != "" {
		req.Params.Meta = &mcp.Meta{ProgressToken: token}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.CallTool(ctx, req)
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("want one content block, got %d", len(res.Content))
	}
	tc, ok := res.Content[0].(mcp.TextContent)
	if !ok {
		t.Fatalf("want text content, got %T", res.Content[0])
	}
	return tc.Text
}

func TestCatalog(t *testing.T) {
	forEach(t, Options{Name: "alpha"}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		ctx := context.Background()

		tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
			wantRO := tool.Name == "echo" || tool.Name == "catalog.get-entity"
			if ro := tool.Annotations.ReadOnlyHint; ro == nil || *ro != wantRO {
				t.Errorf("%s: readOnlyHint %v, want %v", tool.Name, ro, wantRO)
			}
		}
		slices.Sort(names)
		want := []string{LongToolName, "burst", "catalog.get-entity", "echo", "fail", "note", "progress", "rpc_error", "wait"}
		if !slices.Equal(names, want) {
			t.Fatalf("tools %v, want %v", names, want)
		}
		if len(LongToolName) != 70 {
			t.Fatalf("long name has %d characters", len(LongToolName))
		}

		const odd = "  héllo\n\t\"world\" \u2028 "
		if got := text(t, call(t, c, "echo", map[string]any{"text": odd}, "")); got != odd {
			t.Errorf("echo: %q", got)
		}
		if got := text(t, call(t, c, "catalog.get-entity", map[string]any{"name": "x"}, "")); got != "entity x" {
			t.Errorf("catalog.get-entity: %q", got)
		}
		if got := text(t, call(t, c, LongToolName, nil, "")); got != "long" {
			t.Errorf("long: %q", got)
		}
		if res := call(t, c, "fail", nil, ""); !res.IsError || text(t, res) != "it failed" {
			t.Errorf("fail: %+v", res)
		}
		if got := text(t, call(t, c, "progress", map[string]any{"steps": 3}, "")); got != "done after 3 steps" {
			t.Errorf("progress without token: %q", got)
		}

		resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
			JSONRPC: "2.0", ID: mcp.NewRequestId("rpc-1"), Method: "tools/call",
			Params: map[string]any{"name": "rpc_error", "arguments": map[string]any{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Error == nil || resp.Error.Code != -32042 || resp.Error.Message != "custom failure" || resp.ID.Value() != "rpc-1" {
			t.Errorf("rpc_error: %+v %+v", resp, resp.Error)
		}

		var pr mcp.GetPromptRequest
		pr.Params.Name = "greet"
		pr.Params.Arguments = map[string]string{"name": "Ann"}
		prompt, err := c.GetPrompt(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		if len(prompt.Messages) != 1 || prompt.Messages[0].Role != mcp.RoleUser ||
			prompt.Messages[0].Content.(mcp.TextContent).Text != "Hello, Ann!" {
			t.Errorf("greet: %+v", prompt.Messages)
		}

		for uri, want := range map[string]string{"test://alpha/readme": "readme of alpha", "test://alpha/items/42": "item 42"} {
			var rr mcp.ReadResourceRequest
			rr.Params.URI = uri
			res, err := c.ReadResource(ctx, rr)
			if err != nil {
				t.Fatalf("read %s: %v", uri, err)
			}
			if got := res.Contents[0].(mcp.TextResourceContents).Text; got != want {
				t.Errorf("read %s: %q", uri, got)
			}
		}
		templates, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
		if err != nil || len(templates.ResourceTemplates) != 1 {
			t.Fatalf("templates: %v %+v", err, templates)
		}
	})
}

// TestEchoDefinition checks the rich fields reach the wire (the typed client
// would drop some of them, so read tools/list raw).
func TestEchoDefinition(t *testing.T) {
	forEach(t, Options{}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		resp, err := c.GetTransport().SendRequest(context.Background(), transport.JSONRPCRequest{
			JSONRPC: "2.0", ID: mcp.NewRequestId("list-1"), Method: "tools/list",
		})
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Tools []json.RawMessage }
		if err := json.Unmarshal(resp.Result, &list); err != nil {
			t.Fatal(err)
		}
		for _, raw := range list.Tools {
			if !strings.Contains(string(raw), `"name":"echo"`) {
				continue
			}
			for _, want := range []string{`"$schema":`, `"anyOf":`, `"x-custom":true`, `"description":"Arguments of echo."`,
				`"outputSchema":`, `"readOnlyHint":true`, `"title":"Echo"`, `"icons":`, `"_meta":{"com.example/tag":"x"}`} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("echo lacks %s: %s", want, raw)
				}
			}
			return
		}
		t.Fatal("no echo in tools/list")
	})
}

func TestPagination(t *testing.T) {
	forEach(t, Options{PageSize: 3}, func(t *testing.T, s *Server, tr Transport) {
		c := dial(t, s, tr, nil)
		page, err := c.ListToolsByPage(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tools) != 3 || page.NextCursor == "" {
			t.Fatalf("first page: %d tools, cursor %q", len(page.Tools), page.NextCursor)
		}
		all, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil || len(all.Tools) != 9 {
			t.Fatalf("all pages: %v, %d tools", err, len(all.Tools))
		}
	})
}
