package bridge

import (
	"encoding/json"
	"testing"
)

// canonicalSeeds are parts of tools as servers write them, and the corners
// of what encoding/json makes of JSON.
var canonicalSeeds = []string{
	`{"type":"object","properties":{"id":{"type":"string","description":"the identifier to look up"},"limit":{"type":"number"}},"required":["id"]}`,
	`{"readOnlyHint":true,"destructiveHint":false,"title":null}`,
	`"Looks <things> up & more"`, `"plain"`, `"é"`, `"a\"b"`, `"tab\tx"`, `""`,
	`{}`, `[]`, `[1,2.5,-0,0.000001,0.0000001,1e21,1e20,123456789012345678901234,1E-7,-1.5e-10]`,
	`{"b":1,"a":2,"b":3}`, `{"B":1,"a":2,"b":3}`, `{"a":{"z":[{"y":1,"x":2}],"y":"<"}}`,
	`1e400`, `-1e-400`, `true`, `false`, `null`, `0`, `-0.0`, `5e-324`, `1.7976931348623157e308`,
	`{"k\u0065y":1}`, `{"é":1}`, ` {"a" : 1 } `,
}

// appendCanonical makes exactly what encoding/json makes, wherever it
// says it does: the pins of tools pinned before stay the same.
func TestCanonicalIsEncodingJSONs(t *testing.T) {
	for _, seed := range canonicalSeeds {
		checkCanonical(t, []byte(seed))
	}
}

func FuzzCanonical(f *testing.F) {
	for _, seed := range canonicalSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if json.Valid(raw) {
			checkCanonical(t, raw)
		}
	})
}

func checkCanonical(t *testing.T, raw []byte) {
	t.Helper()
	// A part as fingerprint has it: a member's value, no space around.
	var compact json.RawMessage
	if err := json.Unmarshal(raw, &compact); err != nil {
		return
	}
	got, ok := appendCanonical(nil, compact)
	if !ok {
		return
	}
	var v any
	if err := json.Unmarshal(compact, &v); err != nil {
		t.Fatalf("%s: canonical %s where encoding/json fails: %v", compact, got, err)
	}
	want, _ := json.Marshal(v)
	if string(got) != string(want) {
		t.Errorf("%s: canonical %s, encoding/json %s", compact, got, want)
	}
}
