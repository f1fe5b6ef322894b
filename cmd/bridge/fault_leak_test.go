package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// Part of the fault-injection suite indexed in fault_test.go: hung calls
// that time out and leave nothing behind.

// TestHangingCallsTimeOutWithoutLeaking: calls to a server that never answers
// fail after --call-timeout with an error naming the server, the server sees
// each one cancelled, and a hundred of them leave the bridge holding no more
// open files (connections included) or threads than before. It reads /proc,
// so it runs on Linux only.
func TestHangingCallsTimeOutWithoutLeaking(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("counting a process's open files and threads needs Linux's /proc; this is %s", runtime.GOOS)
	}
	const (
		timeout = 150 * time.Millisecond
		batch   = 10 // calls sent at once
		rounds  = 10
		// slack is how far above the baseline the counts may end: idle
		// pooled connections come and go, up to about one per call in
		// flight at once. A leak of one file or thread per call would end
		// a hundred above it.
		slack = batch + 5
	)
	for _, transport := range []upstreamtest.Transport{upstreamtest.StreamableHTTP, upstreamtest.SSE} {
		t.Run(string(transport), func(t *testing.T) {
			t.Parallel()
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: transport})
			a := startAgent(t, entityYAML("alpha", remoteOf(up)), []string{"alpha"}, "", "--call-timeout", timeout.String())
			a.initialize("2025-11-25")
			listTools(a)
			calls := 0
			// round makes batch calls at once that all hang, and waits
			// until the server has seen each of them cancelled.
			round := func() {
				t.Helper()
				ids := make([]int, batch)
				for i := range ids {
					ids[i] = a.request("tools/call", map[string]any{"name": "alpha__wait", "arguments": map[string]any{"seconds": 60}})
				}
				answers, _ := a.awaitAll(20*time.Second, ids...)
				for _, m := range answers {
					if m.Error == nil || !strings.Contains(m.Error.Message, "alpha: no answer or progress within "+timeout.String()) {
						t.Fatalf("hung call: %s", m.raw)
					}
				}
				calls += batch
				// Told so (notifications/cancelled), and the call's
				// handler on the server ended.
				deadline := time.Now().Add(15 * time.Second)
				for s := up.Stats(); s.Cancelled != calls || s.WaitsCancelled != calls; s = up.Stats() {
					if time.Now().After(deadline) {
						t.Fatalf("%d calls timed out; the server got %d notifications/cancelled and saw %d calls cancelled",
							calls, s.Cancelled, s.WaitsCancelled)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// The first round grows the connection pool to what this load
			// needs; the baseline is taken after it.
			round()
			files0, threads0 := processCounts(t, a.pid())
			for range rounds {
				round()
			}
			// Whatever a timed-out call holds, it has let go of once the
			// server has seen it cancelled; allow a moment all the same.
			var files, threads int
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				files, threads = processCounts(t, a.pid())
				if files <= files0+slack && threads <= threads0+slack {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d timed-out calls the bridge has %d open files (%d before) and %d threads (%d before); open files:\n%s",
						rounds*batch, files, files0, threads, threads0, openFiles(a.pid()))
				}
			}
			t.Logf("open files %d → %d, threads %d → %d over %d timed-out calls", files0, files, threads0, threads, rounds*batch)
			if text, errm := a.toolText("alpha__echo", map[string]any{"text": "still here"}); errm != nil || text != "still here" {
				t.Errorf("after the timeouts: %q %v", text, errm)
			}
		})
	}
}

// processCounts is how many files a process has open and how many threads
// it runs.
func processCounts(t *testing.T, pid int) (files, threads int) {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	must(t, err)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	must(t, err)
	return len(fds), len(tasks)
}

// openFiles lists what a process's file descriptors point to.
func openFiles(pid int) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join(dir, fd.Name()))
		fmt.Fprintf(&b, "  %s -> %s\n", fd.Name(), target)
	}
	return b.String()
}
