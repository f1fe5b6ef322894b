package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bridge"
)

func toolsVerb() *verb {
	var asJSON bool
	var wait time.Duration
	var client string
	return &verb{
		name:          "tools",
		args:          "[server]",
		summary:       "connect to the enabled servers and list the tools exactly as the agent sees them",
		logErrorsOnly: true, // the servers' errors are warnings in the output
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&asJSON, "json", false, "print JSON (shape in the README)")
			f.DurationVar(&wait, "wait", bridge.DefaultConnectTimeout, "how long to wait for servers to connect")
			f.StringVar(&client, "client", "", "show what this agent gets: claude-desktop, claude-code, cursor, vscode, codex, gemini, or the name an agent gives itself")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) > 1 {
				return usagef("tools takes at most one server")
			}
			only := ""
			if len(cmd.args) == 1 {
				only = cmd.args[0]
			}
			// Every enabled server takes part, so that names are exactly
			// the ones "serve" gives.
			b, _, closeBridge, err := cmd.connect(ctx, wait, only, false)
			if err != nil {
				return err
			}
			defer closeBridge()
			if client != "" {
				b.FitClient(client)
			}
			for _, u := range b.Upstreams() {
				if err := u.Err(); err != nil && (only == "" || only == u.ID()) {
					fmt.Fprintf(cmd.stderr, "warning: %s: %v\n", u.ID(), err)
				}
			}
			var tools []bridge.Exposed
			for _, t := range b.Registry.Tools() {
				if only == "" || t.Server == only {
					tools = append(tools, t)
				}
			}
			fit := b.Fit()
			if asJSON {
				return writeToolsJSON(cmd.stdout, tools, fit.Own)
			}
			if client != "" {
				fmt.Fprintln(cmd.stdout, fit.Describe()+".")
			}
			writeToolsTable(cmd.stdout, tools)
			if client != "" && b.ToolSearch() {
				fmt.Fprintf(cmd.stdout, "%s gets tool search instead of these tools (%d exposed, more than %d): %s, %s and %s.\n",
					client, b.Registry.ExposedTools(), fit.MaxTools, bridge.SearchToolFind, bridge.SearchToolDescribe, bridge.SearchToolCall)
				if fit.MaxTools == 0 {
					fmt.Fprintf(cmd.stdout, "(tool search is set in the config.)\n")
				}
			}
			return nil
		},
	}
}

type toolRow struct {
	Name     string   `json:"name"`
	Server   string   `json:"server"`
	Original string   `json:"original"`
	ReadOnly bool     `json:"read_only"`
	Withheld bool     `json:"withheld"`
	Rules    []string `json:"rules"`
	Reason   string   `json:"reason,omitempty"`
	Change   string   `json:"change,omitempty"`
	// ShownAs is the name as the agent shows it, its own prefix before it
	// (tools --client, for agents that add one).
	ShownAs string `json:"shown_as,omitempty"`
}

func toolRows(tools []bridge.Exposed, own string) []toolRow {
	rows := []toolRow{}
	for _, t := range tools {
		row := toolRow{t.Name, t.Server, t.Original, t.ReadOnly, t.Verdict.Withheld(),
			nonNil(t.Verdict.Rules), t.Verdict.Reason, t.Change, ""}
		if own != "" {
			row.ShownAs = own + t.Name
		}
		rows = append(rows, row)
	}
	return rows
}

func writeToolsJSON(w io.Writer, tools []bridge.Exposed, own string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(toolRows(tools, own))
}

func writeToolsTable(w io.Writer, tools []bridge.Exposed) {
	if len(tools) == 0 {
		fmt.Fprintln(w, "No tools.")
		return
	}
	rows := [][]string{{"NAME", "SERVER", "ORIGINAL", "READ-ONLY", "STATUS"}}
	withheld, byRule := 0, map[string]int{}
	for _, t := range toolRows(tools, "") {
		status := "exposed"
		if t.Withheld {
			status = "withheld: " + strings.Join(t.Rules, ", ")
			withheld++
		}
		for _, r := range t.Rules {
			byRule[r]++
		}
		if t.Change != "" {
			status += " [" + t.Change + "]"
		}
		rows = append(rows, []string{t.Name, t.Server, t.Original, yesNo(t.ReadOnly), status})
	}
	writeColumns(w, rows)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s, %d exposed, %d withheld", plural(len(tools), "tool"), len(tools)-withheld, withheld)
	if withheld > 0 {
		var parts []string
		for _, r := range bridge.Rules {
			if byRule[r] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r, byRule[r]))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w, ".")
	for _, t := range tools {
		if t.Verdict.Withheld() && (t.Change != "" || slices.Contains(t.Verdict.Rules, bridge.RuleNeedsTasks)) {
			fmt.Fprintf(w, "%s: %s\n", t.Name, t.Verdict.Reason)
		}
	}
}
