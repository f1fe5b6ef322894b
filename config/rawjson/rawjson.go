// Package rawjson reads and edits the top level of JSON objects in place,
// for the MCP messages the bridge passes on and the agents' configuration
// files it edits. A call's params and result can be megabytes of
// arguments and content the bridge has no business decoding: it only needs
// a few small members, and to change one or two. Walking the top level and copying spans costs one quick pass;
// decoding and encoding again costs several slow ones.
//
// Keys match the way encoding/json matches struct fields, without regard to
// case (bytes.EqualFold), because that is how a Go server will read them. A
// key given more than once in that sense is ambiguous: the bridge and the
// server could act on different values. Member.Is matches exactly instead,
// for files that JavaScript programs read.
package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Errors of the reader.
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrNotArray  = errors.New("not a JSON array")
	ErrAmbiguous = errors.New("key given more than once")
)

// Member is one top-level member of an object: its key as written (quotes
// and escapes included) and where its value starts and ends.
type Member struct {
	Key        []byte
	Start, End int
}

// Matches reports whether the member's key is name, ignoring case.
func (m Member) Matches(name string) bool {
	key := m.Key[1 : len(m.Key)-1]
	if bytes.IndexByte(key, '\\') < 0 {
		return bytes.EqualFold(key, []byte(name))
	}
	var s string
	return json.Unmarshal(m.Key, &s) == nil && bytes.EqualFold([]byte(s), []byte(name))
}

// Is reports whether the member's key is exactly name, escapes decoded:
// how JavaScript, which the desktop agents are written in, reads keys, so
// that "MCPSERVERS" is not "mcpServers" to them.
func (m Member) Is(name string) bool {
	// Most keys are UTF-8 without escapes, and compare as written; the
	// others decode first, bytes that are not UTF-8 to U+FFFD.
	if key := m.Key[1 : len(m.Key)-1]; bytes.IndexByte(key, '\\') < 0 && utf8.Valid(key) {
		return string(key) == name
	}
	var s string
	return json.Unmarshal(m.Key, &s) == nil && s == name
}

// Members lists the top-level members of obj. It checks the structure it
// walks, but not every value: obj should already be known to be JSON.
func Members(obj []byte) ([]Member, error) { return AppendMembers(nil, obj) }

// AppendMembers is Members, appending to out: with out on the caller's
// stack (var buf [n]Member; AppendMembers(buf[:0], obj)), reading an
// object of up to n members allocates nothing, where the slice Members
// grows costs several allocations on every message.
func AppendMembers(out []Member, obj []byte) ([]Member, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, ErrNotObject
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return out, trailing(obj, i+1)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, ErrNotObject
		}
		keyEnd, err := skipString(obj, i)
		if err != nil {
			return nil, err
		}
		key := obj[i:keyEnd]
		i = skipSpace(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil, ErrNotObject
		}
		start := skipSpace(obj, i+1)
		end, err := skipValue(obj, start)
		if err != nil {
			return nil, err
		}
		out = append(out, Member{Key: key, Start: start, End: end})
		i = skipSpace(obj, end)
		switch {
		case i < len(obj) && obj[i] == ',':
			i = skipSpace(obj, i+1)
		case i < len(obj) && obj[i] == '}':
			return out, trailing(obj, i+1)
		default:
			return nil, ErrNotObject
		}
	}
}

// Elements lists the elements of a JSON array known to be valid.
func Elements(arr []byte) ([]json.RawMessage, error) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, ErrNotArray
	}
	var out []json.RawMessage
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return out, trailing(arr, i+1)
	}
	for {
		end, err := skipValue(arr, i)
		if err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(arr[i:end]))
		i = skipSpace(arr, end)
		switch {
		case i < len(arr) && arr[i] == ',':
			i = skipSpace(arr, i+1)
		case i < len(arr) && arr[i] == ']':
			return out, trailing(arr, i+1)
		default:
			return nil, ErrNotArray
		}
	}
}

// stackMembers is how many members the readers here make room for on the
// stack: more than an MCP message or its params have.
const stackMembers = 16

// Walk gives each top-level member of obj to fn, in order, checking what
// Members checks; an object of up to stackMembers members costs no
// allocation.
func Walk(obj []byte, fn func(Member)) error {
	var buf [stackMembers]Member
	ms, err := AppendMembers(buf[:0], obj)
	if err != nil {
		return err
	}
	for _, m := range ms {
		fn(m)
	}
	return nil
}

