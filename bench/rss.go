package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// resetPeak makes the peak resident set start again from the current one.
func resetPeak(pid int) error {
	if runtime.GOOS != "linux" {
		return errNoProc
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
