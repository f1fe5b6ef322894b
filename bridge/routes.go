package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// routeFunc answers one forwarded request with a raw result.
type routeFunc func(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error)

// routes are the methods the bridge answers itself, from the registry or by
// forwarding to the upstream that owns the name or URI.
var routes map[string]routeFunc

func init() {
	routes = map[string]routeFunc{
		"tools/list":               listRoute,
		"prompts/list":             listRoute,
		"resources/list":           listRoute,
		"resources/templates/list": listRoute,
		"tools/call":               namedRoute(KindTools),
		"prompts/get":              namedRoute(KindPrompts),
		"resources/read":           uriRoute,
		"resources/subscribe":      uriRoute,
		"resources/unsubscribe":    uriRoute,
		"logging/setLevel":         setLevelRoute,
		"completion/complete":      completeRoute,
		"subscriptions/listen":     listenRoute,
		"tasks/get":                taskRoute,
		"tasks/result":             taskRoute,
		"tasks/cancel":             taskRoute,
		"tasks/update":             taskRoute,
		"tasks/list":               tasksListRoute,
	}
}

var listKinds = map[string]string{
	"tools/list": KindTools, "prompts/list": KindPrompts,
	"resources/list": KindResources, "resources/templates/list": KindResources,
}

// routeError is a request the bridge refuses itself.
type routeError struct {
	code int
	msg  string
}

func (e *routeError) Error() string { return e.msg }

// listRoute answers a list from the registry, after waiting (once, at
// start-up) for upstreams that are still connecting. Later arrivals send
// list_changed.
func listRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	if res, ok := s.answerAhead(ctx, m.Method); ok {
		return res, nil // firstlists.go
	}
	s.b.WaitStartup(ctx)
	// Marked before reading, so that a change in between is announced.
	s.markListed(listKinds[m.Method])
	return s.b.listResult(m.Method), nil
}

// namedRoute forwards tools/call or prompts/get to the tool's or prompt's
// server under its original name.
func namedRoute(kind string) routeFunc {
	return func(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
		name, err := rawjson.LookupString(m.Params, "name")
		switch {
		case errors.Is(err, rawjson.ErrAmbiguous):
			return nil, &routeError{codeInvalidParams, m.Method + ": params.name is given more than once"}
		case err != nil || name == "":
			return nil, &routeError{codeInvalidParams, m.Method + ": params.name is missing"}
		}
		if kind == KindTools {
			if res, err, ok := s.searchCall(ctx, name, m.Params); ok {
				return res, err
			}
		}
		return s.callNamed(ctx, kind, m.Method, name, m.Params)
	}
}

