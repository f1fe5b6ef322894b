package bridge

import (
	"slices"
	"strings"
	"unicode"
)

// terms are the words of a text the index counts: split at anything but
// letters and digits and where camelCase turns upper, lowercased, common
// words left out, each cut to its stem. A few ways of writing a thing
// say what it is, as well: "#launch" is a channel, "PROJ-7" an issue's
// key, "a@b.com" an email address; and "log in" (or "sign in") is
// "login", not a log.
func terms(text string) []string { return wordsOf(text, false) }

// queryTerms are the terms of a request: as terms, but an everyday word or
// phrase that tools say otherwise is read as the tools' words ("get rid
// of" as "delete"; see everydayWords), the longest phrase first.
func queryTerms(query string) []string { return wordsOf(query, true) }

func wordsOf(text string, query bool) []string {
	loadSearchWords()
	var s splitter
	prev := ""
	chunks := strings.Fields(text)
	var skip []int // the particles of a phrasal verb read already
	quoteEnd := -1 // the last chunk of the quotation being passed over
	for i := 0; i < len(chunks); i++ {
		chunk := chunks[i]
		if query {
			if i <= quoteEnd || slices.Contains(skip, i) {
				continue
			}
			if i+1 < len(chunks) && isKeyOf(chunks[i], chunks[i+1]) {
				continue
			}
			if end := quotation(chunks, i); end >= 0 {
				quoteEnd = end
				s.out = append(s.out, "text") // what is quoted is a text to give
				continue
			}
			if n, to, later := everyday(chunks[i:]); n > 0 {
				s.out = append(s.out, to...)
				for _, j := range later {
					skip = append(skip, i+j)
				}
				prev = strings.ToLower(chunks[i+n-1])
				i += n - 1
				continue
			}
		}
		if i == 0 && sendNouns[strings.ToLower(chunk)] {
			s.out = append(s.out, "send") // "email the report to…"
		}
		if i+2 < len(chunks) && notifyVerbs[strings.ToLower(chunk)] && strings.EqualFold(chunks[i+1], "me") &&
			(strings.EqualFold(chunks[i+2], "when") || strings.EqualFold(chunks[i+2], "if")) {
			s.out = append(s.out, stem("create")) // "alert me when…" sets an alert up
		}
		start := len(s.out)
		bare := strings.TrimRight(chunk, ".,;:!?)'\"")
		lower := strings.ToLower(bare)
		if c, ok := contraction(lower); ok {
			if c == "" {
				prev = lower
				continue
			}
			chunk, bare, lower = c, c, c
		}
		switch {
		case (lower == "in" || lower == "on" || lower == "into") && loginVerbs[prev]:
			for start > 0 && s.out[start-1] != "login" && loginStems[s.out[start-1]] {
				start--
			}
			s.out = append(s.out[:start], "login")
			prev = lower
			continue
		case isIssueKey(bare):
			s.out = append(s.out, stem("issue")) // its letters are a project's key, not a word
			prev = lower
			continue
		default:
			// A value written as such (a channel, an address, a path) says
			// what kind of thing it is; its own words are a name, not
			// what the tool does ("#sales-team" is no sale).
			if kind := valueKind(strings.TrimRight(chunk, ".,;!?'\"")); kind != nil {
				s.out = append(s.out, kind...)
				prev = lower
				continue
			}
		}
		s.split(chunk)
		prev = lower
	}
	return s.out
}

// isQuestion is whether a request is asked as a question: it ends with a
// question mark or begins with a question's word.
func isQuestion(query string) bool {
	query = strings.TrimSpace(query)
	first, _, _ := strings.Cut(strings.ToLower(query), " ")
	return strings.HasSuffix(query, "?") || questionWords[first]
}

var questionWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`what what's whats which who who's whose when where why how how's
		is are was were did do does has have any can could`) {
		questionWords[w] = true
	}
}

