package client

import (
	"encoding/json"
	"testing"
)

func TestWithProgressToken(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{``, `{"_meta":{"progressToken":"t"}}`},
		{`null`, `{"_meta":{"progressToken":"t"}}`},
		{`{"name":"x"}`, `{"_meta":{"progressToken":"t"},"name":"x"}`},
		{`{"name":"x","_meta":{"progressToken":7,"other":true}}`, `{"name":"x","_meta":{"progressToken":"t","other":true}}`},
		{`{"_meta":"odd"}`, `{"_meta":{"progressToken":"t"}}`},
	} {
		got, err := withProgressToken(json.RawMessage(tc.params), "t")
		if err != nil || string(got) != tc.want {
			t.Errorf("withProgressToken(%s) = %s, %v; want %s", tc.params, got, err, tc.want)
		}
	}
}
