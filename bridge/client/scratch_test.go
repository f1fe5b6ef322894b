package client

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Pieces give back what went in, in order, across piece boundaries,
// whether joined behind a head or moved into a buffer.
func TestPiecesJoinWhatWentIn(t *testing.T) {
	for _, size := range []int{0, 1, pieceSize - 1, pieceSize, pieceSize + 1, 3*pieceSize + 7} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		var p pieces
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1000)
			p.add(rest[:n])
			rest = rest[n:]
		}
		if got := p.join([]byte("head:")); string(got) != "head:"+string(data) {
			t.Errorf("size %d: joined %d bytes, not the %d that went in", size, len(got), size+5)
		}
		if p.size != 0 || p.list != nil {
			t.Errorf("size %d: pieces kept after the join", size)
		}
		p.add(data)
		out := make([]byte, size)
		if n := p.moveTo(out); n != size || !bytes.Equal(out, data) {
			t.Errorf("size %d: moved %d bytes", size, n)
		}
		p.add(data)
		p.free()
	}
}

// An event line of any length reads back whole, and one past the limit
// is refused.
func TestReadSSELineOfAnyLength(t *testing.T) {
	const limit = 2 << 20
	for _, tc := range []struct {
		name string
		line string
		err  error
	}{
		{"short", "data: x", nil},
		{"the reader's buffer", "data: " + strings.Repeat("x", 32<<10), nil},
		{"pieces", "data: " + strings.Repeat("y", pieceSize*3+5), nil},
		{"ended by the stream", "data: " + strings.Repeat("z", 100<<10), nil},
		{"past the limit", "data: " + strings.Repeat("w", limit), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.line + "\r\n"
			if tc.name == "ended by the stream" {
				in = tc.line
			}
			got, err := readSSELine(bufio.NewReaderSize(strings.NewReader(in), 32<<10), limit)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.line {
				t.Fatalf("%d bytes, %v; want %d", len(got), err, len(tc.line))
			}
		})
	}
}
