package upstreamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Why progress notifications bypass mcp-go's notification path
//
// mcp-go v1.2.1 sends a notification by putting it, without blocking, on the
// session's channel (capacity 100, fixed, no option to change it); a
// goroutine moves it to the wire while the response is written by another
// path. That loses and reorders notifications in four ways:
//
//   - a full channel makes SendNotificationToClient fail with
//     ErrNotificationChannelBlocked: a burst of 500 loses most of them;
//   - streamable HTTP (issue #969): the POST's forwarder goroutine may hold a
//     notification it took off the channel while the handler returns; the
//     response path drains the channel, closes the stream and the forwarder
//     then drops what it held. (WithEventStore closes that window, but adds
//     event ids and a session-wide listening pump that takes notifications
//     away from the POST streams.)
//   - streamable HTTP: all POSTs of a session, and its GET stream, read the
//     same channel, so a progress notification can leave on another
//     request's stream, after its own request's result, or be dropped when
//     that other stream ends;
//   - HTTP+SSE: notifications go channel -> goroutine -> event queue while
//     the response goes straight to the event queue, so the result can
//     overtake the last notifications.
//
// So the handlers write progress notifications themselves, synchronously,
// on the stream their response will take:
//
//   - streamable HTTP: intercept wraps each POST's ResponseWriter in a
//     postStream. The first notification turns the response into an event
//     stream; when mcp-go then writes its JSON response, postStream frames it
//     as the stream's last event. Each send is written and flushed before the
//     handler goes on, so nothing queues and nothing can be lost or passed.
//   - HTTP+SSE: SSEServer.SendEventToSession puts the notification on the
//     session's event queue, the very queue the response joins when the
//     handler returns; while the queue is full the handler waits and retries.
//
// Pacing or waiting for mcp-go's channel to drain was not enough: an empty
// channel does not mean the forwarder has written what it took.

type ctxKey int

const (
	postStreamKey ctxKey = iota // *postStream of a streamable HTTP POST
	sseRequestKey               // set on POSTs of the HTTP+SSE transport
)

// deliver writes the notification n for the request in ctx ahead of that
// request's response, waiting as long as needed rather than dropping it.
func (g *generation) deliver(ctx context.Context, n any) error {
	if ps, ok := ctx.Value(postStreamKey).(*postStream); ok {
		return ps.send(n)
	}
	session := server.ClientSessionFromContext(ctx)
	if g.sse != nil && ctx.Value(sseRequestKey) != nil && session != nil {
		return g.sendSSE(ctx, session.SessionID(), n)
	}
	return errors.New("upstreamtest: no stream to deliver the notification on")
}

// sendSSE queues msg on an HTTP+SSE session's event stream, retrying while
// the queue (100 events) is full.
func (g *generation) sendSSE(ctx context.Context, sessionID string, msg any) error {
	for {
		err := g.sse.SendEventToSession(sessionID, msg)
		// mcp-go reports a full queue only by this message.
		if err == nil || !strings.Contains(err.Error(), "queue full") {
			return err
		}
		if err := g.sleep(ctx, 200*time.Microsecond); err != nil {
			return err
		}
	}
}

// postStream is the ResponseWriter mcp-go gets for a streamable HTTP POST.
// It lets a tool handler write events on the response while mcp-go still
// believes it owns it.
type postStream struct {
	w      http.ResponseWriter // the real one
	header http.Header         // the one mcp-go fills

	mu      sync.Mutex
	started bool // status line sent
	ours    bool // a handler has written an event on this response
	// framed records whether mcp-go's last WriteHeader announced an event
	// stream, that is, whether its own writes are already SSE events.
	framed bool
}

func newPostStream(w http.ResponseWriter) *postStream {
	return &postStream{w: w, header: http.Header{}}
}

// send writes msg as an SSE event and flushes it.
func (p *postStream) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.started:
		h := p.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		p.w.WriteHeader(http.StatusOK)
		p.started = true
	case !p.ours && !p.framed:
		return errors.New("upstreamtest: response already written")
	}
	p.ours = true
	if err := writeEvent(p.w, data); err != nil {
		return err
	}
	return http.NewResponseController(p.w).Flush()
}

func (p *postStream) Header() http.Header { return p.header }

func (p *postStream) WriteHeader(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.framed = isEventStream(p.header)
	p.start(code)
}

func (p *postStream) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.framed = isEventStream(p.header)
		p.start(http.StatusOK)
	}
	if p.ours && !p.framed {
		// mcp-go writes its response as a plain JSON body (one Write from
		// json.Encoder), but the response is already an event stream.
		if err := writeEvent(p.w, bytes.TrimRight(b, "\n")); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return p.w.Write(b)
}

// Flush makes mcp-go see a writer that can stream.
func (p *postStream) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = http.NewResponseController(p.w).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (p *postStream) Unwrap() http.ResponseWriter { return p.w }

// start sends mcp-go's headers and status unless a status went out already
// (then mcp-go's switch to its own event stream is a no-op). p.mu is held.
func (p *postStream) start(code int) {
	if p.started {
		return
	}
	for k, v := range p.header {
		p.w.Header()[k] = v
	}
	p.w.WriteHeader(code)
	p.started = true
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
}

// writeEvent writes one JSON-RPC message as an SSE event, framed like mcp-go's.
func writeEvent(w http.ResponseWriter, data []byte) error {
	_, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
	return err
}
