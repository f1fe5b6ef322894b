package bridge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// This file holds what an upstream does on its live session: calls, what
// the server sends of its own accord, and the token for each request.

// Call sends a request on the upstream's session and returns its raw
// result. When onProgress is set, progress notifications for the call are
// passed to it, all before Call returns. When ctx ends first, the server
// is told the call was cancelled. A call refused for want of a login
// (the token was refused, and could not be renewed) ends the session: the
// server is offered as its login tool until the user logs in.
func (u *Upstream) Call(ctx context.Context, method string, params json.RawMessage, onProgress func(json.RawMessage)) (json.RawMessage, error) {
	sess, err := u.current()
	if err != nil {
		return nil, err
	}
	res, err := sess.Call(ctx, method, params, onProgress)
	if err != nil {
		u.checkLogin(sess, err)
	}
	return res, err
}

// checkLogin ends sess when err says the server needs a login, and tells
// the bridge, which puts the server's login tool in place of its tools.
// The run loop goes on connecting, so that a login made elsewhere (in a
// terminal) is picked up.
func (u *Upstream) checkLogin(sess *client.Session, err error) {
	if u.opts.Auth == nil || !u.opts.Auth.NeedsLogin(err) {
		return
	}
	u.mu.Lock()
	mine := u.session == sess
	if mine {
		u.session, u.lastErr = nil, err
	}
	u.mu.Unlock()
	if !mine {
		return
	}
	u.log.Warn("the server needs a login", "err", err)
	sess.Close()
	if u.events.upstreamNeedsLogin(u) {
		u.Wake()
	}
}

func (u *Upstream) current() (*client.Session, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed:
		return nil, ErrClosed
	case u.session != nil:
		return u.session, nil
	case u.lastErr != nil:
		return nil, fmt.Errorf("%w: %w; reconnecting", ErrDown, u.lastErr)
	}
	return nil, fmt.Errorf("%w: still connecting", ErrDown)
}

// handler takes what an upstream's server sends outside the answers to
// calls.
type handler struct{ u *Upstream }

// Notification refreshes the lists when one changed (the run loop does it,
// once for any number of changes meanwhile), passes resources/updated on
// to the agent, and logs the server's log messages.
func (h handler) Notification(method string, params json.RawMessage) {
	switch method {
	case "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed":
		select {
		case h.u.refresh <- struct{}{}:
		default:
		}
	case "notifications/resources/updated", "notifications/elicitation/complete":
		h.u.events.upstreamNotification(h.u, method, params)
	case "notifications/tasks/status":
		h.u.events.upstreamNotification(h.u, method, renameTasks(params, h.u.ID()))
	case "notifications/message":
		h.u.logged(params)
	}
}

// Request answers a ping itself and passes every other request from the
// server on to the agent.
func (h handler) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if method == "ping" {
		return json.RawMessage("{}"), nil
	}
	return h.u.events.upstreamRequest(ctx, h.u, method, params)
}

// serverAuth is the bridge's Authorizer bound to one server's remote, as
// a session asks for it.
type serverAuth struct {
	a   Authorizer
	s   *catalog.Server
	url string
}

func (a serverAuth) Authorization(ctx context.Context) (string, error) {
	return a.a.Authorization(ctx, a.s, a.url)
}

func (a serverAuth) Rejected(ctx context.Context, header string, challenge []string) (string, error) {
	return a.a.Rejected(ctx, a.s, a.url, header, challenge)
}

func (a serverAuth) Forbidden(ctx context.Context, challenge []string) error {
	return a.a.Forbidden(ctx, a.s, a.url, challenge)
}
