package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// StartUp is the time from starting the bridge process to its merged
// tools/list: cold, with a state folder it never used, and warm, the next
// start on the same folder. Beside it are the peer's (one process per
// upstream, all started at once, until every one has listed its tools:
// the agent's view of all the lists) and a direct client's, connecting to
// every upstream at once and listing their tools: the slowest upstream's
// initialize and list. PeerMS is 0 where the peer is not measured.
type StartUp struct {
	Upstreams int     `json:"upstreams"`
	Tools     int     `json:"tools"`
	ColdMS    float64 `json:"bridge_cold_ms"`
	WarmMS    float64 `json:"bridge_warm_ms"`
	PeerMS    float64 `json:"peer_ms,omitempty"`
	DirectMS  float64 `json:"direct_ms"`
}

func startUp(ctx context.Context, o Options, dir string, ups []*upstream) (StartUp, error) {
	s := StartUp{Upstreams: len(ups), Tools: len(ups) * o.Tools}
	var cold, warm, direct []time.Duration
	// The first run fills the page cache; it is not counted, as a user's
	// agent starts the bridge many times.
	for run := range o.StartRuns + 1 {
		o.Progress(fmt.Sprintf("start-up of the bridge with %s: run %d of %d", servers(len(ups)), run+1, o.StartRuns+1))
		c, w, err := coldAndWarm(ctx, o, dir, ups)
		if err != nil {
			return s, err
		}
		d, err := directStart(ctx, ups, o.Tools)
		if err != nil {
			return s, err
		}
		if run > 0 {
			cold, warm, direct = append(cold, c), append(warm, w), append(direct, d)
		}
	}
	s.ColdMS, s.WarmMS, s.DirectMS = ms(percentile(cold, 50)), ms(percentile(warm, 50)), ms(percentile(direct, 50))
	return s, nil
}

// peerStartUp is the median time, in milliseconds, from starting one peer
// process per upstream, all at once, to every one of them having listed
// its tools.
func peerStartUp(ctx context.Context, o Options, p *Peer, ups []*upstream) (float64, error) {
	var took []time.Duration
	for run := range o.PeerRuns {
		o.Progress(fmt.Sprintf("start-up of %s with %s: run %d of %d", p.Name, servers(len(ups)), run+1, o.PeerRuns))
		start := time.Now()
		f, err := startPeers(ctx, p, ups, o.Tools)
		t := time.Since(start)
		if err != nil {
			return 0, err
		}
		if err := f.stop(); err != nil {
			return 0, err
		}
		took = append(took, t)
	}
	return ms(percentile(took, 50)), nil
}

// coldAndWarm starts the bridge twice on a new state folder: the first
// start is cold, the second warm.
func coldAndWarm(ctx context.Context, o Options, dir string, ups []*upstream) (cold, warm time.Duration, err error) {
	state, err := os.MkdirTemp(dir, "state-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(state)
	if cold, err = timedStart(ctx, o, dir, state, ups); err != nil {
		return 0, 0, fmt.Errorf("cold start: %w", err)
	}
	if warm, err = timedStart(ctx, o, dir, state, ups); err != nil {
		return 0, 0, fmt.Errorf("warm start: %w", err)
	}
	return cold, warm, nil
}

// timedStart starts the bridge, times it from its spawn to its merged
// list, and stops it. Its config is written before the clock starts, as
// an agent finds it written.
func timedStart(ctx context.Context, o Options, dir, state string, ups []*upstream) (time.Duration, error) {
	cfg, _, err := fleetConfigFor(dir, ups)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	a, err := serveFleet(ctx, o, cfg, state, len(ups))
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	return took, a.stop()
}

// directStart connects to every upstream at once, as the bridge does, and
// returns when the last one has listed its tools.
func directStart(ctx context.Context, ups []*upstream, tools int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(ups))
	clients := make([]*direct, len(ups))
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	start := time.Now()
	for i, u := range ups {
		wg.Go(func() {
			d, err := dialDirect(ctx, u.url, client)
			if err == nil {
				clients[i] = d
				err = listAll(ctx, d, tools)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	took := time.Since(start)
	for i, d := range clients {
		if d != nil {
			d.close()
		}
		if errs[i] != nil {
			return 0, fmt.Errorf("direct to %s: %w", ups[i].name, errs[i])
		}
	}
	return took, nil
}
