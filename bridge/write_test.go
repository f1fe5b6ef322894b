package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// countingWriter counts the writes that reach it.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

// Messages written at once, from many goroutines, each reach the agent
// whole, on a line of its own, and none is left in the buffer; the
// writes to stdout are at most one a message (two for one larger than
// the buffer: what precedes it, then it).
func TestWritesFromManyCallsArriveWholeAndFlushed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		writers   int
		size      int
		maxWrites int
	}{
		{"one", 1, 10, 1},
		{"small, many at once", 64, 100, 64},
		{"larger than the buffer", 8, 100 << 10, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &countingWriter{}
			s := &stdioServer{w: bufio.NewWriterSize(out, 64<<10), outLost: make(chan struct{})}
			text, _ := json.Marshal(string(bytes.Repeat([]byte("x"), tc.size)))
			var wg sync.WaitGroup
			for i := range tc.writers {
				wg.Go(func() {
					s.writeResult(json.RawMessage(fmt.Sprint(i)), json.RawMessage(`{"text":`+string(text)+`}`))
				})
			}
			wg.Wait()
			if n := s.w.Buffered(); n != 0 {
				t.Fatalf("%d bytes left in the buffer", n)
			}
			seen := map[string]bool{}
			for line := range bytes.Lines(out.buf.Bytes()) {
				m, err := parseMessage(bytes.TrimSuffix(line, []byte("\n")))
				if err != nil || len(m.Result) < tc.size {
					t.Fatalf("a line that is not a whole response: %.100s (%v)", line, err)
				}
				seen[string(m.ID)] = true
			}
			if len(seen) != tc.writers || out.writes > tc.maxWrites {
				t.Errorf("%d of %d responses, in %d writes", len(seen), tc.writers, out.writes)
			}
		})
	}
}
