package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
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
			log, closeLog, err := openLog(cmd.stderr, logFile, logLevel)
			if err != nil {
				return err
			}
			defer closeLog()
			cfg, servers, err := cmd.enabledServers(ctx, log)
			if err != nil {
				return err
			}
			opts, err := cmd.bridgeOptions(cfg, servers, log)
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
			log.Info("serving", "servers", len(servers))
			return bridge.Serve(ctx, bridge.New(servers, opts), agentInput(), cmd.stdout)
		},
	}
}

// enabledServers reads the config and the catalog (from the cache when there
// is one, so that start-up never waits on a portal) and returns the enabled,
// available servers, logging why any enabled one is left out.
func (c *command) enabledServers(ctx context.Context, log *slog.Logger) (*config.Config, []*catalog.Server, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Load(ctx, cfg, c.catalogOptions(cfg, true))
	if err != nil {
		return nil, nil, err
	}
	for _, s := range cat.Sources {
		if s.Err != nil {
			log.Warn("catalog source failed", "source", s.Name, "err", s.Err)
		}
	}
	servers, skipped := cat.Enabled(cfg)
	for _, sk := range skipped {
		log.Warn(sk.String())
	}
	return cfg, servers, nil
}

// bridgeOptions are the bridge's options from the config, with the token
// store and the state folder.
func (c *command) bridgeOptions(cfg *config.Config, servers []*catalog.Server, log *slog.Logger) (bridge.Options, error) {
	stateDir, err := state.Dir()
	if err != nil {
		return bridge.Options{}, err
	}
	opts := bridge.ConfigOptions(cfg, servers, stateDir)
	opts.Version, _, _ = buildInfo()
	opts.Logger = log
	secrets := auth.StoreFor(cfg, stateDir, c.insecure, auth.KeychainTimeout, log)
	client := &http.Client{Timeout: time.Minute}
	opts.Auth = auth.NewManager(cfg, secrets, client)
	// The agent's call of a <prefix>__login tool is the user asking to log
	// in; serve never starts one by itself.
	opts.Login = func(ctx context.Context, s *catalog.Server, show func(string) bool) error {
		id, lo, err := auth.ServerLogin(ctx, client, cfg, s, stateDir)
		if err != nil {
			return err
		}
		lo.HTTP = client
		lo.Browser = func(u string) error {
			if show(u) {
				return nil // the agent shows it to the user
			}
			return auth.OpenBrowser(u)
		}
		tok, err := auth.Login(ctx, lo.LoginOptions)
		if err != nil {
			return err
		}
		return (&auth.Tokens{Secrets: secrets}).Save(ctx, id, tok)
	}
	return opts, nil
}

// openLog makes the logger: text lines to stderr or a file, never stdout.
func openLog(stderr io.Writer, file, level string) (*slog.Logger, func(), error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, usagef("--log-level %q: use debug, info, warn or error", level)
	}
	w, closeFn := stderr, func() {}
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
	slog.SetDefault(log)
	return log, closeFn, nil
}
