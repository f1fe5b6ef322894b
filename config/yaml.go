package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML helpers shared by the config file and the catalog's documents.

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

// YAMLMessage turns yaml's error text into "line N: message" with N the
// one-based line of the text that was parsed.
func YAMLMessage(err error) string { return YAMLMessageFrom(err, 1) }

// YAMLMessageFrom is YAMLMessage for text whose first line is line first
// of a larger file: N is the file's line.
func YAMLMessageFrom(err error, first int) string {
	msg := err.Error()
	n, problem, ok := yamlLineOf(msg)
	if !ok {
		return strings.TrimPrefix(msg, "yaml: ")
	}
	if slices.Contains(parserProblems, problem) {
		n++
	}
	n += first - 1
	return fmt.Sprintf("line %d: %s", n, problem)
}

// Field returns the value of key in a mapping node, or nil.
func Field(n *yaml.Node, key string) *yaml.Node {
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

// yamlLineOf splits yaml's "yaml: line N: problem" into N and the problem;
// ok is false for a message without a line.
func yamlLineOf(msg string) (n int, problem string, ok bool) {
	rest, found := strings.CutPrefix(msg, "yaml: line ")
	if !found {
		return 0, "", false
	}
	digits, problem, found := strings.Cut(rest, ": ")
	if !found || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, "", false
	}
	n, err := strconv.Atoi(digits)
	return n, problem, err == nil
}
