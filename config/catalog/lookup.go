package catalog

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// MatchKind is what of a server's a name matched.
type MatchKind string

// The ways Match finds a server, in the order it tries them: the first
// that matches any server decides.
const (
	ByID             MatchKind = "id"              // metadata.name, or <namespace>/<name>
	ByRef            MatchKind = "ref"             // api:<namespace>/<name>
	ByDefinitionName MatchKind = "definition name" // server.json's name
	// ByURLPath: a remote's URL path has /api/<name>/, the mount of the
	// Backstage plugin that serves it, so that "mcp-actions" finds the
	// portal's actions server (/api/mcp-actions/v1) whatever its entity is
	// called.
	ByURLPath MatchKind = "url path"
)

// Match is the server a name found, and how.
type Match struct {
	*Server
	// Name is the name that was looked up.
	Name string
	By   MatchKind
	// URL is, when By is ByURLPath, the remote whose path the name matched.
	URL string
}

// Note says which server a name found when that is not plain from the
// name, for a verb to tell the user: "" unless the name matched a URL path.
func (m Match) Note() string {
	if m.By != ByURLPath {
		return ""
	}
	return fmt.Sprintf("%q is %s: its remote %s is under /api/%s/", m.Name, m.ID, redactURL(m.URL), pluginPath(m.URL))
}

// AmbiguousError is a name that matches several servers the same way. It
// is an ErrUnknownServer too.
type AmbiguousError struct {
	Name string
	By   MatchKind
	// IDs are the servers it matches, in catalog order.
	IDs []string
}

func (e *AmbiguousError) Error() string {
	if e.By == ByURLPath {
		return fmt.Sprintf("%s %q: %d servers have a remote under /api/%s/ (%s); name one by its ID",
			ErrUnknownServer, e.Name, len(e.IDs), strings.ToLower(e.Name), strings.Join(e.IDs, ", "))
	}
	return fmt.Sprintf("%s %q: it names %d servers (%s); use the ID", ErrUnknownServer, e.Name, len(e.IDs), strings.Join(e.IDs, ", "))
}

// Unwrap makes an ambiguous name an unknown server for errors.Is.
func (e *AmbiguousError) Unwrap() error { return ErrUnknownServer }

// Lookup finds a server by its ID (metadata.name), its entity ref
// (api:<namespace>/<name>), its definition's name or the plugin path of its
// remote; Match says more.
func (c *Catalog) Lookup(name string) (*Server, error) {
	m, err := c.Match(name)
	return m.Server, err
}

// Match finds a server for name the first way of ByID, ByRef,
// ByDefinitionName and ByURLPath that matches any. Of duplicates, the one
// in use counts. A name that matches several servers the same way is an
// *AmbiguousError naming them, never a guess; one that matches none is an
// ErrUnknownServer that suggests the closest name.
func (c *Catalog) Match(name string) (Match, error) {
	for _, by := range []MatchKind{ByID, ByRef, ByDefinitionName, ByURLPath} {
		var found []Match
		for _, s := range c.Servers {
			if isDuplicate(s) {
				continue
			}
			if ok, remote := matches(s, by, name); ok {
				found = append(found, Match{Server: s, Name: name, By: by, URL: remote})
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		e := &AmbiguousError{Name: name, By: by}
		for _, m := range found {
			e.IDs = append(e.IDs, m.ID)
		}
		return Match{}, e
	}
	if guess, path := c.closest(name); guess != "" {
		if path != "" {
			return Match{}, fmt.Errorf("%w %q; did you mean %q (its remote is under /api/%s/)? (\"bridge list\" shows them all)", ErrUnknownServer, name, guess, path)
		}
		return Match{}, fmt.Errorf("%w %q; did you mean %q? (\"bridge list\" shows them all)", ErrUnknownServer, name, guess)
	}
	return Match{}, fmt.Errorf("%w %q: the catalog has no such server (\"bridge list\" shows them all)", ErrUnknownServer, name)
}

// matches reports whether s matches name by the way by, and for ByURLPath
// the remote that does.
func matches(s *Server, by MatchKind, name string) (bool, string) {
	switch by {
	case ByID:
		return s.ID == name, ""
	case ByRef:
		return refMatches(s, name), ""
	case ByDefinitionName:
		return s.Definition.Name != "" && s.Definition.Name == name, ""
	case ByURLPath:
		for _, r := range s.Definition.Remotes {
			if p := pluginPath(r.URL); p != "" && strings.EqualFold(p, name) {
				return true, r.URL
			}
		}
	}
	return false, ""
}

// pluginPath is the plugin a Backstage URL's path is mounted under: the
// segment after the first "api" segment ("mcp-actions" for
// https://portal.example.com/api/mcp-actions/v1), or "" for none. A portal
// served under a path of its own (/backstage/api/…) counts too.
func pluginPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	segments := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, seg := range segments[:max(len(segments)-1, 0)] {
		if seg == "api" {
			return segments[i+1]
		}
	}
	return ""
}

func refMatches(s *Server, name string) bool {
	ref := strings.ToLower(name)
	ref = strings.TrimPrefix(ref, "api:")
	if !strings.Contains(ref, "/") {
		ref = "default/" + ref
	}
	return ref == strings.ToLower(s.Namespace+"/"+s.Name)
}

func isDuplicate(s *Server) bool { return s.DuplicateOf != "" }

// closest is the server whose ID, definition name or remote's plugin path
// is nearest to name by edit distance, if any is near enough to be a likely
// typo; path is the plugin path when that is what was near.
func (c *Catalog) closest(name string) (id, path string) {
	type cand struct {
		id, path string
		dist     int
	}
	var best []cand
	for _, s := range c.Servers {
		add := func(alias, path string) {
			if alias == "" {
				return
			}
			n, a := []rune(strings.ToLower(name)), []rune(strings.ToLower(alias))
			d := editDistance(string(n), string(a))
			// A typo in the first part of a long name is still a likely match.
			if len(n) >= 3 && len(a) > len(n) {
				d = min(d, editDistance(string(n), string(a[:len(n)]))+1)
			}
			best = append(best, cand{s.ID, path, d})
		}
		add(s.ID, "")
		add(s.Definition.Name, "")
		for _, r := range s.Definition.Remotes {
			p := pluginPath(r.URL)
			add(p, p)
		}
	}
	if len(best) == 0 {
		return "", ""
	}
	slices.SortStableFunc(best, func(a, b cand) int { return cmp.Compare(a.dist, b.dist) })
	if limit := max(2, len(name)/2); best[0].dist > limit {
		return "", ""
	}
	return best[0].id, best[0].path
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Why an enabled server is not served.
