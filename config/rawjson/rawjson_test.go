package rawjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		obj, key, want string
		found          bool
		err            error
	}{
		{obj: `{"name":"a","arguments":{"name":"inner"}}`, key: "name", want: `"a"`, found: true},
		{obj: ` { "x" : [1, {"name": 2}] ,"name" : "b" } `, key: "name", want: `"b"`, found: true},
		{obj: `{"NAME":"a"}`, key: "name", want: `"a"`, found: true},
		{obj: `{"n\u0061me":"a"}`, key: "name", want: `"a"`, found: true},
		{obj: `{"text":"say \"name\": \\","n":-1.5e3}`, key: "n", want: `-1.5e3`, found: true},
		{obj: `{"_meta":null}`, key: "_meta", want: `null`, found: true},
		{obj: `{}`, key: "name"},
		{obj: `{"arguments":{}}`, key: "name"},
		{obj: `{"name":"a","Name":"b"}`, key: "name", err: ErrAmbiguous},
		{obj: `{"name":"a","name":"b"}`, key: "name", err: ErrAmbiguous},
		// The Kelvin sign folds to k, as encoding/json would match it.
		{obj: `{"k":1,"\u212a":2}`, key: "k", err: ErrAmbiguous},
		{obj: `[1]`, key: "name", err: ErrNotObject},
		{obj: `{"name":"a"`, key: "name", err: ErrNotObject},
		{obj: `{"name":"a"} x`, key: "name", err: ErrNotObject},
		{obj: ``, key: "name", err: ErrNotObject},
	} {
		got, found, err := Lookup([]byte(tc.obj), tc.key)
		if !errors.Is(err, tc.err) || found != tc.found || string(got) != tc.want {
			t.Errorf("Lookup(%s, %q) = %s, %v, %v; want %s, %v, %v", tc.obj, tc.key, got, found, err, tc.want, tc.found, tc.err)
		}
	}
}

func TestIs(t *testing.T) {
	for _, tc := range []struct {
		key, name string
		want      bool
	}{
		{`"mcpServers"`, "mcpServers", true},
		{`"MCPSERVERS"`, "mcpServers", false},
		{`"mcp\u0053ervers"`, "mcpServers", true},
		{`"mcp\u0073ervers"`, "mcpServers", false},
		{`"a\"b"`, `a"b`, true},
		// The Kelvin sign is only k to Matches.
		{`"\u212a"`, "k", false},
		{`""`, "", true},
		// Bytes that are not UTF-8 read as U+FFFD, as encoding/json has them.
		{"\"\xff\"", "\ufffd", true},
		{"\"\xff\"", "\xff", false},
		// An escape that does not decode is no name at all.
		{`"\x"`, `\x`, false},
	} {
		if got := (Member{Key: []byte(tc.key)}).Is(tc.name); got != tc.want {
			t.Errorf("Member{Key: %s}.Is(%q) = %v, want %v", tc.key, tc.name, got, tc.want)
		}
	}
}

