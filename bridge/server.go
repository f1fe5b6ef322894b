package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// JSON-RPC error codes the bridge answers with.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeInvalidParams  = -32602
	codeInternal       = -32603
	// codeResourceNotFound is MCP's code for an unknown resource URI.
	codeResourceNotFound = -32002
)

// coalesceDelay gathers list changes that come close together into one
// list_changed notification per kind.
const coalesceDelay = 50 * time.Millisecond

// errCancelledByAgent is the cause of a call the agent cancelled: it gets
// no response.
var errCancelledByAgent = errors.New("cancelled by the agent")

// Serve speaks MCP with the agent over in and out until in ends or ctx is
// done, then closes every upstream. out carries protocol messages only.
func Serve(ctx context.Context, b *Bridge, in io.Reader, out io.Writer) error {
	s := newStdioServer(b, out)
	b.OnChange(s.listsChanged, s.notify)
	b.onRequest = s.serverRequest
	b.onKept = s.keptInPlace
	// The upstreams start with the agent's first message (see handle).
	err := s.readLoop(ctx, in)
	s.log.Debug("shutting down", "err", err)
	s.shutdown()
	s.log.Debug("shut down")
	return err
}

// stdioServer is the agent's side of the bridge: one writer for responses
// and notifications alike, so that a call's progress is always written
// before its result.
type stdioServer struct {
	b   *Bridge
	log *slog.Logger

	wmu sync.Mutex
	w   *bufio.Writer
	// queued counts the messages waiting for wmu: the last of a burst
	// sends them all to stdout in one write (see lockWriter).
	queued atomic.Int32

	ctx    context.Context
	cancel context.CancelFunc
	// outLost is closed when writing to the agent fails (it closed its
	// end): the bridge then shuts down as it does at the end of stdin.
	outLost     chan struct{}
	outLostOnce sync.Once
	inflight    sync.Map       // request id (raw JSON text) → context.CancelCauseFunc
	handlers    sync.WaitGroup // every goroutine the server starts
	// work hands a forwarded request to a handler that is idle, and
	// workers are the handler goroutines, busy or idle (see goHandle).
	work    chan func()
	workers sync.WaitGroup

	ready atomic.Bool // the agent sent notifications/initialized

	// agent is what the agent said it can do in initialize.
	agent       atomic.Pointer[agentCaps]
	startOnce   sync.Once    // the upstreams start with the agent's first message
	nextReq     atomic.Int64 // ids of the bridge's requests to the agent
	pendingReqs sync.Map     // request id (raw JSON text) → chan message

	// mu guards the list changes to announce, the logins running and the
	// exchanges waiting for the agent.
	mu        sync.Mutex
	exchanges map[string]*parked // requestState → exchange
	// subscribed are the resources the agent subscribed to with
	// resources/subscribe: updates of others are dropped.
	subscribed map[string]bool
	loggingIn  map[string]bool // server ID → a login runs: one at a time
	listed     map[string]bool // kinds the agent has listed: only their changes matter
	pending    map[string]bool
	// subscriptions are the agent's open subscriptions/listen requests,
	// and pendingModern the kinds changed that one of them wants.
	subscriptions []*subscription
	pendingModern map[string]bool
	timer         *time.Timer

	search indexCache // tool search's index (search.go)
	// ahead are the answers to the agent's first lists found at start
	// (firstlists.go), nil when none were looked for.
	ahead atomic.Pointer[aheadAnswers]
}

func newStdioServer(b *Bridge, out io.Writer) *stdioServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stdioServer{
		b: b, log: b.log, w: bufio.NewWriterSize(out, 64<<10), ctx: ctx, cancel: cancel, outLost: make(chan struct{}),
		pending: map[string]bool{}, listed: map[string]bool{}, loggingIn: map[string]bool{}, pendingModern: map[string]bool{},
		exchanges: map[string]*parked{}, subscribed: map[string]bool{}, work: make(chan func()),
	}
	return s
}

