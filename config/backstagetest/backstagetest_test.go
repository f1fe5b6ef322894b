package backstagetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// catalog holds entities chosen so that each filter case selects a distinct
// subset: two schema versions, a namespace-less entity, tags, mixed kinds.
var catalog = []json.RawMessage{
	json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"a","namespace":"default","tags":["beta","ai"],"annotations":{"mcp.spotify.com/schema-version":"2025-09-29","backstage.io/source":"x"}},"spec":{"type":"mcp-server","lifecycle":"production","owner":"platform-team","definition":"name: a\n"}}`),
	json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"b"},"spec":{"type":"openapi"}}`),
	json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"c","namespace":"default"},"spec":{"type":"service"}}`),
	json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"d","namespace":"team-x","annotations":{"mcp.spotify.com/schema-version":"2024-01-01"}},"spec":{"type":"mcp-server"}}`),
	json.RawMessage(`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"e","namespace":"default"},"spec":{"type":"MCP-Server"}}`),
}

const byQuery = "/api/catalog/entities/by-query"

func TestFilterSelectsEntitiesLikeBackstage(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		name    string
		filters []string
		want    []string
	}{
		{"no filter returns the whole catalog in order", nil, []string{"a", "b", "c", "d", "e"}},
		{"conditions in one filter are ANDed", []string{"kind=api,spec.type=mcp-server"}, []string{"a", "d", "e"}},
		{"repeated filter parameters are ORed", []string{"kind=component", "spec.type=openapi"}, []string{"b", "c"}},
		{"keys and values compare case-insensitively", []string{"KIND=Api, spec.type=mcp-SERVER"}, []string{"a", "d", "e"}},
		{"a bare key requires the path to exist", []string{"metadata.annotations.mcp.spotify.com/schema-version"}, []string{"a", "d"}},
		{"annotation keys resolve as dotted paths", []string{"metadata.annotations.mcp.spotify.com/schema-version=2025-09-29"}, []string{"a"}},
		{"a repeated key in one filter accepts either value", []string{"spec.type=openapi,spec.type=service"}, []string{"b", "c"}},
		{"array values match any element", []string{"metadata.tags=AI"}, []string{"a"}},
		{"a path into a missing parent matches nothing", []string{"spec.definition.name"}, []string{}},
		{"no match gives an empty page", []string{"kind=group"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fetch(t, s, url.Values{"filter": tc.filters})
			if got := names(t, p.Items); !slices.Equal(got, tc.want) {
				t.Errorf("names = %v, want %v", got, tc.want)
			}
			if p.TotalItems != len(tc.want) {
				t.Errorf("totalItems = %d, want %d", p.TotalItems, len(tc.want))
			}
		})
	}
}

func TestFieldsProjectOnlyTheGivenPaths(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		name   string
		fields []string
		want   string
	}{
		{"top-level and nested paths", []string{"kind,metadata.name"}, `{"kind":"API","metadata":{"name":"a"}}`},
		{"repeated fields parameters add up", []string{"kind", "metadata.name"}, `{"kind":"API","metadata":{"name":"a"}}`},
		{"annotation keys resolve as dotted paths", []string{"metadata.annotations.mcp.spotify.com/schema-version"},
			`{"metadata":{"annotations":{"mcp.spotify.com/schema-version":"2025-09-29"}}}`},
		{"absent paths are left out", []string{"kind,spec.nope,metadata.missing.deeper"}, `{"kind":"API"}`},
		{"a path inside an already selected object", []string{"metadata.annotations,metadata.annotations.backstage.io/source,metadata.name"},
			`{"metadata":{"name":"a","annotations":{"mcp.spotify.com/schema-version":"2025-09-29","backstage.io/source":"x"}}}`},
		{"no fields returns the whole entity", nil, string(catalog[0])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fetch(t, s, url.Values{"filter": {"metadata.name=a"}, "fields": tc.fields})
			if len(p.Items) != 1 {
				t.Fatalf("got %d items, want 1", len(p.Items))
			}
			assertJSONEqual(t, p.Items[0], tc.want)
		})
	}
	// Projection must not have written into the stored entity.
	assertJSONEqual(t, fetch(t, s, url.Values{"filter": {"metadata.name=a"}}).Items[0], string(catalog[0]))
}

