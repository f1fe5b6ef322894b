package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
)

// On a streamable HTTP connection the bridge sends each request and reads
// its answer itself. mcp-go's transport re-encodes the params, decodes the
// answer twice over and copies its result, through a buffer that doubles
// as it fills: a megabyte result cost tens of milliseconds and a large one
// nearly four times its size in memory. Here the params go out as the
// agent wrote them, and the result comes back as a slice of the body,
// checked once. mcp-go still opens the connection, initializes, listens on
// the GET stream and ends the session; and it answers a 401 or a 404, so
// that its record of the session stays right (see errDelegate).

// errDelegate asks for the request to be sent through mcp-go's transport.
// A 401 or 404 answer means the server did nothing with the request, so
// sending it again is safe.
var errDelegate = errors.New("send through the transport")

// maxResumes bounds how often an answer's event stream is picked up again
// without bringing anything new.
const maxResumes = 5

// post sends one request and returns its result, or an *RPCError.
func (u *Upstream) post(ctx context.Context, c *conn, id int64, method string, params json.RawMessage) (json.RawMessage, error) {
	idText := strconv.FormatInt(id, 10)
	var body bytes.Buffer
	body.Grow(len(params) + len(method) + len(idText) + 48)
	body.WriteString(`{"jsonrpc":"2.0","id":`)
	body.WriteString(idText)
	body.WriteString(`,"method":`)
	m, _ := json.Marshal(method)
	body.Write(m)
	if len(params) > 0 {
		body.WriteString(`,"params":`)
		body.Write(params)
	}
	body.WriteByte('}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return nil, err
	}
	c.setHeaders(ctx, req)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	case http.StatusUnauthorized, http.StatusNotFound:
		return nil, errDelegate
	default:
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if res, err := answerFor(data, idText); err == nil || isRPCError(err) {
			return res, err
		}
		return nil, fmt.Errorf("request failed with status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		data, err := readBody(resp)
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		return answerFor(data, idText)
	case "text/event-stream":
		return u.readAnswer(ctx, c, resp.Body, idText)
	}
	return nil, fmt.Errorf("unexpected content type %q", resp.Header.Get("Content-Type"))
}

// setHeaders puts the session's headers on a request to the server: its
// session, protocol version, configured headers and authorization.
func (c *conn) setHeaders(ctx context.Context, req *http.Request) {
	if st, ok := c.t.(*transport.StreamableHTTP); ok {
		if id := st.GetSessionId(); id != "" {
			req.Header.Set(transport.HeaderKeySessionID, id)
		}
	}
	if c.version != "" {
		req.Header.Set(transport.HeaderKeyProtocolVersion, c.version)
	}
	for k, v := range c.headers(ctx) {
		req.Header.Set(k, v)
	}
}

