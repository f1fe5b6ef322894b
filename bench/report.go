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
	Machine    Machine      `json:"machine"`
	Options    Options      `json:"-"`
	Peer       Peer         `json:"peer"`
	StartUp    []StartUp    `json:"start_up"`
	Latency    []Latency    `json:"latency"`
	Throughput []Throughput `json:"throughput"`
	Memory     []Memory     `json:"memory"`
	Big        Big          `json:"big_result"`
	Profile    string       `json:"profile,omitempty"` // what Options.Profile gave
	Others     []Others     `json:"others"`
}

// Others is how much of the machine's CPUs processes other than the
// benchmark's used during one part of the run (-1: unknown): on a machine
// shared with other work, the figures of a part with a large share are
// not to be trusted.
type Others struct {
	Part  string  `json:"part"`
	Share float64 `json:"share"`
}

// Machine is where the run happened.
type Machine struct {
	OS    string `json:"os"`
	Arch  string `json:"arch"`
	CPU   string `json:"cpu,omitempty"`   // the model, from /proc/cpuinfo
	Cores int    `json:"cores,omitempty"` // physical cores, from /proc/cpuinfo
	CPUs  int    `json:"cpus"`            // logical CPUs this process may use
	Go    string `json:"go"`
	Node  string `json:"node,omitempty"` // the peer's
}

func (m Machine) String() string {
	s := m.OS + "/" + m.Arch
	if m.CPU != "" {
		s += ", " + m.CPU
	}
	if m.Cores > 0 {
		s += fmt.Sprintf(", %d cores", m.Cores)
	}
	s += fmt.Sprintf(", %d CPUs, %s", m.CPUs, m.Go)
	if m.Node != "" {
		s += ", Node " + m.Node
	}
	return s
}

// machine describes this machine, and the Node the peer runs on.
func machine(node string) Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version(), Node: node}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	cores := map[string]bool{} // "physical id/core id"
	var physical string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
		case k == "model name" && m.CPU == "":
			m.CPU = v
		case k == "physical id":
			physical = v
		case k == "core id":
			cores[physical+"/"+v] = true
		}
	}
	m.Cores = len(cores)
	return m
}

// Target is one of the bridge's performance targets, judged against this
// run. Ratio is the measured value over the limit: at most 1 meets an
// upper limit, at least 1 a lower one.
type Target struct {
	What        string  `json:"what"`
	Measured    string  `json:"measured"`
	Limit       string  `json:"target"`
	Ratio       float64 `json:"ratio,omitempty"`
	Pass        bool    `json:"pass"`
	NotMeasured string  `json:"not_measured,omitempty"` // why it could not be judged
}

func atMost(what string, value, limit float64, measured, limitText string) Target {
	return Target{What: what, Measured: measured, Limit: limitText, Ratio: value / limit, Pass: value <= limit}
}

func atLeast(what string, value, limit float64, measured, limitText string) Target {
	return Target{What: what, Measured: measured, Limit: limitText, Ratio: value / limit, Pass: value >= limit}
}

