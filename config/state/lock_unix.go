//go:build !windows

package state

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f, waiting for it; the lock ends when
// f is closed, or the process ends.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