// contraction is a word without its contraction's ending ("what's" is
// "what", "we'll" "we"), or "" for a negated verb ("don't", "isn't"),
// which says nothing of the tool; ok is false when the word has none.
func contraction(w string) (string, bool) {
	w = strings.ReplaceAll(w, "’", "'")
	i := strings.IndexByte(w, '\'')
	if i <= 0 {
		return "", false
	}
	switch w[i:] {
	case "'s", "'re", "'ll", "'d", "'ve", "'m":
		return w[:i], true
	case "'t":
		if strings.HasSuffix(w[:i], "n") {
			return "", true
		}
	}
	return "", false
}

// sendNouns are the things sent that, first in a request, say to send
// one: "email the report to finance", "message Dana".
var sendNouns = map[string]bool{"email": true, "mail": true, "message": true, "dm": true}

// notifyVerbs, before "me when" or "me if", ask for an alert to be set.
var notifyVerbs = map[string]bool{"alert": true, "notify": true, "warn": true, "page": true, "tell": true}

// loginVerbs are the words that, before "in" or "on", say a login; and
// loginStems their stems, which the login takes the place of.
var (
	loginVerbs = map[string]bool{"log": true, "logged": true, "logging": true, "sign": true, "signed": true, "signing": true}
	loginStems = map[string]bool{}
)

func init() {
	for w := range loginVerbs {
		loginStems[stem(w)] = true
	}
}

// isIssueKey is whether a word is an issue tracker's key: capitals, a
// hyphen and a number ("PROJ-123").
func isIssueKey(w string) bool {
	key, num, ok := strings.Cut(w, "-")
	if !ok || len(key) < 2 || num == "" || !unicode.IsUpper(rune(key[0])) {
		return false
	}
	for _, r := range key {
		if !unicode.IsUpper(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	for _, r := range num {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// splitter cuts texts without spaces into words, its buffers kept from
// one text to the next.
type splitter struct {
	out          []string
	word, joined []rune
	// compound is whether the text so far is a compound written with a
	// hyphen ("on-call", "to-dos"): it counts written as one word too
	// ("oncall", "todos"), as others write it.
	compound bool
}

// split appends the words of a text that has no spaces.
func (s *splitter) split(text string) {
	var prev rune
	for _, r := range text {
		switch {
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			s.flush()
			s.endCompound()
			s.word = append(s.word, unicode.ToLower(r))
			s.joined = append(s.joined, unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			s.word = append(s.word, unicode.ToLower(r))
			s.joined = append(s.joined, unicode.ToLower(r))
		case r == '-' && len(s.word) > 0:
			s.flush()
			s.compound = true
		default:
			s.flush()
			s.endCompound()
		}
		prev = r
	}
	s.flush()
	s.endCompound()
}

func (s *splitter) flush() {
	if len(s.word) > 0 {
		w := string(s.word)
		if !stopWords[w] {
			s.out = append(s.out, stem(w))
		}
		s.word = s.word[:0]
	}
}

func (s *splitter) endCompound() {
	if s.compound {
		s.out = append(s.out, stem(string(s.joined)))
	}
	s.joined, s.compound = s.joined[:0], false
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
	if strings.HasSuffix(w, "ly") && len(w) > 5 {
		w = w[:len(w)-2] // "weekly" meets "week"
	}
	if strings.HasSuffix(w, "er") && len(w) > 6 {
		w = w[:len(w)-2] // "watcher" meets "watch", "reviewers" "review"
	}
	if strings.HasSuffix(w, "e") && len(w) > 3 {
		w = w[:len(w)-1]
	}
	if n := len(w); n > 3 && w[n-1] == w[n-2] && unicode.IsLetter(rune(w[n-1])) && !strings.ContainsRune("aeious", rune(w[n-1])) {
		w = w[:n-1] // "stopped", "stopping" and "stop" meet
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
		all what which how about via using use so than then also have has had am not cannot`) {
		stopWords[w] = true
	}
}
