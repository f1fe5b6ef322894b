package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config/catalog"
)

func loginVerb() *verb {
	var device bool
	var timeout time.Duration
	return &verb{
		name:    "login",
		args:    "<server>|portal",
		summary: "log in to a server (or the portal) and keep the token in the OS keychain",
		// A person is at the keyboard: the keychain may take a password.
		keychainTimeout: 2 * time.Minute,
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&device, "device", false, "log in with a code on another device instead of a browser here (over SSH, say)")
			f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up when the login is not finished within this long")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name one server, or portal")
			}
			id, lo, err := cmd.loginOptions(ctx, cmd.args[0])
			if err != nil {
				return err
			}
			lo.Device, lo.Timeout, lo.Out, lo.HTTP = device, timeout, cmd.stderr, cmd.httpClient()
			tokens, err := cmd.tokens()
			if err != nil {
				return err
			}
			if _, err := tokens.Login(ctx, id, lo.LoginOptions); err != nil {
				return fmt.Errorf("logging in to %s: %w", id, err)
			}
			cmd.forgetLogin(id)
			fmt.Fprintf(cmd.stdout, "logged in to %s (%s); the token is kept in %s\n", id, lo.Name, tokens.Tokens.Secrets.Name())
			return nil
		},
	}
}

// loginOptions says how to log in for a name: the portal, or a server.
func (a *app) loginOptions(ctx context.Context, name string) (string, *auth.ProviderLogin, error) {
	cfg, err := a.config()
	if err != nil {
		return "", nil, err
	}
	if name == auth.PortalID {
		lo, err := auth.PortalLogin(ctx, a.httpClient(), cfg.Portal.URL)
		return auth.PortalID, lo, err
	}
	cat, err := catalog.Load(ctx, cfg, a.catalogOptions(true))
	if err != nil {
		return "", nil, err
	}
	m, err := cat.Match(name)
	if err != nil {
		return "", nil, err
	}
	if note := m.Note(); note != "" {
		fmt.Fprintln(a.stderr, note)
	}
	s := m.Server
	if !s.Available() {
		return "", nil, fmt.Errorf("%s is unavailable: %s", s.ID, strings.Join(s.Reasons, "; "))
	}
	stateDir, err := a.stateDir()
	if err != nil {
		return "", nil, err
	}
	tokens, err := a.tokens()
	if err != nil {
		return "", nil, err
	}
	return auth.ServerLoginFor(ctx, a.httpClient(), cfg, s, stateDir, tokens.Tokens.Secrets)
}
