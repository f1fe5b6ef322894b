package bridge

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// rebuild merges the servers' parts, in the order of their IDs; r.mu is
// held.
func (r *Registry) rebuild() {
	servers := slices.Sorted(maps.Keys(r.parts))
	tools, prompts := map[string]Exposed{}, map[string]Exposed{}
	owners := map[string]string{}
	var toolItems, promptItems, resItems, tmplItems []json.RawMessage
	var tmpls []template
	for _, s := range servers {
		p := r.parts[s]
		for _, e := range p.tools {
			e = r.distinct(e, tools)
			tools[e.Name] = e
			if !e.Verdict.Withheld() {
				toolItems = append(toolItems, e.raw)
			}
		}
		for _, e := range p.prompts {
			e = r.distinct(e, prompts)
			prompts[e.Name] = e
			promptItems = append(promptItems, e.raw)
		}
		for _, res := range p.resources {
			if first, ok := owners[res.uri]; ok {
				r.log.Warn("resource offered twice; the first server keeps it", "uri", res.uri, "kept", first, "ignored", s)
				continue
			}
			owners[res.uri] = s
			resItems = append(resItems, res.raw)
		}
		tmpls = append(tmpls, p.templates...)
		tmplItems = append(tmplItems, p.templateItems...)
	}
	r.results = map[string][]byte{
		KindTools:     listResult("tools", toolItems),
		KindPrompts:   listResult("prompts", promptItems),
		KindResources: listResult("resources", resItems),
	}
	r.tmplRes = listResult("resourceTemplates", tmplItems)
	r.tools, r.prompts, r.owners, r.tmpls = tools, prompts, owners, tmpls
	r.version++
}

// expose names one server's items of one kind, cleans them, and judges
// its tools. Every tool is named, withheld or not, so that names never
// shift when a rule changes.
func (r *Registry) expose(s, kind string, items []json.RawMessage, facts map[string]ToolFacts, login bool, n Namer, prefix string) []Exposed {
	var originals []string
	var entries []Exposed
	for _, raw := range items {
		item, err := toolFacts(raw) // a prompt's facts are its name
		if err != nil || item.Name == "" {
			r.log.Warn("item without a name ignored", "server", s)
			continue
		}
		if slices.Contains(originals, item.Name) {
			r.log.Warn("name listed twice by one server; the first is kept", "server", s, "name", item.Name)
			continue
		}
		originals = append(originals, item.Name)
		entries = append(entries, Exposed{Server: s, Original: item.Name, ReadOnly: item.ReadOnly, raw: raw})
	}
	names := n.Names(s, prefix, originals)
	out := entries[:0]
	for _, e := range entries {
		e.Name = names[e.Original]
		raw, err := rawjson.SetString(e.raw, "name", e.Name)
		if err != nil {
			continue
		}
		if e.raw, err = rawjson.OneLine(cleanDescription(raw, r.maxDesc)); err != nil {
			continue
		}
		switch {
		case kind == KindTools && login:
			e.Login = true
		case kind == KindTools:
			f := facts[e.Original]
			e.Change = f.Change
			p, ok := r.policies[s]
			if !ok {
				p = Policy{Server: s}
			}
			p.AgentTasks = r.agentTasks
			e.Verdict = p.Judge(f)
		}
		out = append(out, e)
	}
	return out
}

func cmpExposed(a, b Exposed) int {
	if a.Server != b.Server {
		if a.Server < b.Server {
			return -1
		}
		return 1
	}
	if a.Name < b.Name {
		return -1
	}
	if a.Name > b.Name {
		return 1
	}
	return 0
}

// distinct gives e a name no earlier server's item has: names are made
// per server, and two servers can still meet (both without a prefix and
// offering search; prefix a with tool b__c and prefix a__b with tool c).
// The server later in ID order gives way, with the same hash suffix every
// time.
func (r *Registry) distinct(e Exposed, taken map[string]Exposed) Exposed {
	name, key := e.Name, e.Server+"\x00"+e.Original
	for prior, ok := taken[name]; ok && prior.Server != e.Server; prior, ok = taken[name] {
		name = shorten(e.Name, r.namer.max(), key)
		key += "\x00"
	}
	if name == e.Name {
		return e
	}
	raw, err := rawjson.SetString(e.raw, "name", name)
	if err != nil {
		return e
	}
	e.Name, e.raw = name, raw
	return e
}

// listResult writes {"<key>":[items…]} with each item's bytes as they are
// (each on one line already).
// Its size is known before it is written: a list of a thousand tools is
// half a megabyte, which a buffer grown by doubling allocated twice over,
// and at start-up every page of memory new to the process costs a fault.
func listResult(key string, items []json.RawMessage) []byte {
	size := len(`{"":[]}`) + len(key) + len(items)
	for _, it := range items {
		size += len(it)
	}
	b := make([]byte, 0, size)
	b = append(append(append(b, `{"`...), key...), `":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, "]}"...)
}