// Targets judges the run against the targets the bridge is held to.
func (r *Report) Targets() []Target {
	var ts []Target
	for _, s := range r.StartUp {
		ts = append(ts, atMost("warm start to the first merged tools/list, "+servers(s.Upstreams),
			s.WarmMS, 10, fmt.Sprintf("%.1f ms", s.WarmMS), "≤ 10 ms"))
	}
	for _, s := range r.StartUp {
		what := "warm start against " + r.Peer.Name + ", " + servers(s.Upstreams)
		if !r.Peer.present() {
			ts = append(ts, Target{What: what, Limit: "≥ 100× faster", NotMeasured: r.Peer.Missing})
			continue
		}
		faster := s.PeerMS / s.WarmMS
		ts = append(ts, atLeast(what, faster, 100, fmt.Sprintf("%.0f× faster", faster), "≥ 100× faster"))
	}
	for _, s := range r.StartUp {
		over := s.ColdMS - s.DirectMS
		ts = append(ts, atMost("cold start over the slowest server, "+servers(s.Upstreams),
			over, 20, fmt.Sprintf("%+.1f ms", over), "≤ 20 ms"))
	}
	for _, l := range r.Latency {
		if l.Size == 10<<10 {
			over := l.Bridge.P50MS - l.Direct.P50MS
			ts = append(ts, atMost("p50 overhead of a 10 KB call", over, 0.3, fmt.Sprintf("%+.3f ms", over), "≤ 0.3 ms"))
		}
	}
	for _, t := range r.Throughput {
		if t.Concurrency == 16 {
			ratio := t.Bridge / t.Direct
			ts = append(ts, atLeast("throughput at 16 calls in flight", ratio, 0.8, fmt.Sprintf("%.2f× direct", ratio), "≥ 0.8× direct"))
		}
	}
	if b := r.Big; b.Size > 0 {
		what := "peak above idle while a " + bytesText(int(b.Size)) + " result passes"
		if b.Error != "" {
			ts = append(ts, Target{What: what, Limit: "≤ 2× its size", NotMeasured: b.Error})
		} else {
			ratio := float64(b.Bridge.Peak-b.Bridge.Idle) / float64(b.Size)
			ts = append(ts, atMost(what, ratio, 2, fmt.Sprintf("%.2f× its size", ratio), "≤ 2× its size"))
		}
	}
	for _, m := range r.Memory {
		if m.Upstreams == 10 {
			what := "resident set with 10 servers, under load"
			if m.Error != "" {
				ts = append(ts, Target{What: what, Limit: "≤ 30 MB", NotMeasured: m.Error})
				continue
			}
			ts = append(ts, atMost(what, float64(m.Bridge.Peak), 30<<20, mb(m.Bridge.Peak), "≤ 30 MB"))
		}
	}
	return ts
}

