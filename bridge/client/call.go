package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file holds what happens on a live session: calls, retries after an
// expired session or a 401, cancellation, progress, and what the server
// sends of its own accord.

// Call sends a request and returns its raw result, or an *RPCError. When
// onProgress is set, the request carries a progress token of the
// session's own, and progress notifications for it are passed to
// onProgress, all before Call returns. When ctx ends first, the server is
// sent notifications/cancelled.
func (s *Session) Call(ctx context.Context, method string, params json.RawMessage, onProgress func(json.RawMessage)) (json.RawMessage, error) {
	modern := s.era.modern()
	if modern {
		if res, handled, err := s.modernLocally(method, params); handled {
			return res, err
		}
	}
	if onProgress != nil {
		token := "bridge-" + strconv.FormatInt(s.nextID.Add(1), 10)
		var err error
		if params, err = withProgressToken(params, token); err != nil {
			return nil, err
		}
		s.progress.Store(token, onProgress)
		defer s.progress.Delete(token)
	}
	if !modern {
		params, err := withoutStatelessMeta(params)
		if err != nil {
			return nil, err
		}
		return s.send(ctx, method, params, false)
	}
	params, err := s.withMeta(params)
	if err != nil {
		return nil, err
	}
	res, err := s.send(ctx, method, params, true)
	if rpc := (*RPCError)(nil); method == "tools/call" && errors.As(err, &rpc) && rpc.Code == codeHeaderMismatch {
		// The tool's parameter headers may have changed: list, and once
		// more, as the spec asks.
		if _, lerr := s.List(ctx, "tools/list", "tools"); lerr == nil {
			res, err = s.send(ctx, method, params, true)
		}
	}
	if err != nil || passingInput(ctx) {
		return res, err
	}
	return s.fulfil(ctx, params, res, func(p json.RawMessage) (json.RawMessage, error) { return s.send(ctx, method, p, true) })
}

type passInputKey struct{}

// PassInputRequired marks a call whose caller answers a stateless
// server's input requests itself (an agent of the stateless era, to which
// the result goes on as it is): Call returns input_required results
// instead of asking the Handler.
func PassInputRequired(ctx context.Context) context.Context {
	return context.WithValue(ctx, passInputKey{}, true)
}

func passingInput(ctx context.Context) bool { return ctx.Value(passInputKey{}) != nil }

// send sends one request, re-initializing once when the server has
// forgotten the session, and asking the Authorizer once on a 401. A
// modern request whose stream broke is sent once more, under a new id.
func (s *Session) send(ctx context.Context, method string, params json.RawMessage, modern bool) (json.RawMessage, error) {
	// A call ends with its session: an SSE transport would otherwise wait
	// for an answer that can no longer come.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	unhook := context.AfterFunc(s.life, func() { stop(errConnLost) })
	defer unhook()
	for attempt := 0; ; attempt++ {
		s.restartMu.Lock()
		generation := s.generation
		s.restartMu.Unlock()
		id := s.nextID.Add(1)
		res, err := s.w.call(ctx, id, method, params)
		switch {
		case isRPCError(err):
			return nil, err
		case err == nil:
			return res, nil
		case s.life.Err() != nil:
			return nil, fmt.Errorf("connection lost: %w", context.Cause(s.life))
		case ctx.Err() != nil:
			// In the stateless era, closing the request's stream is
			// the cancellation.
			if !modern {
				s.cancel(id, context.Cause(ctx))
			}
			return nil, context.Cause(ctx)
		case attempt == 0 && isUnauthorized(err):
			retry, aerr := s.reauthorize(ctx, err)
			if !retry {
				return nil, aerr
			}
			continue
		case attempt == 0 && errors.Is(err, errStreamBroken):
			continue
		case errors.Is(err, errSessionExpired) && attempt == 0:
			s.log.Info("session expired; initializing again")
			if err := s.restart(ctx, generation); err != nil {
				s.end(err)
				return nil, err
			}
			continue
		}
		if ch, ok := s.forbidden.Swap([]string(nil)).([]string); ok && len(ch) > 0 && s.remote.Auth != nil {
			if ferr := s.remote.Auth.Forbidden(ctx, ch); ferr != nil {
				return nil, ferr
			}
		}
		if connectionBroken(err) {
			s.end(err)
			return nil, fmt.Errorf("connection lost: %w", err)
		}
		return nil, err
	}
}

