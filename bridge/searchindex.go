package bridge

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// ToolIndex ranks tools for a request in words, with BM25 over each tool's
// words: its name (the server's prefix in it), title, description and
// arguments, the name and title weighing more. Words are cut to a crude
// stem ("issues", "issue" → "issu"), so that the forms of a word meet,
// and a request's words also look for a few words of the same sense that
// tools use instead (a ticket is an issue; see related). Ties go by name,
// so that a search always ranks alike.
type ToolIndex struct {
	docs     []*searchDoc
	postings map[string][]posting
	avgLen   float64
}

// searchDoc is one tool as the index knows it.
type searchDoc struct {
	name, server, title, description string
	args, required                   []string
	length                           float64 // weighted count of its words
}

type posting struct {
	doc    int
	weight float64 // the word's weighted count in the tool
}

// SearchHit is one tool a search found.
type SearchHit struct {
	Name  string
	Score float64
	doc   *searchDoc
}

// Weights of a tool's parts; BM25 counts a word in the name as three.
const (
	weightName  = 3
	weightTitle = 2
	weightDesc  = 1
	weightArg   = 1
	// weightRelated is what a word of the same sense as a request's word
	// counts, against the word itself.
	weightRelated = 0.5
	bm25K1        = 1.2
	bm25B         = 0.75
)

// NewToolIndex indexes tools as the agent would be listed them.
func NewToolIndex(tools []Exposed) *ToolIndex {
	idx := &ToolIndex{postings: map[string][]posting{}}
	slices.SortFunc(tools, func(a, b Exposed) int { return cmp.Compare(a.Name, b.Name) })
	total := 0.0
	for _, e := range tools {
		d := newSearchDoc(e)
		counts := map[string]float64{}
		add := func(text string, w float64) {
			for _, t := range terms(text) {
				counts[t] += w
			}
		}
		add(e.Name, weightName)
		if e.Original != e.Name {
			add(e.Original, weightName)
		}
		add(d.title, weightTitle)
		add(d.description, weightDesc)
		for _, a := range d.args {
			add(a, weightArg)
		}
		i := len(idx.docs)
		for _, t := range slices.Sorted(mapKeys(counts)) {
			idx.postings[t] = append(idx.postings[t], posting{i, counts[t]})
			d.length += counts[t]
		}
		total += d.length
		idx.docs = append(idx.docs, d)
	}
	if len(idx.docs) > 0 {
		idx.avgLen = total / float64(len(idx.docs))
	}
	return idx
}

// Len is the number of tools indexed.
func (idx *ToolIndex) Len() int { return len(idx.docs) }

