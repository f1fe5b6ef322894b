package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

func loginVerb() *verb {
	var device bool
	var timeout time.Duration
	return &verb{
		name:    "login",
		args:    "<server>|portal",
		summary: "log in to a server (or the portal) and keep the token in the OS keychain",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&device, "device", false, "log in with a code on another device instead of a browser here (over SSH, say)")
			f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up when the login is not finished within this long")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name one server, or portal")
			}
			log, _, err := openLog(cmd.stderr, "", "warn")
			if err != nil {
				return err
			}
			cfg, err := cmd.loadConfig()
			if err != nil {
				return err
			}
			client := &http.Client{Timeout: time.Minute}
			id, lo, err := cmd.loginOptions(ctx, cfg, client, cmd.args[0])
			if err != nil {
				return err
			}
			lo.Device, lo.Timeout, lo.Out, lo.HTTP = device, timeout, cmd.stderr, client
			stateDir, err := state.Dir()
			if err != nil {
				return err
			}
			// A person is at the keyboard: the keychain may take a password.
			secrets := auth.StoreFor(cfg, stateDir, cmd.insecure, 2*time.Minute, log)
			tok, err := auth.Login(ctx, lo.LoginOptions)
			if err != nil {
				return fmt.Errorf("logging in to %s: %w", id, err)
			}
			if err := (&auth.Tokens{Secrets: secrets}).Save(ctx, id, tok); err != nil {
				return err
			}
			fmt.Fprintf(cmd.stdout, "logged in to %s (%s); the token is kept in %s\n", id, lo.Name, secrets.Name())
			return nil
		},
	}
}

// loginOptions says how to log in for a name: the portal, or a server.
func (c *command) loginOptions(ctx context.Context, cfg *config.Config, client *http.Client, name string) (string, *auth.ProviderLogin, error) {
	if name == auth.PortalID {
		lo, err := auth.PortalLogin(cfg.Portal.URL)
		return auth.PortalID, lo, err
	}
	cat, err := catalog.Load(ctx, cfg, c.catalogOptions(cfg, true))
	if err != nil {
		return "", nil, err
	}
	s, err := cat.Lookup(name)
	if err != nil {
		return "", nil, err
	}
	if !s.Available() {
		return "", nil, fmt.Errorf("%s is unavailable: %s", s.ID, strings.Join(s.Reasons, "; "))
	}
	stateDir, err := state.Dir()
	if err != nil {
		return "", nil, err
	}
	return auth.ServerLogin(ctx, client, cfg, s, stateDir)
}
