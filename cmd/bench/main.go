// Command bench measures the bridge against the cheapest MCP client
// talking to the same servers directly, and against mcp-remote, which
// users would run instead, and prints the results and the bridge's
// targets as Markdown tables:
//
//	GOTOOLCHAIN=local go run ./cmd/bench
//
// It builds the bridge from this checkout unless --bridge names a binary.
// mcp-remote is measured when it is installed in testdata/bench-peers
// (npm ci --no-audit --no-fund --prefix testdata/bench-peers); without it
// the bench says so and measures the rest.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	o := bench.Defaults()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	usage := func(w *os.File) {
		fmt.Fprintf(w, "Usage: go run ./cmd/bench [flags]\n\nMeasures start-up, per-call latency, throughput and memory of the bridge\nagainst a direct MCP client and against mcp-remote, on MCP servers it\nstarts on loopback, and judges the bridge's targets.\n\nFlags:\n%s", fs.FlagUsages())
	}
	fs.Usage = func() {} // said below, where it belongs
	bridge := fs.String("bridge", "", "the bridge binary to measure (default: build it from this checkout as the release does, static and without cgo)")
	asJSON := fs.Bool("json", false, "print the measurements as JSON")
	quick := fs.Bool("quick", false, "a short run, to try the command: few calls, short loads")
	fs.IntVar(&o.StartRuns, "runs", o.StartRuns, "cold and warm starts of the bridge per number of servers")
	fs.IntVar(&o.PeerRuns, "peer-runs", o.PeerRuns, "starts of mcp-remote per number of servers")
	fs.StringVar(&o.Profile, "profile", "", "record the bridge's CPU profile with perf into this file, in an extra run of 16 calls in flight")
	fs.StringVar(&o.PeerDir, "peers", "", "where npm installed mcp-remote (default: testdata/bench-peers of this checkout)")
	fs.IntVar(&o.Calls, "calls", o.Calls, "calls per result size, each way")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long each throughput and load measurement runs")
	// The benchmark runs its MCP servers in a process of its own: this one.
	serveUpstreams := fs.Int("serve-upstreams", 0, "run this many MCP servers and print their URLs (used by the benchmark itself)")
	_ = fs.MarkHidden("serve-upstreams")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(os.Stdout)
			return nil
		}
		usage(os.Stderr)
		return err
	}
	if *quick {
		o.StartRuns, o.PeerRuns, o.Calls, o.Duration = 2, 1, 100, 300*time.Millisecond
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *serveUpstreams > 0 {
		return serveUntilEOF(ctx, *serveUpstreams, o.Tools)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.ServerCommand = func(n, tools int) *exec.Cmd {
		return exec.Command(self, "--serve-upstreams", strconv.Itoa(n))
	}
	o.Progress = progress()
	if o.PeerDir == "" {
		o.PeerDir = peersOfCheckout()
	}
	o.Bridge = *bridge
	if o.Bridge == "" {
		dir, err := os.MkdirTemp("", "bridge-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Bridge = filepath.Join(dir, "bridge")
		o.Progress("building the bridge")
		// As the release builds it (.goreleaser.yaml): static, without
		// cgo, whose dynamic loading cost every start a millisecond. The
		// symbols stay, for --profile; they cost a start nothing.
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", o.Bridge, "github.com/mcp-bridge/bridge/cmd/bridge")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the bridge: %w", err)
		}
	}
	r, err := bench.Run(ctx, o)
	o.Progress("")
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*bench.Report
			Targets []bench.Target `json:"targets"`
		}{r, r.Targets()})
	}
	r.Print(os.Stdout)
	return nil
}

// peersOfCheckout is testdata/bench-peers of the checkout the working
// folder is in, found by its go.mod; relative when it can be, as the
// command that installs it is shown with it.
func peersOfCheckout() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			peers := filepath.Join(dir, "testdata", "bench-peers")
			if rel, err := filepath.Rel(wd, peers); err == nil {
				return rel
			}
			return peers
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// serveUntilEOF serves the benchmark's MCP servers until stdin ends.
func serveUntilEOF(ctx context.Context, n, tools int) error {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return bench.ServeUpstreams(ctx, n, tools, os.Stdout)
}

// progress shows what is being measured on stderr: one line rewritten in
// place on a terminal, a line each otherwise.
func progress() func(string) {
	if fi, err := os.Stderr.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func(s string) {
			if s != "" {
				fmt.Fprintln(os.Stderr, s)
			}
		}
	}
	return func(s string) {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", s)
		if s == "" {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
	}
}
