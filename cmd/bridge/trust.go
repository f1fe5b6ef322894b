package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bridge"
)

func trustVerb() *verb {
	var wait time.Duration
	return &verb{
		name:          "trust",
		args:          "<server>",
		summary:       "accept a server's current tool definitions, new and changed ones included",
		logErrorsOnly: true, // a server that cannot connect is the verb's error
		flags: func(f *pflag.FlagSet) {
			f.DurationVar(&wait, "wait", bridge.DefaultConnectTimeout, "how long to wait for the server to connect")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name the one server to trust")
			}
			id := cmd.args[0]
			b, opts, closeBridge, err := cmd.connect(ctx, wait, id, true)
			if err != nil {
				return err
			}
			defer closeBridge()
			u, _ := b.Upstream(id)
			if err := u.Err(); err != nil {
				return fmt.Errorf("%s: cannot connect to read its tools: %w", id, err)
			}
			tools := u.Lists().Tools
			changed, err := opts.Pins.Trust(id, tools)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.stdout, "trusted %s of %s (%d new or changed)\n", plural(len(tools), "tool"), id, changed)
			return nil
		},
	}
}
