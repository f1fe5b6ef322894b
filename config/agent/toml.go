package agent

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// ErrNotTOML means a TOML file cannot be edited safely: it does not parse,
// or it holds the entry in a form other than a table of its own.
var ErrNotTOML = errors.New("not TOML the bridge can edit safely")

// A TOML file holds the bridge's entry as a table of its own,
// [<key>.<name>] with command and args. Only that table's lines are
// written: the file is read with a TOML parser to find them, and each edit
// is checked by parsing the result, which must hold what the original held
// with only the entry changed.

// tomlTable is the entry as a table of its own.
func tomlTable(key, name string, l Launch) string {
	return "[" + key + "." + tomlKey(name) + "]\n" + strings.Join(tomlValues(l), "")
}

// tomlValues are the entry's key-value lines.
func tomlValues(l Launch) []string {
	args := make([]string, len(l.Args))
	for i, a := range l.Args {
		args[i] = tomlString(a)
	}
	return []string{
		"command = " + tomlString(l.Command) + "\n",
		"args = [" + strings.Join(args, ", ") + "]\n",
	}
}

func tomlKey(s string) string {
	if isBareKey(s) {
		return s
	}
	return tomlString(s)
}

// isBareKey is whether TOML takes s as a key without quotes: letters,
// digits, "_" and "-", at least one.
func isBareKey(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// tomlString writes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlExpr is one top-level expression of a TOML file: a table header or
// a key-value.
type tomlExpr struct {
	header bool     // a [table] or [[array]] header
	array  bool     // an [[array]] header
	table  []string // the table a key-value is in; a header's own path
	path   []string // the full path: a header's, or a key-value's table and key
	start  int      // offset of the start of its first line
	end    int      // offset past its last line, without trailing blank or comment lines
}

// parseTOML lists the expressions of data.
func parseTOML(data []byte) ([]tomlExpr, error) {
	var p unstable.Parser
	p.Reset(data)
	var exprs []tomlExpr
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		var keys []string
		first := -1
		for it := e.Key(); it.Next(); {
			k := it.Node()
			if first < 0 {
				first = int(k.Raw.Offset)
			}
			keys = append(keys, string(k.Data))
		}
		x := tomlExpr{start: lineStart(data, first)}
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keys
			x.header, x.array, x.table, x.path = true, e.Kind == unstable.ArrayTable, keys, keys
			x.end = lineEnd(data, first)
		case unstable.KeyValue:
			x.table, x.path = table, append(slices.Clone(table), keys...)
			x.end = lineEnd(data, int(e.Raw.Offset+e.Raw.Length))
		default:
			continue
		}
		exprs = append(exprs, x)
	}
	if err := p.Error(); err != nil {
		var perr *unstable.ParserError
		if errors.As(err, &perr) {
			row, col := position(data, p.Range(perr.Highlight).Offset)
			return nil, fmt.Errorf("%w: line %d, column %d: %s", ErrNotTOML, row, col, perr.Message)
		}
		return nil, fmt.Errorf("%w: %w", ErrNotTOML, err)
	}
	return exprs, nil
}

func position(data []byte, offset uint32) (row, col int) {
	before := data[:min(int(offset), len(data))]
	row = bytes.Count(before, []byte("\n")) + 1
	return row, len(before) - bytes.LastIndexByte(before, '\n')
}

func lineStart(data []byte, at int) int {
	return bytes.LastIndexByte(data[:max(at, 0)], '\n') + 1
}

// lineEnd is the offset past the line holding offset at-1 (the line an
// expression ending at at ends on).
func lineEnd(data []byte, at int) int {
	if i := bytes.IndexByte(data[at:], '\n'); i >= 0 {
		return at + i + 1
	}
	return len(data)
}

// entrySpan finds the entry's table: the index of its header in exprs and
// the offsets its section spans (the header, its key-values and the tables
// under it, such as [<key>.<name>.env]). Any other form of the entry is
// refused.
func entrySpan(data []byte, exprs []tomlExpr, key, name string) (header int, spans [][2]int, err error) {
	entry := []string{key, name}
	header = -1
	for i, x := range exprs {
		inEntry := hasPrefix(x.table, entry)
		switch {
		case x.header && x.array && hasPrefix(x.path, entry):
			return 0, nil, fmt.Errorf("%w: %s is an array of tables", ErrNotTOML, strings.Join(entry, "."))
		case x.header && slices.Equal(x.path, entry):
			if header >= 0 {
				return 0, nil, fmt.Errorf("%w: [%s] is defined twice", ErrNotTOML, strings.Join(entry, "."))
			}
			header = i
		case !inEntry && hasPrefix(x.path, entry) && !x.header:
			return 0, nil, fmt.Errorf("%w: %s is set outside its own [%s] table", ErrNotTOML, strings.Join(x.path, "."), strings.Join(entry, "."))
		case !inEntry && !x.header && len(x.path) < len(entry) && hasPrefix(entry, x.path):
			return 0, nil, fmt.Errorf("%w: %s is written inline, so no table can be added to it", ErrNotTOML, strings.Join(x.path, "."))
		}
		if x.header && hasPrefix(x.path, entry) {
			end := len(data)
			for _, y := range exprs[i+1:] {
				if y.header {
					end = y.start
					break
				}
			}
			spans = append(spans, [2]int{x.start, trimTrailing(data, x.start, end)})
		}
	}
	return header, spans, nil
}

