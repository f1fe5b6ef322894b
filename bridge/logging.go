package bridge

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file carries logging: the agent's logging/setLevel goes to every
// server that logs, and a server's log messages reach the agent with the
// server named in their logger, at a bounded rate per server.

// Log messages a server may send the agent: logBurst at once, then
// logRate a second. More are dropped, and the drop is logged.
const (
	logBurst = 100
	logRate  = 20
)

// setLevelRoute answers logging/setLevel: the level is kept for servers
// that connect later and sent to every connected one that logs.
func setLevelRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	level, err := rawjson.LookupString(m.Params, "level")
	if err != nil || level == "" {
		return nil, &routeError{codeInvalidParams, "logging/setLevel: params.level is missing"}
	}
	s.b.logLevel.Store(&m.Params)
	var wg sync.WaitGroup
	for _, u := range s.b.Upstreams() {
		wg.Go(func() { u.setLogLevel(ctx, m.Params) })
	}
	wg.Wait()
	return json.RawMessage("{}"), nil
}

// setLogLevel sends logging/setLevel to the upstream, if it is connected
// and logs.
func (u *Upstream) setLogLevel(ctx context.Context, params json.RawMessage) {
	sess, err := u.current()
	if err != nil || !sess.Capabilities().Logging {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, u.opts.ConnectTimeout)
	defer cancel()
	if _, err := sess.Call(ctx, "logging/setLevel", params, nil); err != nil {
		u.log.Warn("logging/setLevel refused", "err", err)
	}
}

// logged passes a server's log message on to the agent, its logger named
// after the server ("github" or "github/<logger>").
func (u *Upstream) logged(params json.RawMessage) {
	if ok, first := u.logs.allow(time.Now()); !ok {
		if first {
			u.log.Warn("the server logs faster than the bridge passes on; dropping log messages")
		}
		return
	}
	logger := u.server.ID
	if own, _ := rawjson.LookupString(params, "logger"); own != "" {
		logger += "/" + own
	}
	if p, err := rawjson.SetString(params, "logger", logger); err == nil {
		u.events.upstreamNotification(u, "notifications/message", p)
	}
}

// rate is a token bucket: logBurst at once, then logRate a second.
type rate struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int // since the last one allowed
}

// allow takes a token; first says this is the first drop since the last
// message allowed.
func (r *rate) allow(now time.Time) (ok, first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.IsZero() {
		r.tokens = logBurst
	} else {
		r.tokens = min(logBurst, r.tokens+now.Sub(r.last).Seconds()*logRate)
	}
	r.last = now
	if r.tokens < 1 {
		r.dropped++
		return false, r.dropped == 1
	}
	r.tokens--
	r.dropped = 0
	return true, false
}