// readBody reads a whole body into one buffer of its size. A buffer that
// doubles as it fills would briefly hold three times the body (old, new,
// and the garbage before); pieces joined once at the end hold two.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < 1<<31 {
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	var pieces [][]byte
	for size := 16 << 10; ; size = min(2*size, 1<<20) {
		buf := make([]byte, size)
		n, err := io.ReadFull(resp.Body, buf)
		pieces = append(pieces, buf[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return joinPieces(pieces), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// joinPieces puts pieces together in one buffer of their size; one piece is
// returned as it is.
func joinPieces(pieces [][]byte) []byte {
	if len(pieces) == 1 {
		return pieces[0]
	}
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range pieces {
		out = append(out, p...)
	}
	return out
}

// answerFor reads a JSON-RPC response to request id from data: its result,
// or its error as an *RPCError.
func answerFor(data []byte, id string) (json.RawMessage, error) {
	if !json.Valid(data) {
		return nil, errors.New("the answer is not valid JSON")
	}
	var gotID, result, rpcErr json.RawMessage
	ms, err := members(data)
	if err != nil {
		return nil, fmt.Errorf("the answer is not a JSON-RPC response: %w", err)
	}
	for _, m := range ms {
		v := json.RawMessage(data[m.start:m.end])
		switch {
		case m.matches("id"):
			gotID = v
		case m.matches("result"):
			result = v
		case m.matches("error"):
			rpcErr = v
		}
	}
	if !sameID(gotID, id) {
		return nil, fmt.Errorf("%w %s, not %s", errOtherID, gotID, id)
	}
	if len(rpcErr) > 0 && string(rpcErr) != "null" {
		e := &RPCError{}
		if err := json.Unmarshal(rpcErr, e); err != nil {
			return nil, fmt.Errorf("the answer's error is malformed: %w", err)
		}
		return nil, e
	}
	if len(result) == 0 {
		return nil, errors.New("the answer has neither result nor error")
	}
	return result, nil
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

func isRPCError(err error) bool {
	var rpc *RPCError
	return errors.As(err, &rpc)
}

// readAnswer reads an event stream until the response to request id: the
// server's notifications on the way (progress first of all) are handled
// in order, before the answer is returned. A stream that ends early after
// giving event IDs is picked up again from the last one.
func (u *Upstream) readAnswer(ctx context.Context, c *conn, body io.ReadCloser, id string) (json.RawMessage, error) {
	var (
		answer    json.RawMessage
		answerErr error
		done      bool
		lastID    string
		retry     time.Duration
	)
	onEvent := func(ev sseEvent) {
		if ev.id != "" {
			lastID = ev.id
		}
		if ev.retry > 0 {
			retry = ev.retry
		}
		if (ev.name != "" && ev.name != "message") || len(ev.data) == 0 || done {
			return
		}
		switch kind, err := u.serverMessage(ctx, c, ev.data); {
		case err != nil:
			answerErr, done = err, true
		case kind == "response":
			answer, answerErr = answerFor(ev.data, id)
			done = !errors.Is(answerErr, errOtherID)
		}
	}
	err := readEvents(body, func(ev sseEvent) bool { onEvent(ev); return !done })
	for resumes := 0; !done && err == nil && lastID != "" && resumes < maxResumes; resumes++ {
		before := lastID
		if err = sleepCtx(ctx, retry); err != nil {
			break
		}
		err = u.resume(ctx, c, lastID, func(ev sseEvent) bool { onEvent(ev); return !done })
		if lastID != before {
			resumes = -1
		}
	}
	switch {
	case done:
		return answer, answerErr
	case err != nil:
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return nil, errors.New("the server ended its answer's stream without answering")
}

var errOtherID = errors.New("the answer is to request")

// serverMessage handles one message from the server's stream that is not
// the answer: a notification is handled, a request is refused (the bridge
// takes no requests from servers). It reports "response" for a response.
func (u *Upstream) serverMessage(ctx context.Context, c *conn, data []byte) (string, error) {
	if !json.Valid(data) {
		return "", errors.New("the server sent an event that is not valid JSON")
	}
	ms, err := members(data)
	if err != nil {
		return "", errors.New("the server sent an event that is not a JSON-RPC message")
	}
	var method string
	var id, params json.RawMessage
	for _, m := range ms {
		v := data[m.start:m.end]
		switch {
		case m.matches("method"):
			_ = json.Unmarshal(v, &method)
		case m.matches("id"):
			id = v
		case m.matches("params"):
			params = v
		}
	}
	switch {
	case method == "":
		return "response", nil
	case len(id) == 0 || string(id) == "null":
		u.notified(method, params)
	default:
		go u.refuse(context.WithoutCancel(ctx), c, id, method)
	}
	return "", nil
}

// refuse answers a request from the server with "method not found".
func (u *Upstream) refuse(ctx context.Context, c *conn, id json.RawMessage, method string) {
	msg, _ := json.Marshal("the bridge takes no requests from servers: " + method)
	body := `{"jsonrpc":"2.0","id":` + string(id) + `,"error":{"code":-32601,"message":` + string(msg) + `}}`
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader([]byte(body)))
	if err != nil {
		return
	}
	c.setHeaders(ctx, req)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if resp, err := c.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	u.log.Debug("refused a request from the server", "method", method)
}

// resume picks an answer's stream up again after event lastID.
func (u *Upstream) resume(ctx context.Context, c *conn, lastID string, handle func(sseEvent) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	c.setHeaders(ctx, req)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("picking the answer's stream up again: status %d", resp.StatusCode)
	}
	return readEvents(resp.Body, handle)
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

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id string
	data     []byte
	retry    time.Duration
}

// readEvents reads a text/event-stream and hands each event to handle,
// until handle returns false or the stream ends (nil at a clean end).
func readEvents(r io.Reader, handle func(sseEvent) bool) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var ev sseEvent
	var data [][]byte // the event's data lines

	for {
		line, err := readSSELine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(line) == 0 {
			if data != nil {
				// One line, the usual case, is passed as it is.
				if len(data) == 1 {
					ev.data = data[0]
				} else {
					ev.data = bytes.Join(data, []byte("\n"))
				}
				if !handle(ev) {
					return nil
				}
			}
			ev, data = sseEvent{id: ev.id}, nil
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			data = append(data, value)
		case "event":
			ev.name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.id = string(value)
			}
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// readSSELine reads one line without its end (\n or \r\n), into memory
// of its own. A line cut off by the end of the stream still counts.
func readSSELine(br *bufio.Reader) ([]byte, error) {
	var pieces [][]byte
	for {
		chunk, err := br.ReadSlice('\n')
		pieces = append(pieces, bytes.Clone(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		chunk = joinPieces(pieces)
		if err != nil && (len(chunk) == 0 || !errors.Is(err, io.EOF)) {
			return nil, err
		}
		chunk = bytes.TrimSuffix(chunk, []byte("\n"))
		return bytes.TrimSuffix(chunk, []byte("\r")), nil
	}
}
