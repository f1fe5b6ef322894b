package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve the benchmark's MCP servers in a
// process of their own, as the bench command does.
func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv("BENCH_SERVE_UPSTREAMS")); err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = os.Stdin.Read(make([]byte, 1)); cancel() }()
		if err := ServeUpstreams(ctx, n, 3, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunMeasuresEverything runs the whole benchmark, briefly, against the
// bridge built from this checkout, and checks that every measurement was
// made: times and rates above zero, lists complete (Run fails otherwise),
// and the peer's too when it is installed (npm ci --prefix
// testdata/bench-peers), or the report saying it is not. It asserts
// nothing about speed.
func TestRunMeasuresEverything(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bridge")
	build := exec.Command("go", "build", "-o", exe, "github.com/mcp-bridge/bridge/cmd/bridge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the bridge: %v\n%s", err, out)
	}
	o := Options{
		Bridge: exe, Upstreams: []int{1, 2}, Tools: 3, StartRuns: 1, PeerRuns: 1,
		Sizes: []int{100, 10 << 10}, Calls: 20, Concurrency: []int{1, 16},
		Duration: 100 * time.Millisecond, LoadSize: 1 << 10, BigResult: 1 << 20,
		PeerDir: filepath.Join("..", "testdata", "bench-peers"),
		ServerCommand: func(n, _ int) *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "BENCH_SERVE_UPSTREAMS="+strconv.Itoa(n))
			return cmd
		},
	}
	var steps []string
	start := time.Now()
	o.Progress = func(s string) { steps = append(steps, s); t.Logf("%6.2fs %s", time.Since(start).Seconds(), s) }
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	peer := r.Peer.present()
	t.Logf("peer: %+v", r.Peer)
	if len(r.StartUp) != 2 || len(r.Latency) != 2 || len(r.Throughput) != 2 || len(r.Memory) != 2 {
		t.Fatalf("report = %+v", r)
	}
	for _, s := range r.StartUp {
		if s.ColdMS <= 0 || s.WarmMS <= 0 || s.DirectMS <= 0 || s.Tools != s.Upstreams*3 || peer != (s.PeerMS > 0) {
			t.Errorf("start-up %+v", s)
		}
	}
	for _, l := range r.Latency {
		if !measured(l.Bridge) || !measured(l.Direct) || peer != (l.Peer != nil) || l.Peer != nil && !measured(*l.Peer) {
			t.Errorf("latency %+v", l)
		}
	}
	for _, tp := range r.Throughput {
		if tp.Bridge <= 0 || tp.Direct <= 0 || peer != (tp.Peer > 0) {
			t.Errorf("throughput %+v", tp)
		}
	}
	for _, m := range r.Memory {
		if m.Error == "" && (m.Bridge.Idle <= 0 || m.Bridge.Peak < m.Bridge.Idle || peer != (m.Peer != nil) ||
			m.Peer != nil && (m.Peer.Idle <= 0 || m.Peer.Peak < m.Peer.Idle)) {
			t.Errorf("memory %+v", m)
		}
	}
	if b := r.Big; b.Error == "" && (b.Bridge.Peak <= b.Bridge.Idle || peer != (b.Peer != nil)) {
		t.Errorf("a 1 MB result left no mark on the peak: %+v", b)
	}
	if len(r.Others) != 4 {
		t.Errorf("the load of other processes for %d parts, want 4: %+v", len(r.Others), r.Others)
	}
	targets := r.Targets()
	if len(targets) != 9 {
		t.Errorf("%d targets, want 9: %+v", len(targets), targets)
	}
	for _, tg := range targets {
		// A ratio may be anything, even below zero (a few calls through
		// the bridge faster than direct, on a busy machine), but never
		// unset.
		if tg.NotMeasured == "" && (tg.Measured == "" || tg.Ratio == 0) {
			t.Errorf("target %+v", tg)
		}
	}
	var out strings.Builder
	r.Print(&out)
	want := []string{"| servers | tools | direct (slowest server) | bridge, cold | bridge, warm |", "| 10 KB | 20 |", "| 16 | ",
		"A 1 MB result", "Targets", "Other processes' share of the CPUs during the run: start-up of the bridge ", "| warm start to the first merged tools/list, 2 servers |"}
	if !peer {
		want = append(want, "mcp-remote is not measured: ")
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("the tables lack %q:\n%s", w, out.String())
		}
	}
	if len(steps) == 0 {
		t.Error("no progress was shown")
	}
}

func measured(p Percentiles) bool { return p.P50MS > 0 && p.P99MS >= p.P50MS }

// TestFindPeerSaysHowToInstall: a folder without the peer gives a reason
// that names the command to install it, and the report carries on.
func TestFindPeerSaysHowToInstall(t *testing.T) {
	dir := t.TempDir()
	p := FindPeer(dir)
	if p.present() || !strings.Contains(p.Missing, "npm ci --no-audit --no-fund --prefix "+dir) {
		t.Errorf("FindPeer(empty folder) = %+v", p)
	}
	r := &Report{Peer: p, StartUp: []StartUp{{Upstreams: 1, Tools: 20, ColdMS: 9, WarmMS: 8, DirectMS: 2}}}
	var out strings.Builder
	r.Print(&out)
	if !strings.Contains(out.String(), "mcp-remote is not measured: ") || !strings.Contains(out.String(), "| 1 | 20 | 2.0 ms | 9.0 ms (4.50×) | 8.0 ms (4.00×) | — |") {
		t.Errorf("the report:\n%s", out.String())
	}
}
