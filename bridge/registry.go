package bridge

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/yosida95/uritemplate/v3"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Kinds of list the registry merges; each has its own list_changed.
const (
	KindTools     = "tools"
	KindPrompts   = "prompts"
	KindResources = "resources"
)

// Registry merges the lists of every upstream under exposed names and
// routes names and URIs back to their upstream. Items are carried as the
// raw JSON their server sent; only a tool's or prompt's name is rewritten.
type Registry struct {
	namer     Namer
	overrides map[string]*string
	log       *slog.Logger
	policies  map[string]Policy
	pins      *Pins
	maxDesc   int
	// agentTasks: the agent declared tasks, so tools that run only as
	// tasks are not withheld from it; set before any list arrives.
	agentTasks bool

	mu       sync.RWMutex
	prefixes map[string]string // server ID → prefix
	lists    map[string]Lists  // server ID → its lists
	parts    map[string]*part  // server ID → its share of the merged lists
	tools    map[string]Exposed
	prompts  map[string]Exposed
	owners   map[string]string // resource URI → server ID
	tmpls    []template
	results  map[string][]byte // kind → list result JSON (tools/list, …)
	tmplRes  []byte            // resources/templates/list result
	stale    bool              // parts changed since the merged lists were made
	// naming counts the changes of namer (SetNamer), so that a part
	// named before one is named again; version counts the merged lists
	// made, so that what is built from them (the search index) knows when
	// to follow.
	naming, version uint64
}

// Exposed is one tool or prompt, as the agent sees it or, when a rule
// withholds it, would see it.
type Exposed struct {
	Name     string // exposed name
	Server   string // server ID
	Original string // name on the server
	ReadOnly bool   // annotations.readOnlyHint
	// Change is how a tool differs from its pinned definition ("" when not).
	Change string
	// Verdict says which rules withhold the tool, if any.
	Verdict Verdict
	// Login marks the tool that runs the server's login.
	Login bool
	raw   json.RawMessage
}

type template struct {
	server string
	tmpl   *uritemplate.Template
}

// part is one server's share of the merged lists, made ready when its
// lists arrive, so that merging is only putting parts side by side: a
// fleet of servers arriving one by one costs each server's work once.
type part struct {
	tools, prompts []Exposed
	resources      []resource
	templates      []template
	templateItems  []json.RawMessage
	// What the part was made from, to make it again under another namer.
	facts  map[string]ToolFacts
	login  bool
	naming uint64
}

type resource struct {
	uri string
	raw json.RawMessage
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Prefixes override servers' prefixes; a nil entry means none.
	Prefixes map[string]*string
	// MaxNameLength caps exposed names (64).
	MaxNameLength int
	// MaxDescriptionLength caps descriptions (2048).
	MaxDescriptionLength int
	// Policies say which tools of each server may be exposed.
	Policies map[string]Policy
	// Pins catch redefined tools; nil pins nothing.
	Pins *Pins
	Log  *slog.Logger
}

// NewRegistry makes a registry for these server IDs.
func NewRegistry(ids []string, o RegistryOptions) *Registry {
	n := Namer{Max: o.MaxNameLength}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Pins == nil {
		o.Pins = NewPins("")
	}
	o.Pins.log = o.Log
	if o.MaxDescriptionLength <= 0 {
		o.MaxDescriptionLength = DefaultMaxDescriptionLength
	}
	r := &Registry{namer: n, overrides: o.Prefixes, prefixes: n.Prefixes(ids, o.Prefixes), log: o.Log, policies: o.Policies,
		pins: o.Pins, maxDesc: o.MaxDescriptionLength, lists: map[string]Lists{}, parts: map[string]*part{}}
	r.rebuild()
	return r
}

// Set replaces one server's lists and reports the kinds whose merged list
// changed. Its tools are reviewed against their pins first.
func (r *Registry) Set(server string, l Lists) []string {
	return r.set(server, l, r.pins.Review)
}

