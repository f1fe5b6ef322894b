package bridge

import (
	"testing"
	"time"
)

func TestAServersLogFloodIsCutToItsRate(t *testing.T) {
	var r rate
	now := time.Unix(1000, 0)
	allowed, firstDrops := 0, 0
	for range 10 * logBurst {
		ok, first := r.allow(now)
		if ok {
			allowed++
		}
		if first {
			firstDrops++
		}
	}
	if allowed != logBurst || firstDrops != 1 {
		t.Fatalf("a burst of %d at once: %d passed and %d first drops; want %d and 1", 10*logBurst, allowed, firstDrops, logBurst)
	}
	// A second later, logRate more may pass.
	now = now.Add(time.Second)
	allowed = 0
	for range 10 * logRate {
		if ok, _ := r.allow(now); ok {
			allowed++
		}
	}
	if allowed != logRate {
		t.Errorf("a second later %d passed, want %d", allowed, logRate)
	}
}
