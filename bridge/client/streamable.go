package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// streamable is the streamable HTTP transport: every message a POST,
// answered with JSON or an event stream; the session in a header; and a
// GET stream, once initialized, for what the server sends outside a call
// (list_changed, resources/updated).
type streamable struct {
	link
	url   string
	tasks *sync.WaitGroup // the session's: the GET stream is one
	// modern: the stateless era, with per-request headers and neither
	// session nor resumption (see modernize).
	modern atomic.Bool
	// paramHeaders are a tool's x-mcp-header annotations.
	paramHeaders func(tool string) []paramHeader

	// listening and listenFor belong to initialized, which runs one at a
	// time: in the session's start, or its restart under restartMu.
	listening bool   // a GET stream runs, for session listenFor
	listenFor string // ("" for a server that keeps no sessions)
}

// maxResumes bounds how often an answer's event stream is picked up again
// without bringing anything new.
const maxResumes = 5

func (s *streamable) open(context.Context) error { return nil }

func (s *streamable) call(ctx context.Context, id int64, method string, params json.RawMessage) (json.RawMessage, error) {
	// initialize starts a new session; calls made meanwhile keep the old
	// one until the answer names the new.
	initialize := method == "initialize"
	modern := s.modern.Load()
	idText := strconv.FormatInt(id, 10)
	a := asking{accept: acceptBoth, newSession: initialize}
	if modern {
		a.headers = requestHeaders(method, params)
		if method == "tools/call" && s.paramHeaders != nil {
			name, _ := rawjson.LookupString(params, "name")
			maps.Copy(a.headers, paramHeaderValues(s.paramHeaders(name), params))
		}
	}
	resp, err := s.postAsking(ctx, s.url, requestBody(id, method, params), a)
	if err != nil {
		if modern {
			return nil, modernFailure(err, idText)
		}
		return nil, s.failure(err, idText, initialize)
	}
	defer resp.Body.Close()
	if initialize {
		s.session.Store(resp.Header.Get("Mcp-Session-Id"))
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		data, err := readBody(resp, s.limit)
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		return answerFor(data, idText)
	case "text/event-stream":
		return s.readAnswer(ctx, resp.Body, idText, modern)
	}
	return nil, fmt.Errorf("the answer has content type %q", resp.Header.Get("Content-Type"))
}

// modernFailure is what a failed POST of the stateless era means: there is
// no session to expire, so a 404 is an answer like any other, whose body
// may hold the JSON-RPC error.
func modernFailure(err error, id string) error {
	if se := (*statusError)(nil); errors.As(err, &se) {
		return se.failure(id)
	}
	return err
}

// failure is what a POST that failed means: a 404 an expired session (or,
// to initialize, a server that speaks only SSE), as does any other 4xx to
// initialize.
func (s *streamable) failure(err error, id string, initialize bool) error {
	var se *statusError
	if !errors.As(err, &se) {
		return err
	}
	code := se.resp.StatusCode
	switch {
	case initialize && code >= 400 && code < 500:
		drain(se.resp)
		return ErrSSEOnly
	case code == http.StatusNotFound:
		drain(se.resp)
		return errSessionExpired
	}
	return se.failure(id)
}

func (s *streamable) notify(ctx context.Context, method string, params json.RawMessage) error {
	a := asking{accept: acceptBoth}
	if s.modern.Load() {
		a.headers = requestHeaders(method, params)
	}
	resp, err := s.postAsking(ctx, s.url, requestBody(0, method, params), a)
	if err != nil {
		return s.failure(err, "", false)
	}
	drain(resp)
	return nil
}

func (s *streamable) modernize(version string) {
	s.modern.Store(version != "")
	s.version.Store(version)
}

func (s *streamable) initialized(version string) {
	s.version.Store(version)
	session, _ := s.session.Load().(string)
	if s.listening && s.listenFor == session {
		return
	}
	s.listening, s.listenFor = true, session
	s.tasks.Go(func() { s.listen(session) })
}

// listen keeps the GET stream of session open until the connection ends,
// the session changes, or the server says it offers none (405).
func (s *streamable) listen(session string) {
	lastID := ""
	for attempt := 0; s.life.Err() == nil; attempt++ {
		if current, _ := s.session.Load().(string); current != session {
			return
		}
		resp, err := s.request(s.life, http.MethodGet, s.url, nil, asking{accept: "text/event-stream", lastEventID: lastID})
		if err == nil {
			switch resp.StatusCode {
			case http.StatusOK:
				attempt = 0
				err = readEvents(resp.Body, s.limit, func(ev sseEvent) bool {
					if ev.id != "" {
						lastID = ev.id
					}
					if m, err := parseServerMessage(ev.data); err == nil && !m.isResponse() {
						s.handle(s.life, m, s.url)
					}
					return true
				})
				resp.Body.Close()
			case http.StatusMethodNotAllowed, http.StatusNotFound:
				drain(resp)
				s.log.Debug("no GET stream", "status", resp.Status)
				return
			default:
				drain(resp)
				err = fmt.Errorf("GET stream: %s", resp.Status)
			}
		}
		if s.life.Err() != nil {
			return
		}
		s.log.Debug("GET stream ended; opening it again", "err", err, "last_event_id", lastID)
		if sleepCtx(s.life, Backoff(attempt, 100*time.Millisecond, 10*time.Second)) != nil {
			return
		}
	}
}

// close ends the session with a DELETE.
func (s *streamable) close() {
	session, _ := s.session.Load().(string)
	if session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.life), 2*time.Second)
	defer cancel()
	if resp, err := s.request(ctx, http.MethodDelete, s.url, nil, asking{accept: acceptBoth}); err == nil {
		drain(resp)
	}
}

// readAnswer reads an answer's event stream until the response to request
// id. The server's notifications on the way (progress above all) are
// handled in order, before the answer is returned. A stream that ends
// early after giving event IDs is picked up again from the last one.
func (s *streamable) readAnswer(ctx context.Context, body io.Reader, id string, modern bool) (json.RawMessage, error) {
	var (
		answer    json.RawMessage
		answerErr error
		done      bool
		lastID    string
		retry     time.Duration
	)
	onEvent := func(ev sseEvent) bool {
		if ev.id != "" {
			lastID = ev.id
		}
		if ev.retry > 0 {
			retry = ev.retry
		}
		if (ev.name != "" && ev.name != "message") || len(ev.data) == 0 {
			return true
		}
		m, err := parseServerMessage(ev.data)
		switch {
		case err != nil:
			answerErr, done = err, true
		case m.isResponse():
			answer, answerErr = m.answer(id)
			done = !errors.Is(answerErr, errOtherID)
		default:
			s.handle(ctx, m, s.url)
		}
		return !done
	}
	err := readEvents(body, s.limit, onEvent)
	if modern && !done && err == nil {
		// The stateless era resumes no stream: the request is lost, and
		// the session sends it again.
		return nil, errStreamBroken
	}
	for resumes := 0; !done && err == nil && lastID != "" && resumes < maxResumes; resumes++ {
		before := lastID
		if err = sleepCtx(ctx, retry); err != nil {
			break
		}
		err = s.resume(ctx, lastID, onEvent)
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
	return nil, errors.New("the server ended the answer's stream without answering")
}

// resume picks an answer's stream up again after event lastID.
func (s *streamable) resume(ctx context.Context, lastID string, handle func(sseEvent) bool) error {
	resp, err := s.request(ctx, http.MethodGet, s.url, nil, asking{accept: "text/event-stream", lastEventID: lastID})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("picking the answer's stream up again: %s", resp.Status)
	}
	return readEvents(resp.Body, s.limit, handle)
}
