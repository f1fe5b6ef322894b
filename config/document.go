package config

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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
	var docs []document
	var chunk bytes.Buffer
	start, line := 1, 0
	flush := func() {
		text := chunk.Bytes()
		if len(bytes.TrimSpace(text)) > 0 {
			docs = append(docs, parseDocument(name, start, text))
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
	return docs
}

func isDocumentMarker(line string) bool {
	if line == "..." || strings.HasPrefix(line, "... ") {
		return true
	}
	return line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t")
}

// parseDocument parses one document whose first line is line start of the
// file. Blank lines are prepended so that every line number yaml reports, in
// nodes and in errors, is the line of the file.
func parseDocument(name string, start int, text []byte) document {
	loc := fmt.Sprintf("%s:%d", name, start)
	padded := append(bytes.Repeat([]byte("\n"), start-1), text...)
	var root yaml.Node
	if err := yaml.Unmarshal(padded, &root); err != nil {
		return document{location: loc, err: fmt.Errorf("invalid YAML: %s", yamlMessage(err))}
	}
	if len(root.Content) == 0 {
		return document{location: loc}
	}
	node := root.Content[0]
	loc = fmt.Sprintf("%s:%d", name, node.Line)
	return document{location: loc, node: node}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the messages of yaml's parser (not its scanner). For
// these, yaml reports a zero-based line; the scanner's lines are one-based.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlMessage turns yaml's error text into "line N: message" with N the
// one-based line of the text that was parsed.
func yamlMessage(err error) string {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "yaml: ")
	}
	n, _ := strconv.Atoi(m[1])
	problem := msg[len(m[0]):]
	if slices.Contains(parserProblems, problem) {
		n++
	}
	return fmt.Sprintf("line %d: %s", n, problem)
}

// field returns the value of key in a mapping node, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
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
	s, _ := scalar(field(n, key))
	return s
}
