// Package agent edits desktop agents' MCP configuration files (JSON, and
// TOML for Codex) to add or remove the bridge's entry, leaving every other
// byte of the file as it was.
package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Agent is a desktop agent whose MCP configuration the bridge can edit.
type Agent struct {
	Name  string // as bridge setup takes it
	Title string
	// Binary is the agent's command, to find whether it is installed.
	Binary string
	// Note is what the user should know once the entry is added.
	Note string
	// key is the top-level object that holds the servers.
	key string
	// typed entries carry "type": "stdio".
	typed bool
	// toml files are edited as TOML, the servers a table each under key.
	toml bool
	path func(env Env) string
}

// Launch is how the agent starts the bridge.
type Launch struct {
	Command string
	Args    []string
}

// Serve is the launch of "bridge serve" by the binary command, with the
// config file the user chose carried along when it is not the default one:
// an agent may not pass its environment on (Codex does not).
func Serve(command, configPath string) Launch {
	l := Launch{Command: command, Args: []string{"serve"}}
	if configPath != "" {
		l.Args = append(l.Args, "--config", configPath)
	}
	return l
}

// Env is what locating a config file depends on, so that every OS's
// location can be tested anywhere.
type Env struct {
	GOOS      string
	Home      string
	AppData   string // %APPDATA% on Windows
	XDG       string // $XDG_CONFIG_HOME, "" for the default
	CodexHome string // $CODEX_HOME, "" for the default
}

// Agents are the agents bridge setup knows.
var Agents = []Agent{
	{Name: "claude-desktop", Title: "Claude Desktop", key: "mcpServers", path: func(e Env) string {
		return filepath.Join(appConfigDir(e), "Claude", "claude_desktop_config.json")
	}},
	{Name: "claude-code", Title: "Claude Code", Binary: "claude", key: "mcpServers", typed: true, path: func(e Env) string {
		return filepath.Join(e.Home, ".claude.json")
	}},
	{Name: "cursor", Title: "Cursor", Binary: "cursor", key: "mcpServers", path: func(e Env) string {
		return filepath.Join(e.Home, ".cursor", "mcp.json")
	}},
	{Name: "vscode", Title: "VS Code", Binary: "code", key: "servers", typed: true, path: func(e Env) string {
		return filepath.Join(appConfigDir(e), "Code", "User", "mcp.json")
	}},
	{Name: "gemini", Title: "Gemini CLI", Binary: "gemini", key: "mcpServers",
		Note: "Gemini CLI starts MCP servers only in folders it trusts: trust the folder you work in when it asks (or in ~/.gemini/trustedFolders.json)",
		path: func(e Env) string { return filepath.Join(e.Home, ".gemini", "settings.json") }},
	{Name: "codex", Title: "Codex", Binary: "codex", key: "mcp_servers", toml: true, path: func(e Env) string {
		if e.CodexHome != "" {
			return filepath.Join(e.CodexHome, "config.toml")
		}
		return filepath.Join(e.Home, ".codex", "config.toml")
	}},
}

