//go:build linux || darwin

package client

import "syscall"

// newPiece maps n bytes of memory of the process's own, outside the Go
// heap; where that fails, the piece is on the heap.
func newPiece(n int) (b []byte, mapped bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), false
	}
	return b, true
}

// freePiece unmaps a mapped piece; nothing refers to it any more. One on
// the heap is left to the collector.
func freePiece(p piece) {
	if p.mapped {
		_ = syscall.Munmap(p.b[:cap(p.b)])
	}
}