func TestSetMember(t *testing.T) {
	for _, tc := range []struct{ obj, key, value, want string }{
		{`{"name":"a__b", "arguments":{"x":1}}`, "name", `"b"`, `{"name":"b", "arguments":{"x":1}}`},
		{`{"arguments":{"x":1}}`, "_meta", `{"progressToken":"t"}`, `{"_meta":{"progressToken":"t"},"arguments":{"x":1}}`},
		{`{ }`, "_meta", `1`, `{"_meta":1 }`},
		{`{"a":1,"_meta":{"k":2},"b":3}`, "_meta", `{}`, `{"a":1,"_meta":{},"b":3}`},
		// Every other spelling of the key gives way to the one set.
		{`{"name":"x","a":1,"NAME":"y","b":2}`, "name", `"z"`, `{"name":"z","a":1,"b":2}`},
		{`{"Name":"x","name":"y"}`, "name", `"z"`, `{"Name":"z"}`},
	} {
		got, err := SetMember([]byte(tc.obj), tc.key, []byte(tc.value))
		if err != nil || string(got) != tc.want {
			t.Errorf("SetMember(%s, %q, %s) = %s, %v; want %s", tc.obj, tc.key, tc.value, got, err, tc.want)
		}
	}
	if _, err := SetMember([]byte(`"x"`), "name", []byte(`1`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("a string was taken for an object: %v", err)
	}
}

func TestOneLine(t *testing.T) {
	in := "{\n  \"text\": \"a\\nb\",\r\n  \"n\": [1,\n 2]\n}"
	got, err := OneLine([]byte(in))
	if err != nil || string(got) != `{"text":"a\nb","n":[1,2]}` {
		t.Errorf("oneLine = %s, %v", got, err)
	}
	flat := []byte(`{"a": "kept as it is"}`)
	if got, _ := OneLine(flat); &got[0] != &flat[0] {
		t.Error("text without line breaks was copied")
	}
}

// FuzzRawJSON checks the in-place reader and editor against encoding/json
// on any valid JSON object: the same members, and edits that decode to
// what they should.
func FuzzRawJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","arguments":{"name":"inner","list":[1,"]",{"}":null}]}}`,
		`{"a":"\\\"","b":"\u0022","_meta":{"progressToken":1}}`,
		`{"NAME":1,"x":true}`, `{}`, `{ "k" : -0.5e-3 , "s":"\\\\" }`,
		"{\"\xff\":true}",
		`{"name":"\u00e9t\u00e9"}`, "{\"name\":\"caf\xc3\xa9\"}", "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(seed), "name")
	}
	f.Fuzz(func(t *testing.T, obj []byte, key string) {
		var want map[string]json.RawMessage
		if !json.Valid(obj) || json.Unmarshal(obj, &want) != nil || want == nil {
			// Not an object: the walker checks structure only, and
			// must simply not panic.
			_, _ = Members(obj)
			return
		}
		ms, err := Members(obj)
		if err != nil {
			t.Fatalf("Members(%s): %v", obj, err)
		}
		for _, m := range ms {
			var k string
			if err := json.Unmarshal(m.Key, &k); err != nil {
				t.Fatalf("key %s of %s: %v", m.Key, obj, err)
			}
			if !m.Is(k) || !m.Matches(k) || m.Is(k+"x") {
				t.Fatalf("key %s of %s does not match its own name %q exactly", m.Key, obj, k)
			}
			if !json.Valid(obj[m.Start:m.End]) {
				t.Fatalf("value %q of %s is not JSON", obj[m.Start:m.End], obj)
			}
		}
		got, found, err := Lookup(obj, key)
		if err == nil && found {
			if exact, ok := want[key]; ok && !reflect.DeepEqual([]byte(exact), []byte(got)) {
				t.Fatalf("Lookup(%s, %q) = %s, want %s", obj, key, got, exact)
			}
			// A string reads as encoding/json reads it, by the quick
			// path or the slow one.
			var decoded string
			if json.Unmarshal(got, &decoded) == nil {
				if s, err := LookupString(obj, key); err != nil || s != decoded {
					t.Fatalf("LookupString(%s, %q) = %q, %v; want %q", obj, key, s, err, decoded)
				}
			}
		}
		edited, err := SetMember(obj, key, []byte(`"set"`))
		if err != nil {
			t.Fatalf("SetMember(%s, %q): %v", obj, key, err)
		}
		if !json.Valid(edited) {
			t.Fatalf("SetMember(%s, %q) = %s: not JSON", obj, key, edited)
		}
		value, found, err := Lookup(edited, key)
		if err != nil || !found || string(value) != `"set"` {
			t.Fatalf("after SetMember(%s, %q) = %s: lookup gives %s, %v, %v", obj, key, edited, value, found, err)
		}
		cut, err := DeleteMember(obj, key)
		if err != nil || !json.Valid(cut) {
			t.Fatalf("DeleteMember(%s, %q) = %s, %v: not JSON", obj, key, cut, err)
		}
		if _, found, err := Lookup(cut, key); err != nil || found {
			t.Fatalf("after DeleteMember(%s, %q) = %s: still found (%v)", obj, key, cut, err)
		}
	})
}

func TestElements(t *testing.T) {
	for _, tc := range []struct {
		arr  string
		want []string
		err  error
	}{
		{`[]`, nil, nil},
		{` [ {"a":[1,"]"]} , "x" ,3, null ] `, []string{`{"a":[1,"]"]}`, `"x"`, `3`, `null`}, nil},
		{`[1,]`, nil, ErrNotObject},
		{`{"a":1}`, nil, ErrNotArray},
		{`[1 2]`, nil, ErrNotArray},
	} {
		got, err := Elements([]byte(tc.arr))
		var texts []string
		for _, e := range got {
			texts = append(texts, string(e))
		}
		if !errors.Is(err, tc.err) || !slices.Equal(texts, tc.want) {
			t.Errorf("Elements(%s) = %q, %v; want %q, %v", tc.arr, texts, err, tc.want, tc.err)
		}
	}
}

func TestDeleteMember(t *testing.T) {
	for _, tc := range []struct{ obj, key, want string }{
		{`{"a":1,"b":2,"c":3}`, "b", `{"a":1,"c":3}`},
		{`{"a":1,"b":2}`, "a", `{"b":2}`},
		{`{"a":1,"b":2}`, "b", `{"a":1}`},
		{`{"a":1}`, "a", `{}`},
		{`{ "a" : 1 , "B" : 2 , "c" : 3 }`, "b", `{ "a" : 1 , "c" : 3 }`},
		{`{"a":1,"A":2,"c":3}`, "a", `{"c":3}`},
		{`{"x":{"a":1},"y":2}`, "a", `{"x":{"a":1},"y":2}`},
		{`{"k":"a","a":"k"}`, "a", `{"k":"a"}`},
	} {
		got, err := DeleteMember([]byte(tc.obj), tc.key)
		if err != nil || string(got) != tc.want {
			t.Errorf("DeleteMember(%s, %q) = %s, %v; want %s", tc.obj, tc.key, got, err, tc.want)
		}
		if err == nil && !json.Valid(got) {
			t.Errorf("DeleteMember(%s, %q) = %s: not JSON", tc.obj, tc.key, got)
		}
	}
}

// AppendString writes what encoding/json writes, and LookupString reads
// what it reads, on the fast path of plain strings and off it.
func TestStringsAgreeWithEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "echo", "s00__blob", "a b", `quo"te`, `back\slash`, "<tag>&", "tab\there", "é", "\u2028", "\x7f", "\xff"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var decoded string
		_ = json.Unmarshal(want, &decoded)
		obj := append(append([]byte(`{"k":`), want...), '}')
		if got, err := LookupString(obj, "k"); err != nil || got != decoded {
			t.Errorf("LookupString of %s = %q, %v; want %q", want, got, err, decoded)
		}
	}
}
