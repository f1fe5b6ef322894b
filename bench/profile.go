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
	_ = os.Remove(o.Profile)
	cmd := exec.Command(perf, "record", "--quiet", "-F", "999", "-g", "-p", strconv.Itoa(bridge.pid), "-o", o.Profile)
	out := &tailBuffer{max: 2 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "no profile: " + err.Error(), nil
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// perf writes its file once it has attached to every thread; calls
	// made before would not be in it.
	for attached := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(o.Profile); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Sprintf("no profile: perf record: %v: %s", err, out.String()), nil
		default:
		}
		if time.Now().After(attached) {
			_ = cmd.Process.Kill()
			<-exited
			return "no profile: perf record wrote nothing for 10s: " + out.String(), nil
		}
	}
	d := max(o.Duration, 3*time.Second)
	o.Duration = d
	_, _, loadErr := loadRoute(ctx, o, bridge, 16)
	// perf ends on an interrupt, as from a terminal, writing its file.
	_ = cmd.Process.Signal(os.Interrupt)
	if err := <-exited; err != nil && cmd.ProcessState.ExitCode() > 0 {
		return fmt.Sprintf("no profile: perf record: %v: %s", err, out.String()), loadErr
	}
	return fmt.Sprintf("Profile of the bridge with 16 calls in flight for %s: perf report -i %s", d, o.Profile), loadErr
}
