package rawjson

import "bytes"

// maxDepth is how deeply json.Valid lets arrays and objects nest.
const maxDepth = 10000

// Valid reports whether data is one JSON value with nothing but space
// around it. It answers as json.Valid does on every input (FuzzValid),
// nesting bound included, in a fraction of the time on the long strings
// that make a message large, a result's text or an image in base64:
// json.Valid takes a step of its state machine per byte, where Valid
// finds a string's end and its escapes with a search and checks the
// bytes between eight at a time. BenchmarkValid has the numbers.
func Valid(data []byte) bool {
	var buf [32]byte
	open := buf[:0] // the arrays and objects open: '[' or '{'
	i := 0
	var ok bool
	for {
		// A value starts at i.
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch c := data[i]; {
		case c == '[' || c == '{':
			if len(open) == maxDepth {
				return false
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == c+2 { // ']' or '}'
				i++
				break
			}
			open = append(open, c)
			if c == '{' {
				if i, ok = key(data, i); !ok {
					return false
				}
			}
			continue
		case c == '"':
			if i, ok = endString(data, i); !ok {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			if i, ok = endNumber(data, i); !ok {
				return false
			}
		default:
			if i, ok = endLiteral(data, i); !ok {
				return false
			}
		}
		// A value ended at i: what follows is a comma and the next, or
		// the end of what holds it, or of data.
	after:
		for {
			i = skipSpace(data, i)
			if len(open) == 0 {
				return i == len(data)
			}
			if i >= len(data) {
				return false
			}
			top := open[len(open)-1]
			switch data[i] {
			case ',':
				if i++; top == '{' {
					if i, ok = key(data, i); !ok {
						return false
					}
				}
				break after
			case top + 2:
				open = open[:len(open)-1]
				i++
			default:
				return false
			}
		}
	}
}

// key reads a member's key and colon from i and returns where its value
// starts.
func key(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := endString(b, i)
	if !ok {
		return 0, false
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return i + 1, true
}

// endString returns the end of the string starting at b[i] == '"'. Its
// closing quote and its escapes are searched for; the bytes between are
// checked for control characters, which a string may not hold raw. The
// quote found is kept until an escape passes it, so that a string of many
// escapes is not searched to its end again after each.
func endString(b []byte, i int) (int, bool) {
	i++
	quote := -1 // the first '"' at or after i
	for {
		if quote < i {
			q := bytes.IndexByte(b[i:], '"')
			if q < 0 {
				return 0, false
			}
			quote = i + q
		}
		span := b[i:quote]
		e := bytes.IndexByte(span, '\\')
		if e < 0 {
			return quote + 1, !hasControl(span)
		}
		if hasControl(span[:e]) {
			return 0, false
		}
		n := escapeLen(b[i+e:])
		if n == 0 {
			return 0, false
		}
		i += e + n
	}
}

// escapeLen is the length of the escape at the start of b, or 0 if it is
// not one.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		for _, c := range b[2:6] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// hasControl reports whether b holds a byte below 0x20, eight bytes at a
// time: a byte below 0x20 is one that borrows when 0x20 is taken from it
// while its high bit is clear, and a borrow only ever crosses into a
// higher byte from one that is itself below 0x20. Each eight bytes are
// copied into an array first, which costs nothing and which the race
// detector checks in one call, where it would check each byte of b in one
// of its own: under -race that is a 50 MB message checked in a tenth of a
// second rather than a second.
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		w := [8]byte(b)
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// endNumber returns the end of the number starting at b[i].
func endNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// endLiteral returns the end of true, false or null at b[i].
func endLiteral(b []byte, i int) (int, bool) {
	var lit string
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	case 'n':
		lit = "null"
	default:
		return 0, false
	}
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return 0, false
	}
	return i + len(lit), true
}
