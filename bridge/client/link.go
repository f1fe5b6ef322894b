package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// A wire carries one session's messages to and from its server:
// streamable HTTP (streamable.go) or, for older servers, HTTP with SSE
// (legacysse.go). The bridge speaks both itself. A request's params go out
// as the agent wrote them and its result comes back as a slice of what the
// server sent, checked once; a general-purpose client re-encodes the one
// and decodes and copies the other, which cost the bridge tens of
// milliseconds on a megabyte result, several times a large result's size
// in memory, and a quarter of its start-up in package initialization.
type wire interface {
	// open starts the connection; an SSE stream lives on until the
	// connection's context ends.
	open(ctx context.Context) error
	// call sends a request and returns its result, or an *RPCError.
	call(ctx context.Context, id int64, method string, params json.RawMessage) (json.RawMessage, error)
	// notify sends a notification.
	notify(ctx context.Context, method string, params json.RawMessage) error
	// initialized is told that the handshake is done, at the protocol
	// version agreed.
	initialized(version string)
	// modernize switches to the stateless era at version, or back to the
	// handshake with "": per-request headers, no session, no resumption,
	// subscriptions/listen in place of the GET stream.
	modernize(version string)
	// close ends the session.
	close()
}

const acceptBoth = "application/json, text/event-stream"

// The values of the headers every POST has, made once: net/http reads a
// request's header values and never changes them in place.
var (
	contentTypeJSON = []string{"application/json"}
	acceptBothValue = []string{acceptBoth}
)

// Errors of a wire.
var (
	// errSessionExpired: the server answered 404 to a request of a
	// session it no longer knows.
	errSessionExpired = errors.New("the server no longer knows the session (404)")
	errOtherID        = errors.New("the answer is to request")
	// errStreamBroken: an answer's stream of the stateless era ended
	// without the answer, which is then lost.
	errStreamBroken = errors.New("the server ended the answer's stream without answering")
)

// unauthorizedError is a 401: the Authorization the request carried, and
// the server's WWW-Authenticate challenge.
type unauthorizedError struct {
	sent      string
	challenge []string
}

// unauthorized reads a 401 answer and closes its body.
func unauthorized(resp *http.Response) *unauthorizedError {
	resp.Body.Close()
	e := &unauthorizedError{challenge: resp.Header.Values("WWW-Authenticate")}
	if resp.Request != nil {
		e.sent = resp.Request.Header.Get("Authorization")
	}
	return e
}

func (*unauthorizedError) Error() string { return "the server answered 401 Unauthorized" }

// link is what every HTTP request to a server is sent with, and where its
// notifications go.
type link struct {
	client  *http.Client
	headers func(context.Context) map[string]string // configured and Authorization
	log     *slog.Logger
	notify  func(method string, params json.RawMessage)
	// answer takes a request from the server, and how to send the reply.
	// call is the context of the call whose stream it came on, or the
	// session's for a stream of no call.
	answer  func(call context.Context, m serverMessage, reply func(ctx context.Context, body []byte) error)
	life    context.Context // the connection's: streams live on it
	limit   int64           // the most bytes one message may have
	session atomic.Value    // string: streamable HTTP's Mcp-Session-Id
	version atomic.Value    // string: the protocol version agreed
}

// asking is what a request asks for beyond the session's headers.
type asking struct {
	accept      string
	lastEventID string // an event stream to go on after this event
	newSession  bool   // initialize: no session header
	// headers are the request's own: the modern era's Mcp-Method and
	// Mcp-Name.
	headers map[string]string
}

// request sends one HTTP request with the session's headers.
func (l *link) request(ctx context.Context, method, url string, body []byte, a asking) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if s, _ := l.session.Load().(string); s != "" && !a.newSession {
		req.Header.Set("Mcp-Session-Id", s)
	}
	if v, _ := l.version.Load().(string); v != "" {
		req.Header.Set("Mcp-Protocol-Version", v)
	}
	for k, v := range l.headers(ctx) {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header["Content-Type"] = contentTypeJSON
	}
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	if a.accept == acceptBoth {
		req.Header["Accept"] = acceptBothValue
	} else {
		req.Header.Set("Accept", a.accept)
	}
	if a.lastEventID != "" {
		req.Header.Set("Last-Event-ID", a.lastEventID)
	}
	return l.client.Do(req)
}

// post sends one JSON-RPC message and checks the status: a 401 is an
// error of its own; another failure says what the server answered.
func (l *link) post(ctx context.Context, url string, body []byte, newSession bool) (*http.Response, error) {
	return l.postAsking(ctx, url, body, asking{accept: acceptBoth, newSession: newSession})
}

