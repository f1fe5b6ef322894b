package bridge

import (
	_ "embed"
	"slices"
	"strconv"
	"strings"
)

// searchWordsText is the tool search's table of words: see the head of
// searchwords.txt.
//
//go:embed searchwords.txt
var searchWordsText string

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

func init() {
	for n, line := range strings.Split(searchWordsText, "\n") {
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
			panic("bridge: searchwords.txt:" + strconv.Itoa(n+1) + ": nothing after =")
		}
		for _, phrase := range strings.Split(from, ",") {
			key := phraseKey(strings.Fields(phrase))
			if key == "" {
				continue
			}
			everydayWords[key] = append(everydayWords[key], stems...)
			maxPhrase = max(maxPhrase, strings.Count(key, " ")+1)
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
// the tools' words for it; n is 0 when none does.
func everyday(words []string) (n int, to []string) {
	for n = min(maxPhrase, len(words)); n > 0; n-- {
		if breaks(words[:n-1]) {
			continue // a phrase does not run across a sentence's or a list's break
		}
		if to, ok := everydayWords[phraseKey(words[:n])]; ok {
			return n, to
		}
	}
	return 0, nil
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
