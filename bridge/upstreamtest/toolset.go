package upstreamtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The toolset is a catalog of 311 tools across 19 servers, as an
// organisation's MCP servers offer them (GitHub, Jira, Slack, calendars,
// databases, docs, CI, monitoring, cloud, files…), with requests an agent
// would search it with, each labelled with the tool meant. Its text is in
// testdata/toolset: tools.txt and requests.txt say their own format.

//go:embed testdata/toolset/tools.txt
var toolsetText string

//go:embed testdata/toolset/requests.txt
var requestsText string

//go:embed testdata/toolset/heldout.txt
var heldOutText string

//go:embed testdata/toolset/fresh.txt
var freshText string

//go:embed testdata/toolset/unseen.txt
var unseenText string

//go:embed testdata/toolset/sealed.txt
var sealedText string

//go:embed testdata/toolset/sealed2.txt
var sealed2Text string

//go:embed testdata/toolset/dev3.txt
var dev3Text string

//go:embed testdata/toolset/dev4.txt
var dev4Text string

//go:embed testdata/toolset/sealed3.txt
var sealed3Text string

// Toolset is a catalog of tools by server.
type Toolset struct {
	// Servers are the server IDs in the order of the file.
	Servers []string
	// Tools are each server's tool definitions, as its tools/list would
	// carry them.
	Tools map[string][]json.RawMessage
}

// LoadToolset reads the toolset. A line it cannot read is a panic: the
// file is the tests' own.
func LoadToolset() Toolset {
	ts := Toolset{Tools: map[string][]json.RawMessage{}}
	current := ""
	for n, line := range strings.Split(toolsetText, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "server "):
			current = strings.TrimSpace(strings.TrimPrefix(line, "server "))
			ts.Servers = append(ts.Servers, current)
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 4 || current == "" {
			panic(fmt.Sprintf("upstreamtest: tools.txt:%d: want name | kind | description | arguments under a server line", n+1))
		}
		tool, err := toolsetTool(strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), strings.TrimSpace(parts[2]), strings.Fields(parts[3]))
		if err != nil {
			panic(fmt.Sprintf("upstreamtest: tools.txt:%d: %v", n+1, err))
		}
		ts.Tools[current] = append(ts.Tools[current], tool)
	}
	return ts
}

// Count is the number of tools in the toolset.
func (ts Toolset) Count() int {
	n := 0
	for _, tools := range ts.Tools {
		n += len(tools)
	}
	return n
}

func toolsetTool(name, kind, description string, args []string) (json.RawMessage, error) {
	props := map[string]any{}
	required := []string{}
	for _, a := range args {
		a, typ, _ := strings.Cut(a, ":")
		if typ == "" {
			typ = "string"
		}
		if strings.HasSuffix(a, "!") {
			a = strings.TrimSuffix(a, "!")
			required = append(required, a)
		}
		switch typ {
		case "int":
			typ = "integer"
		case "bool":
			typ = "boolean"
		case "string", "array", "object":
		default:
			return nil, fmt.Errorf("argument %s: unknown type %q", a, typ)
		}
		props[a] = map[string]any{"type": typ}
	}
	annotations := map[string]any{}
	switch kind {
	case "r":
		annotations["readOnlyHint"] = true
	case "w":
		annotations["readOnlyHint"], annotations["destructiveHint"] = false, false
	case "d":
		annotations["readOnlyHint"], annotations["destructiveHint"] = false, true
	default:
		return nil, fmt.Errorf("kind %q: want r, w or d", kind)
	}
	title := strings.ReplaceAll(name, "_", " ")
	title = strings.ToUpper(title[:1]) + title[1:]
	return json.Marshal(map[string]any{
		"name": name, "title": title, "description": description,
		"inputSchema": map[string]any{"type": "object", "properties": props, "required": required},
		"annotations": annotations,
	})
}

// Request is one labelled request of the toolset.
type Request struct {
	// Server and Tool name the tool meant, by its server's ID and its
	// name on the server.
	Server, Tool string
	// Text is the request, in an agent's words.
	Text string
	// Also are other tools that genuinely do what the request asks, each
	// as [server, tool]; finding one of them counts as finding Tool.
	Also [][2]string
}