// callNamed calls the tool, or gets the prompt, of this exposed name, with
// these params, on its server under its original name: for a direct call
// and for call_tool's alike.
func (s *stdioServer) callNamed(ctx context.Context, kind, method, name string, params json.RawMessage) (json.RawMessage, error) {
	lookup, what := s.b.Registry.Tool, "tool"
	if kind == KindPrompts {
		lookup, what = s.b.Registry.Prompt, "prompt"
	}
	e, ok := lookup(name)
	if !ok && s.b.WaitStartup(ctx) {
		// A start that answered the lists ahead has the kept ones in
		// place only now.
		e, ok = lookup(name)
	}
	if !ok {
		// An agent that calls before listing gets the one wait too,
		// for the servers themselves: a name the kept lists lack may
		// be in the live ones.
		if !s.b.WaitConnected(ctx) {
			return nil, &routeError{codeInvalidParams, fmt.Sprintf("unknown %s %q", what, name)}
		}
		if e, ok = lookup(name); !ok {
			hint := fmt.Sprintf("list the %ss for the names", what)
			if kind == KindTools && s.b.searchSurface() {
				hint = SearchToolFind + " gives the names"
			}
			return nil, &routeError{codeInvalidParams, fmt.Sprintf("unknown %s %q: %s", what, name, hint)}
		}
	}
	if !e.Login {
		var err error
		if e, err = s.afterFirstAttempt(ctx, e, what, lookup); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if e.Login {
		return s.login(ctx, e.Server, progressToken(params))
	}
	if e.Verdict.Withheld() {
		err := &routeError{codeInvalidParams, fmt.Sprintf("tool %q is withheld: %s", name, e.Verdict.Reason)}
		s.audit(ctx, e, start, params, nil, err)
		return nil, err
	}
	sent, err := rawjson.SetString(params, "name", e.Original)
	if err != nil {
		return nil, &routeError{codeInvalidParams, method + ": params is not an object"}
	}
	res, err := s.forwardNamed(ctx, e.Server, method, sent)
	if kind == KindTools {
		s.audit(ctx, e, start, params, res, err)
		if err == nil && createsTask(params, res, s.b.statelessUpstream(e.Server)) {
			res = renameTasks(res, e.Server) // the task created
		}
	}
	return res, err
}

// afterFirstAttempt waits, as forward does, for the server of a tool or
// prompt still connecting — one served from the cache — and looks the
// name up again: the server's live lists, not the kept ones, say whether
// it is there and whether a rule withholds it.
func (s *stdioServer) afterFirstAttempt(ctx context.Context, e Exposed, what string, lookup func(string) (Exposed, bool)) (Exposed, error) {
	u, ok := s.b.Upstream(e.Server)
	if !ok {
		return e, nil
	}
	select {
	case <-u.Ready():
		return e, nil
	default:
	}
	if err := u.awaitFirstAttempt(ctx, s.b.opts.StartupWait); err != nil {
		return e, err
	}
	again, ok := lookup(e.Name)
	if !ok {
		if err := u.Err(); err != nil {
			return e, withServer(e.Server, err)
		}
		return e, &routeError{codeInvalidParams, fmt.Sprintf("unknown %s %q: %s no longer offers it", what, e.Name, e.Server)}
	}
	return again, nil
}

// forwardNamed forwards tools/call or prompts/get: for an agent of the
// stateless era, through an exchange, or as the retry of one.
func (s *stdioServer) forwardNamed(ctx context.Context, serverID, method string, params json.RawMessage) (json.RawMessage, error) {
	can, stateless := statelessAgent(ctx)
	if !stateless {
		return s.forward(ctx, serverID, method, params)
	}
	if res, err, ok := s.resumeExchange(ctx, params); ok {
		return res, err
	}
	return s.forwardExchanging(ctx, can, serverID, method, params)
}

// login runs a server's login for its <prefix>__login tool (runLogin).
func (s *stdioServer) login(ctx context.Context, server string, token json.RawMessage) (json.RawMessage, error) {
	u, ok := s.b.Upstream(server)
	if !ok || s.b.opts.Login == nil {
		return nil, &routeError{codeInternal, server + ": no login here"}
	}
	err := s.runLogin(ctx, u, "Log in to "+server+" so that the bridge can use its tools.", token)
	if errors.Is(err, errLoginRunning) {
		return nil, &routeError{codeInvalidRequest, err.Error()}
	}
	if err != nil {
		return toolText(fmt.Sprintf("Login to %s failed: %v", server, err), true), nil
	}
	u.Wake()
	// Give the server a moment to come up, so the answer can say so.
	deadline := time.Now().Add(s.b.opts.ConnectTimeout)
	for u.Err() != nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err := u.Err(); err != nil {
		return toolText(fmt.Sprintf("Logged in to %s, but it is not connected yet: %v", server, err), true), nil
	}
	return toolText(fmt.Sprintf("Logged in to %s; its tools are now available.", server), false), nil
}

// errLoginRunning refuses a second login to a server while one runs.
var errLoginRunning = errors.New("a login is already in progress: finish it in the browser")

// runLogin runs a server's login, one at a time per server, and returns
// once the token is stored. The URL to visit goes to the agent as progress,
// when it asked for progress, and as a URL-mode elicitation with message
// when it can show one; a user who declines it ends the login.
func (s *stdioServer) runLogin(ctx context.Context, u *Upstream, message string, token json.RawMessage) error {
	server := u.ID()
	if !s.startLogin(server) {
		return fmt.Errorf("%s: %w", server, errLoginRunning)
	}
	defer s.endLogin(server)
	loginCtx, cancelLogin := context.WithCancelCause(ctx)
	defer cancelLogin(nil)
	show := func(url string) bool {
		s.log.Info("login: visit this URL", "server", server, "url", url)
		if token != nil {
			msg, _ := json.Marshal(map[string]any{"progressToken": token, "progress": 0,
				"message": "Log in to " + server + " in the browser: " + url})
			s.writeNotification("notifications/progress", msg)
		}
		if !s.agentCan().elicitURL {
			return false
		}
		// The request ends with the login.
		s.handlers.Go(func() {
			res, err := s.request(loginCtx, "elicitation/create", map[string]any{
				"mode": "url", "url": url, "elicitationId": fmt.Sprintf("login-%s-%d", server, time.Now().UnixNano()),
				"message": message,
			})
			var answer struct {
				Action string `json:"action"`
			}
			if err == nil && json.Unmarshal(res, &answer) == nil && answer.Action != "accept" {
				cancelLogin(fmt.Errorf("the user chose %s", answer.Action))
			}
		})
		return true
	}
	err := s.b.opts.Login(loginCtx, u.server, show)
	if cause := context.Cause(loginCtx); err != nil && cause != nil && ctx.Err() == nil {
		err = cause
	}
	if err != nil {
		return err
	}
	s.b.loginChanged(u)
	return nil
}

// startLogin marks a login to server as running, unless one already is.
func (s *stdioServer) startLogin(server string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loggingIn[server] {
		return false
	}
	s.loggingIn[server] = true
	return true
}

func (s *stdioServer) endLogin(server string) {
	s.mu.Lock()
	delete(s.loggingIn, server)
	s.mu.Unlock()
}

// toolText is a tools/call result with one text block.
func toolText(text string, isError bool) json.RawMessage {
	out, _ := json.Marshal(map[string]any{"content": []map[string]any{{"type": "text", "text": text}}, "isError": isError})
	return out
}

// audit records a tool call in the audit log, if there is one.
func (s *stdioServer) audit(ctx context.Context, e Exposed, start time.Time, params, res json.RawMessage, err error) {
	a := s.b.opts.Audit
	if a == nil {
		return
	}
	entry := AuditEntry{
		Time: start.UTC(), Server: e.Server, Tool: e.Original, Name: e.Name,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000, ResponseBytes: len(res),
	}
	if f := s.b.fit.Load(); f != nil {
		entry.Client, entry.Fit = f.Said, f.Client.Name
	}
	// Params and result are known to be JSON, and can be megabytes: they
	// are walked, not decoded.
	entry.Arguments, _, _ = rawjson.Lookup(params, "arguments")
	isError, _, _ := rawjson.Lookup(res, "isError")
	switch {
	case errors.Is(context.Cause(ctx), errCancelledByAgent):
		entry.Outcome = OutcomeCancelled
	case err != nil:
		entry.Outcome, entry.Error = OutcomeError, err.Error()
	case string(isError) == "true":
		entry.Outcome = OutcomeIsError
	default:
		entry.Outcome = OutcomeOK
	}
	if err := a.Record(entry); err != nil {
		s.log.Error("audit log", "err", err)
	}
}

// uriRoute forwards resources/read, subscribe and unsubscribe to the server
// that owns the URI.
func uriRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	uri, err := rawjson.LookupString(m.Params, "uri")
	switch {
	case errors.Is(err, rawjson.ErrAmbiguous):
		return nil, &routeError{codeInvalidParams, m.Method + ": params.uri is given more than once"}
	case err != nil || uri == "":
		return nil, &routeError{codeInvalidParams, m.Method + ": params.uri is missing"}
	}
	server, ok := s.b.Registry.ResourceServer(uri)
	if !ok {
		s.b.WaitConnected(ctx)
		if server, ok = s.b.Registry.ResourceServer(uri); !ok {
			// A server may serve URIs it does not list; with only one
			// server of resources, there is no doubt whose it is.
			if server, ok = s.b.onlyResourceServer(); !ok {
				return nil, &routeError{codeResourceNotFound, fmt.Sprintf("unknown resource %q: no enabled server offers it", uri)}
			}
		}
	}
	res, err := s.forward(ctx, server, m.Method, m.Params)
	if err == nil && (m.Method == "resources/subscribe" || m.Method == "resources/unsubscribe") {
		s.mu.Lock()
		if m.Method == "resources/subscribe" {
			s.subscribed[uri] = true
		} else {
			delete(s.subscribed, uri)
		}
		s.mu.Unlock()
	}
	return res, err
}