// message is an incoming JSON-RPC message: a request, a notification, or a
// response to a request of the bridge's.
type message struct {
	ID     json.RawMessage  `json:"id"`
	Method string           `json:"method"`
	Params json.RawMessage  `json:"params"`
	Result json.RawMessage  `json:"result"`
	Error  *client.RPCError `json:"error"`
}

// parseMessage reads a message without copying its params or result.
func parseMessage(line []byte) (message, error) {
	var m message
	var buf [8]rawjson.Member
	var ms []rawjson.Member
	var err error
	if rawjson.Valid(line) {
		ms, err = rawjson.AppendMembers(buf[:0], line)
	}
	if len(ms) == 0 || err != nil {
		// Not an object: encoding/json says what is wrong, or takes it
		// for an empty message as it always has.
		err := json.Unmarshal(line, &m)
		return m, err
	}
	for _, f := range ms {
		raw := json.RawMessage(line[f.Start:f.End])
		switch {
		case f.Matches("id"):
			m.ID = raw
		case f.Matches("method"):
			m.Method = ""
			if string(raw) != "null" {
				if err := json.Unmarshal(raw, &m.Method); err != nil {
					return m, fmt.Errorf("method is not a string")
				}
			}
		case f.Matches("params"):
			m.Params = raw
		case f.Matches("result"):
			m.Result = raw
		case f.Matches("error"):
			m.Error = nil
			if err := json.Unmarshal(raw, &m.Error); err != nil {
				return m, fmt.Errorf("error: %w", err)
			}
		}
	}
	return m, nil
}

// readLoop reads messages until in ends or ctx is done. Each is handled on
// the goroutine that read it: a hand-over to another would cost a thread
// wake-up per message.
func (s *stdioServer) readLoop(ctx context.Context, in io.Reader) error {
	var (
		mu      sync.Mutex // held while a message is handled
		stopped bool       // no more handling: shutting down
	)
	errc := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := readLine(r, int(s.b.opts.MaxMessageSize))
			if errors.Is(err, errTooLarge) {
				s.writeError(json.RawMessage("null"), codeInvalidRequest, fmt.Sprintf("message larger than %d bytes", s.b.opts.MaxMessageSize), nil)
				continue
			}
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			if !stopped {
				s.handle(line)
			}
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
	}()
	select {
	case err := <-errc:
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("reading from the agent: %w", err)
	case <-ctx.Done():
	case <-s.outLost:
		s.log.Info("the agent closed its end of stdout; shutting down")
	}
	// The reader is waited for when it can be woken: stdin through the
	// runtime's poller takes a deadline.
	if d, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Now()) == nil {
		<-errc
	}
	return nil
}

var errTooLarge = errors.New("message too large")

// readLine reads one newline-terminated message of at most limit bytes; a
// longer one is skipped whole and reported as errTooLarge.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > limit {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return nil, err
			}
			return nil, errTooLarge
		}
		buf = append(buf, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && len(bytes.TrimSpace(buf)) > 0 && errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return nil, err
		}
		return buf, nil
	}
}