func TestCursorsReachEveryEntityOnceInOrder(t *testing.T) {
	const total = 250
	var entities []json.RawMessage
	var inserted []string
	for i := range total {
		name := fmt.Sprintf("srv-%03d", i*7%total) // a permutation, so sorting is visible
		inserted = append(inserted, name)
		entities = append(entities, MCPServerEntity("default", name, "https://"+name+".example.com/mcp"))
		// Non-matching entities in between prove the cursor keeps the filter.
		entities = append(entities, json.RawMessage(`{"kind":"Component","metadata":{"name":"zz-`+name+`"}}`))
	}
	asc := slices.Sorted(slices.Values(inserted))
	desc := slices.Clone(asc)
	slices.Reverse(desc)

	for _, tc := range []struct {
		name       string
		orderField []string
		want       []string
	}{
		{"ascending by name", []string{"metadata.name,asc"}, asc},
		{"descending by name", []string{"metadata.name,desc"}, desc},
		{"no order keeps catalog order", nil, inserted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, entities)
			params := url.Values{"filter": {"kind=api,spec.type=mcp-server"}, "fields": {"metadata.name"},
				"limit": {"20"}, "orderField": tc.orderField}
			var got []string
			for page := 0; ; page++ {
				p := fetch(t, s, params)
				got = append(got, names(t, p.Items)...)
				if p.TotalItems != total {
					t.Fatalf("page %d: totalItems = %d, want %d", page, p.TotalItems, total)
				}
				if (page == 0) != (p.PageInfo.PrevCursor == "") {
					t.Errorf("page %d: prevCursor = %q, want it on every page but the first", page, p.PageInfo.PrevCursor)
				}
				if p.PageInfo.NextCursor == "" {
					break
				}
				// What real clients send after the first page.
				params = url.Values{"cursor": {p.PageInfo.NextCursor}, "fields": {"metadata.name"}, "limit": {"20"}}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("walked %d names, want all %d in order\ngot  %v\nwant %v", len(got), len(tc.want), got, tc.want)
			}
			reqs := s.Requests()
			if len(reqs) != 13 {
				t.Errorf("%d requests, want 13 pages of at most 20", len(reqs))
			}
			for i, r := range reqs {
				if !r.HasAuth || r.Path != byQuery || r.Query.Has("filter") != (i == 0) || r.Query.Has("cursor") == (i == 0) {
					t.Errorf("request %d = %+v, want filter only on the first and cursor on the rest", i, r)
				}
			}
		})
	}
}

func TestPrevCursorReturnsThePreviousPage(t *testing.T) {
	var entities []json.RawMessage
	for i := range 50 {
		entities = append(entities, MCPServerEntity("default", fmt.Sprintf("srv-%02d", i), "http://x"))
	}
	s := New(t, entities)
	p1 := fetch(t, s, url.Values{"limit": {"20"}, "fields": {"metadata.name"}})
	p2 := fetch(t, s, url.Values{"limit": {"20"}, "cursor": {p1.PageInfo.NextCursor}, "fields": {"metadata.name"}})
	back := fetch(t, s, url.Values{"limit": {"20"}, "cursor": {p2.PageInfo.PrevCursor}, "fields": {"metadata.name"}})
	if got, want := names(t, back.Items), names(t, p1.Items); !slices.Equal(got, want) {
		t.Errorf("prevCursor page = %v, want %v", got, want)
	}
	if back.PageInfo.PrevCursor != "" {
		t.Errorf("prevCursor back on the first page = %q, want none", back.PageInfo.PrevCursor)
	}
}

func TestCursorOverridesFilterAndOrderField(t *testing.T) {
	s := New(t, catalog)
	first := fetch(t, s, url.Values{"filter": {"kind=api,spec.type=mcp-server"}, "orderField": {"metadata.name,desc"}, "limit": {"2"}})
	if got := names(t, first.Items); !slices.Equal(got, []string{"e", "d"}) {
		t.Fatalf("first page = %v, want [e d]", got)
	}
	next := fetch(t, s, url.Values{"cursor": {first.PageInfo.NextCursor}, "limit": {"2"},
		"filter": {"kind=component"}, "orderField": {"metadata.name,asc"}})
	if got := names(t, next.Items); !slices.Equal(got, []string{"a"}) || next.TotalItems != 3 {
		t.Errorf("cursor page = %v of %d, want [a] of 3: the cursor's query, not the parameters", got, next.TotalItems)
	}
}