// statelessUpstream reports whether a server's session speaks the
// stateless era.
func (b *Bridge) statelessUpstream(id string) bool {
	u, ok := b.Upstream(id)
	if !ok {
		return false
	}
	sess, err := u.current()
	return err == nil && sess.Era() == client.EraModern
}

// onlyResourceServer is the one connected server that offers resources,
// if there is exactly one.
func (b *Bridge) onlyResourceServer() (string, bool) {
	only := ""
	for _, u := range b.Upstreams() {
		sess, err := u.current()
		if err != nil || !sess.Capabilities().Resources {
			continue
		}
		if only != "" {
			return "", false
		}
		only = u.ID()
	}
	return only, only != ""
}

// forward sends a request to a server and returns its result. The call
// fails after CallTimeout without an answer or progress. Progress is always
// asked for, to extend that timeout; it reaches the agent, under the agent's
// own token, when the agent asked for it.
func (s *stdioServer) forward(ctx context.Context, serverID, method string, params json.RawMessage) (json.RawMessage, error) {
	u, ok := s.b.Upstream(serverID)
	if !ok {
		return nil, &routeError{codeInternal, fmt.Sprintf("%s: not a server of this bridge", serverID)}
	}
	// A server still connecting (its lists served from the cache) is
	// waited for, as the first list waits.
	if err := u.awaitFirstAttempt(ctx, s.b.opts.StartupWait); err != nil {
		return nil, err
	}
	res, err := s.callUpstream(ctx, u, method, params)
	if err != nil {
		// A refusal for want of scope may become a step-up (stepup.go).
		res, err = s.stepUp(ctx, u, err, progressToken(params), func() (json.RawMessage, error) {
			return s.callUpstream(ctx, u, method, params)
		})
	}
	if err != nil {
		var rpc *client.RPCError
		if errors.As(err, &rpc) {
			return nil, err
		}
		return nil, withServer(serverID, err)
	}
	return res, nil
}

