package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

func logoutVerb() *verb {
	return &verb{
		name:    "logout",
		args:    "<server>|portal",
		summary: "delete a server's token (revoking it where the server allows) from the keychain",
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
			id, origins, err := cmd.tokenOrigins(ctx, cfg, cmd.args[0])
			if err != nil {
				return err
			}
			stateDir, err := state.Dir()
			if err != nil {
				return err
			}
			m := auth.NewManager(cfg, auth.StoreFor(cfg, stateDir, cmd.insecure, time.Minute, log), nil)
			client := &http.Client{Timeout: 30 * time.Second}
			found := false
			for _, origin := range origins {
				had, revoked, err := m.Logout(ctx, client, id, origin)
				if err != nil {
					return err
				}
				if had {
					found = true
					note := ""
					if revoked {
						note = " (token revoked)"
					}
					fmt.Fprintf(cmd.stdout, "logged out of %s at %s%s\n", id, origin, note)
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
func (c *command) tokenOrigins(ctx context.Context, cfg *config.Config, name string) (string, []string, error) {
	if name == auth.PortalID {
		origin, err := auth.Origin(cfg.Portal.URL)
		if err != nil {
			return "", nil, errors.New("no portal is configured (portal.url)")
		}
		return auth.PortalID, []string{origin}, nil
	}
	cat, err := catalog.Load(ctx, cfg, c.catalogOptions(cfg, true))
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