// trimTrailing moves end back over blank and comment lines, which belong
// to what follows.
func trimTrailing(data []byte, start, end int) int {
	for end > start {
		prev := lineStart(data, end-1)
		line := strings.TrimSpace(string(data[prev:end]))
		if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
		end = prev
	}
	return end
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

// tomlAdd sets the entry's command and args, adding its table at the end
// when there is none, and keeps every other line.
func tomlAdd(data []byte, key, name string, l Launch) ([]byte, bool, error) {
	var before map[string]any
	if err := toml.Unmarshal(data, &before); err != nil {
		return nil, false, notTOML(data, err)
	}
	exprs, err := parseTOML(data)
	if err != nil {
		return nil, false, err
	}
	header, _, err := entrySpan(data, exprs, key, name)
	if err != nil {
		return nil, false, err
	}
	eol := lineEnding(data)
	var out []byte
	if header < 0 {
		out = slices.Clone(data)
		if !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, eol...)
		}
		if !bytes.HasSuffix(out, []byte("\n\n")) && !bytes.HasSuffix(out, []byte("\r\n\r\n")) {
			out = append(out, eol...)
		}
		out = append(out, withEOL(tomlTable(key, name, l), eol)...)
	} else {
		values := tomlValues(l)
		want := map[string]string{"command": values[0], "args": values[1]}
		type edit struct {
			from, to int
			text     string
		}
		var edits []edit
		for _, x := range exprs[header+1:] {
			if x.header {
				break
			}
			if text, ok := want[x.path[len(x.path)-1]]; ok && len(x.path) == 3 {
				edits = append(edits, edit{x.start, x.end, withEOL(text, eol)})
				delete(want, x.path[len(x.path)-1])
			}
		}
		var missing string
		for _, k := range []string{"command", "args"} {
			missing += want[k]
		}
		if missing != "" {
			after := exprs[header].end
			edits = append(edits, edit{after, after, withEOL(missing, eol)})
		}
		slices.SortStableFunc(edits, func(a, b edit) int { return b.from - a.from })
		out = slices.Clone(data)
		for _, e := range edits {
			out = slices.Concat(out[:e.from], []byte(e.text), out[e.to:])
		}
	}
	expected := withEntry(before, key, name, l)
	if err := sameTOML(out, expected); err != nil {
		return nil, false, err
	}
	if sameTOML(data, expected) == nil {
		return data, false, nil
	}
	return out, true, nil
}

// tomlRemove takes the entry's tables out.
func tomlRemove(data []byte, key, name string) ([]byte, bool, error) {
	var before map[string]any
	if err := toml.Unmarshal(data, &before); err != nil {
		return nil, false, notTOML(data, err)
	}
	if servers, ok := before[key].(map[string]any); !ok || servers[name] == nil {
		return data, false, nil
	}
	exprs, err := parseTOML(data)
	if err != nil {
		return nil, false, err
	}
	header, spans, err := entrySpan(data, exprs, key, name)
	if err != nil {
		return nil, false, err
	}
	if header < 0 {
		return nil, false, fmt.Errorf("%w: %s.%s is not a table of its own", ErrNotTOML, key, name)
	}
	out := slices.Clone(data)
	for i := len(spans) - 1; i >= 0; i-- {
		from, to := spans[i][0], spans[i][1]
		// The blank line before the table goes with it, as Add put it there.
		if prev := lineStart(out, from-1); from > 0 && strings.TrimSpace(string(out[prev:from])) == "" {
			from = prev
		}
		out = slices.Concat(out[:from], out[to:])
	}
	expected := withoutEntry(before, key, name)
	if err := sameTOML(out, expected); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// notTOML names where a file goes wrong.
func notTOML(data []byte, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("%w: line %d, column %d: %s", ErrNotTOML, row, col, de.Error())
	}
	return fmt.Errorf("%w: %w", ErrNotTOML, err)
}

func lineEnding(data []byte) string {
	if bytes.Contains(data, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

func withEOL(text, eol string) string { return strings.ReplaceAll(text, "\n", eol) }

// withEntry is a copy of doc with the entry's command and args set.
func withEntry(doc map[string]any, key, name string, l Launch) map[string]any {
	out := copyMap(doc)
	servers, _ := out[key].(map[string]any)
	if servers == nil {
		servers = map[string]any{}
	}
	out[key] = servers
	entry, _ := servers[name].(map[string]any)
	if entry == nil {
		entry = map[string]any{}
	}
	servers[name] = entry
	args := make([]any, len(l.Args))
	for i, a := range l.Args {
		args[i] = a
	}
	entry["command"], entry["args"] = l.Command, args
	return out
}

// withoutEntry is a copy of doc without the entry, and without the
// servers table when the entry was all it held.
func withoutEntry(doc map[string]any, key, name string) map[string]any {
	out := copyMap(doc)
	if servers, ok := out[key].(map[string]any); ok {
		delete(servers, name)
		if len(servers) == 0 {
			delete(out, key)
		}
	}
	return out
}

// copyMap copies the tables of a document; values are shared.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = copyMap(sub)
		}
		out[k] = v
	}
	return out
}

// sameTOML checks that data parses to want.
func sameTOML(data []byte, want map[string]any) error {
	var got map[string]any
	if err := toml.Unmarshal(data, &got); err != nil {
		return fmt.Errorf("%w: the edit would not parse (%v)", ErrNotTOML, err)
	}
	if got == nil {
		got = map[string]any{}
	}
	if !reflect.DeepEqual(got, want) {
		// An empty servers table that the file names explicitly stays.
		if reflect.DeepEqual(withoutEmpty(got), withoutEmpty(want)) {
			return nil
		}
		return fmt.Errorf("%w: an edit of the entry's lines would change more than the entry", ErrNotTOML)
	}
	return nil
}

func withoutEmpty(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) == 0 {
			continue
		}
		out[k] = v
	}
	return out
}