// SetCached is Set for lists kept from the server's last connection, while
// it connects: named, cleaned and judged alike, its tools checked against
// their pins, but nothing recorded as seen.
func (r *Registry) SetCached(server string, l Lists) []string {
	return r.set(server, l, r.pins.Check)
}

func (r *Registry) set(server string, l Lists, review func(string, []json.RawMessage) ([]ToolFacts, error)) []string {
	facts, err := review(server, l.Tools)
	if err != nil {
		r.log.Error("pins", "server", server, "err", err)
	}
	byName := map[string]ToolFacts{}
	for _, f := range facts {
		byName[f.Name] = f
		if f.Change != "" {
			r.log.Warn("tool definition differs from the trusted one", "server", server, "tool", f.Name, "change", f.Change)
		}
	}
	return r.put(server, l, r.prepare(server, l, byName, false))
}

// LoginTool is the original name of the tool that stands in for a server
// that needs a login; it is exposed as <prefix>__login.
const LoginTool = "login"

// SetLogin offers a server as one tool that runs its login.
func (r *Registry) SetLogin(server, title string) []string {
	if title == "" {
		title = server
	}
	tool, _ := json.Marshal(map[string]any{
		"name":        LoginTool,
		"title":       "Log in to " + title,
		"description": "Logs in to " + title + " (the user confirms in the browser). Its tools become available once the login is done.",
		"inputSchema": map[string]any{"type": "object", "properties": map[string]any{}},
		"annotations": map[string]any{"readOnlyHint": true, "openWorldHint": false},
	})
	l := Lists{Tools: []json.RawMessage{tool}}
	return r.put(server, l, r.prepare(server, l, nil, true))
}

// addServer gives a server the registry was not made for a prefix that no
// other server has, leaving every other server's prefix as it was.
func (r *Registry) addServer(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.prefixes[id]; ok {
		return
	}
	ids := append(slices.Collect(maps.Keys(r.prefixes)), id)
	p := r.namer.Prefixes(ids, r.overrides)[id]
	for _, other := range r.prefixes {
		if other == p && p != "" {
			p = shorten(p+"_", len(p)+1+hashLength, id)
			break
		}
	}
	r.prefixes[id] = p
}

// Remove takes a server's lists out and reports the kinds whose merged
// list changed with it.
func (r *Registry) Remove(server string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.parts[server]
	if !ok {
		return nil
	}
	delete(r.parts, server)
	delete(r.lists, server)
	r.stale = true
	var changed []string
	for _, kind := range []string{KindTools, KindPrompts, KindResources} {
		if len(old.items(kind)) > 0 {
			changed = append(changed, kind)
		}
	}
	return changed
}

// put puts a server's part in place and reports the kinds whose merged
// list changed with it. The merged lists are made again when next read,
// once for any number of servers arriving together.
func (r *Registry) put(server string, l Lists, p *part) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.naming != r.naming {
		// The namer changed while the part was made.
		p = r.prepareWith(server, l, p.facts, p.login, r.namer, r.prefixes[server], r.naming)
	}
	old := r.parts[server]
	r.lists[server], r.parts[server], r.stale = l, p, true
	var changed []string
	for _, kind := range []string{KindTools, KindPrompts, KindResources} {
		if !slices.EqualFunc(old.items(kind), p.items(kind), bytes.Equal) {
			changed = append(changed, kind)
		}
	}
	return changed
}

// items are what a part adds to one kind's merged lists.
func (p *part) items(kind string) [][]byte {
	if p == nil {
		return nil
	}
	var out [][]byte
	switch kind {
	case KindTools:
		for _, e := range p.tools {
			if !e.Verdict.Withheld() {
				out = append(out, e.raw)
			}
		}
	case KindPrompts:
		for _, e := range p.prompts {
			out = append(out, e.raw)
		}
	case KindResources:
		for _, res := range p.resources {
			out = append(out, res.raw)
		}
		for _, t := range p.templateItems {
			out = append(out, t)
		}
	}
	return out
}

