package backstagetest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

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