// Print writes the report as Markdown tables. Every figure of the bridge
// and of the peer is followed by its ratio to the direct client's.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	p := r.Peer.present()
	peer := r.Peer.Name
	fmt.Fprintf(w, "Machine: %s\n\n", r.Machine)
	if len(r.Others) > 0 {
		var parts []string
		for _, x := range r.Others {
			share := "unknown"
			if x.Share >= 0 {
				share = fmt.Sprintf("%.0f%%", 100*x.Share)
			}
			parts = append(parts, x.Part+" "+share)
		}
		fmt.Fprintf(w, "Other processes' share of the CPUs during the run: %s\n\n", strings.Join(parts, ", "))
	}
	if !p {
		fmt.Fprintf(w, "%s is not measured: %s.\n\n", peer, r.Peer.Missing)
	}

	fmt.Fprintf(w, "Start-up: process start to the merged tools/list answered, median of %d runs (%s: of %d, all its processes started at once, until every one has listed its tools); direct: one client initializing and listing every server at once; (×) is the ratio to direct\n\n", o.StartRuns, peer, o.PeerRuns)
	fmt.Fprintf(w, "| servers | tools | direct (slowest server) | bridge, cold | bridge, warm | %s | cold − direct |\n", peer)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range r.StartUp {
		fmt.Fprintf(w, "| %d | %d | %.1f ms | %s | %s | %s | %+.1f ms |\n", s.Upstreams, s.Tools, s.DirectMS,
			ratioed(s.ColdMS, s.DirectMS, "%.1f ms"), ratioed(s.WarmMS, s.DirectMS, "%.1f ms"),
			peerCell(p, s.PeerMS, s.DirectMS, "%.0f ms"), s.ColdMS-s.DirectMS)
	}

	fmt.Fprintf(w, "\nPer call: one tools/call after another, direct, through the bridge and through %s in turn; (×) is the ratio to direct\n\n", peer)
	fmt.Fprintf(w, "| result | calls | direct p50 | bridge p50 | %s p50 | bridge − direct p50 | direct p99 | bridge p99 | %s p99 |\n", peer, peer)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range r.Latency {
		var pp Percentiles
		if l.Peer != nil {
			pp = *l.Peer
		}
		fmt.Fprintf(w, "| %s | %d | %.3f ms | %s | %s | %+.3f ms | %.3f ms | %s | %s |\n", bytesText(l.Size), l.Calls,
			l.Direct.P50MS, ratioed(l.Bridge.P50MS, l.Direct.P50MS, "%.3f ms"), peerCell(p, pp.P50MS, l.Direct.P50MS, "%.3f ms"),
			l.Bridge.P50MS-l.Direct.P50MS,
			l.Direct.P99MS, ratioed(l.Bridge.P99MS, l.Direct.P99MS, "%.3f ms"), peerCell(p, pp.P99MS, l.Direct.P99MS, "%.3f ms"))
	}

	fmt.Fprintf(w, "\nThroughput: calls with %s results kept in flight for %s; (×) is the ratio to direct; CPU per call is the carrying process's (for direct, the benchmark's own)\n\n", bytesText(o.LoadSize), o.Duration)
	fmt.Fprintf(w, "| in flight | direct | bridge | %s | CPU per call: direct client | bridge | %s |\n", peer, peer)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range r.Throughput {
		fmt.Fprintf(w, "| %d | %.0f calls/s | %s | %s | %s | %s | %s |\n", t.Concurrency, t.Direct,
			ratioed(t.Bridge, t.Direct, "%.0f calls/s"), peerCell(p, t.Peer, t.Direct, "%.0f calls/s"),
			micros(t.DirectCPU), micros(t.BridgeCPU), micros(t.PeerCPU))
	}

	if r.Profile != "" {
		fmt.Fprintf(w, "\n%s\n", r.Profile)
	}

	fmt.Fprintf(w, "\nMemory: resident set settled after start-up, and its peak with 16 calls of %s in flight over every server for %s; %s: the sum over its processes, one per server; (×) is the ratio to the bridge\n\n", bytesText(o.LoadSize), o.Duration, peer)
	fmt.Fprintf(w, "| servers | bridge idle | bridge peak under load | %s idle | %s peak under load |\n", peer, peer)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, m := range r.Memory {
		if m.Error != "" {
			fmt.Fprintf(w, "| %d | %s | | | |\n", m.Upstreams, m.Error)
			continue
		}
		var pm RSS
		if m.Peer != nil {
			pm = *m.Peer
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", m.Upstreams, mb(m.Bridge.Idle), mb(m.Bridge.Peak),
			peerMB(p, pm.Idle, m.Bridge.Idle), peerMB(p, pm.Peak, m.Bridge.Peak))
	}
	if b := r.Big; b.Error != "" {
		fmt.Fprintf(w, "\nA %s result: %s\n", bytesText(int(b.Size)), b.Error)
	} else {
		fmt.Fprintf(w, "\nA %s result: %s\n", bytesText(int(b.Size)), bigText("the bridge", b.Bridge, b.Size))
		if b.Peer != nil {
			fmt.Fprintf(w, "and %s\n", bigText(peer, *b.Peer, b.Size))
		}
	}

	fmt.Fprintf(w, "\nTargets, judged in this run; ÷ target is the measured value over the target\n\n")
	fmt.Fprintln(w, "| | measured | target | ÷ target | |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	for _, t := range r.Targets() {
		switch {
		case t.NotMeasured != "":
			fmt.Fprintf(w, "| %s | not measured | %s | | not judged |\n", t.What, t.Limit)
		case t.Pass:
			fmt.Fprintf(w, "| %s | %s | %s | %.2f | pass |\n", t.What, t.Measured, t.Limit, t.Ratio)
		default:
			fmt.Fprintf(w, "| %s | %s | %s | %.2f | **fail** |\n", t.What, t.Measured, t.Limit, t.Ratio)
		}
	}
}

// ratioed is a figure with its ratio to ref: "9.0 ms (3.6×)".
func ratioed(v, ref float64, format string) string {
	if ref <= 0 {
		return fmt.Sprintf(format, v)
	}
	return fmt.Sprintf(format+" (%s×)", v, ratioText(v/ref))
}

func ratioText(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// peerCell is the peer's figure with its ratio to ref, or a dash where the
// peer is not measured.
func peerCell(present bool, v, ref float64, format string) string {
	if !present {
		return "—"
	}
	return ratioed(v, ref, format)
}

func peerMB(present bool, v, bridge int64) string {
	if !present {
		return "—"
	}
	return fmt.Sprintf("%s (%s×)", mb(v), ratioText(float64(v)/float64(bridge)))
}

func bigText(who string, m RSS, size int64) string {
	return fmt.Sprintf("%s's resident set %s before, peak %s: %s above idle, %.2f× the result",
		who, mb(m.Idle), mb(m.Peak), mb(m.Peak-m.Idle), float64(m.Peak-m.Idle)/float64(size))
}

func servers(n int) string {
	if n == 1 {
		return "1 server"
	}
	return fmt.Sprintf("%d servers", n)
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
