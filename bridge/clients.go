package bridge

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Agents differ in the tool lists they accept: how long a name may be,
// counting the prefix the agent puts before it itself, which characters
// and which first character, and how many tools. The bridge recognises
// the agent by the name it gives itself (initialize's clientInfo, or the
// clientInfo in a stateless request's _meta) and fits its tool surface to
// it: names (naming.go) and, past its tool cap, tool search (search.go).
// The agent is known from the first message that names it; the first
// name seen wins for the life of the process.

// metaClientInfo is the _meta key of a stateless request's client info.
const metaClientInfo = "io.modelcontextprotocol/clientInfo"

// Client is what the bridge knows of one agent: one row of Clients.
type Client struct {
	// Name is the agent's name in the config (clients.<name>) and for
	// "bridge setup" and "bridge tools --client".
	Name  string
	Title string
	// IDs are the names the agent gives itself in clientInfo, matched
	// without regard to case.
	IDs []string
	// Prefix is what the agent puts before every tool name itself, with
	// {entry} for the name of the bridge's entry in its config.
	Prefix string
	// MaxName is the longest tool name the agent accepts, its own prefix
	// counted.
	MaxName int
	// NoDash: the agent rewrites "-" to "_".
	NoDash bool
	// MaxTools is the most tools the agent takes well; 0 for no cap.
	MaxTools int
	// OwnSearch: the agent defers tools through a tool search of its own,
	// so it keeps the plain list.
	OwnSearch bool
	// Source is where the limits come from.
	Source string
}

// DefaultEntry is the name of the bridge's entry in an agent's config, as
// "bridge setup" writes it.
const DefaultEntry = "bridge"

// Clients are the agents the bridge knows, with the source of each limit.
// The README shows this table; clients.<name> in the config overrides it.
var Clients = []Client{
	{Name: "claude-desktop", Title: "Claude Desktop", IDs: []string{"claude-ai"}, MaxName: 64,
		Source: "its tool schema: names match ^[a-zA-Z0-9_-]{1,64}$"},
	{Name: "claude-code", Title: "Claude Code", IDs: []string{"claude-code"}, Prefix: "mcp__{entry}__", MaxName: 64, OwnSearch: true,
		Source: "it exposes mcp__<entry>__<name>, at most 64 in all, and one longer name breaks the session; it defers MCP tools through its own tool search"},
	{Name: "cursor", Title: "Cursor", IDs: []string{"cursor-vscode"}, Prefix: "{entry}", MaxName: 60, MaxTools: 80,
		Source: "server name and tool name together at most 60; warns past 80 tools"},
	{Name: "vscode", Title: "VS Code", IDs: []string{"visual studio code", "visual-studio-code"}, MaxName: 64, MaxTools: 128,
		Source: "at most 128 tools per request; names as the models accept them, at most 64"},
	{Name: "codex", Title: "Codex", IDs: []string{"codex-mcp-client"}, Prefix: "mcp__{entry}__", MaxName: 64, NoDash: true, MaxTools: 128,
		Source: "names ^[a-zA-Z0-9_-]+$ of at most 64 with its own mcp__<entry>__ (older versions <entry>__), \"-\" rewritten to \"_\"; at most 128 tools"},
	{Name: "gemini", Title: "Gemini CLI", IDs: []string{"gemini-cli-mcp-client"}, Prefix: "mcp_{entry}_", MaxName: 63,
		Source: "0.61 calls a tool mcp_<entry>_<name>, characters outside [a-zA-Z0-9_.:-] made _; a whole name past 63 is cut to its first and last 30 (generateValidName), which can make two names one"},
}

// ClientOptions are the config's say over the client rules.
type ClientOptions struct {
	// MaxNameLength is the configured max_name_length (0 when unset): the
	// limit for an agent the bridge does not know, and a further bound
	// for one it does.
	MaxNameLength int
	// Tools is the configured tool surface: "", "auto", "search" or
	// "direct".
	Tools string
	// Overrides are clients.<name>, by name.
	Overrides map[string]config.ClientConfig
}