// withServer puts the server's ID before an error that does not already
// begin with it, as the login's errors do: "wide: wide: …" says nothing
// more.
func withServer(serverID string, err error) error {
	if strings.HasPrefix(err.Error(), serverID+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", serverID, err)
}

// callUpstream sends one request to a server, cancelled after CallTimeout
// without an answer or progress.
func (s *stdioServer) callUpstream(ctx context.Context, u *Upstream, method string, params json.RawMessage) (json.RawMessage, error) {
	agentToken := progressToken(params)
	timeout := s.b.opts.CallTimeout
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(timeout, func() {
		cancel(fmt.Errorf("no answer or progress within %s; the call was cancelled", timeout))
	})
	defer timer.Stop()
	onProgress := func(p json.RawMessage) {
		timer.Reset(timeout)
		if agentToken == nil {
			return
		}
		if p, err := rawjson.SetMember(p, "progressToken", agentToken); err == nil {
			s.writeNotification("notifications/progress", p)
		}
	}
	return u.Call(ctx, method, params, onProgress)
}

// progressToken is params._meta.progressToken as raw JSON, or nil.
func progressToken(params json.RawMessage) json.RawMessage {
	meta, ok, err := rawjson.Lookup(params, "_meta")
	if err != nil || !ok || len(meta) == 0 || meta[0] != '{' {
		return nil
	}
	token, ok, err := rawjson.Lookup(meta, "progressToken")
	if err != nil || !ok || string(token) == "null" {
		return nil
	}
	return token
}
