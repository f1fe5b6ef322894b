package bridge

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// aPinFile is a pin file as the bridge writes one, for a server of n tools.
func aPinFile(t testing.TB, n int) []byte {
	f := pinFile{Trusted: map[string]Pin{}, Prints: map[string]SeenPrint{}, Seen: &Seen{At: time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)}}
	for i := range n {
		name := fmt.Sprintf("tool_%02d", i)
		raw := json.RawMessage(fmt.Sprintf(`{"name":%q,"description":"Tool %d looks something up.","inputSchema":{"type":"object","properties":{"id":{"type":"string"}}},"annotations":{"readOnlyHint":%v}}`, name, i, i%2 == 0))
		pin := fingerprint(raw)
		f.Trusted[name] = pin
		f.Prints[name] = SeenPrint{Raw: fmt.Sprintf("%032x", i), Pin: pin}
		f.Seen.Tools = append(f.Seen.Tools, ToolFacts{Name: name, ReadOnly: i%2 == 0})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var pinFileCases = []string{
	`{}`,
	`{"trusted":null,"prints":null,"seen":null}`,
	`{"trusted":{},"prints":{}}`,
	`{"trusted":{"a":{"description":"1","inputSchema":"2"}},"prints":{"a":"h 1 2 3 4"}}`,
	// Keys match fields in any letter case, and a field given twice adds
	// to what the first gave; a name given twice keeps the last.
	`{"Trusted":{"a":{"description":"1"}},"TRUSTED":{"b":{"annotations":"2"}}}`,
	`{"trusted":{"a":{"description":"1"},"a":{"inputSchema":"2"}}}`,
	`{"prints":{"a":"h 1 2 3 4","a":"g 5 6 7 8"},"Prints":{"b":"h 1 2 3 4"}}`,
	// Escapes in keys and values.
	`{"trusted":{"t\u00e9l\"x":{"descr\u0069ption":"\u0031\n"}},"prints":{"\u0061":"h\u0020 1 2 3 4"}}`,
	// Nulls inside.
	`{"trusted":{"a":null,"b":{"description":null}},"prints":{"a":null}}`,
	// Members that are not the file's are left alone.
	`{"other":[1,2,{"x":"y"}],"trusted":{"a":{}}}`,
	// Wrong types: each is an error both ways.
	`{"trusted":"x"}`,
	`{"trusted":[]}`,
	`{"trusted":{"a":"x"}}`,
	`{"trusted":{"a":{"description":1}}}`,
	`{"trusted":{"a":{"description":true}}}`,
	`{"prints":{"a":1}}`,
	`{"prints":{"a":"too few parts"}}`,
	`{"prints":"x"}`,
	`{"seen":{"at":"not a time"}}`,
	`{"seen":{"tools":[{"name":1}]}}`,
	`[]`,
	`"x"`,
	`1`,
}

func TestPinFileDecodesAsEncodingJSON(t *testing.T) {
	cases := append([]string{string(aPinFile(t, 20))}, pinFileCases...)
	for _, data := range cases {
		samePinFile(t, []byte(data))
	}
}

// samePinFile fails unless data decodes to the same pin file, or to an
// error, both ways.
func samePinFile(t *testing.T, data []byte) {
	t.Helper()
	var plain pinFile // what encoding/json makes of it
	fast, errFast := decodePinFile(data, true)
	errPlain := json.Unmarshal(data, &plain)
	if (errFast == nil) != (errPlain == nil) {
		t.Fatalf("%s: read by hand: %v; by encoding/json: %v", data, errFast, errPlain)
	}
	if errFast == nil && !reflect.DeepEqual(*fast, plain) {
		t.Fatalf("%s: read by hand:\n%#v\nby encoding/json:\n%#v", data, *fast, plain)
	}
	// Without what was seen, the rest is the same.
	if errFast == nil {
		if lean, err := decodePinFile(data, false); err != nil || !reflect.DeepEqual(lean.Trusted, fast.Trusted) || !reflect.DeepEqual(lean.Prints, fast.Prints) || lean.Seen != nil {
			t.Fatalf("%s: read without what was seen: %v, %#v", data, err, lean)
		}
	}
}

func FuzzPinFile(f *testing.F) {
	f.Add(aPinFile(f, 3))
	for _, data := range pinFileCases {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { samePinFile(t, data) })
}

// BenchmarkPinFile is the reading of one server's pin file of 20 tools,
// by hand and by encoding/json. Run:
//
//	GOTOOLCHAIN=local go test ./bridge -run '^$' -bench PinFile -benchmem
func BenchmarkPinFile(b *testing.B) {
	data := aPinFile(b, 20)
	for _, withSeen := range []bool{false, true} {
		b.Run(fmt.Sprintf("by-hand/seen=%v", withSeen), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := decodePinFile(data, withSeen); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var f pinFile
			if err := json.Unmarshal(data, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
