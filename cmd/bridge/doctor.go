package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// Finding codes, stable for scripts and for the README's troubleshooting.
const (
	codeConfigOK           = "config-ok"
	codeConfigMissing      = "config-missing"
	codeConfigInvalid      = "config-invalid"
	codeCatalogNone        = "catalog-none"
	codeSourceOK           = "source-ok"
	codeSourceFailed       = "source-failed"
	codeSourceStale        = "source-stale"
	codeEntitiesInvalid    = "entities-invalid"
	codeKeychainOK         = "keychain-ok"
	codeKeychainFile       = "keychain-file"
	codeKeychainFailed     = "keychain-unavailable"
	codeNoneEnabled        = "none-enabled"
	codeEnabledMissing     = "enabled-missing"
	codeEnabledUnread      = "enabled-unread"
	codeEnabledUnavailable = "enabled-unavailable"
	codeServerOK           = "server-ok"
	codeServerNeedsLogin   = "server-needs-login"
	codeServerFailed       = "server-failed"
)

// finding is one result of bridge doctor.
type finding struct {
	Code    string  `json:"code"`
	Status  string  `json:"status"` // ok, warn or fail
	Subject string  `json:"subject"`
	Message string  `json:"message"`
	Remedy  string  `json:"remedy,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
}

func doctorVerb() *verb {
	var asJSON bool
	var wait time.Duration
	return &verb{
		name:          "doctor",
		summary:       "check the config, the catalog, the keychain and every enabled server, and say how to fix what is broken",
		logErrorsOnly: true, // every problem is a finding
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&asJSON, "json", false, "print the findings as JSON: [{code, status, subject, message, remedy, seconds}]")
			f.DurationVar(&wait, "wait", bridge.DefaultConnectTimeout, "how long to wait for each server to connect")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) > 0 {
				return usagef("doctor takes no arguments")
			}
			findings := cmd.diagnose(ctx, wait, asJSON)
			failed := 0
			for _, f := range findings {
				if f.Status == "fail" {
					failed++
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(findings); err != nil {
					return err
				}
			} else {
				writeFindings(cmd.stdout, findings)
			}
			if failed > 0 {
				return fmt.Errorf("%s failed", plural(failed, "check"))
			}
			return nil
		},
	}
}

// diagnose runs every check, going on after failures so that the user
// sees everything that is wrong at once.
func (c *command) diagnose(ctx context.Context, wait time.Duration, quiet bool) []finding {
	var out []finding
	add := func(f finding) { out = append(out, f) }
	done := func() {}
	step := func(what string) {
		done()
		if !quiet {
			done = c.progress("checking " + what)
		}
	}
	defer func() { done() }()

	step("the config file")
	cfg, err := c.config()
	switch {
	case err != nil:
		add(finding{codeConfigInvalid, "fail", "config", err.Error(), "fix the file, or move it aside to start afresh", 0})
		return out
	case !cfg.Exists():
		add(finding{codeConfigMissing, "warn", cfg.Path(), "there is no config file", "bridge enable writes one; the README has a reference", 0})
	default:
		add(finding{codeConfigOK, "ok", cfg.Path(), "the config file is valid", "", 0})
	}

	step("the catalog")
	start := time.Now()
	cat, err := catalog.Load(ctx, cfg, c.catalogOptions(false))
	if err != nil {
		add(finding{codeCatalogNone, "fail", "catalog", err.Error(), "set catalog.files or portal.url in " + cfg.Path(), 0})
		return out
	}
	for _, s := range cat.Sources {
		switch {
		case s.Err != nil:
			remedy := "check the path in catalog.files"
			if s.Kind == "portal" {
				remedy = "check portal.url and the network; for 401, run \"bridge login portal\" or set portal.token_env"
			}
			add(finding{codeSourceFailed, "fail", s.Name, s.Err.Error(), remedy, time.Since(start).Seconds()})
		case s.Stale != nil:
			add(finding{codeSourceStale, "warn", s.Name, fmt.Sprintf("using the catalog cached at %s: %v", s.CachedAt.Format(time.DateTime), s.Stale),
				"check portal.url and the network", time.Since(start).Seconds()})
		default:
			add(finding{codeSourceOK, "ok", s.Name, fmt.Sprintf("%d mcp-server entities read", s.Servers), "", time.Since(start).Seconds()})
		}
	}
	invalid := 0
	for _, s := range cat.Servers {
		if !s.Available() {
			invalid++
		}
	}
	if invalid+len(cat.Problems) > 0 {
		add(finding{codeEntitiesInvalid, "warn", "catalog", fmt.Sprintf("%d unavailable, %d unreadable", invalid, len(cat.Problems)),
			"\"bridge list\" shows each reason; the entities' owners can fix them", 0})
	}

	servers, skipped := cat.Enabled(cfg)
	needTokens := false
	for _, s := range servers {
		needTokens = needTokens || s.Auth.Method != catalog.AuthNone
	}
	step("the keychain")
	c.checkKeychain(ctx, cfg, needTokens, add)

	for _, sk := range skipped {
		code, remedy := codeEnabledUnavailable, "fix the entity, or \"bridge disable\" it"
		switch sk.Reason {
		case catalog.SkipMissing:
			code, remedy = codeEnabledMissing, "\"bridge disable\" it, or check the catalog sources"
		case catalog.SkipUnread:
			code, remedy = codeEnabledUnread, "make the portal readable (see its finding); the server may be in its catalog"
		}
		add(finding{code, "fail", sk.ID, sk.String(), remedy, 0})
	}
	if len(servers)+len(skipped) == 0 {
		add(finding{codeNoneEnabled, "warn", "enabled", "no server is enabled", "\"bridge list\" shows the servers; \"bridge enable <server>\" picks one", 0})
		return out
	}
	if len(servers) == 0 {
		return out
	}
	step("the enabled servers")
	c.checkServers(ctx, servers, wait, add)
	return out
}

// checkKeychain fails only when an enabled server needs a token.
func (c *command) checkKeychain(ctx context.Context, cfg *config.Config, needed bool, add func(finding)) {
	if c.insecure || cfg.TokenStore == config.TokenStoreFile {
		add(finding{codeKeychainFile, "warn", "tokens", "tokens are kept in a 0600 file, not the OS keychain", "drop --insecure-storage / token_store: file where a keychain is available", 0})
		return
	}
	k, err := auth.NewKeychain(auth.KeychainTimeout)
	if err == nil {
		_, err = k.Get(ctx, "mcp-bridge doctor probe")
	}
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		status := "warn"
		if needed {
			status = "fail"
		}
		add(finding{codeKeychainFailed, status, "keychain", err.Error(), "unlock the keychain, or " + auth.FileRemedy, 0})
		return
	}
	add(finding{codeKeychainOK, "ok", "keychain", "the OS keychain answers", "", 0})
}

// checkServers connects to the enabled servers, as serve would, and says
// how each one fares.
func (c *command) checkServers(ctx context.Context, servers []*catalog.Server, wait time.Duration, add func(finding)) {
	opts, err := c.bridgeOptions(servers)
	if err != nil {
		add(finding{codeServerFailed, "fail", "servers", err.Error(), "", 0})
		return
	}
	opts.Logger = slog.New(slog.DiscardHandler) // what goes wrong is a finding
	opts.StartupWait = wait
	opts.Pins = bridge.NewPins("") // a check must not pin anything
	start := time.Now()
	b := bridge.New(servers, opts)
	b.Start()
	b.WaitStartup(ctx)
	took := time.Since(start).Seconds()
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	defer b.Close(closeCtx)
	tools := map[string]int{}
	for _, t := range b.Registry.Tools() {
		tools[t.Server]++
	}
	for _, u := range b.Upstreams() {
		err := u.Err()
		switch {
		case err == nil:
			add(finding{codeServerOK, "ok", u.ID(), fmt.Sprintf("connected; %s", plural(tools[u.ID()], "tool")), "", took})
		case errors.Is(err, auth.ErrUnavailable), errors.Is(err, auth.ErrTimeout):
			add(finding{codeKeychainFailed, "fail", u.ID(), err.Error(), "unlock the keychain, or " + auth.FileRemedy, took})
		case opts.Auth != nil && opts.Auth.NeedsLogin(err):
			login := u.ID()
			if i := slices.IndexFunc(servers, func(s *catalog.Server) bool { return s.ID == u.ID() }); i >= 0 && servers[i].Auth.Method == catalog.AuthPlugin {
				login = auth.PortalID
			}
			add(finding{codeServerNeedsLogin, "fail", u.ID(), err.Error(), fmt.Sprintf("run \"bridge login %s\"", login), took})
		default:
			add(finding{codeServerFailed, "fail", u.ID(), err.Error(), "check the server's URL and the network; \"bridge list --json\" shows the URL", took})
		}
	}
}

func writeFindings(w io.Writer, findings []finding) {
	marks := map[string]string{"ok": "OK", "warn": "WARN", "fail": "FAIL"}
	for _, f := range findings {
		writeWrapped(w, fmt.Sprintf("%s %s: %s [%s]", marks[f.Status], f.Subject, f.Message, f.Code), "", "     ")
		if f.Remedy != "" {
			writeWrapped(w, "→ "+f.Remedy, "     ", "       ")
		}
	}
}
