package config

import (
	"errors"
	"testing"
)

func TestYAMLMessageFrom(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		first int
		want  string
	}{
		{"yaml: line 3: mapping values are not allowed in this context", 1, "line 3: mapping values are not allowed in this context"},
		{"yaml: line 3: mapping values are not allowed in this context", 10, "line 12: mapping values are not allowed in this context"},
		// The parser counts from zero, the scanner from one.
		{"yaml: line 4: did not find expected key", 1, "line 5: did not find expected key"},
		{"yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str", 1, "unmarshal errors:\n  line 2: cannot unmarshal !!str"},
		{"yaml: line x: not a number", 1, "line x: not a number"},
		{"yaml: line 7 without its colon", 1, "line 7 without its colon"},
	} {
		if got := YAMLMessageFrom(errors.New(tc.msg), tc.first); got != tc.want {
			t.Errorf("YAMLMessageFrom(%q, %d) = %q, want %q", tc.msg, tc.first, got, tc.want)
		}
	}
}