// Fit is what one agent gets: its names' rules and its tool surface.
type Fit struct {
	// Client is the row of Clients the agent matched; its Name is ""
	// for an agent the bridge does not know.
	Client Client
	// Said is the name the agent gave itself, "" when none yet.
	Said string
	// Entry is the bridge's entry name in the agent's config.
	Entry string
	// Own is the agent's own prefix before every name, entry filled in.
	Own string
	// Namer names the tools: the length left after the agent's own
	// prefix, the characters it takes.
	Namer Namer
	// MaxTools is the agent's tool cap, 0 for none.
	MaxTools int
	// Tools is the surface asked for: "auto", "search" or "direct".
	Tools string
}

// FindClient finds an agent by its name in Clients or a name it gives
// itself in clientInfo, without regard to case.
func FindClient(name string) (Client, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, c := range Clients {
		if c.Name == name || slices.Contains(c.IDs, name) {
			return c, true
		}
	}
	return Client{}, false
}

// FitClient says what the agent that calls itself name gets under the
// config's options. An agent the bridge does not know keeps the
// configured max_name_length (64 by default) and no tool cap, unless
// clients.<its name> says otherwise.
func FitClient(name string, o ClientOptions) Fit {
	c, known := FindClient(name)
	if !known {
		c = Client{MaxName: DefaultMaxNameLength}
		if o.MaxNameLength > 0 {
			c.MaxName = o.MaxNameLength
		}
	}
	f := Fit{Client: c, Said: name, Entry: DefaultEntry, MaxTools: c.MaxTools, Tools: o.Tools}
	maxName := c.MaxName
	if known && o.MaxNameLength > 0 {
		maxName = min(maxName, o.MaxNameLength)
	}
	if ov, ok := clientOverride(o.Overrides, c, name); ok {
		if ov.MaxNameLength > 0 {
			maxName = ov.MaxNameLength
		}
		if ov.MaxTools > 0 {
			f.MaxTools = ov.MaxTools
		}
		if ov.Entry != "" {
			f.Entry = ov.Entry
		}
		if ov.Tools != "" {
			f.Tools = ov.Tools
		} else if c.OwnSearch {
			f.Tools = config.ToolsDirect
		}
	} else if c.OwnSearch {
		// The config's tools: search is for agents without a search of
		// their own; clients.<name>.tools can still ask for it.
		f.Tools = config.ToolsDirect
	}
	if f.Tools == "" {
		f.Tools = config.ToolsAuto
	}
	f.Own = strings.ReplaceAll(c.Prefix, "{entry}", f.Entry)
	f.Namer = Namer{Max: max(maxName-len(f.Own), minNameLength), NoDash: c.NoDash}
	return f
}

// clientOverride finds clients.<name> for a client: under its name in
// Clients, or under the name it gave itself.
func clientOverride(overrides map[string]config.ClientConfig, c Client, said string) (config.ClientConfig, bool) {
	for key, ov := range overrides {
		k := strings.ToLower(key)
		if c.Name != "" && k == c.Name || said != "" && k == strings.ToLower(strings.TrimSpace(said)) {
			return ov, true
		}
	}
	return config.ClientConfig{}, false
}

// Search reports whether the agent gets tool search rather than the tools
// themselves when exposed tools are offered.
func (f Fit) Search(exposed int) bool {
	switch f.Tools {
	case config.ToolsSearch:
		return true
	case config.ToolsDirect:
		return false
	}
	return f.MaxTools > 0 && exposed > f.MaxTools
}

