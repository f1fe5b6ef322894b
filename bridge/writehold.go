package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// At start-up every server that arrives has files to write in the state
// folder: its pins, its kept lists, and the eras. Each write is synced to
// disk, and fifty of them at once take the CPU and the disk that the
// connections need, which doubled the time to the agent's first list. A
// writeHold keeps those writers waiting until the agent has had its first
// answer (Bridge.Asked), the start-up is over without one, or the bridge
// closes; meanwhile the process reads what it is to write from memory, as
// it does while any write is under way.

// writeHold is a gate that background writers of the state folder wait
// at. The nil writeHold holds nothing.
type writeHold struct {
	once sync.Once
	open chan struct{}
}

func newWriteHold() *writeHold { return &writeHold{open: make(chan struct{})} }

// wait returns once the hold is released.
func (h *writeHold) wait() {
	if h != nil {
		<-h.open
	}
}

// release lets the writers go; again, it does nothing.
func (h *writeHold) release() {
	if h != nil {
		h.once.Do(func() { close(h.open) })
	}
}

// heldWrites is what a writer of the state folder keeps of the hold it
// is under, set before the writes it holds are asked for.
type heldWrites struct{ p atomic.Pointer[writeHold] }

func (w *heldWrites) hold(h *writeHold) { w.p.Store(h) }
func (w *heldWrites) wait()             { w.p.Load().wait() }

// writesAfterStartup holds the writes of the bridge's state folder until
// the agent has had its first answer (Asked), and lets them go at the
// latest a little after the start-up wait is over, for an agent that
// never asks. It is called by Start, b.mu held.
func (b *Bridge) writesAfterStartup() {
	h := newWriteHold()
	b.writes = h
	if p := b.Registry.pins; p != nil {
		p.held.hold(h)
	}
	if b.opts.Lists != nil {
		b.opts.Lists.held.hold(h)
	}
	if b.opts.Eras != nil {
		b.opts.Eras.held.hold(h)
	}
	graceFor := startupWritesGrace // read now: the tests change it
	go func() {
		listed := make(chan struct{})
		go func() { b.waitStartup(context.Background(), (*Upstream).Listed); close(listed) }()
		select {
		case <-b.asked:
		case <-listed:
			grace := time.NewTimer(graceFor)
			defer grace.Stop()
			select {
			case <-b.asked:
			case <-grace.C:
			}
		}
		h.release()
		if p := b.Registry.pins; p != nil {
			p.ahead.drop()
		}
		if b.opts.Lists != nil {
			b.opts.Lists.ahead.drop()
		}
		close(b.startedUp)
	}()
}

// startupWritesGrace is how long after the start-up wait the writes wait
// for the agent's first answer (a variable for the tests).
var startupWritesGrace = time.Second