// handle dispatches one message. Requests the bridge forwards run in their
// own goroutines, so that a slow server never holds up another.
func (s *stdioServer) handle(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	m, err := parseMessage(line)
	if err != nil {
		s.writeError(json.RawMessage("null"), codeParseError, "parse error: "+err.Error(), nil)
		return
	}
	isRequest := len(m.ID) > 0 && string(m.ID) != "null"
	if m.Method == "" {
		s.answered(m)
		return
	}
	version, metaCaps := requestMeta(m.Params)
	stateless, refusal := modernRequest(version, metaCaps)
	if refusal != nil && isRequest {
		s.writeError(m.ID, refusal.Code, refusal.Message, refusal.Data)
		return
	}
	var caps json.RawMessage
	var can agentCaps
	switch {
	case m.Method == "initialize":
		caps, _, _ = rawjson.Lookup(m.Params, "capabilities")
		caps, _ = s.noteClient(caps, false)
	case stateless:
		caps, can = s.noteClient(metaCaps, true)
	}
	// The first message that names the agent's client fixes the names and
	// the tool surface (clients.go), before any list is merged or shown.
	if name := clientInfoName(m.Method, m.Params, stateless); name != "" {
		s.b.FitClient(name)
	}
	// Upstreams are told what the agent can do, so they wait for its
	// first message, which says: initialize, or a request of the
	// stateless era with its capabilities.
	s.startOnce.Do(func() {
		s.b.clientCaps, s.b.preferModern = caps, stateless
		s.b.Registry.agentTasks = s.agentCan().tasks
		s.lookAhead(m)
		s.b.Start()
	})
	if m.Method == "server/discover" && isRequest {
		s.writeResult(m.ID, s.discoverResult())
		return
	}
	switch m.Method {
	case "notifications/roots/list_changed":
		s.b.notifyUpstreams(s.ctx, m.Method, m.Params)
		return
	case "notifications/initialized":
		s.ready.Store(true)
		s.flushChanges()
		return
	case "notifications/cancelled":
		s.cancelled(m.Params)
		return
	}
	route, forwarded := routes[m.Method]
	if !forwarded || !isRequest {
		s.answerOwn(m)
		return
	}
	// An agent that never names itself is one the bridge does not know,
	// from the first request whose answer shows names.
	s.b.FitClient("")
	ctx, cancel := context.WithCancelCause(s.ctx)
	if stateless {
		// The agent answers a stateless server's input requests itself,
		// and others' through exchanges (exchange.go).
		ctx = context.WithValue(client.PassInputRequired(ctx), statelessKey{}, can)
	}
	key := string(m.ID)
	s.inflight.Store(key, cancel)
	s.goHandle(func() {
		defer s.inflight.Delete(key)
		defer cancel(nil)
		if _, list := listKinds[m.Method]; !list {
			s.b.Asked()
		}
		result, err := route(ctx, s, m)
		switch {
		case errors.Is(context.Cause(ctx), errCancelledByAgent):
			// The agent cancelled: no response, as the protocol says.
		case err != nil:
			s.writeCallError(m.ID, err)
		default:
			s.writeResult(m.ID, result)
		}
		if _, list := listKinds[m.Method]; list {
			s.b.askedSoon()
		} else {
			s.b.Asked()
		}
	})
}

// goHandle runs f, a forwarded request, on a handler goroutine: one that
// is idle if there is one, else a new one, which then stays for more
// until it has been idle for handlerIdle. A new goroutine for every
// request grew a new stack for each (runtime.newstack, 4% of the bridge's
// CPU with 16 calls in flight); a handler that stays keeps its stack.
// The request counts among s.handlers while it runs, as a goroutine of
// its own would.
func (s *stdioServer) goHandle(f func()) {
	s.handlers.Add(1)
	job := func() {
		defer s.handlers.Done()
		f()
	}
	select {
	case s.work <- job:
	default:
		s.workers.Go(func() {
			job()
			s.handleMore()
		})
	}
}

// handlerIdle is how long a handler waits for more work before it ends.
const handlerIdle = 5 * time.Second

// handleMore runs the requests handed to an idle handler until none has
// come for handlerIdle, or the server shuts down.
func (s *stdioServer) handleMore() {
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		select {
		case f := <-s.work:
			f()
			idle.Reset(handlerIdle)
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// cancelled handles notifications/cancelled from the agent.
func (s *stdioServer) cancelled(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.RequestID) == 0 {
		return
	}
	if c, ok := s.inflight.Load(string(p.RequestID)); ok {
		c.(context.CancelCauseFunc)(errCancelledByAgent)
	}
}

// shutdown cancels what is in flight and closes every upstream's session,
// giving up after a second so that the agent is never kept waiting.
func (s *stdioServer) shutdown() {
	s.inflight.Range(func(_, c any) bool {
		c.(context.CancelCauseFunc)(ErrClosed)
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	s.b.Close(ctx)
	s.cancel()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); s.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.wmu.Lock()
	_ = s.w.Flush()
	s.wmu.Unlock()
	if err := s.b.opts.Audit.Close(); err != nil {
		s.log.Error("audit log", "err", err)
	}
}
