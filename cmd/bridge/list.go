package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

func listVerb() *verb {
	var asJSON bool
	return &verb{
		name:    "list",
		summary: "list the catalog's MCP servers: available or why not, transport, auth, enabled",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&asJSON, "json", false, "print JSON (shape in the README) instead of a table")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) > 0 {
				return usagef("list takes no arguments")
			}
			cfg, cat, err := cmd.loadCatalog(ctx)
			if err != nil {
				return err
			}
			// Without a state folder there is just nothing seen to report,
			// and no token to tell the login state of.
			stateDir, _ := cmd.stateDir()
			report := newListReport(cfg, cat, bridge.NewPins(stateDir), time.Now())
			if tokens, err := cmd.tokens(); err == nil {
				refused := slices.ContainsFunc(cat.Sources, func(src catalog.SourceStatus) bool { return errors.Is(src.Err, catalog.ErrTokenRefused) })
				for i, s := range cat.Servers {
					if report.Servers[i].Enabled && s.Available() {
						st := tokens.State(ctx, s)
						if refused && s.Auth.Method == catalog.AuthPlugin {
							st = tokens.RefusedByPortal(st)
						}
						report.Servers[i].Login = &st
					}
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			writeSourceNotes(cmd.stderr, report.Sources)
			writeTable(cmd.stdout, report)
			return nil
		},
	}
}

// listReport is the output of "bridge list --json". Its shape is documented
// in the README; fields are only ever added.
type listReport struct {
	Servers  []listServer  `json:"servers"`
	Problems []listProblem `json:"problems"`
	Sources  []listSource  `json:"sources"`
	// EnabledMissing are enabled IDs the catalog no longer has.
	EnabledMissing []string `json:"enabled_missing"`
	// EnabledUnread are enabled IDs not in what was read while the portal
	// could not be read: it may have them.
	EnabledUnread []string `json:"enabled_unread"`
}

type listServer struct {
	ID          string      `json:"id"`
	Ref         string      `json:"ref"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Lifecycle   string      `json:"lifecycle"`
	Owner       string      `json:"owner"`
	Source      string      `json:"source"`
	Shape       string      `json:"shape"`
	Definition  listDef     `json:"definition"`
	Transport   string      `json:"transport"`
	URL         string      `json:"url"`
	Fallback    *listRemote `json:"fallback,omitempty"`
	Auth        listAuth    `json:"auth"`
	Enabled     bool        `json:"enabled"`
	Available   bool        `json:"available"`
	Reasons     []string    `json:"reasons"`
	Warnings    []string    `json:"warnings"`
	// Tools is what the rules make of the tools as last seen by serve,
	// tools or trust; absent when never seen.
	Tools *listToolSummary `json:"tools,omitempty"`
	// Login is the login state of an enabled, available server.
	Login *auth.LoginState `json:"login,omitempty"`
}

type listToolSummary struct {
	bridge.ToolSummary
	SeenAt time.Time `json:"seen_at"`
	// ago is how long ago, for the text output.
	ago time.Duration
}

type listDef struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Remotes []listRemote `json:"remotes"`
}

type listRemote struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type listAuth struct {
	Method   string   `json:"method"`
	APIID    string   `json:"api_id,omitempty"`
	Provider string   `json:"provider,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	PluginID string   `json:"plugin_id,omitempty"`
}

type listProblem struct {
	Location string `json:"location"`
	Reason   string `json:"reason"`
}

