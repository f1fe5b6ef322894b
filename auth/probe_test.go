package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// TestProbeFindsTheFirstRequestThatAsksForAToken: the probe returns the
// challenge of the first 401, whether to initialize or to the request
// after it (sent on the session initialize opened), and ends the session
// it opened.
func TestProbeFindsTheFirstRequestThatAsksForAToken(t *testing.T) {
	for _, tc := range []struct {
		name      string
		asksAt    string // the first method answered 401, "" for none
		wantScope string
		wantSeen  []string
	}{
		{"at initialize", "initialize", "a", []string{"initialize"}},
		{"after initialize", "tools/list", "b", []string{"initialize", "notifications/initialized", "tools/list", "DELETE"}},
		{"never", "", "", []string{"initialize", "notifications/initialized", "tools/list", "DELETE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m struct{ Method string }
				body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
				_ = json.Unmarshal(body, &m)
				if r.Method == http.MethodDelete {
					m.Method = "DELETE"
				}
				if m.Method != "initialize" && r.Header.Get("Mcp-Session-Id") != "s-1" {
					t.Errorf("%s without the session", m.Method)
				}
				mu.Lock()
				seen = append(seen, m.Method)
				mu.Unlock()
				if m.Method == tc.asksAt {
					w.Header().Set("WWW-Authenticate", `Bearer scope="`+tc.wantScope+`", resource_metadata="https://x/.well-known/oauth-protected-resource"`)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Mcp-Session-Id", "s-1")
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
			}))
			defer srv.Close()
			ch, err := Probe(context.Background(), srv.Client(), srv.URL)
			switch {
			case tc.asksAt == "" && !errors.Is(err, ErrNoAuthNeeded):
				t.Errorf("a server that never asks: %v %v", ch, err)
			case tc.asksAt != "" && (err != nil || ch.Scope != tc.wantScope || ch.ResourceMetadata == ""):
				t.Errorf("challenge %+v, %v", ch, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(seen, tc.wantSeen) {
				t.Errorf("requests %v, want %v", seen, tc.wantSeen)
			}
		})
	}
}
