package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// Errors of a step-up: ErrInsufficientScope means the server wants a token
// with more scope; ErrNoStepUp, with it, that a new login would not help
// (the server does not say which, or still refused after the logins that
// asked for it).
var (
	ErrInsufficientScope = errors.New("needs more permission")
	ErrNoStepUp          = errors.New("a new login would not help")
)

// maxStepUps bounds the logins that ask for the same scopes a server asked
// for: past that the bridge stops sending the user round in circles. With
// the first login, no more than three authorizations for the same scopes.
const maxStepUps = 2

// Scopes remembers, per server, the scopes servers asked for with a 403
// insufficient_scope, so that the next login asks for them too (step-up).
type Scopes struct {
	Path  string
	Locks state.Locks
}

// NewScopes keeps them in stateDir/scopes.json.
func NewScopes(stateDir string) *Scopes {
	return &Scopes{Path: filepath.Join(stateDir, "scopes.json"), Locks: state.Locks{Dir: filepath.Join(stateDir, "locks")}}
}

// scopeEntry is what one server asked for, and how many logins have asked
// for all of it since it last grew.
type scopeEntry struct {
	Scopes  []string `json:"scopes"`
	StepUps int      `json:"step_ups"`
}

// Required are the extra scopes to ask for in a server's next login.
func (s *Scopes) Required(serverID string) []string {
	if s == nil {
		return nil
	}
	m, _ := s.load()
	return m[serverID].Scopes
}

// add records scopes a server asked for and returns how many logins have
// asked for all of them since the set last grew.
func (s *Scopes) add(ctx context.Context, serverID string, scopes []string) (int, error) {
	m := map[string]scopeEntry{}
	var stepUps int
	err := s.Locks.UpdateJSON(ctx, s.Path, "fix or delete it", &m, func() error {
		e := m[serverID]
		for _, sc := range scopes {
			if !slices.Contains(e.Scopes, sc) {
				e.Scopes, e.StepUps = append(e.Scopes, sc), 0
			}
		}
		m[serverID] = e
		stepUps = e.StepUps
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("remembering the scopes %s asked for: %w", serverID, err)
	}
	return stepUps, nil
}

// asking counts a login of a server that asks for every scope it asked
// for, if it asked for any.
func (s *Scopes) asking(ctx context.Context, serverID string, asked []string) error {
	if s == nil || len(s.Required(serverID)) == 0 {
		return nil
	}
	m := map[string]scopeEntry{}
	err := s.Locks.UpdateJSON(ctx, s.Path, "fix or delete it", &m, func() error {
		e, ok := m[serverID]
		if ok && len(e.Scopes) > 0 && !slices.ContainsFunc(e.Scopes, func(sc string) bool { return !slices.Contains(asked, sc) }) {
			e.StepUps++
			m[serverID] = e
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting the login that asks for the scopes %s asked for: %w", serverID, err)
	}
	return nil
}

func (s *Scopes) load() (map[string]scopeEntry, error) {
	m := map[string]scopeEntry{}
	if err := state.ReadJSON(s.Path, &m, "fix or delete it"); err != nil {
		return map[string]scopeEntry{}, fmt.Errorf("scopes file %w", err)
	}
	return m, nil
}

// Forbidden reads a 403's challenge. An insufficient_scope asks for more
// scope: it is remembered for the next login, and the error says to log in
// again — up to a bound, past which it says the server keeps refusing
// (ErrNoStepUp).
func (m *Manager) Forbidden(ctx context.Context, s *catalog.Server, remoteURL string, challenge []string) error {
	ch := ParseChallenge(challenge)
	if ch.Error != "insufficient_scope" {
		return nil
	}
	scopes := strings.Fields(ch.Scope)
	if m.Scopes == nil || len(scopes) == 0 {
		return fmt.Errorf("%s: %w, and does not say which: %w: ask the server's owners", s.ID, ErrInsufficientScope, ErrNoStepUp)
	}
	n, err := m.Scopes.add(ctx, s.ID, scopes)
	if err != nil {
		return err
	}
	id := s.ID
	if s.Auth.Method == catalog.AuthPlugin {
		id = PortalID
	}
	if n >= maxStepUps {
		return fmt.Errorf("%s: %w (%s) and still refuses after %d logins that asked for it: %w: ask the server's owners", s.ID, ErrInsufficientScope, ch.Scope, n, ErrNoStepUp)
	}
	return fmt.Errorf("%s: %w (%s): run \"bridge login %s\" to grant it", s.ID, ErrInsufficientScope, ch.Scope, id)
}

// NeedsStepUp tells the errors that a new login, asking for the scopes the
// server asked for, may cure.
func (m *Manager) NeedsStepUp(err error) bool {
	return errors.Is(err, ErrInsufficientScope) && !errors.Is(err, ErrNoStepUp)
}
