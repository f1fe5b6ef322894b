package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A server that lies about sizes or never stops talking costs its call,
// not the bridge's memory: every message is bounded before it is read.
func TestAMessagePastTheLimitFailsItsCallOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, id json.RawMessage)
	}{
		{"a length of 2 GB and no body", func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "2147483646")
			w.WriteHeader(http.StatusOK)
		}},
		{"a body that never ends", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"`, id)
			endless(w)
		}},
		{"an event stream line that never ends", func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: ")
			endless(w)
		}},
		{"an event of endless data lines", func(w http.ResponseWriter, _ json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 1<<16; i++ {
				if _, err := fmt.Fprint(w, "data: "+strings.Repeat("x", 1000)+"\n"); err != nil {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
				}
				body, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(body, &m)
				switch m.Method {
				case "initialize":
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}}}}`, m.ID)
				case "tools/call":
					tc.answer(w, m.ID)
				default:
					w.WriteHeader(http.StatusAccepted)
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := Connect(ctx, Remote{URL: srv.URL, MaxMessageSize: 1 << 20}, &notes{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Call(ctx, "tools/call", json.RawMessage(`{"name":"x"}`), nil)
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("%v; want ErrTooLarge", err)
			}
			if s.Err() != nil {
				t.Errorf("the session ended: %v", s.Err())
			}
		})
	}
}

// endless writes until the client goes away, in bounded rounds.
func endless(w http.ResponseWriter) {
	chunk := []byte(strings.Repeat("x", 64<<10))
	for range 4096 { // 256 MiB at most, far past any limit here
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// A length under the limit that the body never fills is not allocated up
// front: memory follows the bytes that arrive. Bodies of every size up to
// the limit read back whole, with or without a length.
func TestReadBodyTakesMemoryAsBytesArrive(t *testing.T) {
	const limit = 32 << 20
	lying := &http.Response{ContentLength: limit, Body: io.NopCloser(strings.NewReader("short"))}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := readBody(lying, limit); err == nil {
		t.Error("a body shorter than its length was taken whole")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("a 5-byte body that claims %d bytes took %d bytes", limit, grew)
	}
	for _, size := range []int{0, 1, trustedLength, trustedLength + 1, 3<<20 + 7} {
		body := strings.Repeat("x", size)
		for _, length := range []int64{int64(size), -1} {
			got, err := readBody(&http.Response{ContentLength: length, Body: io.NopCloser(strings.NewReader(body))}, limit)
			if err != nil || string(got) != body {
				t.Errorf("size %d, length %d: %d bytes, %v", size, length, len(got), err)
			}
		}
	}
	if _, err := readBody(&http.Response{ContentLength: -1, Body: io.NopCloser(strings.NewReader(strings.Repeat("x", 1025)))}, 1024); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a body past the limit: %v", err)
	}
}
