package upstreamtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// LongToolName is the name of a tool longer (70 characters) than the 64 that
// some agents accept, so the bridge's renaming can be tested.
const LongToolName = "a_very_long_tool_name_that_goes_on_and_on_past_the_limit_of_sixty_four"

// rpcErrorTool is answered by intercept (intercept.go) with a JSON-RPC error
// of its own code, which an mcp-go handler cannot produce.
const rpcErrorTool = "rpc_error"

func (g *generation) newMCPServer() *server.MCPServer {
	// mcp-go's sessions accept resources/subscribe but do not remember it
	// (neither session type implements SessionWithResourceSubscriptions), so
	// subscriptions are tracked here, from hooks.
	hooks := &server.Hooks{}
	hooks.AddAfterSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
		if session := server.ClientSessionFromContext(ctx); session != nil {
			g.subs.add(req.Params.URI, session.SessionID())
		}
	})
	hooks.AddAfterUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
		if session := server.ClientSessionFromContext(ctx); session != nil {
			g.subs.remove(req.Params.URI, session.SessionID())
		}
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, session server.ClientSession) {
		g.subs.forget(session.SessionID())
	})

	opts := []server.ServerOption{
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(true),
		server.WithRecovery(),
		server.WithHooks(hooks),
	}
	if n := g.srv.opts.PageSize; n > 0 {
		opts = append(opts, server.WithPaginationLimit(n))
	}
	if g.srv.opts.Interactive {
		opts = append(opts, interactiveOptions()...)
	}
	if g.srv.opts.Tasks {
		opts = append(opts, taskOptions()...)
	}
	s := server.NewMCPServer(g.srv.opts.Name, "1.0.0", opts...)
	s.AddTools(g.tools()...)
	if g.srv.opts.Interactive {
		s.AddTools(g.interactiveTools()...)
	}
	if g.srv.opts.Tasks {
		g.addTaskTools(s)
	}
	addTools(s, g.srv.opts.Tools)
	g.addPromptsAndResources(s)
	return s
}

// tools are the fixed tools, with descriptions SetDescription changed.
func (g *generation) tools() []server.ServerTool {
	tools := g.fixedTools()
	g.srv.mu.Lock()
	defer g.srv.mu.Unlock()
	for i := range tools {
		if d, ok := g.srv.descs[tools[i].Tool.Name]; ok {
			tools[i].Tool.Description = d
		}
	}
	return tools
}

func (g *generation) fixedTools() []server.ServerTool {
	readOnly := mcp.WithReadOnlyHintAnnotation(true)
	writes := mcp.WithReadOnlyHintAnnotation(false)
	return []server.ServerTool{
		{Tool: echoTool(), Handler: echo},
		{Tool: mcp.NewTool("progress",
			mcp.WithDescription("Sends `steps` progress notifications, `delay_ms` apart, then answers."),
			mcp.WithInteger("steps", mcp.Required()),
			mcp.WithInteger("delay_ms"),
			writes,
		), Handler: g.progress},
		{Tool: mcp.NewTool("burst",
			mcp.WithDescription("Sends `count` progress notifications as fast as possible, then answers."),
			mcp.WithInteger("count", mcp.Required()),
			writes,
		), Handler: g.burst},
		{Tool: mcp.NewTool("wait",
			mcp.WithDescription("Blocks until cancelled or until `seconds` (default 30) have passed."),
			mcp.WithNumber("seconds"),
			writes,
		), Handler: g.wait},
		{Tool: mcp.NewTool("fail",
			mcp.WithDescription("Returns a tool result with isError set."),
			writes,
		), Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError("it failed"), nil
		}},
		{Tool: mcp.NewTool(rpcErrorTool,
			mcp.WithDescription("Answers with JSON-RPC error -32042 \"custom failure\"."),
			writes,
		), Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			// Only reached if intercept let the call through; mcp-go turns
			// this into -32603.
			return nil, errors.New("custom failure")
		}},
		{Tool: mcp.NewTool("note",
			mcp.WithDescription("Writes a note; it changes state but destroys nothing."),
			mcp.WithString("text"),
			writes,
			mcp.WithDestructiveHintAnnotation(false),
		), Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("noted " + req.GetString("text", "")), nil
		}},
		{Tool: mcp.NewTool("catalog.get-entity",
			mcp.WithDescription("Looks an entity up by name."),
			mcp.WithString("name", mcp.Required()),
			readOnly,
		), Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("entity " + req.GetString("name", "")), nil
		}},
		{Tool: mcp.NewTool(LongToolName,
			mcp.WithDescription("Has a name of 70 characters."),
			writes,
		), Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("long"), nil
		}},
	}
}

// echoTool carries every kind of field the bridge must pass through
// untouched: schema keywords mcp-go's typed structs would drop ($schema,
// anyOf, x-*, a top-level description), an output schema, title, icons and
// _meta. It is a struct literal because mcp.NewTool sets InputSchema.Type,
// and a Tool with both InputSchema and RawInputSchema fails to marshal.
func echoTool() mcp.Tool {
	return mcp.Tool{
		Name:        "echo",
		Title:       "Echo",
		Description: "Returns `text` unchanged.",
		RawInputSchema: json.RawMessage(`{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"type": "object",
			"description": "Arguments of echo.",
			"properties": {
				"text": {"type": "string", "description": "Text to send back verbatim.", "x-custom": true},
				"style": {"anyOf": [{"type": "string", "enum": ["plain", "quoted"]}, {"type": "null"}]}
			},
			"required": ["text"],
			"anyOf": [{"required": ["text"]}, {"required": ["text", "style"]}],
			"additionalProperties": false
		}`),
		RawOutputSchema: json.RawMessage(`{
			"type": "object",
			"properties": {"text": {"type": "string"}},
			"required": ["text"]
		}`),
		Annotations: mcp.ToolAnnotation{Title: "Echo text", ReadOnlyHint: ptr(true)},
		Icons: []mcp.Icon{{
			Src:      "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
			MIMEType: "image/svg+xml",
			Sizes:    []string{"any"},
		}},
		Meta: &mcp.Meta{AdditionalFields: map[string]any{"com.example/tag": "x"}},
	}
}