// Notify sends a notification. The stateless era has none for a client
// to send over HTTP (roots/list_changed is gone, and a closed stream is
// the cancellation): those are dropped.
func (s *Session) Notify(ctx context.Context, method string, params json.RawMessage) error {
	if s.era.modern() {
		return nil
	}
	return s.w.notify(ctx, method, params)
}

// maxListPages bounds the pages of one list, against a server whose
// cursors never end.
const maxListPages = 100

// List follows a list method's pages and returns the raw JSON of each
// item of the result's member key.
func (s *Session) List(ctx context.Context, method, key string) ([]json.RawMessage, error) {
	items, _, err := s.ListKept(ctx, method, key)
	return items, err
}

// Cache is what a list result says of keeping it (2026-07-28): for how
// long, and for whom ("public", or "private" to the login it came with).
// The zero Cache is a server that said nothing.
type Cache struct {
	TTL   time.Duration
	Scope string
}

// ListKept is List, with what the pages say of keeping them: the
// shortest time any gives, and the narrowest scope.
func (s *Session) ListKept(ctx context.Context, method, key string) ([]json.RawMessage, Cache, error) {
	var items []json.RawMessage
	var cache Cache
	cursor := ""
	for page := 0; page < maxListPages; page++ {
		params := json.RawMessage(`{}`)
		if cursor != "" {
			params, _ = json.Marshal(map[string]string{"cursor": cursor})
		}
		raw, err := s.Call(ctx, method, params, nil)
		if err != nil {
			return nil, Cache{}, fmt.Errorf("%s: %w", method, err)
		}
		// The answer is valid JSON (checked as it was read): walk it, no decoding.
		list, ok, err := rawjson.Lookup(raw, key)
		if err != nil {
			return nil, Cache{}, fmt.Errorf("%s: the answer is not a list: %w", method, err)
		}
		if ok && string(list) != "null" {
			pageItems, err := rawjson.Elements(list)
			if err != nil {
				return nil, Cache{}, fmt.Errorf("%s: %s is not a list: %w", method, key, err)
			}
			items = append(items, pageItems...)
		}
		cache = cache.narrowed(raw, page == 0)
		cursor, _ = rawjson.LookupString(raw, "nextCursor")
		if cursor == "" {
			if method == "tools/list" && s.era.modern() {
				items = s.withParamHeaders(items)
			}
			return items, cache, nil
		}
	}
	return nil, Cache{}, fmt.Errorf("%s: more than %d pages", method, maxListPages)
}

// withParamHeaders keeps the x-mcp-header annotations of the tools for
// their calls, and leaves out the tools whose annotations break the rules,
// as the stateless era asks of a client over HTTP.
func (s *Session) withParamHeaders(tools []json.RawMessage) []json.RawMessage {
	headers := map[string][]paramHeader{}
	kept := tools[:0:0]
	for _, t := range tools {
		name, _ := rawjson.LookupString(t, "name")
		schema, _, _ := rawjson.Lookup(t, "inputSchema")
		h, err := paramHeaders(schema)
		if err != nil {
			s.log.Warn("a tool is left out: its x-mcp-header annotations break the rules", "tool", name, "err", err)
			continue
		}
		if len(h) > 0 {
			headers[name] = h
		}
		kept = append(kept, t)
	}
	s.toolHeaders.Store(&headers)
	return kept
}

// narrowed is c with a page's ttlMs and cacheScope taken in.
func (c Cache) narrowed(page json.RawMessage, first bool) Cache {
	var p struct {
		TTL   *int64 `json:"ttlMs"`
		Scope string `json:"cacheScope"`
	}
	if !bytes.Contains(page, []byte(`"ttlMs"`)) && !bytes.Contains(page, []byte(`"cacheScope"`)) {
		if first {
			return Cache{}
		}
		return c
	}
	ms, _ := rawjson.Members(page)
	for _, m := range ms {
		switch {
		case m.Is("ttlMs"):
			_ = json.Unmarshal(page[m.Start:m.End], &p.TTL)
		case m.Is("cacheScope"):
			_ = json.Unmarshal(page[m.Start:m.End], &p.Scope)
		}
	}
	if p.TTL != nil && *p.TTL >= 0 {
		if ttl := time.Duration(*p.TTL) * time.Millisecond; first || ttl < c.TTL {
			c.TTL = ttl
		}
	}
	if p.Scope == "private" || first && p.Scope != "" {
		c.Scope = p.Scope
	}
	return c
}

