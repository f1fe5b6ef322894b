// Package agent edits desktop agents' MCP configuration files to add or
// remove the bridge's entry, leaving every other byte of the file as it was.
package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Agent is a desktop agent whose MCP configuration the bridge can edit.
type Agent struct {
	Name  string // as bridge setup takes it
	Title string
	// key is the top-level object that holds the servers.
	key string
	// typed entries carry "type": "stdio".
	typed bool
	path  func(env Env) string
}

// Env is what locating a config file depends on, so that every OS's
// location can be tested anywhere.
type Env struct {
	GOOS    string
	Home    string
	AppData string // %APPDATA% on Windows
	XDG     string // $XDG_CONFIG_HOME, "" for the default
}

// Agents are the agents bridge setup knows.
var Agents = []Agent{
	{Name: "claude-desktop", Title: "Claude Desktop", key: "mcpServers", path: func(e Env) string {
		return filepath.Join(appConfigDir(e), "Claude", "claude_desktop_config.json")
	}},
	{Name: "claude-code", Title: "Claude Code", key: "mcpServers", typed: true, path: func(e Env) string {
		return filepath.Join(e.Home, ".claude.json")
	}},
	{Name: "cursor", Title: "Cursor", key: "mcpServers", path: func(e Env) string {
		return filepath.Join(e.Home, ".cursor", "mcp.json")
	}},
	{Name: "vscode", Title: "VS Code", key: "servers", typed: true, path: func(e Env) string {
		return filepath.Join(appConfigDir(e), "Code", "User", "mcp.json")
	}},
}

// Find returns the agent with this name.
func Find(name string) (Agent, error) {
	var names []string
	for _, a := range Agents {
		if a.Name == name {
			return a, nil
		}
		names = append(names, a.Name)
	}
	return Agent{}, fmt.Errorf("unknown agent %q: use one of %s", name, strings.Join(names, ", "))
}

// Path is the agent's MCP configuration file.
func (a Agent) Path(e Env) string { return a.path(e) }

func appConfigDir(e Env) string {
	switch e.GOOS {
	case "darwin":
		return filepath.Join(e.Home, "Library", "Application Support")
	case "windows":
		if e.AppData != "" {
			return e.AppData
		}
		return filepath.Join(e.Home, "AppData", "Roaming")
	}
	if e.XDG != "" {
		return e.XDG
	}
	return filepath.Join(e.Home, ".config")
}

// Entry is the bridge's entry in an agent's file.
func (a Agent) Entry(command string) json.RawMessage {
	entry := map[string]any{"command": command, "args": []string{"serve"}}
	if a.typed {
		entry["type"] = "stdio"
	}
	out, _ := json.Marshal(entry)
	return out
}

// Snippet is the whole file content that sets up only the bridge, for
// --print and for files the bridge cannot edit.
func (a Agent) Snippet(name, command string) string {
	var b bytes.Buffer
	_ = json.Indent(&b, fmt.Appendf(nil, `{%q:{%q:%s}}`, a.key, name, a.Entry(command)), "", "  ")
	return b.String() + "\n"
}

// ErrNotJSON means the file cannot be edited safely (comments, or not JSON).
var ErrNotJSON = errors.New("not plain JSON")

// Add sets the entry name in data (a JSON object, or empty) and returns the
// new content and whether it changed. Everything else is kept byte for byte.
func (a Agent) Add(data []byte, name, command string) ([]byte, bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return []byte(a.Snippet(name, command)), true, nil
	}
	root, err := parseObject(data, 0)
	if err != nil {
		return nil, false, err
	}
	indent := detectIndent(data)
	entry := indentJSON(a.Entry(command), indent, 2)
	servers, ok := root.members[a.key]
	if !ok {
		member := fmt.Sprintf("%q: {\n%s%q: %s\n%s}", a.key, strings.Repeat(indent, 2), name, entry, indent)
		return insertMember(data, root, member, indent, 1), true, nil
	}
	obj, err := parseObject(data, servers.valueStart)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", a.key, err)
	}
	if m, ok := obj.members[name]; ok {
		if sameJSON(data[m.valueStart:m.valueEnd], a.Entry(command)) {
			return data, false, nil
		}
		return splice(data, m.valueStart, m.valueEnd, []byte(entry)), true, nil
	}
	return insertMember(data, obj, fmt.Sprintf("%q: %s", name, entry), indent, 2), true, nil
}