func echo(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	text := req.GetString("text", "")
	// The output schema promises structured content, so send it along with
	// the single text block.
	return mcp.NewToolResultStructured(map[string]any{"text": text}, text), nil
}

func (g *generation) progress(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	steps := req.GetInt("steps", 0)
	delay := time.Duration(req.GetInt("delay_ms", 0)) * time.Millisecond
	for i := 1; i <= steps; i++ {
		if i > 1 && delay > 0 {
			if err := g.sleep(ctx, delay); err != nil {
				return nil, err
			}
		}
		if err := g.sendProgress(ctx, req, i, steps); err != nil {
			return nil, err
		}
	}
	return mcp.NewToolResultText(fmt.Sprintf("done after %d steps", steps)), nil
}

func (g *generation) burst(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	count := req.GetInt("count", 0)
	for i := 1; i <= count; i++ {
		if err := g.sendProgress(ctx, req, i, count); err != nil {
			return nil, err
		}
	}
	return mcp.NewToolResultText(fmt.Sprintf("burst of %d", count)), nil
}

// sendProgress sends progress i of total, if the request asked for progress.
func (g *generation) sendProgress(ctx context.Context, req mcp.CallToolRequest, i, total int) error {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	return g.deliver(ctx, mcp.JSONRPCNotification{
		JSONRPC: mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{
			Method: string(mcp.MethodNotificationProgress),
			Params: mcp.NotificationParams{AdditionalFields: map[string]any{
				"progressToken": req.Params.Meta.ProgressToken,
				"progress":      i,
				"total":         total,
				"message":       fmt.Sprintf("step %d", i),
			}},
		},
	})
}

func (g *generation) wait(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	d := time.Duration(req.GetFloat("seconds", 30) * float64(time.Second))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		// Being killed drops the connection, which is no cancellation by
		// the client.
		if !g.killed.Load() {
			g.srv.stats.waitCancelled()
		}
	case <-g.stop:
		// A killed server never answers: hold the call until its
		// connection is gone.
		<-ctx.Done()
		return nil, ctx.Err()
	case <-timer.C:
	}
	return mcp.NewToolResultText("waited"), nil
}

// sleep waits d unless the request is cancelled or the server killed.
func (g *generation) sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return errKilled
	}
}

var errKilled = errors.New("upstreamtest: server killed")

// addedTool is the tool AddTool adds: it answers with its name.
func addedTool(name string) (mcp.Tool, server.ToolHandlerFunc) {
	tool := mcp.NewTool(name, mcp.WithDescription("Added at runtime."), mcp.WithReadOnlyHintAnnotation(false))
	return tool, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(name), nil
	}
}

func (g *generation) addPromptsAndResources(s *server.MCPServer) {
	name := g.srv.opts.Name
	s.AddPrompt(mcp.NewPrompt("greet",
		mcp.WithPromptDescription("Greets someone."),
		mcp.WithArgument("name", mcp.RequiredArgument(), mcp.ArgumentDescription("Who to greet.")),
	), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		who := req.Params.Arguments["name"]
		return mcp.NewGetPromptResult("A greeting", []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("Hello, "+who+"!")),
		}), nil
	})

	readme := "test://" + name + "/readme"
	s.AddResource(mcp.NewResource(readme, "readme",
		mcp.WithResourceDescription("The server's readme."),
		mcp.WithMIMEType("text/plain"),
	), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI: readme, MIMEType: "text/plain", Text: "readme of " + name,
		}}, nil
	})

	s.AddResourceTemplate(mcp.NewResourceTemplate("test://"+name+"/items/{id}", "item",
		mcp.WithTemplateDescription("One item, by id."),
		mcp.WithTemplateMIMEType("text/plain"),
	), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI: req.Params.URI, MIMEType: "text/plain", Text: "item " + templateVar(req.Params.Arguments["id"]),
		}}, nil
	})
}

// templateVar flattens a URI template variable, which mcp-go hands over as
// the matcher's []string.
func templateVar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	}
	return fmt.Sprint(v)
}

func ptr[T any](v T) *T { return &v }

// subscriptions maps resource URIs to the ids of the sessions subscribed.
type subscriptions struct {
	mu    sync.Mutex
	byURI map[string]map[string]bool
}

func (s *subscriptions) add(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byURI == nil {
		s.byURI = map[string]map[string]bool{}
	}
	if s.byURI[uri] == nil {
		s.byURI[uri] = map[string]bool{}
	}
	s.byURI[uri][session] = true
}

func (s *subscriptions) remove(uri, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byURI[uri], session)
}

func (s *subscriptions) forget(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sessions := range s.byURI {
		delete(sessions, session)
	}
}

func (s *subscriptions) of(uri string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.byURI[uri] {
		ids = append(ids, id)
	}
	return ids
}

// updateResource notifies the sessions subscribed to uri. mcp-go drops a
// notification when the session's queue is full, so retry for a while
// rather than lose it.
func (g *generation) updateResource(uri string) {
	for _, id := range g.subs.of(uri) {
		for deadline := time.Now().Add(5 * time.Second); ; {
			err := g.mcp.SendNotificationToSpecificClient(id, string(mcp.MethodNotificationResourceUpdated), map[string]any{"uri": uri})
			if !errors.Is(err, server.ErrNotificationChannelBlocked) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}
