package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// route is one way of calling the blob tool of the first upstream: the
// caller, the tool's name as it sees it, and the process whose CPU time
// counts.
type route struct {
	what string // "through the bridge"
	c    caller
	tool string
	pid  int
}

// calls measures latency and throughput through the bridge, the peer and
// directly, with one of each talking to upstream u.
func calls(ctx context.Context, o Options, p *Peer, dir string, u *upstream, r *Report) error {
	a, err := startFleet(ctx, o, dir, "", []*upstream{u})
	if err != nil {
		return err
	}
	defer a.stop()
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	d, err := dialDirect(ctx, u.url, client)
	if err != nil {
		return fmt.Errorf("direct client: %w", err)
	}
	defer d.close()
	bridge := route{"through the bridge", a, u.name + "__blob", a.pid()}
	// The direct client's CPU time is this process's: the benchmark's own
	// loop is in it, as the agent's is in the bridge's figure's other end.
	direct := route{"direct", d, "blob", os.Getpid()}
	var peer *route
	if p.present() {
		f, err := startPeers(ctx, p, []*upstream{u}, o.Tools)
		if err != nil {
			return err
		}
		defer f.stop()
		peer = &route{"through " + p.Name, f[0], "blob", f[0].pid()}
		// Node compiles the peer's code for seconds after it starts,
		// which would slow the calls of the others measured meanwhile:
		// calls warm it up, and it is left to settle.
		for range 200 {
			if _, err := timedCall(ctx, peer.c, blobCall(peer.tool, 100), 100); err != nil {
				return fmt.Errorf("%s: %w", peer.what, err)
			}
		}
		time.Sleep(2 * settle)
	}
	for _, size := range o.Sizes {
		l, err := latency(ctx, o, bridge, direct, peer, size)
		if err != nil {
			return fmt.Errorf("calls of %d bytes: %w", size, err)
		}
		r.Latency = append(r.Latency, l)
	}
	for _, c := range o.Concurrency {
		t, err := throughput(ctx, o, bridge, direct, peer, c)
		if err != nil {
			return fmt.Errorf("throughput at %d: %w", c, err)
		}
		r.Throughput = append(r.Throughput, t)
	}
	if o.Profile != "" {
		if r.Profile, err = profile(ctx, o, bridge); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

// Percentiles are the median and 99th percentile of a set of calls.
type Percentiles struct {
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// Latency is one size of result, sequential calls through the bridge, the
// peer and direct, interleaved. Peer is nil where the peer is not
// measured.
type Latency struct {
	Size   int          `json:"size"`
	Calls  int          `json:"calls"`
	Bridge Percentiles  `json:"bridge"`
	Direct Percentiles  `json:"direct"`
	Peer   *Percentiles `json:"peer,omitempty"`
}

func latency(ctx context.Context, o Options, bridge, direct route, peer *route, size int) (Latency, error) {
	n := o.Calls
	if size >= 1<<20 {
		n = max(o.Calls/10, 20)
	}
	routes := []route{bridge, direct}
	if peer != nil {
		routes = append(routes, *peer)
	}
	took := make([][]time.Duration, len(routes))
	for i := range n + n/10 {
		if i%100 == 0 {
			o.Progress(fmt.Sprintf("calls of %s: %d of %d", bytesText(size), i, n+n/10))
		}
		for k, rt := range routes {
			t, err := timedCall(ctx, rt.c, blobCall(rt.tool, size), size)
			if err != nil {
				return Latency{}, fmt.Errorf("%s: %w", rt.what, err)
			}
			// The first tenth warms every path up.
			if i >= n/10 {
				took[k] = append(took[k], t)
			}
		}
	}
	of := func(ds []time.Duration) Percentiles {
		return Percentiles{ms(percentile(ds, 50)), ms(percentile(ds, 99))}
	}
	l := Latency{Size: size, Calls: n, Bridge: of(took[0]), Direct: of(took[1])}
	if peer != nil {
		p := of(took[2])
		l.Peer = &p
	}
	return l, nil
}

func blobCall(name string, size int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name":%q,"arguments":{"bytes":%d}}`, name, size))
}

// timedCall makes one call and checks that the whole result came back.
func timedCall(ctx context.Context, c caller, params json.RawMessage, size int) (time.Duration, error) {
	start := time.Now()
	res, err := c.call(ctx, "tools/call", params)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if len(res) < size {
		return 0, fmt.Errorf("a result of %d bytes for %d asked", len(res), size)
	}
	return took, nil
}

// Throughput is calls per second with a number of calls in flight, and
// the CPU time per call of the process that carries them: the bridge's,
// the peer's, and for direct calls this process's, in microseconds (0
// where it cannot be read). Peer is 0 where the peer is not measured.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"size"`
	Bridge      float64 `json:"bridge_calls_per_s"`
	Direct      float64 `json:"direct_calls_per_s"`
	Peer        float64 `json:"peer_calls_per_s,omitempty"`
	BridgeCPU   float64 `json:"bridge_cpu_us_per_call,omitempty"`
	DirectCPU   float64 `json:"direct_cpu_us_per_call,omitempty"`
	PeerCPU     float64 `json:"peer_cpu_us_per_call,omitempty"`
}

func throughput(ctx context.Context, o Options, bridge, direct route, peer *route, c int) (Throughput, error) {
	o.Progress(fmt.Sprintf("throughput with %d in flight", c))
	t := Throughput{Concurrency: c, Size: o.LoadSize}
	var err error
	if t.Direct, t.DirectCPU, err = loadRoute(ctx, o, direct, c); err != nil {
		return t, err
	}
	if t.Bridge, t.BridgeCPU, err = loadRoute(ctx, o, bridge, c); err != nil {
		return t, err
	}
	if peer != nil {
		t.Peer, t.PeerCPU, err = loadRoute(ctx, o, *peer, c)
	}
	return t, err
}

// loadRoute keeps c calls in flight on rt for o.Duration, and returns
// calls per second and the CPU time rt's process spent per call.
func loadRoute(ctx context.Context, o Options, rt route, c int) (rate, cpu float64, err error) {
	params := blobCall(rt.tool, o.LoadSize)
	before, cpuErr := cpuTime(rt.pid)
	start := time.Now()
	rate, err = load(ctx, c, o.Duration, func(int) (caller, json.RawMessage) { return rt.c, params }, o.LoadSize)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", rt.what, err)
	}
	after, err := cpuTime(rt.pid)
	if err != nil || cpuErr != nil || rate <= 0 {
		return rate, 0, nil
	}
	return rate, float64((after - before).Microseconds()) / (rate * time.Since(start).Seconds()), nil
}

// load keeps c calls in flight for about d and returns calls per second.
// Worker w makes its calls with call(w): a caller and its params.
func load(ctx context.Context, c int, d time.Duration, call func(worker int) (caller, json.RawMessage), size int) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		cl, p := call(w)
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := timedCall(ctx, cl, p, size); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}
