package catalog

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-bridge/bridge/config"
)

// document is one YAML document read from a catalog source.
type document struct {
	location string     // "catalog.yaml:12", or a portal item
	node     *yaml.Node // the document's content; nil when err is set
	err      error      // why the document could not be read
}

// splitDocuments cuts a multi-document YAML file into its documents and
// parses each on its own, so that a syntax error in one document is reported
// with its line and costs only that document.
func splitDocuments(name string, data []byte) []document {
	type part struct {
		start int
		text  []byte
	}
	var parts []part
	var chunk bytes.Buffer
	start, line := 1, 0
	flush := func() {
		text := chunk.Bytes()
		if len(bytes.TrimSpace(text)) > 0 {
			parts = append(parts, part{start, bytes.Clone(text)})
		}
		chunk.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for sc.Scan() {
		line++
		text := sc.Text()
		if isDocumentMarker(text) {
			flush()
			start = line + 1
			// "--- {…}" starts the next document on this same line.
			if rest, ok := strings.CutPrefix(text, "---"); ok && strings.TrimSpace(rest) != "" {
				start = line
				chunk.WriteString(strings.TrimSpace(rest) + "\n")
			}
			continue
		}
		chunk.WriteString(text)
		chunk.WriteByte('\n')
	}
	flush()
	// The documents are parsed on every core: YAML is slow to parse (50
	// entities took 7 ms on one core), and a start that has no answer
	// ahead waits for its catalog.
	docs := make([]document, len(parts))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(parts)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(parts); i = int(next.Add(1) - 1) {
				docs[i] = parseDocument(name, parts[i].start, parts[i].text)
			}
		})
	}
	wg.Wait()
	return docs
}

func isDocumentMarker(line string) bool {
	if line == "..." || strings.HasPrefix(line, "... ") {
		return true
	}
	return line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t")
}

// parseDocument parses one document whose first line is line start of the
// file. One blank line goes before it, for yaml reports an error on the
// first line of its text at another line than the one it means; every
// line number yaml reports, in nodes and in errors, is then moved to be
// the line of the file. (Blank lines for every line before the document
// would do the same, at the cost of parsing them: a cost that grows with
// the document's place in the file, which made a file of many entities
// quadratic to read.)
func parseDocument(name string, start int, text []byte) document {
	loc := fmt.Sprintf("%s:%d", name, start)
	padded := append([]byte{'\n'}, text...)
	var root yaml.Node
	if err := yaml.Unmarshal(padded, &root); err != nil {
		return document{location: loc, err: fmt.Errorf("invalid YAML: %s", config.YAMLMessageFrom(err, start-1))}
	}
	if len(root.Content) == 0 {
		return document{location: loc}
	}
	moveLines(&root, start-2)
	node := root.Content[0]
	loc = fmt.Sprintf("%s:%d", name, node.Line)
	return document{location: loc, node: node}
}

// moveLines adds by to the line of n and of every node under it.
func moveLines(n *yaml.Node, by int) {
	if by == 0 {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		moveLines(c, by)
	}
}

// scalar returns the text of a scalar node and whether n is one.
func scalar(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// str returns the text of key in a mapping, or "" when it is absent or not a scalar.
func str(n *yaml.Node, key string) string {
	s, _ := scalar(config.Field(n, key))
	return s
}
