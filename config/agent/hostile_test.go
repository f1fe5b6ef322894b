package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// hostile are files the bridge did not write, and whether they are refused
// as not plain JSON; "mcpServers" stands for each agent's servers key.
var hostile = []struct {
	name    string
	data    string
	refused bool
}{
	{"line comment", "// servers\n{}", true},
	{"block comment", `{/* servers */}`, true},
	{"comment after", `{"mcpServers": {}} // the end`, true},
	{"trailing text", `{"a": 1} {"b": 2}`, true},
	{"trailing comma", `{"mcpServers": {"x": 1},}`, true},
	{"byte order mark", "\ufeff{}", true},
	{"array root", `[{"mcpServers": {}}]`, true},
	{"string root", `"{}"`, true},
	{"null root", `null`, true},
	{"servers not an object", `{"mcpServers": null}`, true},
	{"servers twice", `{"mcpServers": {}, "mcpServers": {"x": {}}}`, true},
	{"entry twice", `{"mcpServers": {"bridge": {}, "x": 1, "bridge": {}}}`, true},
	{"too deep", `{"a": ` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, true},
	{"unterminated", `{"mcpServers": {"x": "}`, true},
	// The agents read keys exactly: these are other members.
	{"servers in capitals", `{"MCPSERVERS": {"x": 1}}`, false},
	{"entry in capitals", `{"mcpServers": {"BRIDGE": {}}}`, false},
	{"servers escaped", `{"mcp\u0053ervers": {"x": 1}}`, false},
	{"entry escaped", `{"mcpServers": {"\u0062ridge": {"command": "/old"}}}`, false},
	{"other keys twice", `{"a": 1, "mcpServers": {"x": 1, "x": 2}, "a": 2}`, false},
	{"deep", `{"a": ` + strings.Repeat(`{"a":[`, 4000) + strings.Repeat("]}", 4000) + `}`, false},
	{"huge", `{"mcpServers": {"x": {"blob": "` + strings.Repeat("a\\\"{", 1<<16) + `"}}}`, false},
	{"braces in strings", `{"}": "{\"", "mcpServers": {"\"": "}"}}`, false},
	{"space everywhere", " \r\n\t{ \"mcpServers\" :\t{ \"x\" : 1 } } \n", false},
	{"empty with space", `{ "a": { }, "mcpServers": { } }`, false},
	{"root empty with space", "{\n}", false},
	{"invalid UTF-8", "{\"\xff\": \"\xfe\"}", false},
	{"blank", " \n\t", false},
}

func TestHostileFilesAreRefusedOrEditedCleanly(t *testing.T) {
	for _, tc := range hostile {
		for _, a := range jsonAgents() {
			data := strings.ReplaceAll(tc.data, "mcpServers", a.key)
			if refused := checkEdits(t, a, []byte(data)); refused != tc.refused {
				t.Errorf("%s for %s: refused %v, want %v", tc.name, a.Name, refused, tc.refused)
			}
		}
	}
}

// FuzzAddRemove checks any file against what checkEdits asks of every one.
func FuzzAddRemove(f *testing.F) {
	for _, tc := range hostile {
		f.Add([]byte(tc.data))
	}
	originals, _ := filepath.Glob(filepath.Join("testdata", "*", "original.json"))
	for _, path := range originals {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range jsonAgents() {
			checkEdits(t, a, data)
		}
	})
}

// jsonAgents are the agents whose files are JSON.
func jsonAgents() []Agent {
	var out []Agent
	for _, a := range Agents {
		if !a.toml {
			out = append(out, a)
		}
	}
	return out
}

// emptyObject is an object with nothing in it but space, which Remove gives
// back as {}: Add cannot keep that space apart from what it writes.
var emptyObject = regexp.MustCompile(`\{[ \t\r\n]+\}`)

// checkEdits asserts what Add and Remove must do with any file: refuse it
// as not plain JSON, both of them, or give JSON with the entry set, which
// Remove takes out again to give back the original. It reports whether the
// file was refused.
func checkEdits(t *testing.T, a Agent, data []byte) (refused bool) {
	t.Helper()
	added, _, err := a.Add(data, "bridge", launch)
	if err != nil {
		if !errors.Is(err, ErrNotJSON) {
			t.Fatalf("%s: Add(%.200q): %v, not ErrNotJSON", a.Name, data, err)
		}
		if _, _, err := a.Remove(data, "bridge", true); !errors.Is(err, ErrNotJSON) {
			t.Fatalf("%s: Remove(%.200q) took what Add refused: %v", a.Name, data, err)
		}
		return true
	}
	servers, ok := decodeServers(t, a, added)
	if !ok || !sameJSON(servers["bridge"], a.Entry(launch)) {
		t.Fatalf("%s: Add(%.200q) = %.400q: no entry", a.Name, data, added)
	}
	blank := len(bytes.TrimSpace(data)) == 0
	if !blank {
		before, _ := rawjson.Members(data)
		after, _ := rawjson.Members(added)
		had, hadServers := decodeServers(t, a, data)
		if a.Created(data) == hadServers {
			t.Fatalf("%s: Created(%.200q) = %v, with servers there %v", a.Name, data, !hadServers, hadServers)
		}
		if grew := len(after) - len(before); grew != 0 && hadServers || grew != 1 && !hadServers {
			t.Fatalf("%s: Add(%.200q) = %.400q: %d more members", a.Name, data, added, grew)
		}
		if _, ok := had["bridge"]; ok {
			// There is no original without the entry to give back.
			removed, _, err := a.Remove(added, "bridge", false)
			if err != nil {
				t.Fatalf("%s: Remove(%.400q): %v", a.Name, added, err)
			}
			if left, _ := decodeServers(t, a, removed); left["bridge"] != nil {
				t.Fatalf("%s: Remove(%.400q) = %.400q: the entry is still there", a.Name, added, removed)
			}
			return false
		}
	}
	removed, changed, err := a.Remove(added, "bridge", a.Created(data))
	if err != nil || !changed || !json.Valid(removed) {
		t.Fatalf("%s: Remove(%.400q) = %.400q, %v, %v", a.Name, added, removed, changed, err)
	}
	// Setup deletes a file it created rather than leave it empty.
	if !blank && !bytes.Equal(emptyObject.ReplaceAll(removed, []byte("{}")), emptyObject.ReplaceAll(data, []byte("{}"))) {
		t.Fatalf("%s: Remove(Add(%.200q)) = %.200q", a.Name, data, removed)
	}
	return false
}

// decodeServers reads data's servers object as encoding/json does, which
// matches keys exactly, as the agents do; ok says whether there is one.
func decodeServers(t *testing.T, a Agent, data []byte) (servers map[string]json.RawMessage, ok bool) {
	t.Helper()
	var root map[string]json.RawMessage
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %.400q: %v", a.Name, data, err)
	}
	raw, ok := root[a.key]
	if ok {
		if err := json.Unmarshal(raw, &servers); err != nil {
			t.Fatalf("%s: servers in %.400q: %v", a.Name, data, err)
		}
	}
	return servers, ok
}
