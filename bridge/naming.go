package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// DefaultMaxNameLength is the longest exposed tool or prompt name: what
// Claude and OpenAI accept.
const DefaultMaxNameLength = 64

// minNameLength is the smallest max_name_length that still leaves room for
// a hash suffix and some of the name.
const minNameLength = 16

// separator joins a server's prefix to a tool's name.
const separator = "__"

// hashLength is the number of hex digits of the suffix that keeps shortened
// or colliding names apart.
const hashLength = 8

// Namer turns (server prefix, original name) pairs into exposed names that
// match ^[a-zA-Z0-9_-]{1,max}$, never collide, and depend only on the names
// involved, so they are the same at every start. What one client accepts
// narrows it further (clients.go).
type Namer struct {
	Max int
	// NoDash writes "-" as "_" too, for a client that rewrites it so
	// itself (Codex): two names stay two after its rewrite.
	NoDash bool
}

// sanitize maps every character outside [a-zA-Z0-9_-] to "_": dotted names
// like "catalog.get-entity" become "catalog_get-entity".
func sanitize(s string) string { return Namer{}.clean(s) }

// clean maps every character the names may not hold to "_".
func (n Namer) clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '_' || r == '-' && !n.NoDash || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Prefixes assigns each server ID its prefix: the override when one is
// given (empty allowed), otherwise the sanitized ID. Servers whose prefixes
// would coincide get a hash suffix, all but the first in ID order.
func (n Namer) Prefixes(ids []string, overrides map[string]*string) map[string]string {
	sorted := slices.Sorted(slices.Values(ids))
	out := make(map[string]string, len(ids))
	taken := map[string]bool{}
	for _, id := range sorted {
		p := n.clean(id)
		if o, ok := overrides[id]; ok && o != nil {
			p = n.clean(*o)
		}
		// A prefix takes at most half the name, and never less than a hash.
		if limit := max(n.max()/2, hashLength+4); len(p) > limit {
			p = shorten(p, limit, id)
		}
		if taken[p] && p != "" {
			p = shorten(p+"_", len(p)+1+hashLength, id)
		}
		taken[p] = true
		out[id] = p
	}
	return out
}

// Names exposes the original names of one server under prefix. The result
// maps each original name to its exposed name.
func (n Namer) Names(serverID, prefix string, originals []string) map[string]string {
	out := make(map[string]string, len(originals))
	taken := map[string]bool{}
	// Names that need no change claim theirs first, so that adding a tool
	// never renames one that was already fine.
	sorted := slices.Sorted(slices.Values(originals))
	slices.SortStableFunc(sorted, func(a, b string) int {
		ca, cb := n.clean(a) == a, n.clean(b) == b
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return 0
	})
	for _, orig := range sorted {
		// A shortened name keeps the start of the full one, and so its
		// first character.
		full := join(prefix, n.clean(orig))
		name := full
		key := serverID + "\x00" + orig
		for i := 0; name == "" || len(name) > n.max() || taken[name]; i++ {
			name = shorten(full, n.max(), key)
			key += "\x00" // a second hash, should two ever meet
		}
		taken[name] = true
		out[orig] = name
	}
	return out
}

func (n Namer) max() int {
	if n.Max <= 0 {
		return DefaultMaxNameLength
	}
	return max(n.Max, minNameLength)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + separator + name
}

// shorten cuts name to fit limit with "_" and a hash of key appended, so
// that two names cut to the same text still differ.
func shorten(name string, limit int, key string) string {
	sum := sha256.Sum256([]byte(key))
	suffix := "_" + hex.EncodeToString(sum[:])[:hashLength]
	keep := min(len(name), limit-len(suffix))
	return strings.TrimRight(name[:keep], "_") + suffix
}
