package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// app is the set-up one invocation shares among the steps of its verb: the
// output streams, the logger, the config, the state folder, the token store
// and manager, and the HTTP client. Each is built once, when first asked
// for: a verb that needs no config never reads one, and every portal read
// and server of an invocation goes through the same token manager.
type app struct {
	stdout, stderr io.Writer
	// rawStderr is stderr as it was given, for the progress spinner's own
	// control sequences.
	rawStderr io.Writer
	// log is the invocation's logger: text lines to stderr, never stdout.
	// serve points it elsewhere with openLog before anything that logs is
	// built, since the token store keeps the logger it was made with.
	log *slog.Logger

	// Set by the common flags.
	cfgPath      string
	catalogFiles []string // --catalog
	insecure     bool     // --insecure-storage

	// config is the config file named by --config, $MCP_BRIDGE_CONFIG or
	// the default location.
	config func() (*config.Config, error)
	// stateDir is the folder for what the bridge keeps between runs.
	stateDir func() (string, error)
	// secrets is where tokens are kept: the OS keychain, or the 0600 file
	// with --insecure-storage or token_store: file.
	secrets func() (auth.Secrets, error)
	// tokens is the token manager over secrets.
	tokens func() (*auth.Manager, error)
	// httpClient is the client for logins, token refreshes and revocations.
	httpClient func() *http.Client
}

// newApp makes the app for one invocation of v; nothing is built yet.
func newApp(stdout, stderr io.Writer, v *verb) *app {
	rawStderr := stderr
	if v.name != "serve" { // serve's stdout is the protocol's, not a person's
		stdout, stderr = terminalText{stdout}, terminalText{stderr}
	}
	a := &app{stdout: stdout, stderr: stderr, rawStderr: rawStderr}
	level := slog.LevelWarn
	if v.logErrorsOnly {
		level = slog.LevelError
	}
	a.log = textLog(stderr, level)
	keychainTimeout := cmp.Or(v.keychainTimeout, auth.KeychainTimeout)
	httpTimeout := cmp.Or(v.httpTimeout, time.Minute)

	a.config = sync.OnceValues(func() (*config.Config, error) {
		cfg, err := config.Load(a.cfgPath)
		if err != nil {
			return nil, err
		}
		if dir, err := a.stateDir(); err == nil {
			cfg.Locks = state.Locks{Dir: filepath.Join(dir, "locks")}
		}
		return cfg, nil
	})
	a.stateDir = sync.OnceValues(state.Dir)
	a.secrets = sync.OnceValues(func() (auth.Secrets, error) {
		cfg, err := a.config()
		if err != nil {
			return nil, err
		}
		dir, err := a.stateDir()
		if err != nil {
			return nil, err
		}
		if a.insecure && cfg.TokenStore != config.TokenStoreFile {
			// Given once, the flag holds from then on: the serve an agent
			// starts has no flags of the user's.
			if err := cfg.SetTokenStore(config.TokenStoreFile); err != nil {
				a.log.Warn("--insecure-storage could not be recorded in the config; pass it again next time, or set token_store: file", "err", err)
			} else {
				a.log.Warn("--insecure-storage: recorded token_store: file in " + cfg.Path() + "; every later command, and the serve your agent starts, keep tokens in a 0600 file, not the OS keychain (set token_store: keychain to go back)")
			}
		}
		return auth.StoreFor(cfg, dir, a.insecure, keychainTimeout, a.log), nil
	})
	a.tokens = sync.OnceValues(func() (*auth.Manager, error) {
		secrets, err := a.secrets()
		if err != nil {
			return nil, err
		}
		cfg, _ := a.config() // read, or there would be no secrets
		m := auth.NewManager(cfg, secrets, a.httpClient())
		m.Log = a.log
		return m, nil
	})
	a.httpClient = sync.OnceValue(func() *http.Client {
		return catalog.SafeClient(nil, httpTimeout)
	})
	return a
}

// textLog makes a logger of text lines at level to w.
func textLog(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// openLog points the invocation's logger at file (stderr when "") at
// level, for serve's --log-file and --log-level. The function returned
// closes the file.
func (a *app) openLog(file, level string) (func(), error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", level)
	}
	w, closeFn := a.stderr, func() {}
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	a.log = textLog(w, lv)
	return closeFn, nil
}

// catalogOptions are how the verbs read the catalog: the --catalog files,
// or the configured sources with the user's portal login (kept in the
// keychain, or the token file) for the portal.
func (a *app) catalogOptions(preferCache bool) catalog.Options {
	return catalog.Options{Files: a.catalogFiles, PreferCache: preferCache, Log: a.log, PortalLogin: func(ctx context.Context) string {
		tokens, err := a.tokens()
		if err != nil {
			return "" // no state folder: read the portal without a login
		}
		return tokens.PortalLoginToken(ctx)
	}}
}

// loadCatalog reads the config and every catalog source it names, or only
// the --catalog files.
func (a *app) loadCatalog(ctx context.Context) (*config.Config, *catalog.Catalog, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	done := func() {}
	if cfg.Portal.URL != "" && len(a.catalogFiles) == 0 {
		done = a.progress("reading the catalog from " + cfg.Portal.URL)
	}
	cat, err := catalog.Load(ctx, cfg, a.catalogOptions(false))
	done()
	if err != nil {
		return nil, nil, err
	}
	return cfg, cat, nil
}