func TestBadRequestsAnswer400InputError(t *testing.T) {
	s := New(t, catalog)
	b64 := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct {
		name   string
		params url.Values
	}{
		{"cursor that is not base64", url.Values{"cursor": {"garbage!!"}}},
		{"cursor that is not JSON", url.Values{"cursor": {b64([]byte("not json"))}}},
		{"cursor with a negative offset", url.Values{"cursor": {b64([]byte(`{"offset":-1}`))}}},
		{"cursor carrying an invalid filter", url.Values{"cursor": {b64([]byte(`{"filter":["=x"]}`))}}},
		{"empty cursor", url.Values{"cursor": {""}}},
		{"limit that is not a number", url.Values{"limit": {"many"}}},
		{"negative limit", url.Values{"limit": {"-1"}}},
		{"unknown sort direction", url.Values{"orderField": {"metadata.name,sideways"}}},
		{"filter condition without a key", url.Values{"filter": {"kind=api,=x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, s, byQuery, tc.params, bearer(s))
			assertError(t, status, body, http.StatusBadRequest, "InputError", "")
		})
	}
}

func TestAuthentication(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		name     string
		path     string
		auth     string
		wantBody string
	}{
		{"missing header", byQuery, "",
			`{"error":{"name":"AuthenticationError","message":"Missing credentials"},"request":{"method":"GET","url":"/api/catalog/entities/by-query"},"response":{"statusCode":401}}`},
		{"wrong token", byQuery, "Bearer nope",
			`{"error":{"name":"AuthenticationError","message":"Invalid token"},"request":{"method":"GET","url":"/api/catalog/entities/by-query"},"response":{"statusCode":401}}`},
		{"another scheme counts as missing", byQuery, "Basic " + s.Token,
			`{"error":{"name":"AuthenticationError","message":"Missing credentials"},"request":{"method":"GET","url":"/api/catalog/entities/by-query"},"response":{"statusCode":401}}`},
		{"unknown paths check auth first", "/api/catalog/nope", "",
			`{"error":{"name":"AuthenticationError","message":"Missing credentials"},"request":{"method":"GET","url":"/api/catalog/nope"},"response":{"statusCode":401}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, s, tc.path, nil, tc.auth)
			if status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", status)
			}
			assertJSONEqual(t, body, tc.wantBody)
		})
	}
	var hasAuth []bool
	for _, r := range s.Requests() {
		hasAuth = append(hasAuth, r.HasAuth)
	}
	if want := []bool{false, true, true, false}; !slices.Equal(hasAuth, want) {
		t.Errorf("recorded HasAuth = %v, want %v", hasAuth, want)
	}
	if status, _ := get(t, s, byQuery, nil, "bearer "+s.Token); status != http.StatusOK {
		t.Errorf("right token with a lower-case scheme: status %d, want 200", status)
	}
}

func TestNotFound(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		name, method, path, message string
	}{
		{"unknown path", http.MethodGet, "/api/catalog/nope", "Not Found"},
		{"root", http.MethodGet, "/", "Not Found"},
		{"wrong method on a known path", http.MethodPost, byQuery, "Not Found"},
		{"by-name with a too short ref", http.MethodGet, "/api/catalog/entities/by-name/api/a", "Not Found"},
		{"by-name of a missing entity", http.MethodGet, "/api/catalog/entities/by-name/api/default/d",
			"No entity named 'd' found, with kind 'api' in namespace 'default'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, s, tc.method, tc.path, bearer(s))
			assertError(t, status, body, http.StatusNotFound, "NotFoundError", tc.message)
		})
	}
}

func TestFailWithOverridesEveryRequest(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		status int
		name   string
	}{
		{http.StatusForbidden, "NotAllowedError"},
		{http.StatusInternalServerError, "Error"},
		{http.StatusServiceUnavailable, "ServiceUnavailableError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.FailWith(tc.status)
			for _, auth := range []string{bearer(s), ""} {
				status, body := get(t, s, byQuery, nil, auth)
				assertError(t, status, body, tc.status, tc.name, http.StatusText(tc.status))
			}
		})
	}
	s.FailWith(0)
	if got := names(t, fetch(t, s, nil).Items); len(got) != len(catalog) {
		t.Errorf("after FailWith(0) got %v, want the whole catalog", got)
	}
}

func TestByNameFindsEntitiesCaseInsensitively(t *testing.T) {
	s := New(t, catalog)
	for _, tc := range []struct {
		ref, want string
	}{
		{"API/default/a", "a"},
		{"api/DEFAULT/A", "a"},
		{"api/team-x/d", "d"},
		{"api/default/b", "b"}, // no namespace in the entity means default
		{"component/default/c", "c"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			status, body := get(t, s, "/api/catalog/entities/by-name/"+tc.ref, nil, bearer(s))
			if status != http.StatusOK {
				t.Fatalf("status = %d, want 200: %s", status, body)
			}
			if got := names(t, []json.RawMessage{body}); got[0] != tc.want {
				t.Errorf("got entity %q, want %q", got[0], tc.want)
			}
		})
	}
}

func TestSetEntitiesIsSafeDuringRequests(t *testing.T) {
	s := New(t, catalog)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				// Overlapping fields would race on shared maps if projection wrote into entities.
				// Plain HTTP here: t.Fatal, which get may call, must stay on the test goroutine.
				req, _ := http.NewRequest(http.MethodGet, s.URL+byQuery+"?fields=metadata,metadata.name", nil)
				req.Header.Set("Authorization", bearer(s))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status = %d", resp.StatusCode)
				}
				_ = s.Requests()
			}
		})
	}
	for i := range 20 {
		s.SetEntities(catalog[:i%len(catalog)+1])
	}
	wg.Wait()
	s.SetEntities(catalog[2:3])
	if got := names(t, fetch(t, s, nil).Items); !slices.Equal(got, []string{"c"}) {
		t.Errorf("after SetEntities got %v, want [c]", got)
	}
}

func TestMCPServerEntityIsASeedShapedEntity(t *testing.T) {
	raw := MCPServerEntity("team-x", "weather", "https://weather.example.com/mcp")
	var e struct {
		Kind     string
		Metadata struct {
			Name, Namespace, Title string
			Annotations            map[string]string
		}
		Spec map[string]any
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != "API" || e.Metadata.Name != "weather" || e.Metadata.Namespace != "team-x" || e.Metadata.Title != "weather title" ||
		e.Metadata.Annotations["mcp.spotify.com/schema-version"] != "2025-09-29" || e.Spec["type"] != "mcp-server" {
		t.Errorf("unexpected entity %s", raw)
	}
	def, _ := e.Spec["definition"].(string)
	for _, want := range []string{"name: com.example/weather\n", "version: \"0.0.1\"\n", "  - type: streamable-http\n",
		"    url: \"https://weather.example.com/mcp\"\n"} {
		if !strings.Contains(def, want) {
			t.Errorf("definition %q lacks %q", def, want)
		}
	}
}

func TestLookupPrefersTheLongestKeyAndBacksOff(t *testing.T) {
	obj := map[string]any{
		"a.b": map[string]any{"c": "long"},
		"a":   map[string]any{"b": map[string]any{"d": "short"}},
	}
	for _, tc := range []struct {
		path, want string
		keys       []string
	}{
		{"a.b.c", "long", []string{"a.b", "c"}},
		{"a.b.d", "short", []string{"a", "b", "d"}},
	} {
		keys, v, ok := lookup(obj, tc.path, false)
		if !ok || v != tc.want || !slices.Equal(keys, tc.keys) {
			t.Errorf("lookup(%q) = %v, %v, %v; want %v, %q", tc.path, keys, v, ok, tc.keys, tc.want)
		}
	}
	if _, _, ok := lookup(obj, "a.b.e", false); ok {
		t.Error("lookup(a.b.e) found something, want nothing")
	}
}

func bearer(s *Server) string { return "Bearer " + s.Token }

// fetch asks by-query with the right token and decodes a successful page.
func fetch(t *testing.T, s *Server, params url.Values) page {
	t.Helper()
	status, body := get(t, s, byQuery, params, bearer(s))
	if status != http.StatusOK {
		t.Fatalf("by-query %v: status %d: %s", params, status, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("by-query %v: %v in %s", params, err, body)
	}
	return p
}

func get(t *testing.T, s *Server, path string, params url.Values, auth string) (int, []byte) {
	t.Helper()
	if len(params) > 0 {
		path += "?" + params.Encode()
	}
	return do(t, s, http.MethodGet, path, auth)
}

func do(t *testing.T, s *Server, method, pathAndQuery, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// names returns metadata.name of each item, always non-nil so that empty
// results compare equal to an empty want.
func names(t *testing.T, items []json.RawMessage) []string {
	t.Helper()
	out := []string{}
	for _, item := range items {
		var e struct{ Metadata struct{ Name string } }
		if err := json.Unmarshal(item, &e); err != nil {
			t.Fatalf("item %s: %v", item, err)
		}
		out = append(out, e.Metadata.Name)
	}
	return out
}

// assertError checks a Backstage-style error body; an empty message is not checked.
func assertError(t *testing.T, status int, body []byte, wantStatus int, wantName, wantMessage string) {
	t.Helper()
	var e struct {
		Error    struct{ Name, Message string }
		Request  struct{ Method, URL string }
		Response struct{ StatusCode int }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if status != wantStatus || e.Response.StatusCode != wantStatus || e.Error.Name != wantName ||
		(wantMessage != "" && e.Error.Message != wantMessage) || e.Request.Method == "" || e.Request.URL == "" {
		t.Errorf("got %d %s, want %d %s %q", status, body, wantStatus, wantName, wantMessage)
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