// reauthorize handles a 401: it tells the Authorizer the header the
// request carried (a concurrent call may have renewed it since, and that
// new one is not to be renewed again) and the server's challenge, and
// reports whether to retry with the header it gives. Without one, the
// error says what the user must do.
func (s *Session) reauthorize(ctx context.Context, err error) (retry bool, _ error) {
	var ue *unauthorizedError
	if !errors.As(err, &ue) {
		return false, nil
	}
	if s.remote.Auth == nil {
		return false, fmt.Errorf("the server requires authorization (401): %w", err)
	}
	h, aerr := s.remote.Auth.Rejected(ctx, ue.sent, ue.challenge)
	if aerr != nil {
		return false, aerr
	}
	s.authz.Store(h)
	return true, nil
}

func isUnauthorized(err error) bool {
	var ue *unauthorizedError
	return errors.As(err, &ue)
}

// restart starts the protocol again unless another call already did since
// generation.
func (s *Session) restart(ctx context.Context, generation int) error {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	if s.generation != generation {
		return nil
	}
	if _, err := s.era.start(ctx, s); err != nil {
		return fmt.Errorf("session expired, and initializing again failed: %w", err)
	}
	s.generation++
	return nil
}

// cancel tells the server to stop request id: the caller gave up on it or
// it timed out. It is sent in the background, for as long as the session
// lives.
func (s *Session) cancel(id int64, cause error) {
	params, _ := json.Marshal(map[string]any{"requestId": id, "reason": fmt.Sprint(cause)})
	s.tasks.Go(func() {
		ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
		defer cancel()
		if err := s.w.notify(ctx, "notifications/cancelled", params); err != nil {
			s.log.Debug("notifications/cancelled not delivered", "err", err)
		}
	})
}

// notified handles a notification from the server. It runs on the reader
// of the stream it came on, before the response it precedes is delivered,
// which is what keeps progress ahead of results.
func (s *Session) notified(method string, params json.RawMessage) {
	if method == "notifications/cancelled" {
		s.cancelledByServer(params)
		return
	}
	if method == "notifications/progress" {
		var token string
		if raw, ok, _ := rawjson.Lookup(params, "progressToken"); ok && json.Unmarshal(raw, &token) == nil {
			if h, ok := s.progress.Load(token); ok {
				h.(func(json.RawMessage))(params)
			}
		}
		return
	}
	s.handler.Notification(method, params)
}

// answer runs the handler for a request from the server and sends the
// reply, in the background, for as long as the session lives. The
// handler's context carries the values of the call the request came with
// (call), and ends with that call, with the session, or when the server
// cancels the request, and then no reply is sent; how long the handler
// may take is the handler's to bound (a person may be answering).
func (s *Session) answer(call context.Context, m serverMessage, reply func(context.Context, []byte) error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(call))
	stopLife := context.AfterFunc(s.life, cancel)
	stopCall := context.AfterFunc(call, cancel)
	key := string(bytes.TrimSpace(m.id))
	s.serving.Store(key, cancel)
	s.tasks.Go(func() {
		defer s.serving.Delete(key)
		defer cancel()
		defer stopLife()
		defer stopCall()
		res, err := s.handler.Request(ctx, m.method, m.params)
		if ctx.Err() != nil {
			return // cancelled by the server, or the session is over
		}
		rctx, rcancel := context.WithTimeout(s.life, 30*time.Second)
		defer rcancel()
		if err := reply(rctx, responseBody(m.id, res, err)); err != nil {
			s.log.Debug("answering a request from the server", "method", m.method, "err", err)
		}
	})
}

// cancelledByServer ends the handler of a request the server cancelled.
func (s *Session) cancelledByServer(params json.RawMessage) {
	id, ok, _ := rawjson.Lookup(params, "requestId")
	if !ok {
		return
	}
	if cancel, ok := s.serving.Load(string(bytes.TrimSpace(id))); ok {
		cancel.(context.CancelFunc)()
	}
}

// withProgressToken sets params._meta.progressToken, keeping the rest.
func withProgressToken(params json.RawMessage, token string) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	var buf [32]byte
	tok := rawjson.AppendString(buf[:0], token)
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
