package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file holds what happens on a live connection: calls, retries after
// an expired session or a 401, cancellation, and notifications.

// Call sends a request and returns its raw result. When onProgress is set,
// the request carries a progress token of the bridge's own, and progress
// notifications for it are passed to onProgress, all before Call returns.
// When ctx ends first, the upstream is sent notifications/cancelled.
func (u *Upstream) Call(ctx context.Context, method string, params json.RawMessage, onProgress func(json.RawMessage)) (json.RawMessage, error) {
	c, err := u.current()
	if err != nil {
		return nil, err
	}
	if onProgress != nil {
		token := fmt.Sprintf("bridge-%d", u.nextID.Add(1))
		params, err = withProgressToken(params, token)
		if err != nil {
			return nil, err
		}
		u.progress.Store(token, onProgress)
		defer u.progress.Delete(token)
	}
	return u.callOn(ctx, c, method, params)
}

func (u *Upstream) current() (*conn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed:
		return nil, ErrClosed
	case u.conn != nil:
		return u.conn, nil
	case u.lastErr != nil:
		return nil, fmt.Errorf("%w: %w; reconnecting", ErrDown, u.lastErr)
	}
	return nil, fmt.Errorf("%w: still connecting", ErrDown)
}

// callOn sends one request on c, re-initializing once when the server has
// forgotten the session.
func (u *Upstream) callOn(ctx context.Context, c *conn, method string, params json.RawMessage) (json.RawMessage, error) {
	// A call ends with its connection: an SSE transport would otherwise
	// wait for an answer that can no longer come.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	unhook := context.AfterFunc(c.ctx, func() { stop(errConnLost) })
	defer unhook()
	for attempt := 0; ; attempt++ {
		c.initMu.Lock()
		gen := c.initGen
		c.initMu.Unlock()
		id := u.nextID.Add(1)
		// On a 401 this is the header refused: a concurrent call may have
		// renewed c.authz since, and that new one is not to be renewed again.
		sent := c.authz.Load().(string)
		res, err := c.w.call(ctx, id, method, params)
		switch {
		case isRPCError(err):
			return nil, err
		case err == nil:
			return res, nil
		case c.ctx.Err() != nil:
			return nil, fmt.Errorf("connection lost: %w", context.Cause(c.ctx))
		case ctx.Err() != nil:
			u.cancelUpstream(c, id, context.Cause(ctx))
			return nil, context.Cause(ctx)
		case attempt == 0 && isUnauthorized(err):
			retry, aerr := u.reauthorize(ctx, c, err, sent)
			if !retry {
				return nil, aerr
			}
			continue
		case errors.Is(err, errSessionExpired) && attempt == 0:
			u.log.Info("session expired; initializing again")
			if err := u.reinitialize(ctx, c, gen); err != nil {
				u.lost(c, err)
				return nil, err
			}
			continue
		}
		if ch, ok := c.forbidden.Swap([]string(nil)).([]string); ok && len(ch) > 0 && u.opts.Auth != nil {
			if ferr := u.opts.Auth.Forbidden(ctx, u.server, c.url, ch); ferr != nil {
				return nil, ferr
			}
		}
		if connectionBroken(err) {
			u.lost(c, err)
			return nil, fmt.Errorf("connection lost: %w", err)
		}
		return nil, err
	}
}

// reauthorize handles a 401 to a request sent with Authorization header sent:
// it asks for a new header (a refreshed token) and reports whether to retry.
// Without one, the error says what the user must do.
func (u *Upstream) reauthorize(ctx context.Context, c *conn, err error, sent string) (retry bool, _ error) {
	if !isUnauthorized(err) {
		return false, nil
	}
	if u.opts.Auth == nil {
		return false, fmt.Errorf("the server requires authorization (401): %w", err)
	}
	h, aerr := u.opts.Auth.Rejected(ctx, u.server, c.url, sent)
	if aerr != nil {
		return false, aerr
	}
	c.authz.Store(h)
	return true, nil
}

func isUnauthorized(err error) bool {
	var ue *unauthorizedError
	return errors.As(err, &ue)
}

// reinitialize runs the handshake again on c unless another call already
// did since generation gen.
func (u *Upstream) reinitialize(ctx context.Context, c *conn, gen int) error {
	c.initMu.Lock()
	defer c.initMu.Unlock()
	if c.initGen != gen {
		return nil
	}
	if err := u.initialize(ctx, c); err != nil {
		return fmt.Errorf("session expired, and initializing again failed: %w", err)
	}
	c.initGen++
	return nil
}

// cancelUpstream tells the upstream to stop request id; the agent gave up
// on it or it timed out.
func (u *Upstream) cancelUpstream(c *conn, id int64, cause error) {
	params, _ := json.Marshal(map[string]any{"requestId": id, "reason": fmt.Sprint(cause)})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.w.notify(ctx, "notifications/cancelled", params); err != nil {
			u.log.Debug("notifications/cancelled not delivered", "err", err)
		}
	}()
}

// lost retires connection c and wakes the reconnect loop.
func (u *Upstream) lost(c *conn, err error) {
	u.mu.Lock()
	current := u.conn == c
	if current {
		u.conn, u.lastErr = nil, err
	}
	u.mu.Unlock()
	if current {
		c.cancel(err)
		go c.close()
	}
}

// notified handles a notification from the upstream. It runs on the
// reader of the stream it came on, before the response it precedes is
// delivered, which is what keeps progress ahead of results.
func (u *Upstream) notified(method string, params json.RawMessage) {
	switch method {
	case "notifications/progress":
		var token string
		if raw, ok, _ := rawjson.Lookup(params, "progressToken"); ok && json.Unmarshal(raw, &token) == nil {
			if h, ok := u.progress.Load(token); ok {
				h.(func(json.RawMessage))(params)
			}
		}
	case "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed":
		go u.refreshLists()
	case "notifications/resources/updated":
		u.events.upstreamNotification(u, method, params)
	case "notifications/message":
		u.log.Debug("log from server", "params", string(params))
	}
}

// refreshLists fetches every list again after the server said one changed.
func (u *Upstream) refreshLists() {
	c, err := u.current()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, u.opts.ConnectTimeout)
	defer cancel()
	lists, err := c.listAll(ctx, u)
	if err != nil {
		u.log.Warn("refreshing lists failed", "err", err)
		return
	}
	u.mu.Lock()
	if u.conn != c {
		u.mu.Unlock()
		return
	}
	u.lists = lists
	u.mu.Unlock()
	u.events.upstreamListChanged(u, lists)
}

// withProgressToken sets params._meta.progressToken, keeping the rest.
func withProgressToken(params json.RawMessage, token string) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	tok, _ := json.Marshal(token)
	meta, ok, err := rawjson.Lookup(params, "_meta")
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if ok && len(meta) > 0 && meta[0] == '{' {
		meta, err = rawjson.SetMember(meta, "progressToken", tok)
		if err != nil {
			return nil, fmt.Errorf("params._meta: %w", err)
		}
	} else {
		meta = append(append([]byte(`{"progressToken":`), tok...), '}')
	}
	return rawjson.SetMember(params, "_meta", meta)
}

// connectionBroken tells a failure to reach the server (refused, reset,
// no route) from an error answer on a working one. An answer cut short is
// not counted: it looks the same as a malformed one, and if the server is
// gone the next request finds out.
func connectionBroken(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}
