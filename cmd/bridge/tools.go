package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bridge"
)

func toolsVerb() *verb {
	var asJSON bool
	var wait time.Duration
	return &verb{
		name:    "tools",
		args:    "[server]",
		summary: "connect to the enabled servers and list the tools exactly as the agent sees them",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&asJSON, "json", false, "print JSON: [{name, server, original, read_only}]")
			f.DurationVar(&wait, "wait", bridge.DefaultConnectTimeout, "how long to wait for servers to connect")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) > 1 {
				return usagef("tools takes at most one server")
			}
			log, _, err := openLog(cmd.stderr, "", "error")
			if err != nil {
				return err
			}
			cfg, servers, err := cmd.enabledServers(ctx, log)
			if err != nil {
				return err
			}
			only := ""
			if len(cmd.args) == 1 {
				only = cmd.args[0]
				found := false
				for _, s := range servers {
					found = found || s.ID == only
				}
				if !found {
					return fmt.Errorf("%s is not an enabled, available server (\"bridge list\" shows them)", only)
				}
			}
			// Every enabled server takes part, so that names are exactly
			// the ones "serve" gives.
			opts := bridge.ConfigOptions(cfg)
			opts.StartupWait = wait
			b := bridge.New(servers, opts)
			b.Start()
			b.WaitStartup(ctx)
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
			closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			defer b.Close(closeCtx)
			if asJSON {
				return writeToolsJSON(cmd.stdout, tools)
			}
			writeToolsTable(cmd.stdout, tools)
			return nil
		},
	}
}

type toolRow struct {
	Name     string `json:"name"`
	Server   string `json:"server"`
	Original string `json:"original"`
	ReadOnly bool   `json:"read_only"`
}

func writeToolsJSON(w io.Writer, tools []bridge.Exposed) error {
	rows := []toolRow{}
	for _, t := range tools {
		rows = append(rows, toolRow{t.Name, t.Server, t.Original, t.ReadOnly})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func writeToolsTable(w io.Writer, tools []bridge.Exposed) {
	if len(tools) == 0 {
		fmt.Fprintln(w, "No tools.")
		return
	}
	rows := [][]string{{"NAME", "SERVER", "ORIGINAL", "READ-ONLY"}}
	for _, t := range tools {
		rows = append(rows, []string{t.Name, t.Server, t.Original, yesNo(t.ReadOnly)})
	}
	writeColumns(w, rows)
	fmt.Fprintf(w, "\n%s.\n", plural(len(tools), "tool"))
}
