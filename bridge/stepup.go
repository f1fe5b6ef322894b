package bridge

import (
	"context"
	"encoding/json"
	"fmt"
)

// stepUp answers a request a server refused for want of scope (a 403
// insufficient_scope, which the Authorizer remembered for the next login).
// When the agent can show the user a URL, the user is asked, with a
// URL-mode elicitation, to log in again granting it; once the new token is
// stored, the request is sent once more (again). Otherwise, or when the
// user does not complete that login, the refusal is the answer: it says
// how to log in. The Authorizer bounds the logins that ask for the same
// scopes, so a server that always refuses ends in an error, not a loop.
func (s *stdioServer) stepUp(ctx context.Context, u *Upstream, refused error, token json.RawMessage, again func() (json.RawMessage, error)) (json.RawMessage, error) {
	auth := s.b.opts.Auth
	if auth == nil || !auth.NeedsStepUp(refused) {
		return nil, refused
	}
	if s.b.opts.Login == nil || !s.agentCan().elicitURL {
		return nil, refused // serve opens no browser by itself
	}
	msg := fmt.Sprintf("%s needs more permission for this request: log in to grant it, and the bridge sends the request again.", u.ID())
	if err := s.runLogin(ctx, u, msg, token); err != nil {
		return nil, fmt.Errorf("%w, or call it again to log in here (the login asked for did not complete: %v)", refused, err)
	}
	s.log.Info("logged in with more permission; sending the request again", "server", u.ID())
	return again()
}
