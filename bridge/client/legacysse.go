package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
)

// legacySSE is the HTTP with SSE transport of protocol 2024-11-05: one
// event stream, opened first, whose "endpoint" event names the URL that
// requests are POSTed to; every answer comes back on the stream.
type legacySSE struct {
	link
	url   string
	tasks *sync.WaitGroup // the session's: the stream's reader is one
	// lost is told when the stream ends: the connection is over.
	lost func(error)

	endpoint atomic.Value // string
	pending  sync.Map     // request id (text) → chan answer
}

type answer struct {
	result json.RawMessage
	err    error
}

func (s *legacySSE) open(ctx context.Context) error {
	if e, _ := s.endpoint.Load().(string); e != "" {
		return nil // open already, and initialize is being tried again
	}
	resp, err := s.request(s.life, http.MethodGet, s.url, nil, asking{accept: "text/event-stream"})
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return unauthorized(resp)
	default:
		drain(resp)
		return fmt.Errorf("the event stream answered %s", resp.Status)
	}
	ready := make(chan error, 1)
	s.tasks.Go(func() { s.read(resp.Body, ready) })
	select {
	case err := <-ready:
		return err
	case <-ctx.Done():
		resp.Body.Close()
		return errors.New("no endpoint event on the stream")
	}
}

// read reads the stream until it ends; ready gets the outcome of the
// endpoint event.
func (s *legacySSE) read(body io.ReadCloser, ready chan<- error) {
	defer body.Close()
	announced := false
	err := readEvents(body, s.limit, func(ev sseEvent) bool {
		switch ev.name {
		case "endpoint":
			if announced {
				return true
			}
			announced = true
			endpoint, err := s.resolve(string(ev.data))
			if err == nil {
				s.endpoint.Store(endpoint)
			}
			ready <- err
		case "", "message":
			s.received(ev.data)
		}
		return true
	})
	if err == nil {
		err = errors.New("the server ended the event stream")
	}
	if !announced {
		ready <- err
	}
	s.pending.Range(func(id, ch any) bool {
		if s.pending.CompareAndDelete(id, ch) {
			ch.(chan answer) <- answer{err: fmt.Errorf("connection lost: %w", err)}
		}
		return true
	})
	if s.life.Err() == nil {
		s.lost(err)
	}
}

// resolve reads the endpoint event's URL, which must be on the stream's
// own origin: requests carry the session's headers and token.
func (s *legacySSE) resolve(ref string) (string, error) {
	base, err := url.Parse(s.url)
	if err != nil {
		return "", err
	}
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("the endpoint event's URL %q: %w", ref, err)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return "", fmt.Errorf("the endpoint event names %s, not on the stream's origin %s://%s", u.Redacted(), base.Scheme, base.Host)
	}
	return u.String(), nil
}

// received handles one message of the stream: an answer goes to its call.
func (s *legacySSE) received(data []byte) {
	m, err := parseServerMessage(data)
	if err != nil {
		s.log.Warn("a message on the event stream is ignored", "err", err)
		return
	}
	if !m.isResponse() {
		endpoint, _ := s.endpoint.Load().(string)
		s.handle(s.life, m, endpoint)
		return
	}
	key := idKey(m.id)
	if ch, ok := s.pending.LoadAndDelete(key); ok {
		res, err := m.answer(key)
		ch.(chan answer) <- answer{res, err}
	}
}

func (s *legacySSE) call(ctx context.Context, id int64, method string, params json.RawMessage) (json.RawMessage, error) {
	key := strconv.FormatInt(id, 10)
	ch := make(chan answer, 1)
	s.pending.Store(key, ch)
	defer s.pending.Delete(key)
	if err := s.send(ctx, requestBody(id, method, params), key); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a.result, a.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (s *legacySSE) notify(ctx context.Context, method string, params json.RawMessage) error {
	return s.send(ctx, requestBody(0, method, params), "")
}

func (s *legacySSE) send(ctx context.Context, body []byte, id string) error {
	endpoint, _ := s.endpoint.Load().(string)
	resp, err := s.post(ctx, endpoint, body, false)
	var se *statusError
	if errors.As(err, &se) {
		return se.failure(id)
	}
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

func (s *legacySSE) initialized(version string) { s.version.Store(version) }

// modernize does nothing: HTTP with SSE belongs to the handshake era.
func (s *legacySSE) modernize(string) {}

// close has nothing to send: the stream ends with the connection.
func (s *legacySSE) close() {}
