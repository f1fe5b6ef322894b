package bridge

import (
	_ "embed"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// searchWordsText and searchToolsText are the tool search's table of
// words: see the head of searchwords.txt.
var (
	//go:embed searchwords.txt
	searchWordsText string
	//go:embed searchtools.txt
	searchToolsText string
)

// related maps a word's stem to the stems of words of the same sense that
// tools say instead, in either direction: the words of software and
// business work, of no catalog in particular.
var related = map[string][]string{}

// everydayWords maps an everyday word or phrase, as the stems of its
// words joined by spaces, to the stems of the words tools say for it;
// maxPhrase is the most words a phrase has.
var (
	everydayWords = map[string][]string{}
	maxPhrase     = 1
)

// phrasalVerbs are the phrases of everydayWords that are a verb and its
// particles ("turn back on", "hand over"), by the verb's stem: English
// puts the verb's object between them too ("turn the alert back on").
var phrasalVerbs = map[string][]phrasal{}

type phrasal struct {
	particles []string // their stems, in order
	to        []string
}

// particles are the words that make a verb a phrasal verb.
var particles = map[string]bool{"on": true, "off": true, "up": true, "down": true, "back": true,
	"over": true, "out": true, "away": true, "in": true, "along": true, "through": true, "together": true, "against": true}

// prepositions are the particles that are prepositions too: alone after
// a verb's object, they are its particle only where the clause ends
// ("turn the alert on", not "log two hours on PROJ-5").
var prepositions = map[string]bool{"on": true, "in": true, "through": true}

// particleStems and prepositionStems are particles and prepositions as
// their stems ("together" is "togeth"), as the table's phrases are
// keyed; loadSearchWords makes them.
var particleStems, prepositionStems map[string]bool

func stemSet(words map[string]bool) map[string]bool {
	stems := map[string]bool{}
	for w := range words {
		stems[stem(w)] = true
	}
	return stems
}

// maxGap is the most words a phrasal verb's object has between the verb
// and its particles.
const maxGap = 4

// loadSearchWords reads the table once, when the tool search first needs
// it: reading it costs a millisecond that a start without tool search,
// or "bridge version", has no need to pay.
func loadSearchWords() {
	searchWordsOnce.Do(func() {
		particleStems, prepositionStems = stemSet(particles), stemSet(prepositions)
		readSearchWords("searchwords.txt", searchWordsText)
		readSearchWords("searchtools.txt", searchToolsText)
	})
}

var searchWordsOnce sync.Once

// readSearchWords reads a file of the table into related and
// everydayWords. A line it cannot read is a panic: the file is the
// bridge's own.
func readSearchWords(file, text string) {
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		from, to, ok := strings.Cut(line, "=")
		if !ok {
			addRelated(strings.Fields(line))
			continue
		}
		var stems []string
		for _, w := range strings.Fields(to) {
			stems = append(stems, stem(w))
		}
		if len(stems) == 0 {
			panic("bridge: " + file + ":" + strconv.Itoa(n+1) + ": nothing after =")
		}
		for _, phrase := range strings.Split(from, ",") {
			key := phraseKey(strings.Fields(phrase))
			if key == "" {
				continue
			}
			for _, st := range stems {
				if !slices.Contains(everydayWords[key], st) {
					everydayWords[key] = append(everydayWords[key], st)
				}
			}
			maxPhrase = max(maxPhrase, strings.Count(key, " ")+1)
			if f := strings.Fields(key); len(f) > 1 && !slices.ContainsFunc(f[1:], func(w string) bool { return !particleStems[w] }) {
				phrasalVerbs[f[0]] = append(phrasalVerbs[f[0]], phrasal{f[1:], stems})
			}
		}
	}
}

// addRelated makes the words of a group each other's related words.
func addRelated(group []string) {
	var words []string
	for _, w := range group {
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

// phraseKey is the stems of a phrase's words, lowercased and without
// their punctuation, joined by spaces; "" when a word has none left.
func phraseKey(words []string) string {
	var b strings.Builder
	for i, w := range words {
		w = strings.ToLower(strings.Trim(w, ".,;:!?()'\"“”"))
		if c, ok := contraction(w); ok && c != "" {
			w = c // "whoever's" is "whoever"; "haven't" stays as it is
		}
		if w == "" {
			return ""
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(stem(w))
	}
	return b.String()
}

// everyday is how many of the first words of a request make an everyday
// word or phrase of the table, the longest that does, and the stems of
// the tools' words for it; n is 0 when none does. A phrasal verb whose
// object parts it ("turn the alert back on") is the verb alone, n 1, and
// later the indices of its particles, which the request then leaves out.
func everyday(words []string) (n int, to []string, later []int) {
	for n = min(maxPhrase, len(words)); n > 1; n-- {
		if breaks(words[:n-1]) {
			continue // a phrase does not run across a sentence's or a list's break
		}
		if to, ok := everydayWords[phraseKey(words[:n])]; ok {
			return n, to, nil
		}
	}
	// A phrasal verb parted by its object goes before the verb alone:
	// "pass the mail along" is a forward, whatever "pass" alone is.
	verbs := phrasalVerbs[phraseKey(words[:1])]
	if len(verbs) == 0 {
		return everydayWord(words)
	}
	var best *phrasal
	for i := range verbs {
		v := &verbs[i]
		if (best == nil || len(v.particles) > len(best.particles)) && particlesAfter(words, v.particles) != nil {
			best = v
		}
	}
	if best == nil {
		return everydayWord(words)
	}
	return 1, best.to, particlesAfter(words, best.particles)
}

// everydayWord is everyday for the first word alone.
func everydayWord(words []string) (n int, to []string, later []int) {
	if len(words) > 0 {
		if to, ok := everydayWords[phraseKey(words[:1])]; ok {
			return 1, to, nil
		}
	}
	return 0, nil, nil
}

// particlesAfter is where a phrasal verb's particles are, one after the
// other, after its object of one to maxGap words; nil if they are not.
func particlesAfter(words []string, ps []string) []int {
	for gap := 1; gap <= maxGap && 1+gap+len(ps) <= len(words); gap++ {
		if breaks(words[:gap+len(ps)]) {
			return nil
		}
		end := 1 + gap + len(ps)
		if phraseKey(words[1+gap:end]) == strings.Join(ps, " ") {
			if len(ps) == 1 && prepositionStems[ps[0]] && end < len(words) && !breaks(words[end-1:end]) {
				return nil // "log two hours on PROJ-5": a preposition, not a particle
			}
			var at []int
			for i := range ps {
				at = append(at, 1+gap+i)
			}
			return at
		}
	}
	return nil
}

// breaks is whether a word ends with a sentence's or a list's mark.
func breaks(words []string) bool {
	for _, w := range words {
		if t := strings.TrimRight(w, "\"'”)"); t != "" && strings.ContainsRune(".,;:!?", rune(t[len(t)-1])) {
			return true
		}
	}
	return false
}
