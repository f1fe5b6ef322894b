package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// enabledServers reads the config and the catalog (from the cache when there
// is one, so that start-up never waits on a portal) and returns the enabled,
// available servers, logging why any enabled one is left out.
func (a *app) enabledServers(ctx context.Context) (*config.Config, []*catalog.Server, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Load(ctx, cfg, a.catalogOptions(true))
	if err != nil {
		return nil, nil, err
	}
	return cfg, a.enabled(cfg, cat), nil
}

// enabled are the catalog's enabled, available servers. It logs the
// sources that failed and why any enabled server is left out; a portal
// still being read in the background is only noted.
func (a *app) enabled(cfg *config.Config, cat *catalog.Catalog) []*catalog.Server {
	for _, s := range cat.Sources {
		switch {
		case errors.Is(s.Err, catalog.ErrNotRead):
			a.log.Info("reading the catalog in the background", "source", s.Name)
		case s.Err != nil:
			a.log.Warn("catalog source failed", "source", s.Name, "err", s.Err)
		}
	}
	servers, skipped := cat.Enabled(cfg)
	for _, sk := range skipped {
		a.log.Warn(sk.String())
	}
	return servers
}

// bridgeOptions are the bridge's options from the config, with the app's
// logger, token manager and state folder.
func (a *app) bridgeOptions(servers []*catalog.Server) (bridge.Options, error) {
	cfg, err := a.config()
	if err != nil {
		return bridge.Options{}, err
	}
	stateDir, err := a.stateDir()
	if err != nil {
		return bridge.Options{}, err
	}
	tokens, err := a.tokens()
	if err != nil {
		return bridge.Options{}, err
	}
	opts := bridge.ConfigOptions(cfg, servers, stateDir)
	opts.Version, _, _ = buildInfo()
	opts.Logger = a.log
	opts.Auth = tokens
	client := a.httpClient()
	// The agent's call of a <prefix>__login tool is the user asking to log
	// in; serve never starts one by itself, but for a server that needs no
	// person.
	opts.Login = func(ctx context.Context, s *catalog.Server, show func(string) bool) error {
		id, lo, err := auth.ServerLoginFor(ctx, client, cfg, s, stateDir, tokens.Tokens.Secrets)
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
		_, err = tokens.Login(ctx, id, lo.LoginOptions)
		return err
	}
	// A server used without a person (grant: client_credentials) is
	// logged in to by serve itself.
	opts.Unattended = func(id string) bool { return cfg.Servers[id].Grant == auth.GrantClientCredentials }
	return opts, nil
}

// connect starts a bridge over the enabled servers — only the one named,
// when onlyThat — and waits up to wait for them to connect. only, when set,
// must name an enabled, available server. The function returned closes it.
func (a *app) connect(ctx context.Context, wait time.Duration, only string, onlyThat bool) (*bridge.Bridge, bridge.Options, func(), error) {
	_, servers, err := a.enabledServers(ctx)
	if err != nil {
		return nil, bridge.Options{}, nil, err
	}
	if only != "" {
		i := slices.IndexFunc(servers, func(s *catalog.Server) bool { return s.ID == only })
		if i < 0 {
			return nil, bridge.Options{}, nil, fmt.Errorf("%s is not an enabled, available server (\"bridge list\" shows them)", only)
		}
		if onlyThat {
			servers = servers[i : i+1]
		}
	}
	opts, err := a.bridgeOptions(servers)
	if err != nil {
		return nil, bridge.Options{}, nil, err
	}
	opts.StartupWait = wait
	b := bridge.New(servers, opts)
	b.Start()
	b.WaitStartup(ctx)
	return b, opts, func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b.Close(closeCtx)
	}, nil
}

// forgetLogin drops the lists serve keeps that are private to a login (a
// server's, or the portal's), once it is logged in again or out.
func (a *app) forgetLogin(id string) {
	stateDir, err := a.stateDir()
	if err != nil {
		return // no state folder: nothing is kept
	}
	lists := bridge.NewListCache(stateDir, 0, a.log)
	lists.ForgetLogin(id)
	lists.Wait()
}
