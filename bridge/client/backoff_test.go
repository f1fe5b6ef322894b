package client

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToTheCapWithJitter(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for n, base := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		base *= time.Millisecond
		for range 50 {
			d := Backoff(n, min, max)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("backoff(%d) = %s, want %s ±20%%", n, d, base)
			}
		}
	}
}
