// Package backstagetest serves a fake Backstage catalog API on loopback, so a
// catalog client can be tested against the behaviour of the real one
// (catalog-backend 4.0.0): bearer auth, by-query filters, field projection,
// opaque cursors and Backstage-shaped error bodies.
package backstagetest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a Backstage-shaped catalog API on loopback. It is safe for
// concurrent use.
type Server struct {
	URL   string // base URL, e.g. http://127.0.0.1:PORT (no trailing slash)
	Token string // the bearer token it accepts

	t        testing.TB
	handler  http.Handler
	addr     string // host:port, kept across Kill and Restart
	mu       sync.Mutex
	live     *httptest.Server // nil while killed
	entities []entity
	fail     int
	requests []Request
	hold     chan struct{} // closed to release held requests; nil: none held
	held     chan struct{} // one value per request that starts waiting
}

// Request is one request the server received, recorded before auth so tests
// can also assert on rejected ones.
type Request struct {
	Path    string
	Query   url.Values
	HasAuth bool // an Authorization header was sent, whatever its value
}

// New starts a server holding these entities (each a JSON object, as
// Backstage returns them) and stops it with t.Cleanup.
func New(t testing.TB, entities []json.RawMessage) *Server {
	t.Helper()
	token := make([]byte, 16)
	_, _ = rand.Read(token) // never fails since Go 1.24
	s := &Server{t: t, Token: hex.EncodeToString(token)}
	s.SetEntities(entities)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/catalog/entities/by-query", s.byQuery)
	mux.HandleFunc("GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}", s.byName)
	// Express answers unmatched routes and methods with 404, not 405.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "Not Found")
	})
	s.handler = s.intercept(mux)
	hs := httptest.NewServer(s.handler)
	s.live, s.addr, s.URL = hs, hs.Listener.Addr().String(), hs.URL
	t.Cleanup(s.Kill)
	return s
}

// Kill stops the server: connections to its address are refused until
// Restart. Requests being held are released first.
func (s *Server) Kill() {
	s.release()
	s.mu.Lock()
	hs := s.live
	s.live = nil
	s.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
}

// Restart kills the server if it is running, then serves again on the same
// address, with the same entities, token and record of requests.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	// The port was ours a moment ago; give the kernel a little time should
	// it not be reusable at once.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.handler}}
			hs.Start()
			s.mu.Lock()
			s.live = hs
			s.mu.Unlock()
			return
		}
	}
	s.t.Fatalf("backstagetest: restart on %s: %v", s.addr, err)
}

// Hold makes every later request wait, once recorded, until release is
// called or its client gives up: a portal that hangs. held receives a
// value as each request starts waiting.
func (s *Server) Hold() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold, s.held = make(chan struct{}), make(chan struct{}, 1000)
	}
	s.t.Cleanup(s.release)
	return s.held, s.release
}

// release lets held requests go on, and later ones through at once.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// SetEntities replaces the catalog. An entity that is not a JSON object fails
// the test, so call it from the test goroutine.
func (s *Server) SetEntities(entities []json.RawMessage) {
	s.t.Helper()
	parsed := make([]entity, 0, len(entities))
	for i, raw := range entities {
		e, err := parseEntity(raw)
		if err != nil {
			s.t.Fatalf("backstagetest: entity %d: %v", i, err)
		}
		parsed = append(parsed, e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities = parsed
}

// FailWith makes every later request answer status with a Backstage-style
// error body, before auth is checked; 0 restores normal behaviour.
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = status
}

// Requests returns copies of the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i], out[i].Query = r, url.Values{}
		for k, vs := range r.Query {
			out[i].Query[k] = slices.Clone(vs)
		}
	}
	return out
}

