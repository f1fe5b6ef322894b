package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Tool search: an agent whose tool cap the catalog's tools exceed, or one
// the config gives tools: search, is listed three tools of the bridge's
// own instead of every tool: find_tools searches the exposed tools by
// words (index.go), describe_tool gives one's whole definition, and
// call_tool calls one by its exposed name. What they find and call is
// what the agent would be listed: withheld tools are neither found nor
// callable, and a call through call_tool takes the same path as a direct
// one (callNamed), with its progress, cancellation, audit and tasks.

// The names of the search tools.
const (
	SearchToolFind     = "find_tools"
	SearchToolDescribe = "describe_tool"
	SearchToolCall     = "call_tool"
)

// Bounds on find_tools' results.
const (
	defaultSearchResults = 8
	maxSearchResults     = 30
	// searchDescription is how much of a description a result shows;
	// describe_tool gives it whole.
	searchDescription = 200
)

// searchTools are the tools an agent with tool search is listed; made
// when first asked for, as a start without tool search has no need of
// them.
func searchTools() []map[string]any {
	return []map[string]any{
		{
			"name":  SearchToolFind,
			"title": "Find tools",
			"description": "Searches the tools of every MCP server enabled in the Software Catalog by words, " +
				"and returns the best matches, best first: each tool's name, what it does and its arguments. " +
				"Search for the task at hand (\"create a jira ticket\", \"recent deploys of the api\"); " +
				"then call a tool with call_tool, after describe_tool when you need its full input schema.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{
				"query": map[string]any{"type": "string", "description": "What you want to do, in a few words."},
				"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxSearchResults,
					"description": fmt.Sprintf("How many tools to return (default %d).", defaultSearchResults)},
			}, "required": []string{"query"}},
			"annotations": map[string]any{"readOnlyHint": true, "openWorldHint": false},
		},
		{
			"name":        SearchToolDescribe,
			"title":       "Describe a tool",
			"description": "Returns the full definition of one tool found with find_tools: its description, input schema (the arguments call_tool takes for it), output schema and annotations.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{
				"name": map[string]any{"type": "string", "description": "The tool's name, as find_tools gave it."},
			}, "required": []string{"name"}},
			"annotations": map[string]any{"readOnlyHint": true, "openWorldHint": false},
		},
		{
			"name":        SearchToolCall,
			"title":       "Call a tool",
			"description": "Calls one tool found with find_tools, by its name, with its arguments, and returns the tool's own result.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{
				"name":      map[string]any{"type": "string", "description": "The tool's name, as find_tools gave it."},
				"arguments": map[string]any{"type": "object", "description": "The tool's arguments, as its input schema says."},
			}, "required": []string{"name"}},
		},
	}
}

// searchListResult is the tools/list result of an agent with tool search.
var searchListResult = sync.OnceValue(func() json.RawMessage {
	out, err := json.Marshal(map[string]any{"tools": searchTools()})
	if err != nil {
		panic(err)
	}
	return out
})

// searchRoutes answer the search tools' calls.
var searchRoutes = map[string]func(ctx context.Context, s *stdioServer, params, args json.RawMessage) (json.RawMessage, error){
	SearchToolFind:     findRoute,
	SearchToolDescribe: describeRoute,
	SearchToolCall:     callToolRoute,
}

// searchCall answers a tools/call of a search tool, when the agent has
// tool search and name is one; ok is false otherwise.
func (s *stdioServer) searchCall(ctx context.Context, name string, params json.RawMessage) (res json.RawMessage, err error, ok bool) {
	route, isSearch := searchRoutes[name]
	if !isSearch || !s.b.searchSurface() {
		return nil, nil, false
	}
	args, found, err := rawjson.Lookup(params, "arguments")
	if err != nil || found && string(args) != "null" && (len(args) == 0 || args[0] != '{') {
		return nil, &routeError{codeInvalidParams, "tools/call: arguments is not an object"}, true
	}
	if !found || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	res, err = route(ctx, s, params, args)
	return res, err, true
}

