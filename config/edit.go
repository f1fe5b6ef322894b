package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The config file is changed in place: the lines that change are
// rewritten and every other byte (comments, blank lines, the documents
// after the first) is kept. Each edit is checked by parsing the result: an
// edit the text cannot take safely (a flow mapping, a value over several
// lines) is made on the parsed tree instead, which keeps comments but not
// blank lines.

// change is one edit of the config file's first document.
type change struct {
	// tree makes the edit on the parsed document (the top mapping).
	tree func(doc *yaml.Node)
	// text makes it on the lines, reporting false when it cannot.
	text func(t *yamlText) bool
}

// applyChange returns data with the change made; plan makes the change
// from what the file holds.
func applyChange(data []byte, plan func(doc *yaml.Node) (change, error)) ([]byte, error) {
	t, err := parseYAMLText(data)
	if err != nil {
		return nil, err
	}
	c, err := plan(t.doc)
	if err != nil {
		return nil, err
	}
	want, err := t.viaTree(c.tree)
	if err != nil {
		return nil, err
	}
	// The documents after the first are kept as they are, and one that
	// read only in the light of the first as it was ("--- l:" after a
	// mapping of an empty key) may not read after the edited one: the
	// file is left as it is rather than written so that it never reads.
	var after any
	if err := yaml.Unmarshal(want, &after); err != nil {
		return nil, fmt.Errorf("edited, it would no longer read as YAML (%s): edit it by hand", YAMLMessage(err))
	}
	if plainLines(data) && c.text(t) {
		if out := t.bytes(); sameFirstDocument(out, want) {
			return out, nil
		}
	}
	return want, nil
}

// plainLines reports whether data breaks its lines with "\n" (or "\r\n")
// alone, as the text edit does; YAML counts others too.
func plainLines(data []byte) bool {
	s := string(data)
	return !strings.ContainsAny(strings.ReplaceAll(s, "\r\n", "\n"), "\r\u0085\u2028\u2029")
}

// yamlText is a YAML stream as lines, with its first document parsed.
type yamlText struct {
	lines []string   // each with its "\n", but perhaps the last
	root  yaml.Node  // the first document
	doc   *yaml.Node // its top mapping, empty for a document of comments
	end   int        // the index of the first line after the first document
	crlf  bool       // the lines end in "\r\n", kept as "\n" in lines
}

// header opens a config file the bridge creates.
const header = "mcp-bridge config: see the README's config file reference."

func parseYAMLText(data []byte) (*yamlText, error) {
	text := string(data)
	t := &yamlText{crlf: strings.Contains(text, "\r\n")}
	if t.crlf {
		text = strings.ReplaceAll(text, "\r\n", "\n")
	}
	t.lines = strings.SplitAfter(text, "\n")
	if last := len(t.lines) - 1; t.lines[last] == "" {
		t.lines = t.lines[:last]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		t.lines = []string{"# " + header + "\n"}
	}
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&t.root)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(YAMLMessage(err))
	}
	start := 0
	t.doc = &yaml.Node{Kind: yaml.MappingNode} // a document of comments alone
	if len(t.root.Content) > 0 {
		if t.root.Content[0].Kind != yaml.MappingNode {
			return nil, errors.New("the top level is not a mapping of keys")
		}
		t.doc = t.root.Content[0]
		start = t.doc.Line - 1
	}
	t.end = len(t.lines)
	for i := start; i < len(t.lines); i++ {
		if i > 0 && isDocumentMarker(t.lines[i]) {
			t.end = i
			break
		}
	}
	return t, nil
}

// isDocumentMarker reports a line that starts or ends a document.
func isDocumentMarker(line string) bool {
	for _, m := range []string{"---", "..."} {
		if rest, ok := strings.CutPrefix(line, m); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r') {
			return true
		}
	}
	return false
}

func (t *yamlText) bytes() []byte { return t.join(t.lines) }

