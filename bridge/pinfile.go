package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// A pin file is mostly short hex strings in maps: a few hundred per
// server. encoding/json decodes them into maps at several times the cost
// of reading the file, and at a warm start-up with fifty servers that was
// a third of the time to the agent's first list. So the file is read here:
// its trusted pins and prints by hand, and what was seen, which only a
// review of a live list and "bridge list" need, with encoding/json when
// asked for. The result is what encoding/json gives (the tests compare
// the two).

// decodePinFile reads a pin file, what was seen only when withSeen is set.
func decodePinFile(data []byte, withSeen bool) (*pinFile, error) {
	if !rawjson.Valid(data) {
		return nil, errors.New("not JSON")
	}
	f := &pinFile{}
	if isNull(data) {
		return f, nil
	}
	var err error
	walked := rawjson.Walk(data, func(m rawjson.Member) {
		if err != nil {
			return
		}
		value := data[m.Start:m.End]
		switch {
		case m.Matches("trusted"):
			f.Trusted, err = decodeTrusted(value, f.Trusted)
		case m.Matches("prints"):
			f.Prints, err = decodePrints(value, f.Prints)
		case m.Matches("seen") && withSeen:
			err = json.Unmarshal(value, &f.Seen)
		}
	})
	if walked != nil {
		return nil, errors.New("not an object")
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// decodeTrusted reads the trusted pins into into, as encoding/json reads
// an object into a map it already holds: a name given twice is the last
// one's pin alone.
func decodeTrusted(obj []byte, into map[string]Pin) (map[string]Pin, error) {
	if isNull(obj) {
		return nil, nil
	}
	if into == nil {
		into = map[string]Pin{}
	}
	err := walkMap(obj, "trusted", func(name string, value []byte) error {
		if isNull(value) {
			into[name] = nil
			return nil
		}
		pin := make(Pin, len(pinnedParts))
		err := walkMap(value, "trusted."+name, func(part string, hash []byte) error {
			s, err := rawjson.String(hash)
			if err != nil {
				return fmt.Errorf("trusted.%s.%s is not a string", name, part)
			}
			pin[part] = s
			return nil
		})
		into[name] = pin
		return err
	})
	return into, err
}

// decodePrints reads the prints into into, each with SeenPrint's
// UnmarshalText.
func decodePrints(obj []byte, into map[string]SeenPrint) (map[string]SeenPrint, error) {
	if isNull(obj) {
		return nil, nil
	}
	if into == nil {
		into = map[string]SeenPrint{}
	}
	err := walkMap(obj, "prints", func(name string, value []byte) error {
		if isNull(value) {
			into[name] = SeenPrint{}
			return nil
		}
		s, err := rawjson.String(value)
		if err != nil {
			return fmt.Errorf("prints.%s is not a string", name)
		}
		var sp SeenPrint
		if err := sp.parse(s); err != nil {
			return fmt.Errorf("prints.%s: %w", name, err)
		}
		into[name] = sp
		return nil
	})
	return into, err
}

// walkMap gives fn each member of the object obj, its key decoded; what
// is not an object is an error that names where it is.
func walkMap(obj []byte, where string, fn func(key string, value []byte) error) error {
	// A tool's pin or print has a few members: read onto the stack, they
	// cost a pin file of twenty tools forty allocations less.
	var buf [8]rawjson.Member
	members, err := rawjson.AppendMembers(buf[:0], obj)
	if err != nil {
		return fmt.Errorf("%s is not an object", where)
	}
	for _, m := range members {
		key, err := rawjson.String(m.Key)
		if err != nil {
			return fmt.Errorf("%s: a key that is not a string: %w", where, err)
		}
		if err := fn(key, obj[m.Start:m.End]); err != nil {
			return err
		}
	}
	return nil
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }
