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

// scopeEntry is what one server asked for, and how many logins that asked
// for all of it have been made since it last grew.
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

// add records scopes a server asked for and returns how many logins that
// asked for all of them have been made since the set last grew.
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

// granted counts a login of a server, its token stored, that asked for
// every scope the server asked for, if it asked for any.
func (s *Scopes) granted(ctx context.Context, serverID string, asked []string) error {
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
		return fmt.Errorf("counting the login that asked for the scopes %s asked for: %w", serverID, err)
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
	if n >= maxStepUps {
		return fmt.Errorf("%s: %w (%s) and still refuses after %d logins that asked for it: %w: ask the server's owners", s.ID, ErrInsufficientScope, ch.Scope, n, ErrNoStepUp)
	}
	if s.Auth.Method == catalog.AuthPlugin {
		// The portal's login is the portal's, and asks for no scope of
		// the server's: no step-up of the server's own.
		return fmt.Errorf("%s: %w (%s): run \"bridge login %s\" to grant it", s.ID, ErrInsufficientScope, ch.Scope, PortalID)
	}
	return stepUpError{fmt.Errorf("%s: %w (%s): run \"bridge login %s\" to grant it", s.ID, ErrInsufficientScope, ch.Scope, s.ID)}
}

// stepUpError is a refusal that a login of the server, asking for the
// scopes it asked for, may cure.
type stepUpError struct{ error }

func (e stepUpError) Unwrap() error { return e.error }

// NeedsStepUp tells the errors of Forbidden that a new login of the server
// may cure, asking for the scopes it asked for.
func (m *Manager) NeedsStepUp(err error) bool {
	var su stepUpError
	return errors.As(err, &su)
}