// join puts lines together with the stream's line ends.
func (t *yamlText) join(lines []string) []byte {
	s := strings.Join(lines, "")
	if t.crlf {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	return []byte(s)
}

// viaTree makes the change on the parsed first document and returns the
// stream with that document encoded anew and the others as they were.
func (t *yamlText) viaTree(edit func(doc *yaml.Node)) ([]byte, error) {
	root := yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}, HeadComment: header}
	if len(t.root.Content) > 0 {
		// A copy, so that the text keeps the nodes it was read into.
		root = *deepCopy(&t.root)
	}
	edit(root.Content[0])
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return append(buf.Bytes(), t.join(t.lines[t.end:])...), nil
}

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}

// sameFirstDocument reports whether two streams' first documents hold the
// same values.
func sameFirstDocument(a, b []byte) bool {
	var va, vb any
	if yaml.Unmarshal(a, &va) != nil || yaml.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// at returns line n (from 1) and the byte offset of its column col (from
// 1, in characters), or false when the text has no such place.
func (t *yamlText) at(n, col int) (string, int, bool) {
	if n < 1 || n > len(t.lines) || col < 1 {
		return "", 0, false
	}
	line := t.lines[n-1]
	off := 0
	for range col - 1 {
		if off >= len(line) {
			return "", 0, false
		}
		_, size := utf8.DecodeRuneInString(line[off:])
		off += size
	}
	return line, off, off <= len(line)
}

// insert puts lines before line index i.
func (t *yamlText) insert(i int, lines ...string) {
	if i > 0 && !strings.HasSuffix(t.lines[i-1], "\n") {
		t.lines[i-1] += "\n"
	}
	t.lines = slices.Insert(t.lines, i, lines...)
	if i <= t.end {
		t.end += len(lines)
	}
}

// remove takes out line index i.
func (t *yamlText) remove(i int) {
	t.lines = slices.Delete(t.lines, i, i+1)
	if i < t.end {
		t.end--
	}
}

// docEnd is where lines go that are added at the end of the first
// document: after its last line that is not blank.
func (t *yamlText) docEnd() int {
	i := t.end
	for i > 0 && strings.TrimSpace(t.lines[i-1]) == "" {
		i--
	}
	return i
}

// keyNode returns the key node of key in mapping m, or nil.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// scalarText is how a string is written as a plain or quoted scalar on
// one line, or false when it needs several.
func scalarText(s string) (string, bool) {
	out, err := yaml.Marshal(s)
	text := strings.TrimSuffix(string(out), "\n")
	if err != nil || strings.Contains(text, "\n") {
		return "", false
	}
	return text, true
}

// setList makes the top-level key hold the list want, a line an item.
func (t *yamlText) setList(key string, want []string) bool {
	k := keyNode(t.doc, key)
	if k == nil {
		lines := []string{key + ":" + map[bool]string{true: " []", false: ""}[len(want) == 0] + "\n"}
		for _, id := range want {
			text, ok := scalarText(id)
			if !ok {
				return false
			}
			lines = append(lines, "  - "+text+"\n")
		}
		t.insert(t.docEnd(), lines...)
		return true
	}
	v := Field(t.doc, key)
	if v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
		return t.setBlockList(k, v, want)
	}
	return t.setInlineList(k, v, want)
}

// setBlockList edits a block sequence item by item: items no longer
// wanted lose their line, new ones get a line after the last.
func (t *yamlText) setBlockList(k, v *yaml.Node, want []string) bool {
	var have []string
	for i, item := range v.Content {
		line, _, ok := t.at(item.Line, 1)
		if !ok || item.Kind != yaml.ScalarNode || item.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 ||
			(i > 0 && item.Line == v.Content[i-1].Line) || !strings.HasPrefix(strings.TrimSpace(line), "-") {
			return false
		}
		have = append(have, item.Value)
	}
	last := v.Content[len(v.Content)-1]
	dash, _, _ := t.at(last.Line, 1)
	prefix := dash[:strings.Index(dash, "-")+1] + " "
	var added []string
	for _, id := range want {
		if !slices.Contains(have, id) {
			text, ok := scalarText(id)
			if !ok {
				return false
			}
			added = append(added, prefix+text+"\n")
		}
	}
	t.insert(last.Line, added...)
	kept := 0
	for i := len(v.Content) - 1; i >= 0; i-- {
		if slices.Contains(want, v.Content[i].Value) {
			kept++
			continue
		}
		t.remove(v.Content[i].Line - 1)
	}
	if kept+len(added) == 0 {
		return t.emptyAfterKey(k)
	}
	return true
}

