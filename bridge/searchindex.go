package bridge

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// ToolIndex ranks tools for a request in words, with BM25 over each tool's
// words: its name (the server's prefix in it), title, description and
// arguments, the name and title weighing more. Words are cut to a crude
// stem ("issues", "issue" → "issu"), so that the forms of a word meet,
// and a request's words also look for a few words of the same sense that
// tools use instead (a ticket is an issue; see related), its everyday
// words and phrases read as the tools' ("get rid of" as "delete"; see
// queryTerms). A tool's server
// is a field too: the words of all its tools, so that a request in a
// server's words ("pod", "cluster") favours that server's tools even
// where the tool meant does not say them. Ties go by name, so that a
// search always ranks alike.
type ToolIndex struct {
	docs    []*searchDoc
	tools   field // a document per tool
	servers field // a document per server: its tools' words
}

// field is a BM25 index over documents of one kind.
type field struct {
	postings map[string][]posting
	lengths  []float64 // weighted count of each document's words
	avgLen   float64
}

// searchDoc is one tool as the index knows it.
type searchDoc struct {
	name, server, title, description string
	args, required                   []string
	serverDoc                        int  // its server's document
	readOnly                         bool // annotated readOnlyHint
}

type posting struct {
	doc    int
	weight float64 // the word's weighted count in the document
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
	// weightServer is what the server's score counts, against the tool's.
	weightServer = 1
	// weightAsked is how much more a tool that only reads scores for a
	// request asked as a question ("which pods…", "who is on call?"):
	// a question wants an answer, seldom a change.
	weightAsked = 0.2
	bm25K1      = 1.2
	bm25B       = 0.75
)

// NewToolIndex indexes tools as the agent would be listed them.
func NewToolIndex(tools []Exposed) *ToolIndex {
	idx := &ToolIndex{tools: newField(), servers: newField()}
	slices.SortFunc(tools, func(a, b Exposed) int { return cmp.Compare(a.Name, b.Name) })
	serverDocs := map[string]int{}
	var serverCounts []map[string]float64
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
		idx.tools.add(counts)
		s, ok := serverDocs[e.Server]
		if !ok {
			s = len(serverCounts)
			serverDocs[e.Server] = s
			serverCounts = append(serverCounts, map[string]float64{})
		}
		for t, c := range counts {
			serverCounts[s][t] += c
		}
		d.serverDoc, d.readOnly = s, e.ReadOnly
		idx.docs = append(idx.docs, d)
	}
	for _, counts := range serverCounts {
		idx.servers.add(counts)
	}
	idx.tools.finish()
	idx.servers.finish()
	return idx
}

func newField() field { return field{postings: map[string][]posting{}} }

// add indexes a document of its words' weighted counts.
func (f *field) add(counts map[string]float64) {
	doc, length := len(f.lengths), 0.0
	for _, t := range slices.Sorted(mapKeys(counts)) {
		f.postings[t] = append(f.postings[t], posting{doc, counts[t]})
		length += counts[t]
	}
	f.lengths = append(f.lengths, length)
}

func (f *field) finish() {
	total := 0.0
	for _, l := range f.lengths {
		total += l
	}
	if len(f.lengths) > 0 {
		f.avgLen = total / float64(len(f.lengths))
	}
}

// scores are the field's BM25 scores of its documents for a request's
// words. Each word scores a document by the best of its matches: the
// word itself, or a word of the same sense at weightRelated, so that a
// word with many related ones counts once. How rare the word is, its
// IDF, is that of the documents any of them match: a word that tools
// seldom use but whose sense they often say ("find" for "search") is no
// rarer than its sense.
func (f *field) scores(words []string) []float64 {
	loadSearchWords()
	scores := make([]float64, len(f.lengths))
	best := make([]float64, len(f.lengths))
	n := float64(len(f.lengths))
	for _, t := range words {
		clear(best)
		for i, w := range append([]string{t}, related[t]...) {
			qw := 1.0
			if i > 0 {
				qw = weightRelated
			}
			for _, p := range f.postings[w] {
				norm := bm25K1 * (1 - bm25B + bm25B*f.lengths[p.doc]/f.avgLen)
				best[p.doc] = max(best[p.doc], qw*p.weight*(bm25K1+1)/(p.weight+norm))
			}
		}
		df := 0.0
		for _, b := range best {
			if b > 0 {
				df++
			}
		}
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for i, b := range best {
			scores[i] += idf * b
		}
	}
	return scores
}

// Len is the number of tools indexed.
func (idx *ToolIndex) Len() int { return len(idx.docs) }

// Search returns at most limit tools for query, best first: those that
// match a word of it, by their score and their server's.
func (idx *ToolIndex) Search(query string, limit int) []SearchHit {
	if len(idx.docs) == 0 || limit <= 0 {
		return nil
	}
	var words []string
	for _, t := range queryTerms(query) {
		if !slices.Contains(words, t) {
			words = append(words, t)
		}
	}
	scores := idx.tools.scores(words)
	servers := idx.servers.scores(words)
	asked := isQuestion(query)
	var hits []SearchHit
	for i, sc := range scores {
		if sc > 0 {
			d := idx.docs[i]
			sc += weightServer * servers[d.serverDoc]
			if asked && d.readOnly {
				sc *= 1 + weightAsked
			}
			hits = append(hits, SearchHit{Name: d.name, Score: sc, doc: d})
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

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
