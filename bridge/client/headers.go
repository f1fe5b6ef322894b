package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Parameter headers of the stateless era over HTTP (basic/transports/
// streamable-http, "Custom Headers from Tool Parameters"): a tool's input
// schema may mark parameters with x-mcp-header, and a client must send
// their values as Mcp-Param-{name} headers. A tool whose annotations break
// the rules is not offered at all.

// codeHeaderMismatch is the error of a server that found a request's
// headers and body disagreeing.
const codeHeaderMismatch = -32020

// paramHeader is one x-mcp-header annotation: the header's name part and
// the chain of properties that leads to the value.
type paramHeader struct {
	name string
	path []string
}

// paramHeaders reads a tool's x-mcp-header annotations, or says why they
// make the tool unusable.
func paramHeaders(inputSchema json.RawMessage) ([]paramHeader, error) {
	if !bytes.Contains(inputSchema, []byte(`"x-mcp-header"`)) {
		return nil, nil
	}
	var out []paramHeader
	if err := collectParamHeaders(inputSchema, nil, &out); err != nil {
		return nil, err
	}
	// An annotation anywhere but on a chain of properties (items, oneOf,
	// $ref, …) makes the tool invalid.
	if n := bytes.Count(inputSchema, []byte(`"x-mcp-header"`)); n != len(out) {
		return nil, fmt.Errorf("x-mcp-header is allowed only on properties reached through properties alone")
	}
	seen := map[string]bool{}
	for _, h := range out {
		if seen[strings.ToLower(h.name)] {
			return nil, fmt.Errorf("x-mcp-header %q is given twice", h.name)
		}
		seen[strings.ToLower(h.name)] = true
	}
	return out, nil
}

func collectParamHeaders(schema json.RawMessage, prefix []string, out *[]paramHeader) error {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		prop := s.Properties[name]
		path := append(slices.Clone(prefix), name)
		var p struct {
			Type   json.RawMessage `json:"type"`
			Header json.RawMessage `json:"x-mcp-header"`
		}
		if json.Unmarshal(prop, &p) != nil {
			continue
		}
		if len(p.Header) > 0 {
			var header string
			if json.Unmarshal(p.Header, &header) != nil || !isToken(header) {
				return fmt.Errorf("property %s: x-mcp-header %s is not a header name", strings.Join(path, "."), p.Header)
			}
			if !headerPrimitive(p.Type) {
				return fmt.Errorf("property %s: x-mcp-header on a %s, not a string, integer or boolean", strings.Join(path, "."), p.Type)
			}
			*out = append(*out, paramHeader{name: header, path: path})
		}
		if err := collectParamHeaders(prop, path, out); err != nil {
			return err
		}
	}
	return nil
}

// headerPrimitive reports whether a schema type allows only what a header
// can carry: string, integer or boolean (null aside).
func headerPrimitive(raw json.RawMessage) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == "string" || one == "integer" || one == "boolean"
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	primitive := 0
	for _, t := range many {
		switch t {
		case "string", "integer", "boolean":
			primitive++
		case "null":
		default:
			return false
		}
	}
	return primitive > 0
}

// isToken reports whether s is an HTTP field-name token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// paramHeaderValues are the Mcp-Param-{name} headers of a tools/call:
// each annotated value found in the arguments, as header text; a value
// that is absent or null sends no header.
func paramHeaderValues(headers []paramHeader, params json.RawMessage) map[string]string {
	out := map[string]string{}
	args, ok, _ := rawjson.Lookup(params, "arguments")
	if !ok {
		return out
	}
	for _, h := range headers {
		v := args
		for _, step := range h.path {
			if v, ok, _ = rawjson.Lookup(v, step); !ok {
				break
			}
		}
		if !ok || string(v) == "null" {
			continue
		}
		var text string
		switch {
		case json.Unmarshal(v, &text) == nil:
		case string(v) == "true" || string(v) == "false":
			text = string(v)
		default:
			n, err := strconv.ParseFloat(string(v), 64)
			if err != nil || n != float64(int64(n)) {
				continue
			}
			text = strconv.FormatInt(int64(n), 10)
		}
		out["Mcp-Param-"+h.name] = headerValue(text)
	}
	return out
}
