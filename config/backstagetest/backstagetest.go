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
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
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

// query is what a cursor carries: once a client holds a cursor, the filter
// and order it was issued for win over whatever the request says.
type query struct {
	Filter     []string `json:"filter,omitempty"`     // raw filter parameters, ORed
	OrderField []string `json:"orderField,omitempty"` // raw "field,asc|desc" parameters
	Offset     int      `json:"offset"`
}

type page struct {
	Items      []json.RawMessage `json:"items"`
	TotalItems int               `json:"totalItems"`
	PageInfo   struct {
		NextCursor string `json:"nextCursor,omitempty"`
		PrevCursor string `json:"prevCursor,omitempty"`
	} `json:"pageInfo"`
}

func (s *Server) byQuery(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	q, limit, err := parseQuery(params)
	groups, orders, compileErr := q.compile() // a cursor's query is as untrusted as parameters
	if err = cmp.Or(err, compileErr); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}

	var matched []entity
	for _, e := range s.snapshot() {
		if matchesAny(e.obj, groups) {
			matched = append(matched, e)
		}
	}
	sortEntities(matched, orders)

	fields := splitList(params["fields"])
	p := page{Items: []json.RawMessage{}, TotalItems: len(matched)}
	for _, e := range matched[min(q.Offset, len(matched)):min(q.Offset+limit, len(matched))] {
		item := e.raw
		if len(fields) > 0 {
			item, _ = json.Marshal(project(e.obj, fields)) // decoded JSON always re-encodes
		}
		p.Items = append(p.Items, item)
	}
	// limit=0 asks for totalItems only; a next cursor would point back here.
	if limit > 0 && q.Offset+limit < len(matched) {
		p.PageInfo.NextCursor = q.cursor(q.Offset + limit)
	}
	if q.Offset > 0 {
		p.PageInfo.PrevCursor = q.cursor(max(q.Offset-limit, 0))
	}
	body, _ := json.Marshal(p) // items are valid JSON: checked by SetEntities or just encoded
	writeJSON(w, http.StatusOK, body)
}

// parseQuery reads the query from the cursor when there is one, ignoring
// filter and orderField as Backstage does, and from the parameters otherwise.
func parseQuery(params url.Values) (query, int, error) {
	limit := 20
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return query{}, 0, fmt.Errorf("Invalid limit %q, not a non-negative integer", v)
		}
		limit = n
	}
	if !params.Has("cursor") {
		return query{Filter: params["filter"], OrderField: params["orderField"]}, limit, nil
	}
	var q query
	b, err := base64.RawURLEncoding.DecodeString(params.Get("cursor"))
	if err == nil {
		err = json.Unmarshal(b, &q)
	}
	if err == nil && q.Offset < 0 {
		err = errors.New("negative offset")
	}
	if err != nil {
		return query{}, 0, fmt.Errorf("Malformed cursor: %w", err)
	}
	return q, limit, nil
}