// Describe says in a line what the agent gets, for "bridge tools".
func (f Fit) Describe() string {
	who := f.Client.Title
	if who == "" {
		who = fmt.Sprintf("an agent the bridge does not know (%q)", f.Said)
		if f.Said == "" {
			who = "an agent the bridge does not know"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: names of at most %d", who, f.Namer.max())
	if f.Own != "" {
		fmt.Fprintf(&b, " (%d with the %q it puts before them)", f.Namer.max()+len(f.Own), f.Own)
	}
	switch {
	case f.Namer.NoDash:
		b.WriteString(`, "-" written "_"`)
	}
	if f.MaxTools > 0 {
		fmt.Fprintf(&b, "; at most %d tools", f.MaxTools)
	}
	switch f.Tools {
	case config.ToolsSearch:
		b.WriteString("; tool search always")
	case config.ToolsDirect:
		b.WriteString("; the tools themselves always")
	default:
		if f.MaxTools > 0 {
			b.WriteString(", tool search past that")
		}
	}
	return b.String()
}

// ClientOptionsFor are the config's client options.
func ClientOptionsFor(cfg *config.Config) ClientOptions {
	return ClientOptions{MaxNameLength: cfg.MaxNameLength, Tools: cfg.Tools, Overrides: cfg.Clients}
}

// clientInfoName is the name an agent's message gives its client: in
// initialize's clientInfo, or in the clientInfo of a stateless request's
// _meta; "" when it names none.
func clientInfoName(method string, params json.RawMessage, stateless bool) string {
	var info json.RawMessage
	switch {
	case method == "initialize":
		info, _, _ = rawjson.Lookup(params, "clientInfo")
	case stateless:
		meta, ok, err := rawjson.Lookup(params, "_meta")
		if err != nil || !ok || len(meta) == 0 || meta[0] != '{' {
			return ""
		}
		info, _, _ = rawjson.Lookup(meta, metaClientInfo)
	}
	if len(info) == 0 || info[0] != '{' {
		return ""
	}
	name, _ := rawjson.LookupString(info, "name")
	return name
}

// SetNamer names every server's tools and prompts anew with n, as the
// agent's client wants them, and reports the kinds whose merged list
// changed. Parts being made meanwhile are made again (put).
func (r *Registry) SetNamer(n Namer) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.namer == n {
		return nil
	}
	r.namer = n
	r.naming++
	ids := make([]string, 0, len(r.prefixes))
	for id := range r.prefixes {
		ids = append(ids, id)
	}
	r.prefixes = n.Prefixes(ids, r.overrides)
	var changed []string
	for s, old := range r.parts {
		p := r.prepareWith(s, r.lists[s], old.facts, old.login, n, r.prefixes[s], r.naming)
		r.parts[s] = p
		for _, kind := range []string{KindTools, KindPrompts} {
			if !slices.Contains(changed, kind) && !slices.EqualFunc(old.items(kind), p.items(kind), func(a, b []byte) bool { return string(a) == string(b) }) {
				changed = append(changed, kind)
			}
		}
		r.stale = true
	}
	return changed
}

// Namer is the namer the registry names with now.
func (r *Registry) Namer() Namer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namer
}

// ExposedTools counts the tools the agent would see listed.
func (r *Registry) ExposedTools() int {
	defer r.reading()()
	n := 0
	for _, e := range r.tools {
		if !e.Verdict.Withheld() {
			n++
		}
	}
	return n
}

// FitClient fits the bridge's tool surface to the agent that calls itself
// name, once: the first call wins for the life of the bridge, and later
// ones do nothing. The agent hears of renamed tools with list_changed.
func (b *Bridge) FitClient(name string) {
	b.fitOnce.Do(func() {
		f := FitClient(name, b.opts.Clients)
		b.fit.Store(&f)
		if name != "" {
			b.log.Info("agent", "client", name, "fit", f.Describe())
		}
		b.changed(b.Registry.SetNamer(f.Namer))
	})
}

// Fit is what the agent gets: until it is known, what an agent the bridge
// does not know gets.
func (b *Bridge) Fit() Fit {
	if f := b.fit.Load(); f != nil {
		return *f
	}
	return FitClient("", b.opts.Clients)
}

// searchSurface reports whether the agent gets tool search now.
func (b *Bridge) searchSurface() bool {
	return b.Fit().Search(b.Registry.ExposedTools())
}

// ToolSearch reports whether the agent gets tool search rather than the
// tools themselves, with the tools exposed now.
func (b *Bridge) ToolSearch() bool { return b.searchSurface() }
