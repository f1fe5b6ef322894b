package bridge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeKept holds the in-place reading of a kept-lists file to what
// encoding/json makes of it: whatever it reads, encoding/json reads alike,
// and what encoding/json refuses, it refuses. (It may refuse more: a list
// that is not an object.)
func FuzzDecodeKept(f *testing.F) {
	ttl := int64(5000)
	k := keptLists{Version: keptListsVersion, Server: "s", Definition: "d", At: time.Unix(1700000000, 0).UTC(), LoginOf: "s", Login: "k",
		Lists: map[string]keptList{
			"tools/list":   {TTLMs: &ttl, CacheScope: "private", Items: []json.RawMessage{json.RawMessage(`{"name":"a","inputSchema":{"type":"object"}}`), json.RawMessage(`{"name":"b\u00e9"}`)}},
			"prompts/list": {Items: []json.RawMessage{}},
		}}
	f.Add(k.encode())
	for _, seed := range []string{`{}`, `{"VERSION":1,"lists":null}`, `{"lists":{"tools/list":{"items":null}}}`, `{"lists":{"x":{"items":[1,"2",{}]}},"at":"2024-01-01T00:00:00Z"}`, `[]`, `{"version":"1"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want keptLists
		wantErr := json.Unmarshal(data, &want)
		got, err := decodeKept(data)
		switch {
		case err != nil:
		case wantErr != nil:
			t.Fatalf("decodeKept read %q, which encoding/json refuses: %v", data, wantErr)
		case !reflect.DeepEqual(*got, want):
			t.Fatalf("decodeKept(%q) = %+v, encoding/json %+v", data, *got, want)
		}
	})
}