// Names are the agents' names, for messages.
func Names() string {
	var names []string
	for _, a := range Agents {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

// Find returns the agent with this name.
func Find(name string) (Agent, error) {
	for _, a := range Agents {
		if a.Name == name {
			return a, nil
		}
	}
	return Agent{}, fmt.Errorf("unknown agent %q: use one of %s", name, Names())
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

// Entry is the bridge's entry in an agent's JSON file.
func (a Agent) Entry(l Launch) json.RawMessage {
	entry := map[string]any{"command": l.Command, "args": l.Args}
	if a.typed {
		entry["type"] = "stdio"
	}
	out, _ := json.Marshal(entry)
	return out
}

// Snippet is the whole file content that sets up only the bridge, for
// --print and for files the bridge cannot edit.
func (a Agent) Snippet(name string, l Launch) string {
	if a.toml {
		return tomlTable(a.key, name, l)
	}
	var b bytes.Buffer
	_ = json.Indent(&b, fmt.Appendf(nil, `{%q:{%q:%s}}`, a.key, name, a.Entry(l)), "", "  ")
	return b.String() + "\n"
}

// ErrNotJSON means the file cannot be edited safely (comments, or not JSON).
var ErrNotJSON = errors.New("not plain JSON")

// Add sets the entry name in data (a JSON object, or empty) and returns the
// new content and whether it changed. Everything else is kept byte for byte.
func (a Agent) Add(data []byte, name string, l Launch) ([]byte, bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return []byte(a.Snippet(name, l)), true, nil
	}
	if a.toml {
		return tomlAdd(data, a.key, name, l)
	}
	root, s, err := a.servers(data)
	if err != nil {
		return nil, false, err
	}
	indent := detectIndent(data)
	entry := indentJSON(a.Entry(l), indent, 2)
	if s < 0 {
		member := fmt.Sprintf("%q: {\n%s%q: %s\n%s}", a.key, strings.Repeat(indent, 2), name, entry, indent)
		return insertMember(data, root, member, indent, 1), true, nil
	}
	// The servers object is edited on its own, then put back in its place.
	obj := data[root[s].Start:root[s].End]
	servers, k, err := a.entry(obj, name)
	if err != nil {
		return nil, false, err
	}
	var edited []byte
	switch {
	case k < 0:
		edited = insertMember(obj, servers, fmt.Sprintf("%q: %s", name, entry), indent, 2)
	case sameJSON(obj[servers[k].Start:servers[k].End], a.Entry(l)):
		return data, false, nil
	default:
		edited = splice(obj, servers[k].Start, servers[k].End, []byte(entry))
	}
	return splice(data, root[s].Start, root[s].End, edited), true, nil
}

// Remove takes the entry name out of data. When dropServers is set and the
// entry was all the servers object held, the object goes too: Add created
// it (Created says so), and removing both gives back the file as it was.
func (a Agent) Remove(data []byte, name string, dropServers bool) ([]byte, bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return data, false, nil
	}
	if a.toml {
		return tomlRemove(data, a.key, name)
	}
	root, s, err := a.servers(data)
	if err != nil {
		return nil, false, err
	}
	if s < 0 {
		return data, false, nil
	}
	obj := data[root[s].Start:root[s].End]
	servers, k, err := a.entry(obj, name)
	if err != nil {
		return nil, false, err
	}
	if k < 0 {
		return data, false, nil
	}
	if dropServers && len(servers) == 1 {
		return removeMember(data, root, s), true, nil
	}
	return splice(data, root[s].Start, root[s].End, removeMember(obj, servers, k)), true, nil
}

// Created reports whether data has no servers object, so that Add would
// create it.
func (a Agent) Created(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	if a.toml {
		return false // a table of its own takes nothing else with it
	}
	_, s, err := a.servers(data)
	return err == nil && s < 0
}

// servers checks that data is one JSON object and lists its members, with
// the index of the servers object's member among them, or -1.
func (a Agent) servers(data []byte) ([]rawjson.Member, int, error) {
	// rawjson checks only the structure it walks, so the whole file is
	// checked first; Unmarshal rather than Valid, for an error that says
	// where the file goes wrong.
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	root, err := members(data)
	if err != nil {
		return nil, 0, err
	}
	s, err := find(root, a.key)
	return root, s, err
}

// entry lists the members of the servers object obj, with the index of the
// entry name among them, or -1.
func (a Agent) entry(obj []byte, name string) ([]rawjson.Member, int, error) {
	servers, err := members(obj)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", a.key, err)
	}
	k, err := find(servers, name)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", a.key, err)
	}
	return servers, k, nil
}

// members lists the members of obj, which is known to be JSON.
func members(obj []byte) ([]rawjson.Member, error) {
	ms, err := rawjson.Members(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: expected an object", ErrNotJSON)
	}
	return ms, nil
}

// find returns the index of the member named exactly name, or -1: the
// agents read keys as JavaScript does. A name given twice is refused, as
// editing one would leave the other to say something else.
func find(ms []rawjson.Member, name string) (int, error) {
	found := -1
	for k, m := range ms {
		if !m.Is(name) {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("%w: %q %w", ErrNotJSON, name, rawjson.ErrAmbiguous)
		}
		found = k
	}
	return found, nil
}

// insertMember adds member text as the last member of obj, whose members
// are ms, on its own line at depth levels of indent.
func insertMember(obj []byte, ms []rawjson.Member, text, indent string, depth int) []byte {
	if len(ms) == 0 {
		ins := "\n" + strings.Repeat(indent, depth) + text + "\n" + strings.Repeat(indent, depth-1)
		opening, closing := braces(obj)
		return splice(obj, opening+1, closing, []byte(ins))
	}
	last := ms[len(ms)-1]
	ins := ",\n" + strings.Repeat(indent, depth) + text
	return splice(obj, last.End, last.End, []byte(ins))
}

// removeMember deletes member k of obj and the separator that goes with it,
// so that removing what insertMember added gives back the original bytes.
func removeMember(obj []byte, ms []rawjson.Member, k int) []byte {
	switch {
	case len(ms) == 1:
		opening, closing := braces(obj)
		return splice(obj, opening+1, closing, nil)
	case k > 0:
		return splice(obj, ms[k-1].End, ms[k].End, nil)
	}
	// The first member goes up to the second's key: between a value and
	// the next key there is only space and a comma, and before the first
	// key only space after the brace.
	first := bytes.IndexByte(obj, '"')
	second := ms[0].End + bytes.IndexByte(obj[ms[0].End:], '"')
	return splice(obj, first, second, nil)
}

// braces are the offsets of the braces of obj, an object with nothing but
// space around it.
func braces(obj []byte) (opening, closing int) {
	return bytes.IndexByte(obj, '{'), bytes.LastIndexByte(obj, '}')
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

// Found says what shows the agent is installed here — its config file,
// its command on the PATH, or its config folder — or "" for nothing.
func (a Agent) Found(e Env, lookPath func(string) (string, error)) string {
	path := a.Path(e)
	if _, err := os.Stat(path); err == nil {
		return "config file"
	}
	if a.Binary != "" {
		if _, err := lookPath(a.Binary); err == nil {
			return a.Binary + " on the PATH"
		}
	}
	if dir := filepath.Dir(path); dir != filepath.Clean(e.Home) {
		if _, err := os.Stat(dir); err == nil {
			return "config folder"
		}
	}
	return ""
}
