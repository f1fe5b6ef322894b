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
// made: times and rates above zero, lists complete (Run fails otherwise).
// It asserts nothing about speed.
func TestRunMeasuresEverything(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bridge")
	build := exec.Command("go", "build", "-o", exe, "github.com/mcp-bridge/bridge/cmd/bridge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the bridge: %v\n%s", err, out)
	}
	o := Options{
		Bridge: exe, Upstreams: []int{1, 3}, Tools: 3, StartRuns: 1,
		Sizes: []int{100, 10 << 10}, Calls: 20, Concurrency: []int{1, 4},
		Duration: 100 * time.Millisecond, LoadSize: 1 << 10, BigResult: 1 << 20,
		ServerCommand: func(n, _ int) *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "BENCH_SERVE_UPSTREAMS="+strconv.Itoa(n))
			return cmd
		},
	}
	var steps []string
	o.Progress = func(s string) { steps = append(steps, s) }
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.StartUp) != 2 || len(r.Latency) != 2 || len(r.Throughput) != 2 || len(r.Memory) != 2 {
		t.Fatalf("report = %+v", r)
	}
	for _, s := range r.StartUp {
		if s.BridgeMS <= 0 || s.DirectMS <= 0 || s.Tools != s.Upstreams*3 {
			t.Errorf("start-up %+v", s)
		}
	}
	for _, l := range r.Latency {
		if l.BridgeP50MS <= 0 || l.DirectP50MS <= 0 || l.BridgeP99MS < l.BridgeP50MS || l.DirectP99MS < l.DirectP50MS {
			t.Errorf("latency %+v", l)
		}
	}
	for _, tp := range r.Throughput {
		if tp.Bridge <= 0 || tp.Direct <= 0 {
			t.Errorf("throughput %+v", tp)
		}
	}
	for _, m := range r.Memory {
		if m.Error == "" && (m.Idle <= 0 || m.Load <= 0) {
			t.Errorf("memory %+v", m)
		}
	}
	if r.Big.Error == "" && r.Big.Peak <= r.Big.Idle {
		t.Errorf("a 1 MB result left no mark on the peak: %+v", r.Big)
	}
	var out strings.Builder
	r.Print(&out)
	for _, want := range []string{"| upstreams | tools | bridge |", "| 10 KB | 20 |", "| 4 | ", "A 1 MB result", "Targets"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the tables lack %q:\n%s", want, out.String())
		}
	}
	if len(steps) == 0 {
		t.Error("no progress was shown")
	}
}
