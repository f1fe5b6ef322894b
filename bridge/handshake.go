package bridge

import (
	"encoding/json"
	"slices"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// The bridge answers the handshake, ping, and methods it does not know
// itself. It speaks the protocol up to 2025-11-25, the last revision with
// the initialize handshake, which is what it speaks with its servers too.

const codeMethodNotFound = -32601

const instructions = "Tools of the MCP servers enabled in the Software Catalog, each named after its server: server__tool."

// answerOwn answers a message no route forwards: initialize and ping, and
// an error for any other request. Other notifications need nothing.
func (s *stdioServer) answerOwn(m message) {
	if len(m.ID) == 0 || string(m.ID) == "null" {
		return
	}
	switch m.Method {
	case "initialize":
		s.writeResult(m.ID, s.initializeResult(m.Params))
	case "ping":
		s.writeResult(m.ID, json.RawMessage("{}"))
	default:
		s.writeError(m.ID, codeMethodNotFound, "method not found: "+m.Method, nil)
	}
}

// initializeResult agrees on the version the agent asks for, when the
// bridge speaks it, and otherwise offers the newest it speaks.
func (s *stdioServer) initializeResult(params json.RawMessage) json.RawMessage {
	asked, _ := rawjson.LookupString(params, "protocolVersion")
	version := client.ProtocolVersions[0]
	if slices.Contains(client.ProtocolVersions, asked) {
		version = asked
	}
	out, _ := json.Marshal(map[string]any{
		"protocolVersion": version,
		"capabilities":    serverCapabilities(),
		"serverInfo":      map[string]any{"name": "mcp-bridge", "version": s.b.opts.Version},
		"instructions":    instructions,
	})
	return out
}

// serverCapabilities are what the bridge offers an agent of either era.
func serverCapabilities() map[string]any {
	return map[string]any{
		"tools":     map[string]any{"listChanged": true},
		"prompts":   map[string]any{"listChanged": true},
		"resources": map[string]any{"listChanged": true, "subscribe": true},
		// Any server's logs and completions are carried; see logging.go
		// and completion.go.
		"logging":     map[string]any{},
		"completions": map[string]any{},
		// Task-augmented calls go to servers that run tasks (tasks.go); a
		// server that does not runs the call as any other.
		"tasks": map[string]any{"list": map[string]any{}, "cancel": map[string]any{}, "requests": map[string]any{"tools": map[string]any{"call": map[string]any{}}}},
	}
}
