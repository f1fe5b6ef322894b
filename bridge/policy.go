package bridge

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// DefaultMaxDescriptionLength caps the descriptions servers send.
const DefaultMaxDescriptionLength = 2048

// Policy is what the user allows of one server's tools. The seeds' advice —
// only read-only servers from trusted sources — is enforced here, for every
// agent at once.
type Policy struct {
	Server          string
	ReadOnly        bool
	HideDestructive bool
	Allow, Deny     []string
	// WarnOnly exposes new and changed tools, flagged, instead of
	// withholding them.
	WarnOnly bool
	// AgentTasks: the agent can call tools as tasks.
	AgentTasks bool
}

// Rules a tool can be withheld by; bridge list and bridge tools count them.
const (
	RuleReadOnly    = "read-only"
	RuleDestructive = "destructive"
	RuleDeny        = "deny"
	RuleAllow       = "allow"
	RuleUntrusted   = "untrusted"
	RuleNeedsTasks  = "needs-tasks"
)

// Rules are every rule, in the order reports list them.
var Rules = []string{RuleReadOnly, RuleDestructive, RuleDeny, RuleAllow, RuleUntrusted, RuleNeedsTasks}

// PolicyFor is the policy the config sets for a server.
func PolicyFor(cfg *config.Config, serverID string) Policy {
	sc := cfg.Servers[serverID]
	return Policy{
		Server:          serverID,
		ReadOnly:        cfg.ReadOnly || sc.ReadOnly,
		HideDestructive: cfg.HideDestructive || sc.HideDestructive,
		Allow:           sc.Allow,
		Deny:            sc.Deny,
		WarnOnly:        cfg.Pins == config.PinsWarn,
	}
}

// ToolFacts are what a policy looks at in a tool.
type ToolFacts struct {
	Name        string `json:"name"`
	ReadOnly    bool   `json:"read_only"`
	Destructive bool   `json:"destructive"`
	// Change says how the tool differs from its pinned definition: "" when
	// it does not, "new", or "changed: description, inputSchema".
	Change string `json:"change,omitempty"`
	// NeedsTasks: the tool runs only as a task (execution.taskSupport
	// "required").
	NeedsTasks bool `json:"needs_tasks,omitempty"`
}

// Verdict is a policy's decision on one tool.
type Verdict struct {
	// Rules that withhold the tool; none means it is exposed.
	Rules []string
	// Reason explains the first rule to a person.
	Reason string
}

// Withheld reports whether any rule withholds the tool.
func (v Verdict) Withheld() bool { return len(v.Rules) > 0 }

// Judge applies the policy to one tool.
func (p Policy) Judge(t ToolFacts) Verdict {
	var v Verdict
	add := func(rule, reason string) {
		if v.Reason == "" {
			v.Reason = reason
		}
		v.Rules = append(v.Rules, rule)
	}
	if p.ReadOnly && !t.ReadOnly {
		add(RuleReadOnly, fmt.Sprintf("read-only mode is on for %s and the tool is not annotated readOnlyHint", p.Server))
	}
	if p.HideDestructive && t.Destructive {
		add(RuleDestructive, "destructive tools are hidden (hide_destructive)")
	}
	if matchAny(p.Deny, t.Name) {
		add(RuleDeny, fmt.Sprintf("servers.%s.deny matches it", p.Server))
	}
	if len(p.Allow) > 0 && !matchAny(p.Allow, t.Name) {
		add(RuleAllow, fmt.Sprintf("servers.%s.allow does not match it", p.Server))
	}
	if t.NeedsTasks && !p.AgentTasks {
		add(RuleNeedsTasks, "it runs only as a task (execution.taskSupport: required), and the agent did not declare tasks")
	}
	if t.Change != "" && !p.WarnOnly {
		add(RuleUntrusted, fmt.Sprintf("its definition is %s since it was trusted; run \"bridge trust %s\" to accept it", describeChange(t.Change), p.Server))
	}
	return v
}

