package main

import (
	"runtime/debug"
	"testing"
)

// serve slows the collector for its start-up and puts the pace back once,
// unless GOGC sets it.
func TestServePacesTheCollectorForItsStartUpOnly(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	restore := paceGCForStartUp()
	if got := debug.SetGCPercent(startUpGCPercent); got != startUpGCPercent {
		t.Fatalf("during the start-up the pace is %d, want %d", got, startUpGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(70); got != 100 {
		t.Fatalf("after the start-up the pace is %d, want 100 back", got)
	}
	restore() // once only: a pace set since stays
	if got := debug.SetGCPercent(100); got != 70 {
		t.Fatalf("a second restore set the pace to %d", got)
	}

	t.Setenv("GOGC", "50")
	paceGCForStartUp()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, the start-up changed the pace to %d", got)
	}
}
