package bridge

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// A tool's pin hashes the canonical form of each pinned part: what
// encoding/json writes for the value it decodes the part into as an any
// (objects' keys sorted, numbers as float64, no space). Decoding and
// encoding with reflection cost most of a server's arrival on a new state
// folder, where every tool is pinned; appendCanonical makes the same bytes
// without either, for the JSON tools are made of, and says where it does
// not know them to be the same, for encoding/json to make them.

// appendCanonical appends the canonical form of raw, one valid JSON value
// with no space around it, to out. ok is false for what it leaves to
// encoding/json: a string with escapes or bytes other than printable
// ASCII, or a number that is no float64.
func appendCanonical(out, raw []byte) (_ []byte, ok bool) {
	if len(raw) == 0 {
		return out, false
	}
	switch c := raw[0]; {
	case c == '{':
		return appendCanonicalObject(out, raw)
	case c == '[':
		elems, err := rawjson.Elements(raw)
		if err != nil {
			return out, false
		}
		out = append(out, '[')
		for i, e := range elems {
			if i > 0 {
				out = append(out, ',')
			}
			if out, ok = appendCanonical(out, e); !ok {
				return out, false
			}
		}
		return append(out, ']'), true
	case c == '"':
		s, ok := rawjson.PlainString(raw)
		return appendCanonicalString(out, s), ok
	case c == 't' || c == 'f' || c == 'n':
		return append(out, raw...), true
	}
	return appendCanonicalNumber(out, raw)
}

// appendCanonicalObject writes an object's members sorted by key, the
// last of a key given more than once standing for it, as a map does.
func appendCanonicalObject(out, raw []byte) ([]byte, bool) {
	var buf [16]rawjson.Member
	ms, err := rawjson.AppendMembers(buf[:0], raw)
	if err != nil {
		return out, false
	}
	type member struct {
		key   string
		order int
		value []byte
	}
	members := make([]member, 0, len(ms))
	for i, m := range ms {
		key, ok := rawjson.PlainString(m.Key)
		if !ok {
			return out, false
		}
		members = append(members, member{key, i, raw[m.Start:m.End]})
	}
	// By key, the last given first among equals.
	slices.SortFunc(members, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(b.order, a.order))
	})
	out = append(out, '{')
	for i, m := range members {
		if i > 0 && m.key == members[i-1].key {
			continue
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = appendCanonicalString(out, m.key)
		out = append(out, ':')
		var ok bool
		if out, ok = appendCanonical(out, m.value); !ok {
			return out, false
		}
	}
	return append(out, '}'), true
}

// appendCanonicalString writes printable ASCII as encoding/json does:
// quoted, with <, > and & as \u escapes.
func appendCanonicalString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			out = append(out, `\u003c`...)
		case '>':
			out = append(out, `\u003e`...)
		case '&':
			out = append(out, `\u0026`...)
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// appendCanonicalNumber writes a number as encoding/json writes the
// float64 it decodes to: the shortest digits that read back the same, in
// exponent form below 1e-6 and from 1e21 on, its exponent without a
// leading zero.
func appendCanonicalNumber(out, raw []byte) ([]byte, bool) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return out, false
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(out)
	out = strconv.AppendFloat(out, f, format, -1, 64)
	if format == 'e' {
		// e-07 is written e-7.
		if n := len(out); n-start >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out, true
}
