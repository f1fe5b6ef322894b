package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzStdioIngress feeds arbitrary lines from "the agent" to the stdio
// server: nothing may panic, and everything written back must be one
// valid JSON-RPC message per line.
func FuzzStdioIngress(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"a__b","arguments":{},"_meta":{"progressToken":1}}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"x://y"}}`,
		`{"jsonrpc":"2.0","id":3,"result":{}}`,
		`{"id":null,"method":"tools/list"}`,
		`[1,2,3]`, `{`, ``, "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var out bytes.Buffer
		b := New(nil, Options{StartupWait: -1})
		s := newStdioServer(b, &out) // the server serialises its own writes
		s.handle(line)
		s.handlers.Wait()
		s.cancel()
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("invalid JSON written back for %q: %q", line, sc.Text())
			}
		}
	})
}