// cursor encodes the same query at another offset.
func (q query) cursor(offset int) string {
	q.Offset = offset
	b, _ := json.Marshal(q) // strings and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// condition is one key of a filter group with the values it may equal; no
// values means the key only has to exist. Backstage merges repeated keys in
// one filter value, so "kind=a,kind=b" means kind is a or b.
type condition struct {
	key    string
	values []string
}

type order struct {
	field string
	desc  bool
}

func (q query) compile() ([][]condition, []order, error) {
	var groups [][]condition
	for _, f := range q.Filter {
		var group []condition
		for _, statement := range strings.Split(f, ",") {
			key, value, hasValue := strings.Cut(statement, "=")
			key = strings.TrimSpace(key)
			if key == "" {
				return nil, nil, fmt.Errorf("Invalid filter %q, a condition has no key", f)
			}
			i := slices.IndexFunc(group, func(c condition) bool { return strings.EqualFold(c.key, key) })
			if i < 0 {
				group, i = append(group, condition{key: key}), len(group)
			}
			if hasValue {
				group[i].values = append(group[i].values, strings.TrimSpace(value))
			}
		}
		groups = append(groups, group)
	}
	var orders []order
	for _, o := range q.OrderField {
		field, dir, _ := strings.Cut(o, ",")
		if field == "" || (dir != "" && dir != "asc" && dir != "desc") {
			return nil, nil, fmt.Errorf("Invalid orderField %q, want field,asc or field,desc", o)
		}
		orders = append(orders, order{field: field, desc: dir == "desc"})
	}
	return groups, orders, nil
}

// matchesAny reports whether obj satisfies any group (no groups: every
// entity), a group being satisfied when all its conditions are.
func matchesAny(obj map[string]any, groups [][]condition) bool {
	return len(groups) == 0 || slices.ContainsFunc(groups, func(group []condition) bool {
		for _, c := range group {
			_, v, ok := lookup(obj, c.key, true)
			if !ok {
				return false
			}
			if len(c.values) > 0 && !slices.ContainsFunc(c.values, func(want string) bool { return equalsFold(v, want) }) {
				return false
			}
		}
		return true
	})
}

// equalsFold compares a scalar, or any element of an array such as
// metadata.tags, to want the way Backstage's lower-cased search table does.
func equalsFold(v any, want string) bool {
	if arr, ok := v.([]any); ok {
		return slices.ContainsFunc(arr, func(e any) bool { return equalsFold(e, want) })
	}
	s, ok := scalar(v)
	return ok && strings.EqualFold(s, want)
}

func scalar(v any) (string, bool) {
	switch v.(type) {
	case string, json.Number, bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

// sortEntities orders by each field's value, case-insensitively, with
// entities lacking it last; ties keep catalog order so paging is stable.
func sortEntities(es []entity, orders []order) {
	key := func(e entity, field string) (string, bool) {
		_, v, _ := lookup(e.obj, field, true)
		s, ok := scalar(v)
		return strings.ToLower(s), ok
	}
	slices.SortStableFunc(es, func(a, b entity) int {
		for _, o := range orders {
			av, aok := key(a, o.field)
			bv, bok := key(b, o.field)
			switch {
			case aok != bok && aok:
				return -1
			case aok != bok:
				return 1
			case av != bv && o.desc:
				return strings.Compare(bv, av)
			case av != bv:
				return strings.Compare(av, bv)
			}
		}
		return 0
	})
}

// lookup resolves a dotted path and returns the keys it walked, which
// projection needs. Keys may contain dots themselves (annotation keys such as
// mcp.spotify.com/schema-version), so at each level it tries the longest
// prefix of the remaining path that is a key, backing off to shorter ones.
// fold matches keys case-insensitively, as Backstage's filters do.
func lookup(obj map[string]any, path string, fold bool) ([]string, any, bool) {
	parts := strings.Split(path, ".")
	for n := len(parts); n > 0; n-- {
		key, v, ok := findKey(obj, strings.Join(parts[:n], "."), fold)
		if ok && n == len(parts) {
			return []string{key}, v, true
		}
		if child, isObj := v.(map[string]any); ok && isObj {
			if keys, v, ok := lookup(child, strings.Join(parts[n:], "."), fold); ok {
				return append([]string{key}, keys...), v, true
			}
		}
	}
	return nil, nil, false
}

func findKey(obj map[string]any, key string, fold bool) (string, any, bool) {
	if v, ok := obj[key]; ok {
		return key, v, true
	}
	if fold {
		for k, v := range obj {
			if strings.EqualFold(k, key) {
				return k, v, true
			}
		}
	}
	return "", nil, false
}

// project keeps only the given dotted paths, rebuilding their parents. It
// clones every map it writes into: an earlier path may have placed one of
// the entity's own maps there ("metadata" then "metadata.name"), and
// entities are shared by concurrent requests.
func project(obj map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		keys, v, ok := lookup(obj, f, false)
		if !ok {
			continue
		}
		m := out
		for _, k := range keys[:len(keys)-1] {
			child := map[string]any{}
			if prev, ok := m[k].(map[string]any); ok {
				child = maps.Clone(prev)
			}
			m[k], m = child, child
		}
		m[keys[len(keys)-1]] = v
	}
	return out
}

// splitList flattens repeated, comma-separated parameters such as fields.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// errorNames are the @backstage/errors classes behind each status.
var errorNames = map[int]string{
	http.StatusBadRequest:         "InputError",
	http.StatusUnauthorized:       "AuthenticationError",
	http.StatusForbidden:          "NotAllowedError",
	http.StatusNotFound:           "NotFoundError",
	http.StatusConflict:           "ConflictError",
	http.StatusNotImplemented:     "NotImplementedError",
	http.StatusServiceUnavailable: "ServiceUnavailableError",
}

// writeError answers in the shape of Backstage's error middleware. The URL
// is Express's req.url: path and query string.
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
