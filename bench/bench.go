// Package bench measures what the bridge adds between an agent and its MCP
// servers. It starts real MCP servers (mcp-go, streamable HTTP, loopback),
// runs the bridge binary as an agent runs it, over stdio, and makes the
// same requests through the bridge and directly, with mcp-go's client, in
// one run, so that the two are measured on the same machine at the same
// time.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options say what to measure and for how long.
type Options struct {
	Bridge      string        // the bridge binary
	Upstreams   []int         // fleet sizes, for start-up and memory
	Tools       int           // tools per upstream
	StartRuns   int           // cold starts per fleet size; the median counts
	Sizes       []int         // result sizes, for latency
	Calls       int           // calls per size, each way; a tenth (at least 20) for 1 MB and more
	Concurrency []int         // calls in flight, for throughput
	Duration    time.Duration // per throughput and load measurement
	LoadSize    int           // result size under load
	BigResult   int           // the large result memory is measured with
	Progress    func(string)  // told what is being measured; may be nil
	// ServerCommand is the command that runs n upstreams of tools tools
	// each in a process of their own, by calling ServeUpstreams: remote
	// servers are not in their clients' process, and a direct client
	// sharing one with them would skip the wake-ups every real call
	// costs. Nil runs them in this process.
	ServerCommand func(n, tools int) *exec.Cmd
}

// Defaults are the measurements the README's table shows.
func Defaults() Options {
	return Options{
		Upstreams: []int{1, 10, 50}, Tools: 20, StartRuns: 7,
		Sizes: []int{100, 10 << 10, 1 << 20}, Calls: 1000,
		Concurrency: []int{1, 16, 64}, Duration: 3 * time.Second, LoadSize: 1 << 10,
		BigResult: 10 << 20,
	}
}

// Run measures and reports. It fails when the bridge does not do its job
// (a list comes back short, a call fails): numbers of a broken run mean
// nothing.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "bridge-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	n := slices.Max(o.Upstreams)
	var ups []*upstream
	var stop func()
	if o.ServerCommand != nil {
		ups, stop, err = spawnUpstreams(o.ServerCommand(n, o.Tools), n)
	} else {
		ups, stop, err = startUpstreams(n, o.Tools)
	}
	if err != nil {
		return nil, err
	}
	defer stop()
	r := &Report{Machine: machine(), Options: o}
	for _, n := range o.Upstreams {
		s, err := coldStart(ctx, o, dir, ups[:n])
		if err != nil {
			return nil, fmt.Errorf("start-up with %d upstreams: %w", n, err)
		}
		r.StartUp = append(r.StartUp, s)
	}

	// Calls go to one upstream, through one bridge and one direct client.
	a, err := startFleet(ctx, o, dir, ups[:1])
	if err != nil {
		return nil, err
	}
	defer a.stop()
	d, err := dialDirect(ctx, ups[0].url, newHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("direct client: %w", err)
	}
	defer d.close()
	for _, size := range o.Sizes {
		l, err := latency(ctx, o, a, d, size)
		if err != nil {
			return nil, fmt.Errorf("calls of %d bytes: %w", size, err)
		}
		r.Latency = append(r.Latency, l)
	}
	for _, c := range o.Concurrency {
		t, err := throughput(ctx, o, a, d, c)
		if err != nil {
			return nil, fmt.Errorf("throughput at %d: %w", c, err)
		}
		r.Throughput = append(r.Throughput, t)
	}
	if r.Big, err = bigResult(ctx, o, dir, ups[:1]); err != nil {
		return nil, fmt.Errorf("a %d-byte result: %w", o.BigResult, err)
	}
	for _, n := range o.Upstreams {
		m, err := memory(ctx, o, dir, ups[:n])
		if err != nil {
			return nil, fmt.Errorf("memory with %d upstreams: %w", n, err)
		}
		r.Memory = append(r.Memory, m)
	}
	return r, nil
}

// fleetDir is the config and state of a bridge serving ups; reused, so
// that pins are written once, as on a user's machine.
func fleetDir(dir string, ups []*upstream) (cfg, state string, err error) {
	sub := filepath.Join(dir, fmt.Sprintf("fleet-%d", len(ups)))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", "", err
	}
	cfg, err = fleetConfig(sub, ups)
	return cfg, filepath.Join(sub, "state"), err
}

