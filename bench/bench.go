// Package bench measures what the bridge adds between an agent and its MCP
// servers, and what an agent would get from the peer users would run
// instead. It starts real MCP servers (mcp-go, streamable HTTP, loopback)
// in a process of their own, runs the bridge binary as an agent runs it,
// over stdio, and makes the same requests through the bridge, through the
// peer (mcp-remote, one process per server, when it is installed) and
// directly, with the cheapest honest MCP client (plain net/http, see
// direct), interleaved in one run, so that every figure is a ratio to the
// direct one measured on the same machine at the same time.
//
// Start-up is measured twice for the bridge: cold, with a state folder it
// has never used, and warm, the next start on the same folder, which a
// bridge that keeps its servers' lists can answer from them. Report.Targets
// judges the run against the targets the bridge is held to.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Options say what to measure and for how long.
type Options struct {
	Bridge      string        // the bridge binary
	Upstreams   []int         // fleet sizes, for start-up and memory
	Tools       int           // tools per upstream
	StartRuns   int           // cold and warm starts per fleet size; the median counts
	PeerRuns    int           // starts of the peer per fleet size (its processes all at once); the median counts
	Sizes       []int         // result sizes, for latency
	Calls       int           // calls per size, each way; a tenth (at least 20) for 1 MB and more
	Concurrency []int         // calls in flight, for throughput
	Duration    time.Duration // per throughput and load measurement
	LoadSize    int           // result size under load
	BigResult   int           // the large result memory is measured with
	// PeerDir is where npm installed the peer (testdata/bench-peers, see
	// FindPeer); empty, or a folder without it, measures no peer and says
	// so.
	PeerDir string
	// Profile, when set, is the file that perf writes the bridge's CPU
	// profile to, from an extra run of 16 calls in flight.
	Profile  string
	Progress func(string) // told what is being measured; may be nil
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
		Upstreams: []int{1, 10, 50}, Tools: 20, StartRuns: 7, PeerRuns: 3,
		Sizes: []int{100, 10 << 10, 1 << 20}, Calls: 1000,
		Concurrency: []int{1, 16, 64}, Duration: 3 * time.Second, LoadSize: 1 << 10,
		BigResult: 10 << 20,
	}
}

// Run measures and reports. It fails when the bridge or the peer does not
// do its job (a list comes back short, a call fails): numbers of a broken
// run mean nothing.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "bridge-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	peer := FindPeer(o.PeerDir)
	if o.PeerDir == "" {
		peer.Missing = "no folder of peers was given"
	}
	peer.configDir = filepath.Join(dir, "mcp-auth")
	r := &Report{Machine: machine(peer.Node), Options: o, Peer: peer}
	if !peer.present() {
		o.Progress(peer.Name + " is not measured: " + peer.Missing)
	}

	// Each part of the run has a servers' process of its own, started
	// afresh, so that nothing one part leaves behind (sessions the peer
	// never ends) weighs on the next.
	parts := []struct {
		name string
		run  func(ups []*upstream) error
	}{
		{"start-up of the bridge", func(ups []*upstream) error {
			for _, n := range o.Upstreams {
				s, err := startUp(ctx, o, dir, ups[:n])
				if err != nil {
					return fmt.Errorf("with %s: %w", servers(n), err)
				}
				r.StartUp = append(r.StartUp, s)
			}
			return nil
		}},
		{"start-up of " + peer.Name, func(ups []*upstream) error {
			if !peer.present() {
				return nil
			}
			// One start fills the page cache with Node and the peer's
			// code, as on the machine of a user who runs it every day.
			o.Progress("a first start of " + peer.Name)
			f, err := startPeers(ctx, &peer, ups[:1], o.Tools)
			if err == nil {
				err = f.stop()
			}
			for i, n := range o.Upstreams {
				if err != nil {
					return err
				}
				r.StartUp[i].PeerMS, err = peerStartUp(ctx, o, &peer, ups[:n])
			}
			return err
		}},
		{"calls", func(ups []*upstream) error { return calls(ctx, o, &peer, dir, ups[0], r) }},
		{"memory", func(ups []*upstream) error {
			var err error
			if r.Big, err = bigResult(ctx, o, &peer, dir, ups[0]); err != nil {
				return fmt.Errorf("a %s result: %w", bytesText(o.BigResult), err)
			}
			for _, n := range o.Upstreams {
				m, err := memory(ctx, o, &peer, dir, ups[:n])
				if err != nil {
					return fmt.Errorf("with %s: %w", servers(n), err)
				}
				r.Memory = append(r.Memory, m)
			}
			return nil
		}},
	}
	n := slices.Max(o.Upstreams)
	for _, part := range parts {
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
		others := othersLoad()
		err = part.run(ups)
		stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", part.name, err)
		}
		r.Others = append(r.Others, Others{Part: part.name, Share: others()})
	}
	return r, nil
}

// fleetConfigFor writes the config of a bridge serving ups, once per fleet.
func fleetConfigFor(dir string, ups []*upstream) (cfg, sub string, err error) {
	sub = filepath.Join(dir, fmt.Sprintf("fleet-%d", len(ups)))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", "", err
	}
	cfg, err = fleetConfig(sub, ups)
	return cfg, sub, err
}

// startFleet starts a bridge serving ups with the state folder state (""
// for the fleet's own, reused, so that pins are written once, as on a
// user's machine) and waits for its merged list.
func startFleet(ctx context.Context, o Options, dir, state string, ups []*upstream) (*agent, error) {
	cfg, sub, err := fleetConfigFor(dir, ups)
	if err != nil {
		return nil, err
	}
	if state == "" {
		state = filepath.Join(sub, "state")
	}
	return serveFleet(ctx, o, cfg, state, len(ups))
}

// serveFleet starts a bridge on the config of a fleet of servers and
// waits for its merged list.
func serveFleet(ctx context.Context, o Options, cfg, state string, servers int) (*agent, error) {
	a, err := startBridge(o.Bridge, cfg, state)
	if err != nil {
		return nil, err
	}
	if err := a.initialize(ctx); err != nil {
		a.stop()
		return nil, err
	}
	if err := listAll(ctx, a, servers*o.Tools); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

// listAll lists tools and checks that want came back. The answer was
// decoded once as it was read, as a client's own reader would; the tools
// are counted on the result as it stands, not decoded again, so that the
// count costs every client measured almost nothing, whatever its list's
// size.
func listAll(ctx context.Context, c caller, want int) error {
	res, err := c.call(ctx, "tools/list", nil)
	if err != nil {
		return err
	}
	tools, _, err := rawjson.Lookup(res, "tools")
	var list []json.RawMessage
	if err == nil {
		list, err = rawjson.Elements(tools)
	}
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if len(list) != want {
		return fmt.Errorf("tools/list gave %d tools, want %d", len(list), want)
	}
	return nil
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