func describeChange(change string) string {
	if change == "new" {
		return "new"
	}
	return strings.Replace(change, "changed: ", "changed (", 1) + ")"
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// toolFacts reads the facts of a tool from its raw definition. Annotations
// are hints with defaults: readOnlyHint false, destructiveHint true (which
// only matters for a tool that is not read-only).
func toolFacts(raw json.RawMessage) (ToolFacts, error) {
	// One walk finds the three members. A name given twice is an error,
	// as for Lookup; hints given twice count as none, the cautious
	// reading.
	var name, ann, exec json.RawMessage
	var names, anns, execs int
	err := rawjson.Walk(raw, func(m rawjson.Member) {
		switch {
		case m.Matches("name"):
			name, names = raw[m.Start:m.End], names+1
		case m.Matches("annotations"):
			ann, anns = raw[m.Start:m.End], anns+1
		case m.Matches("execution"):
			exec, execs = raw[m.Start:m.End], execs+1
		}
	})
	switch {
	case err != nil:
		return ToolFacts{}, err
	case names > 1:
		return ToolFacts{}, fmt.Errorf("%q: %w", "name", rawjson.ErrAmbiguous)
	}
	if anns > 1 {
		ann = nil
	}
	if execs > 1 {
		exec = nil
	}
	var f ToolFacts
	if name != nil {
		if f.Name, err = rawjson.String(name); err != nil {
			return ToolFacts{}, fmt.Errorf("\"name\" is not a string")
		}
	}
	// The hints are read in place; one not a boolean, or given twice,
	// counts as not given.
	readOnly, destructive := hint(ann, "readOnlyHint"), hint(ann, "destructiveHint")
	f.ReadOnly = readOnly != nil && *readOnly
	f.Destructive = !f.ReadOnly && (destructive == nil || *destructive)
	if exec != nil {
		support, _ := rawjson.LookupString(exec, "taskSupport")
		f.NeedsTasks = support == "required"
	}
	return f, nil
}

// hint is the boolean member key of the annotations ann, or nil.
func hint(ann json.RawMessage, key string) *bool {
	if ann == nil {
		return nil
	}
	raw, ok, err := rawjson.Lookup(ann, key)
	if err != nil || !ok {
		return nil
	}
	var v bool
	switch string(raw) {
	case "true":
		v = true
	case "false":
	default:
		return nil
	}
	return &v
}

// clean reports whether cleanText would leave s as it is: most
// descriptions, which are then not copied.
func clean(s string, max int) bool {
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') || invisible(r) {
			return false
		}
		if n++; n > max {
			return false
		}
	}
	return true
}

// cleanText makes a third party's description safe to show an agent:
// control characters (but newlines and tabs) and invisible direction or
// zero-width characters go, and the text is cut at max runes.
func cleanText(s string, max int) string {
	if clean(s, max) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') || invisible(r) {
			continue
		}
		if n == max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// invisible are format characters that can hide or reorder text.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x2069, r == 0xFEFF:
		return true
	}
	return false
}

// cleanDescription rewrites the top-level description of a raw item when
// cleaning changes it.
func cleanDescription(raw json.RawMessage, max int) json.RawMessage {
	text, ok, err := rawjson.Lookup(raw, "description")
	if err != nil || !ok {
		return raw
	}
	desc, err := rawjson.String(text)
	if err != nil {
		return raw
	}
	clean := cleanText(desc, max)
	if clean == desc {
		return raw
	}
	out, err := rawjson.SetString(raw, "description", clean)
	if err != nil {
		return raw
	}
	return out
}

// ToolSummary counts what a policy does to a server's tools.
type ToolSummary struct {
	Tools    int            `json:"tools"`
	Withheld int            `json:"withheld"`
	ByRule   map[string]int `json:"by_rule"`
	// Flagged are tools whose definition differs from the trusted one.
	Flagged []ToolFacts `json:"flagged"`
}

// Summarize applies a policy to a list of tools.
func (p Policy) Summarize(tools []ToolFacts) ToolSummary {
	s := ToolSummary{Tools: len(tools), ByRule: map[string]int{}, Flagged: []ToolFacts{}}
	for _, t := range tools {
		v := p.Judge(t)
		if v.Withheld() {
			s.Withheld++
		}
		for _, r := range v.Rules {
			s.ByRule[r]++
		}
		if t.Change != "" {
			s.Flagged = append(s.Flagged, t)
		}
	}
	return s
}