// startFleet starts a bridge serving ups and waits for its merged list.
func startFleet(ctx context.Context, o Options, dir string, ups []*upstream) (*agent, error) {
	cfg, state, err := fleetDir(dir, ups)
	if err != nil {
		return nil, err
	}
	a, err := startAgent(o.Bridge, cfg, state)
	if err != nil {
		return nil, err
	}
	if err := a.initialize(ctx); err != nil {
		a.stop()
		return nil, err
	}
	if err := listAll(ctx, a, len(ups)*o.Tools); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

// listAll lists tools and checks that want came back.
func listAll(ctx context.Context, c caller, want int) error {
	res, err := c.call(ctx, "tools/list", nil)
	if err != nil {
		return err
	}
	var list struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(res, &list); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if len(list.Tools) != want {
		return fmt.Errorf("tools/list gave %d tools, want %d", len(list.Tools), want)
	}
	return nil
}

// StartUp is the time from starting the bridge process to its merged
// tools/list, beside a direct client connecting to every upstream at once
// and listing their tools: the slowest upstream's initialize and list.
type StartUp struct {
	Upstreams int     `json:"upstreams"`
	Tools     int     `json:"tools"`
	BridgeMS  float64 `json:"bridge_ms"`
	DirectMS  float64 `json:"direct_ms"`
}

func coldStart(ctx context.Context, o Options, dir string, ups []*upstream) (StartUp, error) {
	var bridge, direct []time.Duration
	// The first run writes the pins and fills the page cache; it is not
	// counted, as a user's agent starts the bridge many times.
	for run := range o.StartRuns + 1 {
		o.Progress(fmt.Sprintf("start-up with %d upstreams: run %d of %d", len(ups), run+1, o.StartRuns+1))
		start := time.Now()
		a, err := startFleet(ctx, o, dir, ups)
		took := time.Since(start)
		if err != nil {
			return StartUp{}, err
		}
		if err := a.stop(); err != nil {
			return StartUp{}, err
		}
		slowest, err := directStart(ctx, ups, o.Tools)
		if err != nil {
			return StartUp{}, err
		}
		if run > 0 {
			bridge, direct = append(bridge, took), append(direct, slowest)
		}
	}
	return StartUp{Upstreams: len(ups), Tools: len(ups) * o.Tools,
		BridgeMS: ms(percentile(bridge, 50)), DirectMS: ms(percentile(direct, 50))}, nil
}

// directStart connects to every upstream at once, as the bridge does, and
// returns when the last one has listed its tools.
func directStart(ctx context.Context, ups []*upstream, tools int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(ups))
	clients := make([]*direct, len(ups))
	client := newHTTPClient()
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

// Latency is one size of result, sequential calls through the bridge and
// direct, interleaved.
type Latency struct {
	Size        int     `json:"size"`
	Calls       int     `json:"calls"`
	BridgeP50MS float64 `json:"bridge_p50_ms"`
	BridgeP99MS float64 `json:"bridge_p99_ms"`
	DirectP50MS float64 `json:"direct_p50_ms"`
	DirectP99MS float64 `json:"direct_p99_ms"`
}

func latency(ctx context.Context, o Options, a *agent, d *direct, size int) (Latency, error) {
	n := o.Calls
	if size >= 1<<20 {
		n = max(o.Calls/10, 20)
	}
	viaBridge, viaDirect := blobCall("s00__blob", size), blobCall("blob", size)
	var bridge, direct []time.Duration
	for i := range n + n/10 {
		if i%100 == 0 {
			o.Progress(fmt.Sprintf("calls of %s: %d of %d", bytesText(size), i, n+n/10))
		}
		tb, err := timedCall(ctx, a, viaBridge, size)
		if err != nil {
			return Latency{}, fmt.Errorf("through the bridge: %w", err)
		}
		td, err := timedCall(ctx, d, viaDirect, size)
		if err != nil {
			return Latency{}, fmt.Errorf("direct: %w", err)
		}
		// The first tenth warms both paths up.
		if i >= n/10 {
			bridge, direct = append(bridge, tb), append(direct, td)
		}
	}
	return Latency{Size: size, Calls: n,
		BridgeP50MS: ms(percentile(bridge, 50)), BridgeP99MS: ms(percentile(bridge, 99)),
		DirectP50MS: ms(percentile(direct, 50)), DirectP99MS: ms(percentile(direct, 99))}, nil
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

// Throughput is calls per second with a number of calls in flight.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"size"`
	Bridge      float64 `json:"bridge_calls_per_s"`
	Direct      float64 `json:"direct_calls_per_s"`
	// BridgeCPU is the bridge process's CPU time per call and DirectCPU
	// the direct client's (this process's), in microseconds; 0 where they
	// cannot be read.
	BridgeCPU float64 `json:"bridge_cpu_us_per_call,omitempty"`
	DirectCPU float64 `json:"direct_cpu_us_per_call,omitempty"`
}

func throughput(ctx context.Context, o Options, a *agent, d *direct, c int) (Throughput, error) {
	o.Progress(fmt.Sprintf("throughput with %d in flight", c))
	t := Throughput{Concurrency: c, Size: o.LoadSize}
	var err error
	t.DirectCPU, err = perCallCPU(os.Getpid(), func() (float64, error) {
		t.Direct, err = load(ctx, d, c, o.Duration, func(int) json.RawMessage { return blobCall("blob", o.LoadSize) }, o.LoadSize)
		return t.Direct, err
	})
	if err != nil {
		return t, fmt.Errorf("direct: %w", err)
	}
	t.BridgeCPU, err = perCallCPU(a.pid(), func() (float64, error) {
		t.Bridge, err = load(ctx, a, c, o.Duration, func(int) json.RawMessage { return blobCall("s00__blob", o.LoadSize) }, o.LoadSize)
		return t.Bridge, err
	})
	if err != nil {
		return t, fmt.Errorf("through the bridge: %w", err)
	}
	return t, nil
}

// perCallCPU runs a load (which returns calls per second) and returns the
// CPU time process pid spent per call, in microseconds, or 0 when it
// cannot be read.
func perCallCPU(pid int, run func() (float64, error)) (float64, error) {
	before, cpuErr := cpuTime(pid)
	start := time.Now()
	rate, err := run()
	if err != nil {
		return 0, err
	}
	after, err := cpuTime(pid)
	if err != nil || cpuErr != nil || rate <= 0 {
		return 0, nil
	}
	return float64((after - before).Microseconds()) / (rate * time.Since(start).Seconds()), nil
}

// load keeps c calls in flight for about d and returns calls per second.
// Worker w's calls are made with params(w).
func load(ctx context.Context, cl caller, c int, d time.Duration, params func(worker int) json.RawMessage, size int) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		p := params(w)
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

// Memory is the bridge process's resident set with a fleet of upstreams:
// settled after start-up, and its peak under load.
type Memory struct {
	Upstreams int    `json:"upstreams"`
	Idle      int64  `json:"idle_bytes"`
	Load      int64  `json:"load_peak_bytes"`
	Error     string `json:"error,omitempty"`
}

func memory(ctx context.Context, o Options, dir string, ups []*upstream) (Memory, error) {
	o.Progress(fmt.Sprintf("memory with %d upstreams", len(ups)))
	m := Memory{Upstreams: len(ups)}
	a, err := startFleet(ctx, o, dir, ups)
	if err != nil {
		return m, err
	}
	defer a.stop()
	time.Sleep(500 * time.Millisecond)
	idle, _, err := rss(a.pid())
	if err != nil {
		m.Error = err.Error()
		return m, nil
	}
	if err := resetPeak(a.pid()); err != nil {
		m.Error = err.Error()
		return m, nil
	}
	// 16 calls in flight, spread over every upstream.
	_, err = load(ctx, a, 16, o.Duration, func(w int) json.RawMessage {
		return blobCall(ups[w%len(ups)].name+"__blob", o.LoadSize)
	}, o.LoadSize)
	if err != nil {
		return m, err
	}
	_, peak, err := rss(a.pid())
	if err != nil {
		return m, err
	}
	m.Idle, m.Load = idle, peak
	return m, nil
}

// Big is the bridge's resident set while one large result passes through.
type Big struct {
	Size  int64  `json:"size"`
	Idle  int64  `json:"idle_bytes"`
	Peak  int64  `json:"peak_bytes"`
	Error string `json:"error,omitempty"`
}

func bigResult(ctx context.Context, o Options, dir string, ups []*upstream) (Big, error) {
	o.Progress("a " + bytesText(o.BigResult) + " result")
	b := Big{Size: int64(o.BigResult)}
	a, err := startFleet(ctx, o, dir, ups)
	if err != nil {
		return b, err
	}
	defer a.stop()
	for range 10 {
		if _, err := timedCall(ctx, a, blobCall(ups[0].name+"__blob", o.LoadSize), o.LoadSize); err != nil {
			return b, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	idle, _, err := rss(a.pid())
	if err == nil {
		err = resetPeak(a.pid())
	}
	if err != nil {
		b.Error = err.Error()
		return b, nil
	}
	if _, err := timedCall(ctx, a, blobCall(ups[0].name+"__blob", o.BigResult), o.BigResult); err != nil {
		return b, err
	}
	_, peak, err := rss(a.pid())
	if err != nil {
		return b, err
	}
	b.Idle, b.Peak = idle, peak
	return b, nil
}

// percentile is the p-th percentile of ds, by the nearest rank.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
