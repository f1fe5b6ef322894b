package bridge

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// The pins of servers that arrive at start-up are written once the first
// answer with lists has gone, or when the bridge closes; not before.
func TestStartupWritesWaitForTheFirstList(t *testing.T) {
	defer func(g time.Duration) { startupWritesGrace = g }(startupWritesGrace)
	startupWritesGrace = time.Hour
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	for _, tc := range []struct {
		name    string
		release func(b *Bridge)
	}{
		{"the agent answered", func(b *Bridge) { b.Asked() }},
		{"closed", func(b *Bridge) { b.Close(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins := NewPins(t.TempDir())
			b := New([]*catalog.Server{testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)}, Options{Pins: pins})
			defer b.Close(context.Background())
			b.Start()
			if !b.WaitConnected(context.Background()) {
				t.Fatal("the server did not connect")
			}
			if _, err := os.Stat(pins.Path("one")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the pin file before the first list: %v", err)
			}
			if seen, err := pins.Seen("one"); err != nil || seen == nil {
				t.Fatalf("the pins held back are not read from memory: %v, %v", seen, err)
			}
			tc.release(b)
			pins.Wait()
			if _, err := os.Stat(pins.Path("one")); err != nil {
				t.Fatalf("the pin file after: %v", err)
			}
		})
	}
}

// The start-up is over once the agent has had its first answer, and not
// before.
func TestStartedUpOnTheFirstAnswer(t *testing.T) {
	defer func(g time.Duration) { startupWritesGrace = g }(startupWritesGrace)
	startupWritesGrace = time.Hour
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "one", Transport: upstreamtest.StreamableHTTP})
	dir := t.TempDir()
	opts := Options{Pins: NewPins(dir), Lists: NewListCache(dir, 0, nil)}
	// A server enabled but not in the catalog: its files, read ahead, are
	// never taken.
	ReadAhead(opts.Lists, opts.Pins, []string{"one", "gone"})
	b := New([]*catalog.Server{testServer("one", catalog.RemoteStreamableHTTP, up.StreamableURL)}, opts)
	defer b.Close(context.Background())
	b.Start()
	if !b.WaitConnected(context.Background()) {
		t.Fatal("the server did not connect")
	}
	select {
	case <-b.StartedUp():
		t.Fatal("the start-up was over before the agent had an answer")
	default:
	}
	b.Asked()
	select {
	case <-b.StartedUp():
	case <-time.After(time.Minute):
		t.Fatal("the start-up was not over a minute after the agent's first answer")
	}
	if _, _, ok := opts.Lists.ahead.take(opts.Lists.Path("gone")); ok {
		t.Error("kept lists read ahead and not taken were still held after the start-up")
	}
	if _, _, ok := opts.Pins.ahead.take(opts.Pins.Path("gone")); ok {
		t.Error("pins read ahead and not taken were still held after the start-up")
	}
}
