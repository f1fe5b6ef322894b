package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// profile records where the bridge's CPU time goes with 16 calls in
// flight, with Linux's perf, in a run of its own after the measured ones
// (perf's own work would slow those). It says what it did: the file
// written, or why there is none; a missing perf is not a failure.
func profile(ctx context.Context, o Options, bridge route) (string, error) {
	o.Progress("profile of the bridge with 16 in flight")
	perf, err := exec.LookPath("perf")
	if err != nil {
		return "no profile: perf is not installed", nil
	}
	cmd := exec.Command(perf, "record", "--quiet", "-F", "999", "-g", "-p", strconv.Itoa(bridge.pid), "-o", o.Profile)
	out := &tailBuffer{max: 2 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "no profile: " + err.Error(), nil
	}
	// perf needs a moment to attach; calls made before are not in it.
	time.Sleep(200 * time.Millisecond)
	_, _, loadErr := loadRoute(ctx, o, bridge, 16)
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		return fmt.Sprintf("no profile: perf record: %v: %s", err, out.String()), loadErr
	}
	return fmt.Sprintf("profile of the bridge with 16 in flight for %s in %s (perf report -i %s)", o.Duration, o.Profile, o.Profile), loadErr
}