type listSource struct {
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	Servers  int        `json:"servers"`
	Error    string     `json:"error,omitempty"`
	CachedAt *time.Time `json:"cached_at,omitempty"`
	Stale    string     `json:"stale,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	// age is how old cached data is, for the text output.
	age time.Duration
}

func newListReport(cfg *config.Config, cat *catalog.Catalog, pins *bridge.Pins, now time.Time) listReport {
	r := listReport{Servers: []listServer{}, Problems: []listProblem{}, Sources: []listSource{}, EnabledMissing: []string{}, EnabledUnread: []string{}}
	for _, s := range cat.Servers {
		ls := listServer{
			ID: s.ID, Ref: s.Ref(), Title: s.Title, Description: s.Description,
			Lifecycle: s.Lifecycle, Owner: s.Owner, Source: s.Source, Shape: string(s.Shape),
			Definition: listDef{Name: s.Definition.Name, Version: s.Definition.Version, Remotes: []listRemote{}},
			Auth:       listAuth{Method: string(s.Auth.Method), APIID: s.Auth.APIID, Scopes: s.Auth.Scopes, PluginID: s.Auth.PluginID},
			// A duplicate is never the one enabled: the first definition is.
			Enabled:   cfg.IsEnabled(s.ID) && s.DuplicateOf == "",
			Available: s.Available(),
			Reasons:   nonNil(s.Reasons),
			Warnings:  nonNil(s.Warnings),
		}
		if s.Auth.APIID != "" {
			ls.Auth.Provider = s.Auth.Provider()
		}
		for _, rm := range s.Definition.Remotes {
			ls.Definition.Remotes = append(ls.Definition.Remotes, listRemote{rm.Type, rm.URL})
		}
		if t, ok := s.Transport(); ok {
			ls.Transport, ls.URL = t.Type, t.URL
		}
		if f, ok := s.Fallback(); ok {
			ls.Fallback = &listRemote{f.Type, f.URL}
		}
		if seen, err := pins.Seen(s.ID); err != nil {
			ls.Warnings = append(ls.Warnings, err.Error())
		} else if seen != nil && ls.Enabled {
			ls.Tools = &listToolSummary{bridge.PolicyFor(cfg, s.ID).Summarize(seen.Tools), seen.At, now.Sub(seen.At)}
		}
		r.Servers = append(r.Servers, ls)
	}
	for _, p := range cat.Problems {
		r.Problems = append(r.Problems, listProblem{p.Location, p.Reason})
	}
	for _, s := range cat.Sources {
		ls := listSource{Name: s.Name, Kind: s.Kind, Servers: s.Servers, Warnings: s.Warnings}
		if s.Err != nil {
			ls.Error = s.Err.Error()
		}
		if !s.CachedAt.IsZero() {
			at := s.CachedAt
			ls.CachedAt = &at
			ls.age = now.Sub(at)
		}
		if s.Stale != nil {
			ls.Stale = s.Stale.Error()
		}
		r.Sources = append(r.Sources, ls)
	}
	_, skipped := cat.Enabled(cfg)
	for _, sk := range skipped {
		switch sk.Reason {
		case catalog.SkipMissing:
			r.EnabledMissing = append(r.EnabledMissing, sk.ID)
		case catalog.SkipUnread:
			r.EnabledUnread = append(r.EnabledUnread, sk.ID)
		}
	}
	return r
}

// writeSourceNotes tells, on stderr, of sources that failed or came from
// the cache, so that the table on stdout stays clean.
func writeSourceNotes(w io.Writer, sources []listSource) {
	for _, s := range sources {
		switch {
		case s.Error != "":
			fmt.Fprintf(w, "warning: catalog source %s: %s\n", s.Name, s.Error)
		case s.CachedAt != nil:
			fmt.Fprintf(w, "warning: %s\n", s.Stale)
			fmt.Fprintf(w, "warning: showing the catalog of %s as cached %s ago (%s)\n",
				s.Name, roughAge(s.age), s.CachedAt.Local().Format(time.DateTime))
		}
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", s.Name, warn)
		}
	}
}

// maxTitleWidth keeps the table within tableWidth; reasons go under their
// row.
const maxTitleWidth = 24

func writeTable(w io.Writer, r listReport) {
	if len(r.Servers) == 0 {
		fmt.Fprintln(w, "The catalog offers no MCP servers.")
	} else {
		rows := [][]string{{"NAME", "TITLE", "SHAPE", "TRANSPORT", "AUTH", "ENABLED", "STATUS"}}
		for _, s := range r.Servers {
			rows = append(rows, []string{s.ID, truncate(orDash(s.Title), maxTitleWidth), s.Shape, transportLabel(s), authLabel(s.Auth),
				yesNo(s.Enabled), status(s)})
		}
		for i, line := range alignColumns(rows) {
			fmt.Fprintln(w, line)
			if i == 0 {
				continue
			}
			s := r.Servers[i-1]
			for _, reason := range s.Reasons {
				writeWrapped(w, reason, "  ", "    ")
			}
			for _, warn := range s.Warnings {
				writeWrapped(w, "warning: "+warn, "  ", "    ")
			}
			if l := s.Login; l != nil {
				writeWrapped(w, "login: "+loginText(*l), "  ", "    ")
			}
			if t := s.Tools; t != nil {
				writeWrapped(w, fmt.Sprintf("tools: %s, as seen %s ago", toolSummaryText(t.ToolSummary), roughAge(t.ago)), "  ", "    ")
				for _, f := range t.Flagged {
					writeWrapped(w, fmt.Sprintf("flagged: %s is %s since trusted; \"bridge trust %s\" accepts it", f.Name, f.Change, s.ID), "  ", "    ")
				}
			}
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Entries that could not be read as servers:")
		for _, p := range r.Problems {
			writeWrapped(w, p.Location+": "+p.Reason, "  ", "    ")
		}
	}
	if len(r.EnabledMissing) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Enabled but not in the catalog: %s (\"bridge disable\" removes them)\n", strings.Join(r.EnabledMissing, ", "))
	}
	if len(r.EnabledUnread) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Enabled, and not in what could be read of the catalog: %s (the portal may have them once it can be read)\n", strings.Join(r.EnabledUnread, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, summary(r))
}

func loginText(l auth.LoginState) string {
	text := map[string]string{
		auth.StateLoggedIn: "logged in", auth.StateNeedsLogin: "needs login", auth.StateNotNeeded: "none needed",
		auth.StateStatic: "the portal's static token", auth.StateUnknown: "unknown",
	}[l.State]
	if !l.ExpiresAt.IsZero() && l.State == auth.StateLoggedIn {
		text += fmt.Sprintf(", expires in %s", roughAge(time.Until(l.ExpiresAt)))
	}
	if l.Detail != "" {
		text += " (" + l.Detail + ")"
	}
	return text
}

func summary(r listReport) string {
	avail, enabled := 0, 0
	for _, s := range r.Servers {
		if s.Available {
			avail++
		}
		if s.Enabled {
			enabled++
		}
	}
	return fmt.Sprintf("%s, %d available, %d enabled.", plural(len(r.Servers), "server"), avail, enabled)
}

func transportLabel(s listServer) string {
	switch {
	case s.Transport == "":
		return "-"
	case s.Fallback != nil:
		return s.Transport + "+sse"
	}
	return s.Transport
}

func authLabel(a listAuth) string {
	switch catalog.AuthMethod(a.Method) {
	case catalog.AuthProvider:
		return "oauth: " + a.Provider
	case catalog.AuthPlugin:
		return "plugin: " + a.PluginID
	}
	return "none"
}

func status(s listServer) string {
	if !s.Available {
		return "unavailable"
	}
	return "available"
}

// toolSummaryText is a one-line account of a summary: "9 tools, 6
// withheld (read-only 6, untrusted 1)".
func toolSummaryText(s bridge.ToolSummary) string {
	out := plural(s.Tools, "tool")
	if s.Withheld == 0 {
		return out + ", none withheld"
	}
	var parts []string
	for _, r := range bridge.Rules {
		if n := s.ByRule[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	return fmt.Sprintf("%s, %d withheld (%s)", out, s.Withheld, strings.Join(parts, ", "))
}