// Lookup returns the raw value of obj's member name, if it has one.
func Lookup(obj []byte, name string) (json.RawMessage, bool, error) {
	var buf [stackMembers]Member
	ms, err := AppendMembers(buf[:0], obj)
	if err != nil {
		return nil, false, err
	}
	found := -1
	for k, m := range ms {
		if m.Matches(name) {
			if found >= 0 {
				return nil, false, fmt.Errorf("%q: %w", name, ErrAmbiguous)
			}
			found = k
		}
	}
	if found < 0 {
		return nil, false, nil
	}
	return json.RawMessage(obj[ms[found].Start:ms[found].End]), true, nil
}

// LookupString returns the string value of obj's member name, or "".
func LookupString(obj []byte, name string) (string, error) {
	raw, ok, err := Lookup(obj, name)
	if err != nil || !ok {
		return "", err
	}
	s, err := String(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// String decodes a JSON string value as encoding/json does, without its
// cost for a string with nothing to decode.
func String(raw []byte) (string, error) {
	if s, ok := PlainString(raw); ok {
		return s, nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// SetMember returns obj with member name set to the raw JSON value: in
// place of the first member of that name, which every other one of that
// name gives way to, or first when there is none. Every other byte stays.
func SetMember(obj []byte, name string, value []byte) (json.RawMessage, error) {
	var buf [stackMembers]Member
	ms, err := AppendMembers(buf[:0], obj)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(obj)+len(name)+len(value)+4)
	from, set := 0, false
	for k, m := range ms {
		if !m.Matches(name) {
			continue
		}
		if !set {
			out = append(out, obj[from:m.Start]...)
			out = append(out, value...)
			from, set = m.End, true
			continue
		}
		// Drop a later duplicate with the comma before it.
		cut := ms[k-1].End
		out = append(out, obj[from:cut]...)
		from = m.End
	}
	if set {
		return append(out, obj[from:]...), nil
	}
	open := bytes.IndexByte(obj, '{') + 1
	out = append(out, obj[:open]...)
	out = AppendString(out, name)
	out = append(out, ':')
	out = append(out, value...)
	if len(ms) > 0 {
		out = append(out, ',')
	}
	return append(out, obj[open:]...), nil
}

// DeleteMember returns obj without its members named name (in any letter
// case, as SetMember matches them), and with their commas; every other
// byte stays. An object without one is returned as it is.
func DeleteMember(obj []byte, name string) (json.RawMessage, error) {
	ms, err := Members(obj)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(obj))
	from, kept := 0, 0
	for k, m := range ms {
		keyStart := bytes.LastIndex(obj[:m.Start], m.Key)
		if !m.Matches(name) {
			kept++
			continue
		}
		// Cut from the end of the member before (its comma goes too),
		// or, for the first, up to the start of the next.
		switch {
		case kept > 0:
			prev := ms[k-1].End
			out = append(out, obj[from:prev]...)
			from = m.End
		case k+1 < len(ms):
			next := bytes.LastIndex(obj[:ms[k+1].Start], ms[k+1].Key)
			out = append(out, obj[from:keyStart]...)
			from = next
		default:
			out = append(out, obj[from:keyStart]...)
			from = m.End
		}
	}
	if from == 0 {
		return obj, nil
	}
	return append(out, obj[from:]...), nil
}

// SetString is SetMember with a string value.
func SetString(obj []byte, name, value string) (json.RawMessage, error) {
	var buf [64]byte
	return SetMember(obj, name, AppendString(buf[:0], value))
}

// appendQuoted appends s as a JSON string, as encoding/json writes it: as
// it is between quotes when nothing in it needs escaping, the usual case
// of names and IDs.
func AppendString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(out, enc...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

// PlainString is the value of a JSON string without escapes, control
// bytes or anything but printable ASCII, read without encoding/json; ok is
// false for any other, which encoding/json is to read.
func PlainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(in), true
}

// OneLine returns JSON text without the line breaks it may have between
// tokens (a string cannot hold one raw), so that it fits in one stdio
// message. Text without any is returned as it is.
func OneLine(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return raw, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// trailing checks that nothing but space follows position i.
func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return ErrNotObject
	}
	return nil
}

// skipString returns the end of the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, ErrNotObject
		}
		i += q
		escapes := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			escapes++
		}
		i++
		if escapes%2 == 0 {
			return i, nil
		}
	}
}

// skipValue returns the end of the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, ErrNotObject
	}
	start := i
scalar:
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			break scalar
		}
	}
	if i == start {
		return 0, ErrNotObject
	}
	return i, nil
}
