package bridge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The values a request writes as such (a channel, an address, a path, a
// quotation) say what kind of thing a tool is to take; their own words
// are names, not what the tool does. This file tells them apart.

// quotation is the index of the last chunk of a quotation in double
// quotes that starts at chunks[i], or -1 where none starts there or it
// is never closed. In a request, quoted words are a text that a tool is
// to write or look for ("put "dentist at 10" on my calendar"), not what
// the tool does: the request reads "text" in their place.
func quotation(chunks []string, i int) int {
	first := chunks[i]
	r, size := utf8.DecodeRuneInString(first)
	if r != '"' && r != '“' && r != '”' {
		return -1
	}
	closes := func(c string) bool {
		c = strings.TrimRight(c, ".,;:!?)")
		return strings.HasSuffix(c, `"`) || strings.HasSuffix(c, "”") || strings.HasSuffix(c, "“")
	}
	if len(first) > size && closes(first[size:]) {
		return i
	}
	for j := i + 1; j < len(chunks); j++ {
		if closes(chunks[j]) {
			return j
		}
	}
	return -1
}

// isKeyOf is whether a word is the key of the thing the next word names,
// written in capitals ("the PAY project", "in CORE board"): a name, not
// the everyday word it spells, and not what the tool does.
func isKeyOf(word, next string) bool {
	if len(word) < 2 {
		return false
	}
	for _, r := range word {
		if !unicode.IsUpper(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return keyedThings[strings.ToLower(strings.TrimRight(next, ".,;:!?"))]
}

// keyedThings are the things whose key a request writes before them.
var keyedThings = map[string]bool{"project": true, "projects": true, "board": true, "space": true, "queue": true, "team": true}

// valueKind is the stems that a value written in a text stands for, by
// how it is written: "#launch" a channel, "a@b.com" an email address,
// "acme/api" a repository, "src/app/main.go" a file's path, a URL a
// link, "Auth.verify()" code, "v2.4.0" a version, "25%" a percentage,
// "9am" or "14:30" a time, "3h" or "30-min" a duration, ":tada:" an
// emoji, "$40" an amount, "env:prod" a tag, "/api/pay" an endpoint's
// path, "us-east-1" a cloud's region; nil for a word that is none of
// these.
func valueKind(w string) []string {
	if len(w) > 2 && w[0] == ':' && w[len(w)-1] == ':' && !strings.Contains(w[1:len(w)-1], ":") {
		return []string{"emoji"}
	}
	w = strings.TrimRight(w, ":")
	switch {
	case len(w) > 1 && w[0] == '#' && unicode.IsLetter(rune(w[1])):
		return []string{"channel"}
	case strings.Contains(w, "://"):
		return []string{"url", stem("link")}
	case strings.Contains(w, "@") && strings.Contains(w[strings.Index(w, "@"):], "."):
		return []string{stem("email")}
	case strings.HasSuffix(w, "()") || strings.Contains(w, "()."):
		return []string{"code"}
	case isVersion(w):
		return []string{stem("version")}
	case len(w) > 1 && strings.HasSuffix(w, "%") && isDigits(w[:len(w)-1]):
		return []string{stem("percentage")}
	case isTimeOfDay(w):
		return []string{"time"}
	case isDuration(w):
		return []string{"time", stem("duration")}
	case isMoney(w):
		return []string{"amount"}
	case isTag(w):
		return []string{"tag"}
	case len(w) > 1 && w[0] == '/' && unicode.IsLetter(rune(w[1])):
		return []string{"path", "endpoint"}
	case isRegion(w):
		return []string{"region"}
	case strings.Count(w, "/") == 1 && !notPaths[strings.ToLower(w)]:
		owner, repo, _ := strings.Cut(w, "/")
		if len(owner) > 1 && len(repo) > 1 && !isDigits(owner) && !isDigits(repo) && !hasExtension(repo) {
			return []string{"repo"}
		}
		if hasExtension(repo) {
			return []string{stem("file"), "path"}
		}
	case strings.Count(w, "/") > 1:
		if hasExtension(w[strings.LastIndexByte(w, '/')+1:]) {
			return []string{stem("file"), "path"}
		}
		return []string{"path"}
	}
	return nil
}

// notPaths are words written with one slash that are neither a
// repository nor a path.
var notPaths = map[string]bool{"and/or": true, "ci/cd": true, "i/o": true, "a/b": true, "w/o": true, "n/a": true,
	"24/7": true, "tcp/ip": true, "p/l": true, "yes/no": true, "on/off": true}

// isVersion is whether a word is a version number with points: "v2.4",
// "2.4.0" ("2.5" may be an amount, "v42" a name).
func isVersion(w string) bool {
	v := strings.TrimPrefix(strings.TrimPrefix(w, "v"), "V")
	if strings.Count(v, ".") < 1 || v == w && strings.Count(v, ".") < 2 {
		return false
	}
	v, _, _ = strings.Cut(v, "-") // "2.4.0-beta"
	parts := strings.Split(v, ".")
	for _, p := range parts {
		if !isDigits(p) {
			return false
		}
	}
	return true
}

// hasExtension is whether a file's name ends with an extension: a point
// and up to five letters or digits, one at least a letter.
func hasExtension(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i-1 < 1 || len(name)-i-1 > 5 {
		return false
	}
	ext := name[i+1:]
	letter := false
	for _, r := range ext {
		switch {
		case unicode.IsLetter(r):
			letter = true
		case !unicode.IsDigit(r):
			return false
		}
	}
	return letter
}

// isTimeOfDay is whether a word is a time of day: "9am", "3:30pm",
// "14:30".
func isTimeOfDay(w string) bool {
	lower := strings.ToLower(w)
	ampm := strings.HasSuffix(lower, "am") || strings.HasSuffix(lower, "pm")
	if ampm {
		lower = lower[:len(lower)-2]
	}
	h, m, colon := strings.Cut(lower, ":")
	if !isDigits(h) || len(h) > 2 || colon && (len(m) != 2 || !isDigits(m)) {
		return false
	}
	return ampm || colon
}

// isDuration is whether a word is a length of time: "3h", "45m",
// "30-min", "2hrs", "90s", "1.5h".
func isDuration(w string) bool {
	lower := strings.ToLower(w)
	i := 0
	for i < len(lower) && (lower[i] >= '0' && lower[i] <= '9' || lower[i] == '.') {
		i++
	}
	if i == 0 || !isDigits(lower[:1]) {
		return false
	}
	switch strings.TrimPrefix(lower[i:], "-") {
	case "h", "hr", "hrs", "hour", "hours", "m", "min", "mins", "minute", "minutes", "s", "sec", "secs", "d", "w", "wk":
		return true
	}
	return false
}

// isMoney is whether a word is an amount after its currency's sign.
func isMoney(w string) bool {
	r, size := utf8.DecodeRuneInString(w)
	return len(w) > size && strings.ContainsRune("$€£", r) && isAmount(w[size:])
}

// isAmount is whether a text is an amount of money after its currency's
// sign: "40", "1,200", "9.99", "5k".
func isAmount(s string) bool {
	s = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s), "k"), "m")
	s = strings.ReplaceAll(s, ",", "")
	whole, cents, _ := strings.Cut(s, ".")
	return isDigits(whole) && (cents == "" || isDigits(cents))
}

// isTag is whether a word is a tag as monitoring writes them: a key and
// a value joined by a colon ("env:prod", "service:checkout").
func isTag(w string) bool {
	key, value, ok := strings.Cut(w, ":")
	if !ok || len(key) < 2 || value == "" || strings.Contains(value, ":") {
		return false
	}
	for _, r := range key {
		if !unicode.IsLower(r) && r != '_' && r != '.' {
			return false
		}
	}
	for _, r := range value {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_.-/", r) {
			return false
		}
	}
	return true
}

// isRegion is whether a word is a cloud region as AWS and GCP write
// them: "us-east-1", "eu-west-2", "europe-west1".
func isRegion(w string) bool {
	parts := strings.Split(strings.ToLower(w), "-")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	last := parts[len(parts)-1]
	n := len(last)
	for n > 0 && last[n-1] >= '0' && last[n-1] <= '9' {
		n--
	}
	if n == len(last) || len(last)-n > 1 {
		return false
	}
	switch parts[0] {
	case "us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "europe", "asia", "northamerica", "southamerica", "australia", "africa":
		return true
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
