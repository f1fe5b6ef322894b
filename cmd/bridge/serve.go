package main

import (
	"context"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/config/catalog"
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
			restoreGC := paceGCForStartUp()
			defer restoreGC()
			closeLog, err := cmd.openLog(logFile, logLevel)
			if err != nil {
				return err
			}
			defer closeLog()
			cfg, err := cmd.config()
			if err != nil {
				return err
			}
			opts, err := cmd.bridgeOptions(nil)
			if err != nil {
				return err
			}
			stateDir, err := cmd.stateDir()
			if err != nil {
				return err
			}
			// Each server's lists as last verified answer the agent at once,
			// while the servers connect; and what a start answers from them
			// first is kept at the end of each run, for the next start.
			catOpts := cmd.catalogOptions(true)
			if err := catalog.Configured(cfg, catOpts); err != nil {
				return err
			}
			opts.Lists = bridge.ListCacheFor(cfg, stateDir, cmd.log)
			opts.ServersLater = true
			opts.First = bridge.FirstListsFor(cfg, catOpts, stateDir, opts.Lists, cmd.log)
			if opts.Audit, err = bridge.OpenAudit(cfg.Audit); err != nil {
				return err
			}
			if startupWait > 0 {
				opts.StartupWait = startupWait
			}
			if callTimeout > 0 {
				opts.CallTimeout = callTimeout
			}
			b := bridge.New(nil, opts)
			// The catalog at hand (files, the portal's cache), then the
			// portal's, read in the background: start-up never waits on
			// it. It is read once the bridge lets it be (at once, unless
			// the agent's first lists can be answered ahead), and the
			// servers' files with it.
			following, stopFollowing := context.WithCancel(ctx)
			followed := make(chan struct{})
			go func() {
				defer close(followed)
				select {
				case <-b.Loading():
				case <-following.Done():
					return
				}
				bridge.ReadAhead(opts.Lists, opts.Pins, cfg.Enabled)
				first := true
				done, err := catalog.Follow(following, cfg, catOpts, func(cat *catalog.Catalog) {
					servers := cmd.enabled(cfg, cat)
					if first {
						cmd.log.Info("serving", "servers", len(servers))
						first = false
					}
					b.SetServers(servers)
				})
				if err != nil {
					cmd.log.Error("catalog", "err", err)
					b.SetServers(nil)
					return
				}
				<-done
			}()
			defer func() { stopFollowing(); <-followed }()
			served := make(chan struct{})
			defer close(served)
			go func() {
				select {
				case <-b.StartedUp():
				case <-served:
				}
				restoreGC()
			}()
			ignoreBrokenPipe()
			return bridge.Serve(ctx, b, agentInput(), cmd.stdout)
		},
	}
}

// startUpGCPercent is the garbage collector's pace while serve starts:
// reading the catalog and every server's kept lists and pins allocates in
// a burst, which the default pace (100) collected several times over
// before the agent's first answer, a fifth of a warm start-up with fifty
// servers. Once the start-up is over the default pace is back.
const startUpGCPercent = 400

// paceGCForStartUp slows the collector for the start-up, unless GOGC
// sets the pace, and returns what puts the pace back, once.
func paceGCForStartUp() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	previous := debug.SetGCPercent(startUpGCPercent)
	var once sync.Once
	return func() { once.Do(func() { debug.SetGCPercent(previous) }) }
}
