package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config/catalog"
)

func logoutVerb() *verb {
	return &verb{
		name:    "logout",
		args:    "<server>|portal",
		summary: "delete a server's token (revoking it where the server allows) from the keychain",
		// A person ran it: the keychain may ask to be unlocked.
		keychainTimeout: time.Minute,
		// The token goes whether or not revoking it works: do not wait long.
		httpTimeout: 30 * time.Second,
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name one server, or portal")
			}
			id, origins, err := cmd.tokenOrigins(ctx, cmd.args[0])
			if err != nil {
				return err
			}
			tokens, err := cmd.tokens()
			if err != nil {
				return err
			}
			cmd.forgetLogin(id)
			found := false
			for _, origin := range origins {
				had, revocation, err := tokens.Logout(ctx, cmd.httpClient(), id, origin)
				if err != nil {
					return err
				}
				if had {
					found = true
					fmt.Fprintf(cmd.stdout, "logged out of %s at %s; %s\n", id, origin, revocation)
				}
			}
			if !found {
				fmt.Fprintf(cmd.stdout, "%s: not logged in\n", id)
			}
			return nil
		},
	}
}

// tokenOrigins are the key and origins a server's tokens may be stored
// under: the portal's for "portal", else those of the server's remotes.
func (a *app) tokenOrigins(ctx context.Context, name string) (string, []string, error) {
	cfg, err := a.config()
	if err != nil {
		return "", nil, err
	}
	if name == auth.PortalID {
		origin, err := auth.Origin(cfg.Portal.URL)
		if err != nil {
			return "", nil, errors.New("no portal is configured (portal.url)")
		}
		return auth.PortalID, []string{origin}, nil
	}
	cat, err := catalog.Load(ctx, cfg, a.catalogOptions(true))
	if err != nil {
		return "", nil, err
	}
	s, err := cat.Lookup(name)
	if err != nil {
		return "", nil, err
	}
	var origins []string
	for _, r := range s.Definition.Remotes {
		if o, err := auth.Origin(r.URL); err == nil && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return s.ID, origins, nil
}