// emptyAfterKey writes [] after a key whose value is gone.
func (t *yamlText) emptyAfterKey(k *yaml.Node) bool {
	line, key, ok := t.at(k.Line, k.Column)
	colon := strings.Index(line[key:], ":")
	if !ok || colon < 0 {
		return false
	}
	at := key + colon + 1
	t.lines[k.Line-1] = line[:at] + " []" + line[at:]
	return true
}

// setInlineList rewrites a list written on the key's line ("key: [a, b]",
// "key: []" or "key:") as a flow list, keeping what follows it.
func (t *yamlText) setInlineList(k, v *yaml.Node, want []string) bool {
	line, key, ok := t.at(k.Line, k.Column)
	colon := strings.Index(line[key:], ":")
	if !ok || colon < 0 {
		return false
	}
	valueAt := key + colon + 1
	var rest string
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null" && (v.Line != k.Line || strings.TrimSpace(stripComment(line[valueAt:])) == ""):
		rest = line[valueAt:]
	case v.Kind == yaml.SequenceNode && v.Line == k.Line:
		_, open, ok := t.at(v.Line, v.Column)
		end := flowEnd(line, open)
		if !ok || end < 0 {
			return false
		}
		rest = line[end:]
	default:
		return false
	}
	items := make([]string, 0, len(want))
	for _, id := range want {
		text, ok := scalarText(id)
		if !ok {
			return false
		}
		items = append(items, text)
	}
	t.lines[k.Line-1] = line[:valueAt] + " [" + strings.Join(items, ", ") + "]" + rest
	return true
}

// stripComment drops a "#" comment from the end of a line's value.
func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(s, "#") {
		return ""
	}
	return s
}

// flowEnd is the index just past the "]" closing the flow sequence that
// opens at line[at], or -1 when it does not close on the line.
func flowEnd(line string, at int) int {
	if at >= len(line) || line[at] != '[' {
		return -1
	}
	depth := 0
	var quote byte
	for i := at; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// setScalar makes the key at path (top level first) hold a plain scalar
// value, adding the mappings on the way that are missing.
func (t *yamlText) setScalar(path []string, value string) bool {
	m := t.doc
	var parentKey *yaml.Node // the key whose value m is; nil at the top
	for i, key := range path {
		k := keyNode(m, key)
		if k == nil {
			return t.addPath(m, parentKey, path[i:], value)
		}
		v := Field(m, key)
		if i == len(path)-1 {
			return t.replaceScalar(v, value)
		}
		if v.Kind != yaml.MappingNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
			return false
		}
		m, parentKey = v, k
	}
	return false
}

// replaceScalar rewrites a one-line plain scalar where it stands.
func (t *yamlText) replaceScalar(v *yaml.Node, value string) bool {
	if v.Kind != yaml.ScalarNode || v.Style != 0 || v.Line < 1 {
		return false
	}
	line, at, ok := t.at(v.Line, v.Column)
	if !ok || !strings.HasPrefix(line[at:], v.Value) {
		return false
	}
	t.lines[v.Line-1] = line[:at] + value + line[at+len(v.Value):]
	return true
}

// addPath adds keys as nested block mappings in m, the last holding
// value: at the end of the document for the top mapping, else on the line
// after m's own key, indented as m's keys are.
func (t *yamlText) addPath(m, parentKey *yaml.Node, keys []string, value string) bool {
	at, indent := t.docEnd(), 0
	if parentKey != nil {
		at, indent = parentKey.Line, m.Content[0].Column-1
	}
	var lines []string
	for i, key := range keys {
		text, ok := scalarText(key)
		if !ok {
			return false
		}
		line := strings.Repeat(" ", indent+2*i) + text + ":"
		if i == len(keys)-1 {
			line += " " + value
		}
		lines = append(lines, line+"\n")
	}
	t.insert(at, lines...)
	return true
}