// ToolsetRequests are the toolset's labelled requests.
func ToolsetRequests() []Request { return readRequests("requests.txt", requestsText) }

// ToolsetHeldOut are labelled requests written after the search was tuned
// on ToolsetRequests, and never tuned on.
func ToolsetHeldOut() []Request { return readRequests("heldout.txt", heldOutText) }

// ToolsetFresh are labelled requests written before the ranking was
// changed for them or for the held-out ones, and never tuned on: see the
// head of fresh.txt.
func ToolsetFresh() []Request { return readRequests("fresh.txt", freshText) }

// ToolsetUnseen are labelled requests written from the tools alone, not
// from the other sets, before the ranking was broadened; measured unseen
// once, then a development set: see the head of unseen.txt.
func ToolsetUnseen() []Request { return readRequests("unseen.txt", unseenText) }

// ToolsetSealed are labelled requests written from the tools alone by a
// writer who saw neither the other sets nor the search's code, and never
// tuned on: only their aggregate recall is read (see the head of
// sealed.txt).
func ToolsetSealed() []Request { return readRequests("sealed.txt", sealedText) }

// ToolsetDev3 are labelled requests written from the tools alone, by a
// writer who saw no other set nor the search's code: measured once
// unseen, then a development set (see the head of dev3.txt).
func ToolsetDev3() []Request { return readRequests("dev3.txt", dev3Text) }

// ToolsetDev4 are labelled requests written as dev3.txt's were, by
// another writer, after the ranking had been tuned on dev3.txt: see the
// head of dev4.txt.
func ToolsetDev4() []Request { return readRequests("dev4.txt", dev4Text) }

// ToolsetSealed3 are a third sealed set, written as the others were
// after the ranking had been tuned on dev4.txt: see the head of
// sealed3.txt.
func ToolsetSealed3() []Request { return readRequests("sealed3.txt", sealed3Text) }

// ToolsetSealed2 are a second sealed set, written as the first was by
// another writer, after the ranking had been tuned on everything else:
// see the head of sealed2.txt.
func ToolsetSealed2() []Request { return readRequests("sealed2.txt", sealed2Text) }

// readRequests reads lines of "server tool | request", the label perhaps
// "server tool or server tool" when either tool does the job.
func readRequests(file, text string) []Request {
	var out []Request
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		label, text, ok := strings.Cut(line, "|")
		var tools [][2]string
		for _, alt := range strings.Split(strings.TrimSpace(label), " or ") {
			f := strings.Fields(alt)
			if len(f) != 2 {
				ok = false
				break
			}
			tools = append(tools, [2]string{f[0], f[1]})
		}
		if !ok {
			panic(fmt.Sprintf("upstreamtest: %s:%d: want server tool | request", file, n+1))
		}
		out = append(out, Request{Server: tools[0][0], Tool: tools[0][1], Text: strings.TrimSpace(text), Also: tools[1:]})
	}
	return out
}

// addTools serves tool definitions given as JSON; a call answers with the
// tool's name and its arguments.
func addTools(s *server.MCPServer, tools []json.RawMessage) {
	for _, raw := range tools {
		var t struct {
			Name        string             `json:"name"`
			Title       string             `json:"title"`
			Description string             `json:"description"`
			InputSchema json.RawMessage    `json:"inputSchema"`
			Annotations mcp.ToolAnnotation `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			panic(fmt.Sprintf("upstreamtest: a tool that is not JSON: %v", err))
		}
		if len(t.InputSchema) == 0 {
			t.InputSchema = json.RawMessage(`{"type":"object"}`)
		}
		name := t.Name
		s.AddTool(mcp.Tool{Name: t.Name, Title: t.Title, Description: t.Description, RawInputSchema: t.InputSchema, Annotations: t.Annotations},
			func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				args, _ := json.Marshal(req.GetArguments())
				return mcp.NewToolResultText(name + " " + string(args)), nil
			})
	}
}
