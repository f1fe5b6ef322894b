//go:build !windows

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// agentInput is stdin, read through the runtime's poller when it is a pipe
// or a socket, as an agent's always is. A blocking read holds a thread, and
// each message then has to wake another thread to be handled: on a virtual
// machine that wake-up alone costs a tenth of a millisecond, on every
// message. Through the poller, the thread that sees the data handles it.
// A terminal or a file is left as it is: a terminal's mode is shared with
// the shell.
func agentInput() *os.File {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return os.Stdin
	}
	if err := syscall.SetNonblock(int(os.Stdin.Fd()), true); err != nil {
		return os.Stdin
	}
	// NewFile sees the non-blocking mode and registers with the poller.
	return os.NewFile(os.Stdin.Fd(), "/dev/stdin")
}

// ignoreBrokenPipe makes a write to an agent that closed its end of stdout
// fail, instead of ending the process by SIGPIPE: serve then shuts down as
// at the end of stdin, and deletes its sessions.
func ignoreBrokenPipe() { signal.Ignore(syscall.SIGPIPE) }
