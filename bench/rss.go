package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Memory is read from Linux's /proc: the resident set now (VmRSS), its
// peak (VmHWM), and clear_refs to start a new peak. Elsewhere there is no
// such reading, and the memory rows say so.

var errNoProc = errors.New("memory is measured on Linux only")

// rss returns a process's resident set size and its peak since start or
// the last resetPeak, in bytes.
func rss(pid int) (now, peak int64, err error) {
	if runtime.GOOS != "linux" {
		return 0, 0, errNoProc
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		if key == "VmRSS" {
			now = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if now == 0 || peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return now, peak, sc.Err()
}

// memoryReadable says why memory cannot be measured here, or nil.
func memoryReadable() error {
	_, _, err := rss(os.Getpid())
	return err
}

// processes are the processes of one program (the bridge's one, or the
// peer's one per server), whose memory counts together.
type processes []int

// rss is the sum of the processes' resident sets, and of their peaks.
func (ps processes) rss() (now, peak int64, err error) {
	for _, pid := range ps {
		n, p, err := rss(pid)
		if err != nil {
			return 0, 0, err
		}
		now, peak = now+n, peak+p
	}
	return now, peak, nil
}

// resetPeak starts every process's peak again.
func (ps processes) resetPeak() error {
	for _, pid := range ps {
		if err := resetPeak(pid); err != nil {
			return err
		}
	}
	return nil
}

// resetPeak makes the peak resident set start again from the current one.
func resetPeak(pid int) error {
	if runtime.GOOS != "linux" {
		return errNoProc
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuTime is the CPU time a process has used, user and system, read from
// /proc/<pid>/stat in clock ticks of 10 ms: good for spans of seconds.
func cpuTime(pid int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, errNoProc
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which ends with the last ")":
	// state is the first, utime the 12th and stime the 13th.
	i := strings.LastIndex(string(data), ") ")
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data)[i+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
