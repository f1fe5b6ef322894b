package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows that something slow is under way: a spinner on a
// terminal, one plain line otherwise (logs, CI). The function returned
// ends it.
func (a *app) progress(what string) func() {
	f, ok := a.rawStderr.(*os.File)
	if !ok || !isTerminal(f) {
		fmt.Fprintf(a.stderr, "%s…\n", what)
		return func() {}
	}
	var shown strings.Builder
	_, _ = terminalText{&shown}.Write([]byte(what))
	what = shown.String()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		frames := `|/-\`
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(f, "\r%c %s…", frames[i%len(frames)], what)
			select {
			case <-done:
				fmt.Fprintf(f, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
