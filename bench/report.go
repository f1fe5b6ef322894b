package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// Report is one run's measurements.
type Report struct {
	Machine    string       `json:"machine"`
	Options    Options      `json:"-"`
	StartUp    []StartUp    `json:"start_up"`
	Latency    []Latency    `json:"latency"`
	Throughput []Throughput `json:"throughput"`
	Memory     []Memory     `json:"memory"`
	Big        Big          `json:"big_result"`
}

// Target is one of the bridge's performance targets, against this run.
type Target struct {
	What     string `json:"what"`
	Measured string `json:"measured"`
	Limit    string `json:"target"`
	Met      bool   `json:"met"`
}

// Targets judges the run against the targets the bridge is held to.
func (r *Report) Targets() []Target {
	var ts []Target
	for _, s := range r.StartUp {
		over := s.BridgeMS - s.DirectMS
		unit := "upstreams"
		if s.Upstreams == 1 {
			unit = "upstream"
		}
		ts = append(ts, Target{fmt.Sprintf("start-up over the slowest upstream, %d %s", s.Upstreams, unit),
			fmt.Sprintf("%+.1f ms", over), "≤ 20 ms", over <= 20})
	}
	for _, l := range r.Latency {
		if l.Size == 10<<10 {
			over := l.BridgeP50MS - l.DirectP50MS
			ts = append(ts, Target{"p50 overhead of a 10 KB call", fmt.Sprintf("%+.2f ms", over), "≤ 0.3 ms", over <= 0.3})
		}
	}
	for _, t := range r.Throughput {
		if t.Concurrency == 16 {
			ratio := t.Bridge / t.Direct
			ts = append(ts, Target{"throughput at 16 concurrent calls", fmt.Sprintf("%.2f× direct", ratio), "≥ 0.8×", ratio >= 0.8})
		}
	}
	for _, m := range r.Memory {
		if m.Upstreams == 10 && m.Error == "" {
			peak := max(m.Idle, m.Load)
			ts = append(ts, Target{"resident set with 10 upstreams, under load", mb(peak), "≤ 30 MB", peak <= 30<<20})
		}
	}
	if r.Big.Error == "" && r.Big.Size > 0 {
		ratio := float64(r.Big.Peak-r.Big.Idle) / float64(r.Big.Size)
		ts = append(ts, Target{"peak above idle while a " + bytesText(int(r.Big.Size)) + " result passes",
			fmt.Sprintf("%.1f× its size", ratio), "≤ 3×", ratio <= 3})
	}
	return ts
}

// Print writes the report as Markdown tables.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "Machine: %s\n\n", r.Machine)

	fmt.Fprintf(w, "Start-up: process start to the merged tools/list answered, median of %d runs; direct: one client initializing and listing every upstream at once\n\n", o.StartRuns)
	fmt.Fprintln(w, "| upstreams | tools | bridge | direct (slowest upstream) | bridge − direct |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, s := range r.StartUp {
		fmt.Fprintf(w, "| %d | %d | %.1f ms | %.1f ms | %+.1f ms |\n", s.Upstreams, s.Tools, s.BridgeMS, s.DirectMS, s.BridgeMS-s.DirectMS)
	}

	fmt.Fprintf(w, "\nPer call: one tools/call after another, through the bridge and direct in turn\n\n")
	fmt.Fprintln(w, "| result | calls | bridge p50 | direct p50 | p50 overhead | bridge p99 | direct p99 | p99 overhead |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range r.Latency {
		fmt.Fprintf(w, "| %s | %d | %.3f ms | %.3f ms | %+.3f ms | %.3f ms | %.3f ms | %+.3f ms |\n", bytesText(l.Size), l.Calls,
			l.BridgeP50MS, l.DirectP50MS, l.BridgeP50MS-l.DirectP50MS, l.BridgeP99MS, l.DirectP99MS, l.BridgeP99MS-l.DirectP99MS)
	}

	fmt.Fprintf(w, "\nThroughput: calls with %s results kept in flight for %s\n\n", bytesText(o.LoadSize), o.Duration)
	fmt.Fprintln(w, "| in flight | bridge | direct | bridge ÷ direct | CPU per call: bridge | CPU per call: direct client |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	for _, t := range r.Throughput {
		fmt.Fprintf(w, "| %d | %.0f calls/s | %.0f calls/s | %.2f | %s | %s |\n", t.Concurrency, t.Bridge, t.Direct, t.Bridge/t.Direct, micros(t.BridgeCPU), micros(t.DirectCPU))
	}

	fmt.Fprintf(w, "\nMemory: the bridge process's resident set, settled after start-up, and its peak with 16 calls of %s in flight over every upstream for %s\n\n", bytesText(o.LoadSize), o.Duration)
	fmt.Fprintln(w, "| upstreams | idle | peak under load |")
	fmt.Fprintln(w, "|---:|---:|---:|")
	for _, m := range r.Memory {
		if m.Error != "" {
			fmt.Fprintf(w, "| %d | %s | |\n", m.Upstreams, m.Error)
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", m.Upstreams, mb(m.Idle), mb(m.Load))
	}
	if b := r.Big; b.Error != "" {
		fmt.Fprintf(w, "\nA %s result: %s\n", bytesText(int(b.Size)), b.Error)
	} else {
		fmt.Fprintf(w, "\nA %s result through the bridge: resident set %s before, peak %s: %s above idle, %.1f× the result\n",
			bytesText(int(b.Size)), mb(b.Idle), mb(b.Peak), mb(b.Peak-b.Idle), float64(b.Peak-b.Idle)/float64(b.Size))
	}

	fmt.Fprintf(w, "\nTargets\n\n")
	fmt.Fprintln(w, "| | measured | target | |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, t := range r.Targets() {
		met := "met"
		if !t.Met {
			met = "**missed**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.What, t.Measured, t.Limit, met)
	}
}

// machine describes where the run happened.
func machine() string {
	cpu := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v) + ", "
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s/%s, %s%d CPUs, %s", runtime.GOOS, runtime.GOARCH, cpu, runtime.NumCPU(), runtime.Version())
}

func micros(us float64) string {
	if us <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", us)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// bytesText is a size as the tables show it: 100 B, 10 KB, 1 MB.
func bytesText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
