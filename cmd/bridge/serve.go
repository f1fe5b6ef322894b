package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bridge"
)

func serveVerb() *verb {
	var (
		logFile, logLevel        string
		startupWait, callTimeout time.Duration
	)
	return &verb{
		name:    "serve",
		summary: "serve the enabled servers' tools to an agent over stdio (put this in the agent's config)",
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&logFile, "log-file", "", "append logs to this `file` instead of stderr")
			f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
			f.DurationVar(&startupWait, "startup-wait", 0, "how long the first tools/list waits for servers still connecting (default 3s, or serve.startup_wait)")
			f.DurationVar(&callTimeout, "call-timeout", 0, "fail a call with no answer or progress for this long (default 5m, or serve.call_timeout)")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) > 0 {
				return usagef("serve takes no arguments")
			}
			closeLog, err := cmd.openLog(logFile, logLevel)
			if err != nil {
				return err
			}
			defer closeLog()
			cfg, servers, err := cmd.enabledServers(ctx)
			if err != nil {
				return err
			}
			opts, err := cmd.bridgeOptions(servers)
			if err != nil {
				return err
			}
			if opts.Audit, err = bridge.OpenAudit(cfg.Audit); err != nil {
				return err
			}
			if startupWait > 0 {
				opts.StartupWait = startupWait
			}
			if callTimeout > 0 {
				opts.CallTimeout = callTimeout
			}
			cmd.log.Info("serving", "servers", len(servers))
			ignoreBrokenPipe()
			return bridge.Serve(ctx, bridge.New(servers, opts), agentInput(), cmd.stdout)
		},
	}
}
