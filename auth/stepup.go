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

// ErrInsufficientScope means the server wants a token with more scope.
var ErrInsufficientScope = errors.New("needs more permission")

// maxStepUps bounds how often a server may ask for more scope for the same
// scopes: after that the bridge stops sending the user round in circles.
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

// add records scopes a server asked for and returns how many times it has
// asked for this same set.
func (s *Scopes) add(ctx context.Context, serverID string, scopes []string) (int, error) {
	m := map[string]scopeEntry{}
	var stepUps int
	err := s.Locks.UpdateJSON(ctx, s.Path, "fix or delete it", &m, func() error {
		e := m[serverID]
		before := len(e.Scopes)
		for _, sc := range scopes {
			if !slices.Contains(e.Scopes, sc) {
				e.Scopes = append(e.Scopes, sc)
			}
		}
		if len(e.Scopes) == before {
			e.StepUps++
		} else {
			e.StepUps = 1
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

func (s *Scopes) load() (map[string]scopeEntry, error) {
	m := map[string]scopeEntry{}
	if err := state.ReadJSON(s.Path, &m, "fix or delete it"); err != nil {
		return map[string]scopeEntry{}, fmt.Errorf("scopes file %w", err)
	}
	return m, nil
}

// Forbidden reads a 403's challenge. An insufficient_scope asks for more
// scope: it is remembered for the next login, and the error says to log in
// again — up to a bound, past which it says the server keeps refusing.
func (m *Manager) Forbidden(ctx context.Context, s *catalog.Server, remoteURL string, challenge []string) error {
	ch := ParseChallenge(challenge)
	if ch.Error != "insufficient_scope" {
		return nil
	}
	scopes := strings.Fields(ch.Scope)
	if m.Scopes == nil || len(scopes) == 0 {
		return fmt.Errorf("%s: %w, and does not say which: ask the server's owners", s.ID, ErrInsufficientScope)
	}
	n, err := m.Scopes.add(ctx, s.ID, scopes)
	if err != nil {
		return err
	}
	id := s.ID
	if s.Auth.Method == catalog.AuthPlugin {
		id = PortalID
	}
	if n > maxStepUps {
		return fmt.Errorf("%s: %w (%s) and still refuses after %d logins that asked for it: ask the server's owners", s.ID, ErrInsufficientScope, ch.Scope, maxStepUps)
	}
	return fmt.Errorf("%s: %w (%s): run \"bridge login %s\" to grant it", s.ID, ErrInsufficientScope, ch.Scope, id)
}