// reading read-locks the registry with its merged lists up to date; the
// function returned unlocks it.
func (r *Registry) reading() (unlock func()) {
	r.mu.RLock()
	if !r.stale {
		return r.mu.RUnlock
	}
	r.mu.RUnlock()
	r.mu.Lock()
	if r.stale {
		r.rebuild()
		r.stale = false
	}
	r.mu.Unlock()
	r.mu.RLock()
	return r.mu.RUnlock
}

// Result is the merged result of tools/list, prompts/list, resources/list
// or resources/templates/list.
func (r *Registry) Result(method string) []byte {
	defer r.reading()()
	switch method {
	case "tools/list":
		return r.results[KindTools]
	case "prompts/list":
		return r.results[KindPrompts]
	case "resources/list":
		return r.results[KindResources]
	case "resources/templates/list":
		return r.tmplRes
	}
	return nil
}

// Tool finds an exposed tool by name.
func (r *Registry) Tool(name string) (Exposed, bool) {
	defer r.reading()()
	e, ok := r.tools[name]
	return e, ok
}

// Prompt finds an exposed prompt by name.
func (r *Registry) Prompt(name string) (Exposed, bool) {
	defer r.reading()()
	e, ok := r.prompts[name]
	return e, ok
}

// Tools lists the exposed tools in the order the agent sees them.
func (r *Registry) Tools() []Exposed {
	defer r.reading()()
	var out []Exposed
	for _, e := range r.tools {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Exposed) int { return cmpExposed(a, b) })
	return out
}

// TemplateServer finds the server that offers a resource template, by its
// URI template as listed, or else a resource of that URI.
func (r *Registry) TemplateServer(text string) (string, bool) {
	defer r.reading()()
	for _, t := range r.tmpls {
		if t.tmpl.Raw() == text {
			return t.server, true
		}
	}
	s, ok := r.owners[text]
	return s, ok
}

// ResourceServer finds the server that owns a resource URI: one that listed
// it, else the first whose template matches it.
func (r *Registry) ResourceServer(uri string) (string, bool) {
	defer r.reading()()
	if s, ok := r.owners[uri]; ok {
		return s, true
	}
	for _, t := range r.tmpls {
		if t.tmpl.Match(uri) != nil {
			return t.server, true
		}
	}
	return "", false
}

// prepare makes a server's part of the merged lists: every item named,
// cleaned and judged. facts are its tools' facts by name; login says the
// server is offered as its login tool only.
func (r *Registry) prepare(s string, l Lists, facts map[string]ToolFacts, login bool) *part {
	r.mu.RLock()
	n, prefix, naming := r.namer, r.prefixes[s], r.naming
	r.mu.RUnlock()
	return r.prepareWith(s, l, facts, login, n, prefix, naming)
}

// prepareWith is prepare under namer n, the server's prefix given; it
// takes no lock.
func (r *Registry) prepareWith(s string, l Lists, facts map[string]ToolFacts, login bool, n Namer, prefix string, naming uint64) *part {
	p := &part{
		tools:   r.expose(s, KindTools, l.Tools, facts, login, n, prefix),
		prompts: r.expose(s, KindPrompts, l.Prompts, nil, false, n, prefix),
		facts:   facts, login: login, naming: naming,
	}
	for _, raw := range l.Resources {
		uri, err := rawjson.LookupString(raw, "uri")
		if err != nil || uri == "" {
			r.log.Warn("resource without a uri ignored", "server", s)
			continue
		}
		p.resources = append(p.resources, resource{uri, cleanDescription(raw, r.maxDesc)})
	}
	for _, raw := range l.Templates {
		text, err := rawjson.LookupString(raw, "uriTemplate")
		if err != nil || text == "" {
			continue
		}
		tmpl, err := uritemplate.New(text)
		if err != nil {
			r.log.Warn("resource template ignored", "server", s, "template", text, "err", err)
			continue
		}
		p.templates = append(p.templates, template{server: s, tmpl: tmpl})
		p.templateItems = append(p.templateItems, cleanDescription(raw, r.maxDesc))
	}
	return p
}