// Search returns at most limit tools for query, best first.
func (idx *ToolIndex) Search(query string, limit int) []SearchHit {
	if len(idx.docs) == 0 || limit <= 0 {
		return nil
	}
	weights := map[string]float64{}
	for _, t := range terms(query) {
		weights[t] = 1
	}
	for t := range weights {
		for _, r := range related[t] {
			if _, ok := weights[r]; !ok {
				weights[r] = weightRelated
			}
		}
	}
	scores := make([]float64, len(idx.docs))
	n := float64(len(idx.docs))
	for t, qw := range weights {
		ps := idx.postings[t]
		if len(ps) == 0 {
			continue
		}
		df := float64(len(ps))
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for _, p := range ps {
			norm := bm25K1 * (1 - bm25B + bm25B*idx.docs[p.doc].length/idx.avgLen)
			scores[p.doc] += qw * idf * p.weight * (bm25K1 + 1) / (p.weight + norm)
		}
	}
	var hits []SearchHit
	for i, sc := range scores {
		if sc > 0 {
			hits = append(hits, SearchHit{Name: idx.docs[i].name, Score: sc, doc: idx.docs[i]})
		}
	}
	slices.SortFunc(hits, func(a, b SearchHit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return hits[:min(limit, len(hits))]
}

// newSearchDoc reads what the index needs of a tool's definition.
func newSearchDoc(e Exposed) *searchDoc {
	var t struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Annotations struct {
			Title string `json:"title"`
		} `json:"annotations"`
		InputSchema struct {
			Required []string `json:"required"`
		} `json:"inputSchema"`
	}
	_ = json.Unmarshal(e.raw, &t)
	d := &searchDoc{name: e.Name, server: e.Server, title: t.Title, description: t.Description, required: t.InputSchema.Required}
	if d.title == "" {
		d.title = t.Annotations.Title
	}
	if schema, ok, _ := rawjson.Lookup(e.raw, "inputSchema"); ok {
		if props, ok, _ := rawjson.Lookup(schema, "properties"); ok {
			ms, _ := rawjson.Members(props)
			for _, m := range ms {
				var key string
				if json.Unmarshal(m.Key, &key) == nil {
					d.args = append(d.args, key)
				}
			}
		}
	}
	if d.required == nil {
		d.required = []string{}
	}
	return d
}

// argList is the tool's arguments, the required ones marked with "*".
func (d *searchDoc) argList() []string {
	out := make([]string, len(d.args))
	for i, a := range d.args {
		out[i] = a
		if slices.Contains(d.required, a) {
			out[i] += "*"
		}
	}
	return out
}

// terms are the words of a text the index counts: split at anything but
// letters and digits and where camelCase turns upper, lowercased, common
// words left out, each cut to its stem.
func terms(text string) []string {
	var out []string
	var word, joined []rune
	flush := func() {
		if len(word) > 0 {
			w := string(word)
			if !stopWords[w] {
				out = append(out, stem(w))
			}
			word = word[:0]
		}
	}
	// A compound written with a hyphen ("on-call", "to-dos") counts
	// written as one word too ("oncall", "todos"), as others write it.
	compound := false
	endCompound := func() {
		if compound {
			out = append(out, stem(string(joined)))
		}
		joined, compound = joined[:0], false
	}
	var prev rune
	for _, r := range text {
		switch {
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			endCompound()
			word = append(word, unicode.ToLower(r))
			joined = append(joined, unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word = append(word, unicode.ToLower(r))
			joined = append(joined, unicode.ToLower(r))
		case r == '-' && len(word) > 0:
			flush()
			compound = true
		default:
			flush()
			endCompound()
		}
		prev = r
	}
	flush()
	endCompound()
	return out
}

// stem cuts the common English endings off a word, so that its forms
// meet: plurals, -ing and -ed, and a final e ("create", "creating",
// "created" are all "creat").
func stem(w string) string {
	if len(w) <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ing") && len(w) > 5:
		w = w[:len(w)-3]
	case strings.HasSuffix(w, "ed") && len(w) > 4:
		w = w[:len(w)-2]
	}
	if (strings.HasSuffix(w, "tion") || strings.HasSuffix(w, "sion")) && len(w) > 6 {
		w = w[:len(w)-3] // "reaction" meets "react"
	}
	if strings.HasSuffix(w, "e") && len(w) > 3 {
		w = w[:len(w)-1]
	}
	return w
}

// stopWords are words too common in requests and descriptions to say
// which tool is meant.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the to of for in on at by with and or from into onto as is are be been was were
		it its this that these those there their them they my me i we our us you your he she his her
		can could would should will shall may might must do does did please want need like just some any
		all what which how about via using use so than then also`) {
		stopWords[w] = true
	}
}

// related maps a word's stem to the stems of words of the same sense that
// tools say instead, in either direction: the words of software work, of
// no catalog in particular.
var related = map[string][]string{}

func init() {
	for _, group := range []string{
		"ticket issue bug",
		"pr pull",
		"repo repository",
		"delete remove",
		"find search look",
		"show list",
		"fetch get read",
		"make create add open",
		"change update edit modify",
		"message post send",
		"dm direct",
		"meeting event",
		"doc document page",
		"file document",
		"deploy release rollout",
		"error exception",
		"alert monitor",
		"vm instance",
		"db database",
		"pod container",
		"channel room",
		"email mail",
		"invite attendee",
		"customer account",
		"diff change",
		"wiki page",
		"latest recent newest",
		"share access permission",
		"mute silence",
		"ack acknowledge",
		"fix resolve",
		"deal opportunity",
		"reply answer",
		"percent percentage",
	} {
		var words []string
		for _, w := range strings.Fields(group) {
			words = append(words, stem(w))
		}
		for _, w := range words {
			for _, o := range words {
				if o != w && !slices.Contains(related[w], o) {
					related[w] = append(related[w], o)
				}
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