// MCPServerEntity builds an mcp-server API entity in the seeds' format, for
// tests that need many valid entities.
func MCPServerEntity(namespace, name, remoteURL string) json.RawMessage {
	quotedURL, _ := json.Marshal(remoteURL) // a JSON string is a valid YAML scalar, whatever the URL holds
	definition := fmt.Sprintf("name: com.example/%s\ndescription: %s test server\nversion: \"0.0.1\"\n"+
		"remotes:\n  - type: streamable-http\n    url: %s\n", name, name, quotedURL)
	raw, _ := json.Marshal(map[string]any{ // only strings and maps: cannot fail
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "API",
		"metadata": map[string]any{
			"name":        name,
			"namespace":   namespace,
			"title":       name + " title",
			"description": "The " + name + " MCP server, for tests.",
			"annotations": map[string]any{"mcp.spotify.com/schema-version": "2025-09-29"},
		},
		"spec": map[string]any{
			"type":       "mcp-server",
			"lifecycle":  "production",
			"owner":      "platform-team",
			"definition": definition,
		},
	})
	return raw
}

// BackstageMCPServerEntity builds an mcp-server API entity in Backstage's
// own shape (ApiV1alpha1McpServer of @backstage/catalog-model): spec.remotes
// with one streamable HTTP remote, and no annotation. annotations, when
// given, are added as they are (auth annotations, say).
func BackstageMCPServerEntity(namespace, name, remoteURL string, annotations map[string]string) json.RawMessage {
	meta := map[string]any{
		"name":        name,
		"namespace":   namespace,
		"title":       name + " title",
		"description": "The " + name + " MCP server, for tests.",
	}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	raw, _ := json.Marshal(map[string]any{ // only strings and maps: cannot fail
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "API",
		"metadata":   meta,
		"spec": map[string]any{
			"type":      "mcp-server",
			"lifecycle": "production",
			"owner":     "platform-team",
			"remotes":   []any{map[string]any{"type": "streamable-http", "url": remoteURL}},
		},
	})
	return raw
}

// entity keeps the caller's bytes to serve unprojected, and the decoded
// object to filter, sort and project.
type entity struct {
	raw                   json.RawMessage
	obj                   map[string]any
	kind, namespace, name string
}

func parseEntity(raw json.RawMessage) (entity, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers as written, so they filter as written
	if err := dec.Decode(&obj); err != nil || obj == nil || !json.Valid(raw) {
		return entity{}, fmt.Errorf("not a single JSON object: %w", cmp.Or(err, errors.New("null or trailing data")))
	}
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	namespace, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	return entity{raw: slices.Clone(raw), obj: obj, kind: kind, namespace: cmp.Or(namespace, "default"), name: name}, nil
}

// intercept records every request, then applies FailWith and bearer auth.
func (s *Server) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		s.mu.Lock()
		s.requests = append(s.requests, Request{Path: r.URL.Path, Query: r.URL.Query(), HasAuth: auth != ""})
		fail, hold, held := s.fail, s.hold, s.held
		s.mu.Unlock()
		if hold != nil {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}

		scheme, token, _ := strings.Cut(auth, " ")
		switch {
		case fail != 0:
			writeError(w, r, fail, http.StatusText(fail))
		case !strings.EqualFold(scheme, "Bearer") || token == "":
			writeError(w, r, http.StatusUnauthorized, "Missing credentials")
		case subtle.ConstantTimeCompare([]byte(token), []byte(s.Token)) != 1:
			writeError(w, r, http.StatusUnauthorized, "Invalid token")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// snapshot returns the current catalog. SetEntities replaces the slice and
// never writes into it, so handlers may read it without the lock.
func (s *Server) snapshot() []entity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entities
}

func (s *Server) byName(w http.ResponseWriter, r *http.Request) {
	kind, namespace, name := r.PathValue("kind"), r.PathValue("namespace"), r.PathValue("name")
	for _, e := range s.snapshot() {
		if strings.EqualFold(e.kind, kind) && strings.EqualFold(e.namespace, namespace) && strings.EqualFold(e.name, name) {
			writeJSON(w, http.StatusOK, e.raw)
			return
		}
	}
	writeError(w, r, http.StatusNotFound,
		fmt.Sprintf("No entity named '%s' found, with kind '%s' in namespace '%s'", name, kind, namespace))
}

func writeError(w http.ResponseWriter, r *http.Request, status int, message string) {
	b, _ := json.Marshal(map[string]any{ // strings and an int: cannot fail
		"error":    map[string]string{"name": cmp.Or(errorNames[status], "Error"), "message": message},
		"request":  map[string]string{"method": r.Method, "url": r.URL.RequestURI()},
		"response": map[string]int{"statusCode": status},
	})
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