// postAsking is post with a request's own asks.
func (l *link) postAsking(ctx context.Context, url string, body []byte, a asking) (*http.Response, error) {
	resp, err := l.request(ctx, http.MethodPost, url, body, a)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
		return resp, nil
	case http.StatusUnauthorized:
		return nil, unauthorized(resp)
	}
	return resp, &statusError{resp: resp}
}

// statusError is an answer with another status; its body may hold a
// JSON-RPC error.
type statusError struct{ resp *http.Response }

func (e *statusError) Error() string { return "the server answered " + e.resp.Status }

// failure reads what a failed answer says, and closes it.
func (e *statusError) failure(id string) error {
	defer e.resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(e.resp.Body, 64<<10))
	if id != "" {
		if _, err := answerFor(data, id); isRPCError(err) {
			return err
		}
	}
	if text := bytes.TrimSpace(data); len(text) > 0 {
		return fmt.Errorf("the server answered %s: %.200s", e.resp.Status, text)
	}
	return e
}

// drain reads and closes a body the bridge has no use for, so that its
// connection can be used again.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// requestBody is a JSON-RPC request as sent, params as they are; with id
// 0 (never a request's: ids start at 1) it is a notification.
func requestBody(id int64, method string, params json.RawMessage) []byte {
	var b bytes.Buffer
	b.Grow(len(params) + len(method) + 64)
	b.WriteString(`{"jsonrpc":"2.0"`)
	if id != 0 {
		b.WriteString(`,"id":`)
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteString(`,"method":`)
	var m [64]byte
	b.Write(rawjson.AppendString(m[:0], method))
	if len(params) > 0 {
		b.WriteString(`,"params":`)
		b.Write(params)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// serverMessage is one message from a server: a response (no method), a
// notification (no id) or a request.
type serverMessage struct {
	method     string
	id, params json.RawMessage
	// result and error are a response's.
	result, rpcError json.RawMessage
}

func (m serverMessage) isResponse() bool     { return m.method == "" }
func (m serverMessage) isNotification() bool { return len(m.id) == 0 || string(m.id) == "null" }

// parseServerMessage checks that data is JSON, once for the whole
// message, and reads its members.
func parseServerMessage(data []byte) (serverMessage, error) {
	if !rawjson.Valid(data) {
		return serverMessage{}, errors.New("the server sent a message that is not valid JSON")
	}
	m, err := readServerMessage(data)
	if err != nil {
		return m, errors.New("the server sent a message that is not a JSON-RPC object")
	}
	return m, nil
}

// readServerMessage reads the members of a message known to be JSON.
func readServerMessage(data []byte) (serverMessage, error) {
	var m serverMessage
	var buf [8]rawjson.Member
	ms, err := rawjson.AppendMembers(buf[:0], data)
	if err != nil {
		return m, err
	}
	for _, f := range ms {
		v := json.RawMessage(data[f.Start:f.End])
		switch {
		case f.Matches("method"):
			_ = json.Unmarshal(v, &m.method)
		case f.Matches("id"):
			m.id = v
		case f.Matches("params"):
			m.params = v
		case f.Matches("result"):
			m.result = v
		case f.Matches("error"):
			m.rpcError = v
		}
	}
	return m, nil
}

// handle deals with a notification or a request from the server: a
// notification goes to the session, a request to the session's answer,
// whose reply is posted to url. call is the context of the call on whose
// stream it came (l.life for the other streams).
func (l *link) handle(call context.Context, m serverMessage, url string) {
	if m.isNotification() {
		l.notify(m.method, m.params)
		return
	}
	l.answer(call, m, func(ctx context.Context, body []byte) error {
		resp, err := l.post(ctx, url, body, false)
		if se := (*statusError)(nil); errors.As(err, &se) {
			drain(se.resp)
			return err
		}
		if err != nil {
			return err
		}
		drain(resp)
		return nil
	})
}

// responseBody is the JSON-RPC response to request id: its result, or
// err as an error (an *RPCError keeps its code; any other is internal).
func responseBody(id, result json.RawMessage, err error) []byte {
	if err == nil {
		if len(result) == 0 {
			result = json.RawMessage("{}")
		}
		return []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":` + string(result) + `}`)
	}
	rpc := &RPCError{Code: -32603, Message: err.Error()}
	errors.As(err, &rpc)
	e, _ := json.Marshal(rpc)
	return []byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"error":` + string(e) + `}`)
}

// answerFor reads a JSON-RPC response to request id from data: its result,
// or its error as an *RPCError.
func answerFor(data []byte, id string) (json.RawMessage, error) {
	if !rawjson.Valid(data) {
		return nil, errors.New("the answer is not valid JSON")
	}
	m, err := readServerMessage(data)
	if err != nil {
		return nil, fmt.Errorf("the answer is not a JSON-RPC response: %w", err)
	}
	return m.answer(id)
}

// answer is the response's result if it answers request id, or its error
// as an *RPCError.
func (m serverMessage) answer(id string) (json.RawMessage, error) {
	if !sameID(m.id, id) {
		return nil, fmt.Errorf("%w %s, not %s", errOtherID, m.id, id)
	}
	if len(m.rpcError) > 0 && string(m.rpcError) != "null" {
		e := &RPCError{}
		if err := json.Unmarshal(m.rpcError, e); err != nil {
			return nil, fmt.Errorf("the answer's error is malformed: %w", err)
		}
		return nil, e
	}
	if len(m.result) == 0 {
		return nil, errors.New("the answer has neither result nor error")
	}
	return m.result, nil
}

// sameID compares a response's id with a request's numeric id; a server
// may give it back as a number in another form or as a string.
func sameID(raw json.RawMessage, id string) bool {
	if string(raw) == id {
		return true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		f, err := n.Float64()
		want, _ := strconv.ParseFloat(id, 64)
		return err == nil && f == want
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == id
}

// idKey is a response's id as the text of the request's numeric id.
func idKey(raw json.RawMessage) string {
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if f, err := n.Float64(); err == nil && f == float64(int64(f)) {
			return strconv.FormatInt(int64(f), 10)
		}
		return n.String()
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func isRPCError(err error) bool {
	var rpc *RPCError
	return errors.As(err, &rpc)
}

// readBody reads a whole body, of at most limit bytes. A body that says
// it is larger is refused before anything is allocated, and one that runs
// on past the limit is cut and refused. A body that says its size
// (Content-Length) is read into one buffer of that size: at once up to
// trustedLength, and past it once its first trustedLength bytes have come
// (held meanwhile in pieces, scratch.go), so that a server claiming
// megabytes it never sends costs little, and a large body costs its size
// and one copy of a MiB. A body of unknown size is read in pieces joined
// once at the end (readUnsized): a buffer that doubles as it fills would
// briefly hold three times the body (old, new, and the garbage before).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	n := resp.ContentLength
	switch {
	case n > limit:
		return nil, fmt.Errorf("%w: the answer says it has %d bytes, more than %d", ErrTooLarge, n, limit)
	case n < 0:
		return readUnsized(resp.Body, limit)
	case n <= trustedLength:
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	// The first trustedLength bytes go to pieces, which a body that
	// stops short gives back; then the rest, into one buffer of the size
	// said.
	var head pieces
	defer head.free()
	for head.size < trustedLength {
		m, err := io.ReadFull(resp.Body, head.room())
		head.wrote(m)
		if err != nil {
			return nil, shortBody(err, head.size, n)
		}
	}
	buf := make([]byte, n)
	read := head.moveTo(buf)
	m, err := io.ReadFull(resp.Body, buf[read:])
	if err != nil {
		return nil, shortBody(err, int64(read+m), n)
	}
	return buf, nil
}

// shortBody is the error of a body that ended after read of the n bytes
// it said it has.
func shortBody(err error, read, n int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the answer ended after %d of the %d bytes it said it has: %w", read, n, io.ErrUnexpectedEOF)
	}
	return err
}

// trustedLength is the largest Content-Length allocated up front.
const trustedLength = 1 << 20

// readUnsized reads a body of unknown size, of at most limit bytes: one
// of up to 16 KiB into a buffer of its own, a larger one in pieces joined
// once at the end (scratch.go).
func readUnsized(r io.Reader, limit int64) ([]byte, error) {
	body := io.LimitReader(r, limit+1)
	first := make([]byte, min(16<<10, limit+1))
	n, err := io.ReadFull(body, first)
	if int64(n) > limit {
		return nil, fmt.Errorf("%w: the answer runs past %d bytes", ErrTooLarge, limit)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return first[:n], nil
	}
	if err != nil {
		return nil, err
	}
	var rest pieces
	defer rest.free()
	for {
		m, err := io.ReadFull(body, rest.room())
		rest.wrote(m)
		if int64(n)+rest.size > limit {
			return nil, fmt.Errorf("%w: the answer runs past %d bytes", ErrTooLarge, limit)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return rest.join(first), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(min(d, 10*time.Second))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff is the wait before reconnect attempt n: doubling from min, capped
// at max, with ±20% jitter so that many bridges do not retry in step.
func Backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for range n {
		d *= 2
		if d >= max {
			d = max
			break
		}
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}
