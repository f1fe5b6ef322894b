package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// The event streams of both transports: text/event-stream, read here.

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id string
	data     []byte
	retry    time.Duration
}

// readEvents reads a text/event-stream and hands each event to handle,
// until handle returns false or the stream ends (nil at a clean end).
func readEvents(r io.Reader, limit int64, handle func(sseEvent) bool) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var ev sseEvent
	var data [][]byte // the event's data lines
	var size int64    // their bytes
	for {
		chunk, err := readSSELine(br, limit)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// A lone CR ends a line too.
		for line := range bytes.SplitSeq(chunk, []byte("\r")) {
			if len(line) > 0 {
				if size += int64(len(line)); size > limit {
					return fmt.Errorf("%w: an event of more than %d bytes", ErrTooLarge, limit)
				}
				ev, data = field(ev, data, line)
				continue
			}
			if data != nil {
				// One line, the usual case, is passed as it is.
				if len(data) == 1 {
					ev.data = data[0]
				} else {
					ev.data = bytes.Join(data, []byte("\n"))
				}
				if !handle(ev) {
					return nil
				}
			}
			ev, data, size = sseEvent{id: ev.id}, nil, 0
		}
	}
}

// field reads one field line into the event being read.
func field(ev sseEvent, data [][]byte, line []byte) (sseEvent, [][]byte) {
	name, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(name) {
	case "data":
		data = append(data, value)
	case "event":
		ev.name = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			ev.id = string(value)
		}
	case "retry":
		if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
			ev.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return ev, data
}

// readSSELine reads up to the next \n, of at most limit bytes, without it
// or the \r before it, into memory of its own; what it returns may hold
// more lines, ended by a lone \r. A line cut off by the end of the stream
// still counts. A line longer than the reader's buffer is gathered in
// pieces and joined once (scratch.go), so that a large event costs its
// size, not twice.
func readSSELine(br *bufio.Reader, limit int64) ([]byte, error) {
	chunk, err := br.ReadSlice('\n')
	if int64(len(chunk)) > limit {
		return nil, fmt.Errorf("%w: a line of more than %d bytes", ErrTooLarge, limit)
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		var rest pieces
		defer rest.free()
		for errors.Is(err, bufio.ErrBufferFull) {
			rest.add(chunk)
			chunk, err = br.ReadSlice('\n')
			if rest.size+int64(len(chunk)) > limit {
				return nil, fmt.Errorf("%w: a line of more than %d bytes", ErrTooLarge, limit)
			}
		}
		rest.add(chunk)
		chunk = rest.join(nil)
	} else {
		chunk = bytes.Clone(chunk)
	}
	if err != nil && (len(chunk) == 0 || !errors.Is(err, io.EOF)) {
		return nil, err
	}
	chunk = bytes.TrimSuffix(chunk, []byte("\n"))
	return bytes.TrimSuffix(chunk, []byte("\r")), nil
}
