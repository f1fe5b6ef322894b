package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file carries requests between servers and the agent: what the
// agent declared it can do, a server's sampling, elicitation and roots
// requests passed on to the agent under the bridge's own ids, and the
// bridge's own requests to the agent.

// agentCaps is what the agent declared in initialize.
type agentCaps struct {
	roots, sampling       bool
	elicitForm, elicitURL bool
	tasks                 bool
	// stateless: they came with a request of the stateless era, whose
	// agent takes no requests: a server's can only reach it as multi
	// round-trip requests.
	stateless bool
}

// upstreamCapabilities are the client capabilities the bridge declares to
// every upstream: the agent's own, of those the bridge carries (roots,
// sampling, elicitation), as the agent wrote them.
var upstreamCapabilities = []string{"roots", "sampling", "elicitation"}

// noteClient records what the agent can do, from the capabilities of its
// initialize or, in the stateless era, of its latest request, and returns
// the capabilities to declare upstream.
func (s *stdioServer) noteClient(caps json.RawMessage, stateless bool) (json.RawMessage, agentCaps) {
	c := agentCaps{stateless: stateless}
	ms, err := rawjson.Members(caps)
	if err != nil {
		s.agent.Store(&c)
		return nil, c
	}
	out := []byte("{")
	for _, m := range ms {
		if m.Is("tasks") && string(caps[m.Start:m.End]) != "null" {
			c.tasks = true
		}
		for _, name := range upstreamCapabilities {
			if !m.Is(name) {
				continue
			}
			v := caps[m.Start:m.End]
			if string(v) == "null" {
				continue
			}
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(append(append(out, m.Key...), ':'), v...)
			switch name {
			case "roots":
				c.roots = true
			case "sampling":
				c.sampling = true
			case "elicitation":
				// An empty object is form mode alone (2025-06-18); the
				// modes are named since 2025-11-25.
				form, hasForm, _ := rawjson.Lookup(v, "form")
				urlMode, hasURL, _ := rawjson.Lookup(v, "url")
				c.elicitForm = hasForm && string(form) != "null" || !hasForm && !hasURL
				c.elicitURL = hasURL && string(urlMode) != "null"
			}
		}
	}
	s.agent.Store(&c)
	return append(out, '}'), c
}

// agentCan is what the agent declared, nothing before initialize.
func (s *stdioServer) agentCan() agentCaps {
	if c := s.agent.Load(); c != nil {
		return *c
	}
	return agentCaps{}
}

// serverRequest passes a request from a server on to the agent, if the
// agent declared it can take it, and returns the agent's answer. A person
// may be answering: the wait is bounded by the call timeout. During a call
// of an agent of the stateless era, the request travels as that call's
// input request (exchange.go).
func (s *stdioServer) serverRequest(ctx context.Context, server, method string, params json.RawMessage) (json.RawMessage, error) {
	if ex := exchangeOf(ctx); ex != nil {
		return askThroughExchange(ctx, ex, method, params)
	}
	can := s.agentCan()
	if can.stateless {
		return nil, &client.RPCError{Code: codeMethodNotFound, Message: fmt.Sprintf(
			"%s: the agent speaks %s, and takes a server's requests only during its own calls", method, client.ModernProtocolVersion)}
	}
	if err := allowedRequest(can, method, params); err != nil {
		if e := (*client.RPCError)(nil); errors.As(err, &e) && e.Code == codeInvalidParams {
			s.log.Warn("an elicitation URL from a server was refused", "server", server, "err", err)
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.b.opts.CallTimeout)
	defer cancel()
	return s.request(ctx, method, params)
}

// allowedRequest checks a server's request against what the agent
// declared: refused with -32601 for a capability it lacks, and a URL-mode
// elicitation whose URL is not safe with -32602.
func allowedRequest(can agentCaps, method string, params json.RawMessage) error {
	refuse := func(what string) error {
		return &client.RPCError{Code: codeMethodNotFound, Message: fmt.Sprintf("%s: the agent does not support %s", method, what)}
	}
	switch method {
	case "roots/list":
		if !can.roots {
			return refuse("roots")
		}
	case "sampling/createMessage":
		if !can.sampling {
			return refuse("sampling")
		}
	case "elicitation/create":
		mode, _ := rawjson.LookupString(params, "mode")
		switch {
		case mode == "url" && !can.elicitURL:
			return refuse("elicitation in URL mode")
		case mode == "url":
			link, _ := rawjson.LookupString(params, "url")
			if err := catalog.CheckURL(link); err != nil {
				return &client.RPCError{Code: codeInvalidParams, Message: "elicitation/create: " + err.Error()}
			}
		case mode != "url" && !can.elicitForm:
			return refuse("elicitation in form mode")
		}
	default:
		return &client.RPCError{Code: codeMethodNotFound, Message: "method not found: " + method}
	}
	return nil
}

// request sends a request to the agent and waits for its answer. When
// ctx ends first, the agent is told the request is cancelled.
func (s *stdioServer) request(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := fmt.Sprintf(`"bridge-%d"`, s.nextReq.Add(1))
	ch := make(chan message, 1)
	s.pendingReqs.Store(id, ch)
	defer s.pendingReqs.Delete(id)
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	m, _ := json.Marshal(method)
	s.write([]byte(`{"jsonrpc":"2.0","id":` + id + `,"method":` + string(m) + `,"params":` + string(p) + `}`))
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, m.Error
		}
		return m.Result, nil
	case <-ctx.Done():
		cancelled, _ := json.Marshal(map[string]any{"requestId": json.RawMessage(id), "reason": context.Cause(ctx).Error()})
		s.writeNotification("notifications/cancelled", cancelled)
		return nil, ctx.Err()
	}
}

// answered delivers the agent's response to a request of the bridge's.
// The first answer to a request takes it; a second, or one to no request,
// is dropped, so that the read loop never waits.
func (s *stdioServer) answered(m message) {
	if ch, ok := s.pendingReqs.LoadAndDelete(string(m.ID)); ok {
		ch.(chan message) <- m
	}
}

// notifyUpstreams passes a notification from the agent on to every
// connected upstream (notifications/roots/list_changed), in the
// background.
func (b *Bridge) notifyUpstreams(ctx context.Context, method string, params json.RawMessage) {
	for _, u := range b.Upstreams() {
		sess, err := u.current()
		if err != nil {
			continue
		}
		b.tasks.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := sess.Notify(ctx, method, params); err != nil {
				u.log.Debug("notification not delivered", "method", method, "err", err)
			}
		})
	}
}
