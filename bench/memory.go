package bench

import (
	"context"
	"encoding/json"
	"time"
)

// RSS is a resident set in bytes: settled, and its peak while something
// ran. For the peer, both are sums over its processes (the peak the sum
// of each process's own).
type RSS struct {
	Idle int64 `json:"idle_bytes"`
	Peak int64 `json:"peak_bytes"`
}

// Memory is the resident set with a fleet of upstreams, settled after
// start-up and its peak under load: the bridge's process, and the peer's
// processes together (nil where the peer is not measured). Error says why
// it could not be read.
type Memory struct {
	Upstreams int    `json:"upstreams"`
	Bridge    RSS    `json:"bridge"`
	Peer      *RSS   `json:"peer,omitempty"`
	Error     string `json:"error,omitempty"`
}

// settle is how long a process is left after start-up before its resident
// set counts as idle.
const settle = 500 * time.Millisecond

// memory loads every upstream with 16 calls in flight, spread over them,
// through the bridge, and through the peer's processes.
func memory(ctx context.Context, o Options, p *Peer, dir string, ups []*upstream) (Memory, error) {
	o.Progress("memory with " + servers(len(ups)))
	m := Memory{Upstreams: len(ups)}
	if err := memoryReadable(); err != nil {
		m.Error = err.Error()
		return m, nil
	}
	a, err := startFleet(ctx, o, dir, "", ups)
	if err != nil {
		return m, err
	}
	defer a.stop()
	params := make([]json.RawMessage, len(ups))
	for i, u := range ups {
		params[i] = blobCall(u.name+"__blob", o.LoadSize)
	}
	if m.Bridge, err = underLoad(ctx, o, processes{a.pid()}, func(w int) (caller, json.RawMessage) { return a, params[w%len(ups)] }); err != nil {
		return m, err
	}
	if err := a.stop(); err != nil {
		return m, err
	}
	if !p.present() {
		return m, nil
	}
	f, err := startPeers(ctx, p, ups, o.Tools)
	if err != nil {
		return m, err
	}
	defer f.stop()
	blob := blobCall("blob", o.LoadSize)
	peer, err := underLoad(ctx, o, f.processes(), func(w int) (caller, json.RawMessage) { return f[w%len(f)], blob })
	if err != nil {
		return m, err
	}
	m.Peer = &peer
	return m, nil
}

// underLoad reads procs' resident set settled, then keeps 16 calls in
// flight for o.Duration and reads their peak.
func underLoad(ctx context.Context, o Options, procs processes, call func(int) (caller, json.RawMessage)) (RSS, error) {
	time.Sleep(settle)
	idle, _, err := procs.rss()
	if err == nil {
		err = procs.resetPeak()
	}
	if err != nil {
		return RSS{}, err
	}
	if _, err := load(ctx, 16, o.Duration, call, o.LoadSize); err != nil {
		return RSS{}, err
	}
	_, peak, err := procs.rss()
	return RSS{Idle: idle, Peak: max(idle, peak)}, err
}

// Big is the resident set while one large result passes through the
// bridge, and through the peer (nil where it is not measured).
type Big struct {
	Size   int64  `json:"size"`
	Bridge RSS    `json:"bridge"`
	Peer   *RSS   `json:"peer,omitempty"`
	Error  string `json:"error,omitempty"`
}

func bigResult(ctx context.Context, o Options, p *Peer, dir string, u *upstream) (Big, error) {
	o.Progress("a " + bytesText(o.BigResult) + " result")
	b := Big{Size: int64(o.BigResult)}
	if err := memoryReadable(); err != nil {
		b.Error = err.Error()
		return b, nil
	}
	a, err := startFleet(ctx, o, dir, "", []*upstream{u})
	if err != nil {
		return b, err
	}
	defer a.stop()
	if b.Bridge, err = oneBig(ctx, o, a, u.name+"__blob", processes{a.pid()}); err != nil {
		return b, err
	}
	if !p.present() {
		return b, nil
	}
	f, err := startPeers(ctx, p, []*upstream{u}, o.Tools)
	if err != nil {
		return b, err
	}
	defer f.stop()
	peer, err := oneBig(ctx, o, f[0], "blob", f.processes())
	if err != nil {
		return b, err
	}
	b.Peer = &peer
	return b, nil
}

// oneBig makes a few small calls, lets the process settle, and reads its
// peak while one large result passes.
func oneBig(ctx context.Context, o Options, c caller, tool string, procs processes) (RSS, error) {
	for range 10 {
		if _, err := timedCall(ctx, c, blobCall(tool, o.LoadSize), o.LoadSize); err != nil {
			return RSS{}, err
		}
	}
	time.Sleep(settle)
	idle, _, err := procs.rss()
	if err == nil {
		err = procs.resetPeak()
	}
	if err != nil {
		return RSS{}, err
	}
	if _, err := timedCall(ctx, c, blobCall(tool, o.BigResult), o.BigResult); err != nil {
		return RSS{}, err
	}
	_, peak, err := procs.rss()
	return RSS{Idle: idle, Peak: max(idle, peak)}, err
}
