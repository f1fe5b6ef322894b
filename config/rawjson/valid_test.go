package rawjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// validCases are inputs at the edges of the grammar, each answered as
// json.Valid answers it.
var validCases = []string{
	``, ` `, `1`, ` 1 `, "\t\r\n1\n", `-0`, `-`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e07`, `-1.5e+30`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `True`, `true false`, `1 2`,
	`""`, `"`, `"a`, `"\"`, `"\\"`, `"\\\"`, `"\/\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00"`, `"\x"`, `"\'"`,
	"\"tab\there\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\xfe\"", "\"\u2028\"", "\"a\nb\"", "\"\x00\"",
	`[]`, `[ ]`, `[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `[[]]`, `[[]`, `[]]`, `[1,[2,[3]]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:1}`, `{"a":1 "b":2}`, `{"a":1,"b":[{}]}`,
	`{"a":1]`, `[1}`, `{"a":[}]}`, `{"\"":"}"}`, `{"a":"b\\"}`, `{"a":"b\\"`,
	"\ufeff1", `[1]x`, `{} {}`, `"a" "b"`,
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range validCases {
		if got, want := Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	}
}

func TestValidNestingBound(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, in := range []string{
			strings.Repeat("[", depth) + strings.Repeat("]", depth),
			strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1),
			strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth),
		} {
			if got, want := Valid([]byte(in)), json.Valid([]byte(in)); got != want {
				t.Errorf("depth %d, %.10s…: Valid = %v, json.Valid says %v", depth, in, got, want)
			}
		}
	}
}

// TestValidFindsEveryControlByte puts each byte value at each place of
// eight-byte words and of the tail after them.
func TestValidFindsEveryControlByte(t *testing.T) {
	for c := range 256 {
		if c == '"' || c == '\\' {
			continue
		}
		for pos := range 19 {
			text := []byte(strings.Repeat("x", 19))
			text[pos] = byte(c)
			in := []byte(`"` + string(text) + `"`)
			if got, want := Valid(in), json.Valid(in); got != want {
				t.Fatalf("byte %#x at %d: Valid = %v, json.Valid says %v", c, pos, got, want)
			}
		}
	}
}

// FuzzValid checks Valid against json.Valid on any input.
func FuzzValid(f *testing.F) {
	for _, in := range validCases {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a\"b\\\"c\u0041\n"}],"isError":false}}`))
	f.Add([]byte(`["` + strings.Repeat("0123456789abcdef", 9) + `\t"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

// BenchmarkValid compares Valid with json.Valid on a JSON-RPC response
// whose result is a text of 1 KB, 1 MB or 50 MB, plain or with an escape
// every 64 bytes (text of many lines). Run:
//
//	GOTOOLCHAIN=local go test ./config/rawjson -run '^$' -bench Valid -benchmem
func BenchmarkValid(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20, 50 << 20} {
		for _, escaped := range []bool{false, true} {
			line := strings.Repeat("x", 62) + `\n`
			if !escaped {
				line = strings.Repeat("x", 64)
			}
			msg := []byte(`{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"` +
				strings.Repeat(line, size/64) + `"}],"isError":false}}`)
			name := fmt.Sprintf("%s/escaped=%v", byteSize(size), escaped)
			b.Run("rawjson/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					if !Valid(msg) {
						b.Fatal("not valid")
					}
				}
			})
			b.Run("encoding-json/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					if !json.Valid(msg) {
						b.Fatal("not valid")
					}
				}
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMB", n>>20)
	}
	return fmt.Sprintf("%dKB", n>>10)
}