// Remove takes the entry name out of data. When dropServers is set and the
// entry was all the servers object held, the object goes too: Add created
// it (Created says so), and removing both gives back the file as it was.
func (a Agent) Remove(data []byte, name string, dropServers bool) ([]byte, bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return data, false, nil
	}
	root, err := parseObject(data, 0)
	if err != nil {
		return nil, false, err
	}
	servers, ok := root.members[a.key]
	if !ok {
		return data, false, nil
	}
	obj, err := parseObject(data, servers.valueStart)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", a.key, err)
	}
	if _, ok := obj.members[name]; !ok {
		return data, false, nil
	}
	if dropServers && len(obj.order) == 1 {
		return removeMember(data, root, a.key), true, nil
	}
	return removeMember(data, obj, name), true, nil
}

// Created reports whether data has no servers object, so that Add would
// create it.
func (a Agent) Created(data []byte) bool {
	root, err := parseObject(data, 0)
	if err != nil {
		return len(bytes.TrimSpace(data)) == 0
	}
	_, ok := root.members[a.key]
	return !ok
}

// object is a JSON object's layout in the file.
type object struct {
	start, end int // offsets of '{' and just past '}'
	members    map[string]member
	order      []string
}

type member struct {
	keyStart, valueStart, valueEnd int
}

// parseObject reads the object that starts at (or after whitespace from)
// offset, recording where each member's key and value are.
func parseObject(data []byte, offset int) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data[offset:]))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: expected an object", ErrNotJSON)
	}
	o := &object{start: offset + int(dec.InputOffset()) - 1, members: map[string]member{}}
	for dec.More() {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
		key, _ := tok.(string)
		keyStart := offset + before + bytes.IndexByte(data[offset+before:], '"')
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
		end := offset + int(dec.InputOffset())
		o.members[key] = member{keyStart: keyStart, valueStart: end - len(v), valueEnd: end}
		o.order = append(o.order, key)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("%w: unterminated object", ErrNotJSON)
	}
	o.end = offset + int(dec.InputOffset())
	if offset == 0 {
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("%w: more after the object", ErrNotJSON)
		}
	}
	return o, nil
}

// insertMember adds member text as the object's last member, on its own
// line at depth levels of indent.
func insertMember(data []byte, o *object, text, indent string, depth int) []byte {
	closing := o.end - 1
	if len(o.order) == 0 {
		ins := "\n" + strings.Repeat(indent, depth) + text + "\n" + strings.Repeat(indent, depth-1)
		return splice(data, o.start+1, closing, []byte(ins))
	}
	last := o.members[o.order[len(o.order)-1]]
	ins := ",\n" + strings.Repeat(indent, depth) + text
	return splice(data, last.valueEnd, last.valueEnd, []byte(ins))
}

// removeMember deletes a member and the separator that goes with it, so
// that removing what insertMember added gives back the original bytes.
func removeMember(data []byte, o *object, key string) []byte {
	i := slices.Index(o.order, key)
	m := o.members[key]
	if len(o.order) == 1 {
		return splice(data, o.start+1, o.end-1, nil)
	}
	if i > 0 {
		prev := o.members[o.order[i-1]]
		return splice(data, prev.valueEnd, m.valueEnd, nil)
	}
	next := o.members[o.order[1]]
	return splice(data, m.keyStart, next.keyStart, nil)
}

func splice(data []byte, from, to int, with []byte) []byte {
	out := make([]byte, 0, len(data)-(to-from)+len(with))
	out = append(out, data[:from]...)
	out = append(out, with...)
	return append(out, data[to:]...)
}

// detectIndent is the file's indentation unit: the leading whitespace of
// its first indented line, or two spaces.
func detectIndent(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed != "" && len(trimmed) < len(line) {
			return line[:len(line)-len(trimmed)]
		}
	}
	return "  "
}

// indentJSON pretty-prints v to sit at depth levels of indent.
func indentJSON(v json.RawMessage, indent string, depth int) string {
	var b bytes.Buffer
	_ = json.Indent(&b, v, strings.Repeat(indent, depth), indent)
	return b.String()
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
