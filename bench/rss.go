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
	return statTicks(pid, 11, 13)
}

// treeCPUTime is the CPU time this process has used, and its children
// that have exited and been waited for.
func treeCPUTime() (time.Duration, error) {
	return statTicks(os.Getpid(), 11, 15)
}

// statTicks sums the fields [from, to) of /proc/<pid>/stat counted after
// the command name (which ends with the last ")"; the state is field 0,
// utime 11, stime 12, cutime 13, cstime 14), in ticks of 10 ms.
func statTicks(pid, from, to int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, errNoProc
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndex(string(data), ") ")
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data)[i+2:])
	if len(fields) < to {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range fields[from:to] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// machineCPUTime is the CPU time every process on the machine has used,
// user and system, from the first line of /proc/stat.
func machineCPUTime() (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, errNoProc
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", line)
	}
	var ticks int64
	for _, f := range fields[1:4] { // user, nice, system
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// othersLoad measures how busy the rest of the machine is: start it before
// a part of the run, and call what it returns when the part's processes
// have all exited. It gives the share of the CPUs that processes other
// than the benchmark's own used meanwhile, or -1 where it cannot be read.
func othersLoad() func() float64 {
	start := time.Now()
	all, err1 := machineCPUTime()
	own, err2 := treeCPUTime()
	return func() float64 {
		all2, err3 := machineCPUTime()
		own2, err4 := treeCPUTime()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return -1
		}
		others := (all2 - all) - (own2 - own)
		return max(0, others.Seconds()/(time.Since(start).Seconds()*float64(runtime.NumCPU())))
	}
}
