package bench

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
	"sync/atomic"
)

// direct is the reference every figure is a ratio to: the cheapest honest
// MCP client of one server over streamable HTTP. It is plain net/http and
// does what a client must and nothing more: the handshake (initialize,
// then notifications/initialized), the session id and protocol version on
// every later request, one POST per request, and an answer read as JSON or
// from an event stream and decoded once. It keeps no GET stream and
// follows no list changes, so that what the bridge costs beyond it is the
// bridge's own work.
type direct struct {
	url     string
	client  *http.Client
	session string // Mcp-Session-Id, from initialize's answer
	version string // the protocol version the server agreed to
	next    atomic.Int64
}

// maxAnswer bounds one answer, as every real client must: the blob tool
// answers at most 64 MiB of text.
const maxAnswer = 80 << 20

// newHTTPClient is the connection pool of one client: as large as the
// bridge's, so that calls in flight never wait for a connection. It
// carries no credentials and follows no redirect: the bench's servers on
// loopback send none, and one would be a fault to see, not to follow.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// dialDirect connects to url and runs the handshake.
func dialDirect(ctx context.Context, url string, client *http.Client) (*direct, error) {
	d := &direct{url: url, client: client}
	res, err := d.call(ctx, "initialize", initializeParams)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(res, &init); err != nil || init.ProtocolVersion == "" {
		return nil, fmt.Errorf("initialize: no protocol version in %.200s", res)
	}
	d.version = init.ProtocolVersion
	resp, err := d.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), false)
	if err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("notifications/initialized: %s", resp.Status)
	}
	return d, nil
}

func (d *direct) call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	id := d.next.Add(1)
	body := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q`, id, method)
	if len(params) > 0 {
		body = append(append(body, `,"params":`...), params...)
	}
	body = append(body, '}')
	resp, err := d.post(ctx, body, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("%s: %s: %s", method, resp.Status, bytes.TrimSpace(text))
	}
	if method == "initialize" {
		d.session = resp.Header.Get("Mcp-Session-Id")
	}
	var rep reply
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		data, err := readAnswer(resp)
		if err == nil {
			rep, err = decodeReply(data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading the answer: %w", method, err)
		}
	case "text/event-stream":
		if rep, err = answerFromStream(resp.Body, id); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
	default:
		return nil, fmt.Errorf("%s: an answer of type %q", method, mediaType)
	}
	switch {
	case rep.ID == nil || *rep.ID != id:
		return nil, fmt.Errorf("%s: an answer to another request", method)
	case rep.Error != nil:
		return nil, fmt.Errorf("%s: error %d: %s", method, rep.Error.Code, rep.Error.Message)
	}
	return rep.Result, nil
}

// post sends one message, with the session's headers once it has them.
func (d *direct) post(ctx context.Context, body []byte, request bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if request {
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if d.session != "" {
		req.Header.Set("Mcp-Session-Id", d.session)
	}
	if d.version != "" {
		req.Header.Set("Mcp-Protocol-Version", d.version)
	}
	return d.client.Do(req)
}

// readAnswer reads a JSON answer, into a buffer of its announced size when
// it has one.
func readAnswer(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n > maxAnswer {
		return nil, fmt.Errorf("an answer of %d bytes", n)
	}
	if n < 0 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		if err == nil && len(data) > maxAnswer {
			err = errors.New("an answer too large")
		}
		return data, err
	}
	data := make([]byte, n)
	_, err := io.ReadFull(resp.Body, data)
	return data, err
}

// answerFromStream reads an event stream until the answer to id: events
// are separated by blank lines, their data lines joined; notifications and
// the server's own requests on the way are passed over.
func answerFromStream(body io.Reader, id int64) (reply, error) {
	r := bufio.NewReaderSize(body, 64<<10)
	var data []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: read the rest of it.
			rest, err2 := r.ReadBytes('\n')
			line, err = append(bytes.Clone(line), rest...), err2
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the event stream ended before the answer to " + strconv.FormatInt(id, 10))
			}
			return reply{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if len(data) == 0 {
				continue
			}
			rep, err := decodeReply(data)
			if err != nil {
				return reply{}, fmt.Errorf("an event that is not JSON-RPC: %w", err)
			}
			if rep.Method == "" && rep.ID != nil && *rep.ID == id {
				return rep, nil // its result is a span of data, used no more
			}
			data = data[:0]
		case bytes.HasPrefix(line, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(line[len("data:"):], []byte(" "))...)
			if len(data) > maxAnswer {
				return reply{}, errors.New("an event too large")
			}
		}
	}
}

// close ends the session, as a client that is done does.
func (d *direct) close() {
	if d.session == "" {
		return
	}
	req, err := http.NewRequest(http.MethodDelete, d.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", d.session)
	req.Header.Set("Mcp-Protocol-Version", d.version)
	if resp, err := d.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
