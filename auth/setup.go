package auth

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// KeychainTimeout bounds each keychain call of a process that must not
// hang (serve); an interactive login may pass a longer one.
const KeychainTimeout = 5 * time.Second

// StoreFor opens where the config says tokens go. insecure (the
// --insecure-storage flag) chooses the file as token_store: file does. A
// keychain that cannot be used yields a store whose every call says why.
func StoreFor(cfg *config.Config, stateDir string, insecure bool, timeout time.Duration, log *slog.Logger) Secrets {
	if insecure || cfg.TokenStore == config.TokenStoreFile {
		return NewFile(stateDir, func(msg string) { log.Warn(msg) })
	}
	k, err := NewKeychain(timeout)
	if err != nil {
		return Unusable{Err: err}
	}
	return k
}

// NewManager makes the token manager for a config.
func NewManager(cfg *config.Config, secrets Secrets, client *http.Client) *Manager {
	client = catalog.SafeClient(client, time.Minute)
	m := &Manager{Tokens: &Tokens{Secrets: secrets}, Portal: cfg.Portal.URL, PortalTokenEnv: cfg.Portal.TokenEnv}
	if stateDir, err := state.Dir(); err == nil {
		m.Locks = state.Locks{Dir: filepath.Join(stateDir, "locks")}
		m.Scopes = NewScopes(stateDir)
		m.Challenges = NewChallenges(stateDir)
	}
	m.Refresher = func(ctx context.Context, t *Token) (*Token, error) { return Refresh(ctx, client, t) }
	return m
}
