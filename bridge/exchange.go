package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// An agent of the stateless era takes no requests; a server of the
// handshake era sends them mid-call (elicitation, sampling, roots). The
// bridge joins the two with an exchange: the server's request ends the
// agent's call with an input_required result naming it, while the server's
// call goes on; the agent's retry, which carries the answer and the
// bridge's requestState, hands the answer to the server and waits for the
// call again, which may ask once more.

// exchangeState starts the requestState of the bridge's own exchanges.
const exchangeState = "bridge-exchange-"

// exchange is one call of an agent of the stateless era, running on.
type exchange struct {
	can       agentCaps     // what the agent's request declared
	questions chan question // the server's requests, one at a time
	done      chan callEnd  // the call's end
	cancel    context.CancelCauseFunc
}

// question is a request from the server waiting for the agent's answer.
type question struct {
	method string
	params json.RawMessage
	answer chan callEnd
}

// callEnd is a result or an error.
type callEnd struct {
	result json.RawMessage
	err    error
}

// parked is an exchange waiting for the agent's retry.
type parked struct {
	ex    *exchange
	q     question
	timer *time.Timer
}

type exchangeKey struct{}

// statelessKey marks the context of a request of the stateless era, with
// the capabilities it declared.
type statelessKey struct{}

func statelessAgent(ctx context.Context) (agentCaps, bool) {
	can, ok := ctx.Value(statelessKey{}).(agentCaps)
	return can, ok
}

// forwardExchanging forwards a request of an agent of the stateless era:
// the call runs on the server's lifetime, not the request's, so that it
// outlives the input_required answer its server's request turns into.
func (s *stdioServer) forwardExchanging(ctx context.Context, can agentCaps, serverID, method string, params json.RawMessage) (json.RawMessage, error) {
	ex := &exchange{can: can, questions: make(chan question), done: make(chan callEnd, 1)}
	callCtx, cancel := context.WithCancelCause(s.ctx)
	ex.cancel = cancel
	callCtx = context.WithValue(client.PassInputRequired(callCtx), exchangeKey{}, ex)
	s.handlers.Go(func() {
		defer cancel(nil)
		res, err := s.forward(callCtx, serverID, method, params)
		ex.done <- callEnd{res, err}
	})
	return s.await(ctx, ex)
}

// await waits for the exchange's call to end, or its server to ask: then
// the agent is answered input_required, and the exchange parked until its
// retry.
func (s *stdioServer) await(ctx context.Context, ex *exchange) (json.RawMessage, error) {
	select {
	case end := <-ex.done:
		return end.result, end.err
	case q := <-ex.questions:
		return s.park(ex, q), nil
	case <-ctx.Done():
		ex.cancel(context.Cause(ctx))
		return nil, context.Cause(ctx)
	}
}

// park keeps an exchange for the agent's retry, for at most the call
// timeout, and returns the input_required result that asks the agent.
func (s *stdioServer) park(ex *exchange, q question) json.RawMessage {
	token := fmt.Sprintf("%s%d", exchangeState, s.nextReq.Add(1))
	timeout := s.b.opts.CallTimeout
	p := &parked{ex: ex, q: q}
	p.timer = time.AfterFunc(timeout, func() {
		if _, ok := s.unpark(token); ok {
			err := fmt.Errorf("the agent did not answer %s within %s", q.method, timeout)
			q.answer <- callEnd{err: err}
			ex.cancel(err)
		}
	})
	s.mu.Lock()
	s.exchanges[token] = p
	s.mu.Unlock()
	request, _ := json.Marshal(map[string]any{"method": q.method, "params": q.params})
	out, _ := json.Marshal(map[string]any{
		"resultType":    "input_required",
		"inputRequests": map[string]json.RawMessage{"request": request},
		"requestState":  token,
	})
	return out
}

func (s *stdioServer) unpark(token string) (*parked, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.exchanges[token]
	delete(s.exchanges, token)
	return p, ok
}

// resumeExchange takes the agent's retry of a parked exchange: the answer
// goes to the server's request, and the call is waited for again. ok is
// false for a retry of anything else.
func (s *stdioServer) resumeExchange(ctx context.Context, params json.RawMessage) (res json.RawMessage, err error, ok bool) {
	state, _ := rawjson.LookupString(params, "requestState")
	if len(state) <= len(exchangeState) || state[:len(exchangeState)] != exchangeState {
		return nil, nil, false
	}
	p, found := s.unpark(state)
	if !found {
		return nil, &routeError{codeInvalidParams, "requestState names no exchange of this bridge: it ended, or was answered already"}, true
	}
	p.timer.Stop()
	responses, _, _ := rawjson.Lookup(params, "inputResponses")
	answer, given, _ := rawjson.Lookup(responses, "request")
	if !given {
		p.q.answer <- callEnd{err: &client.RPCError{Code: codeInvalidParams, Message: "the agent gave no answer"}}
	} else {
		p.q.answer <- callEnd{result: answer}
	}
	res, err = s.await(ctx, p.ex)
	return res, err, true
}

// askThroughExchange is a server's request during an exchange's call: it
// becomes the agent's input request, if the agent's request declared the
// capability, and waits for the answer its retry brings.
func askThroughExchange(ctx context.Context, ex *exchange, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := allowedRequest(ex.can, method, params); err != nil {
		return nil, err
	}
	q := question{method: method, params: params, answer: make(chan callEnd, 1)}
	select {
	case ex.questions <- q:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case a := <-q.answer:
		return a.result, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func exchangeOf(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}