// findRoute answers find_tools.
func findRoute(ctx context.Context, s *stdioServer, _, args json.RawMessage) (json.RawMessage, error) {
	var a struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
	}
	if err := json.Unmarshal(args, &a); err != nil || strings.TrimSpace(a.Query) == "" {
		return toolText("find_tools needs a query: a few words that say what you want to do.", true), nil
	}
	if a.Limit <= 0 {
		a.Limit = defaultSearchResults
	}
	a.Limit = min(a.Limit, maxSearchResults)
	s.b.WaitStartup(ctx)
	hits := s.index().Search(a.Query, a.Limit)
	var b strings.Builder
	if len(hits) == 0 {
		fmt.Fprintf(&b, "No tool matches %q. Try other words.", a.Query)
	} else {
		fmt.Fprintf(&b, "Tools for %q, best first:\n", a.Query)
	}
	found := make([]map[string]any, 0, len(hits))
	for i, h := range hits {
		d := h.doc
		fmt.Fprintf(&b, "%d. %s", i+1, d.name)
		if d.title != "" {
			fmt.Fprintf(&b, " (%s)", d.title)
		}
		if d.description != "" {
			fmt.Fprintf(&b, ": %s", cleanText(firstLine(d.description), searchDescription))
		}
		if len(d.args) > 0 {
			fmt.Fprintf(&b, " Arguments: %s.", strings.Join(d.argList(), ", "))
		}
		b.WriteByte('\n')
		found = append(found, map[string]any{"name": d.name, "title": d.title, "server": d.server,
			"description": cleanText(d.description, searchDescription), "arguments": d.args, "required": d.required})
	}
	if len(hits) > 0 {
		b.WriteString("Call one with call_tool {\"name\": …, \"arguments\": {…}}; describe_tool gives its full input schema.")
	}
	out, err := json.Marshal(map[string]any{
		"content":           []map[string]any{{"type": "text", "text": b.String()}},
		"structuredContent": map[string]any{"tools": found},
	})
	return out, err
}

// describeRoute answers describe_tool with the tool's definition as the
// agent would be listed it; a withheld tool is refused with its rule, as a
// call of it would be.
func describeRoute(ctx context.Context, s *stdioServer, _, args json.RawMessage) (json.RawMessage, error) {
	name, err := rawjson.LookupString(args, "name")
	if err != nil || name == "" {
		return toolText("describe_tool needs the name of a tool, as find_tools gave it.", true), nil
	}
	e, ok := s.b.Registry.Tool(name)
	if !ok && s.b.WaitStartup(ctx) {
		e, ok = s.b.Registry.Tool(name)
	}
	switch {
	case !ok:
		return toolText(fmt.Sprintf("There is no tool %q: find_tools gives the names.", name), true), nil
	case e.Verdict.Withheld():
		return toolText(fmt.Sprintf("Tool %q is withheld: %s", name, e.Verdict.Reason), true), nil
	}
	out, err := json.Marshal(map[string]any{
		"content":           []map[string]any{{"type": "text", "text": string(e.raw)}},
		"structuredContent": e.raw,
	})
	return out, err
}

// callToolRoute answers call_tool: the call of the tool named, with the
// request's other params (its progress token, task, input responses) as
// they are, along the path of a direct call.
func callToolRoute(ctx context.Context, s *stdioServer, params, args json.RawMessage) (json.RawMessage, error) {
	name, err := rawjson.LookupString(args, "name")
	if err != nil || name == "" {
		return nil, &routeError{codeInvalidParams, "call_tool: arguments.name is missing: find_tools gives the names"}
	}
	inner, found, err := rawjson.Lookup(args, "arguments")
	switch {
	case err != nil || found && string(inner) != "null" && (len(inner) == 0 || inner[0] != '{'):
		return nil, &routeError{codeInvalidParams, "call_tool: arguments.arguments is not an object"}
	case !found || string(inner) == "null":
		inner = json.RawMessage("{}")
	}
	call, err := rawjson.SetString(params, "name", name)
	if err == nil {
		call, err = rawjson.SetMember(call, "arguments", inner)
	}
	if err != nil {
		return nil, &routeError{codeInvalidParams, "tools/call: params is not an object"}
	}
	return s.callNamed(ctx, KindTools, "tools/call", name, call)
}

// firstLine is the first paragraph of a description.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), " ")
}

// indexCache keeps the search index of the registry's merged list, made
// again when the list has changed since (a server's list_changed, one
// arriving or leaving, a pin trusted).
type indexCache struct {
	mu      sync.Mutex
	version uint64
	idx     *ToolIndex
}

// index is the search index of what the agent may call now.
func (s *stdioServer) index() *ToolIndex {
	return s.search.get(s.b.Registry)
}

func (c *indexCache) get(r *Registry) *ToolIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx != nil && r.Version() == c.version {
		return c.idx
	}
	version, tools := r.exposedSnapshot()
	c.idx, c.version = NewToolIndex(tools), version
	return c.idx
}

// Version counts the merged lists made: it changes when they may have.
func (r *Registry) Version() uint64 {
	defer r.reading()()
	return r.version
}

// exposedSnapshot is the version of the merged lists and the tools the
// agent may call in them, together.
func (r *Registry) exposedSnapshot() (uint64, []Exposed) {
	defer r.reading()()
	var out []Exposed
	for _, e := range r.tools {
		if !e.Verdict.Withheld() {
			out = append(out, e)
		}
	}
	return r.version, out
}
