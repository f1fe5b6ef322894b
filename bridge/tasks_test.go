package bridge

import (
	"encoding/json"
	"testing"
)

func TestTaskIDsAreNamedAfterTheirServer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"task":{"taskId":"t1","status":"working"}}`, `{"task":{"taskId":"gh~t1","status":"working"}}`},
		{`{"taskId":"t1","status":"completed"}`, `{"taskId":"gh~t1","status":"completed"}`},
		{`{"content":[],"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t1"}}}`, `{"content":[],"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"gh~t1"}}}`},
		{`{"resultType":"task","taskId":"t~2"}`, `{"resultType":"task","taskId":"gh~t~2"}`},
		{`{"content":[{"type":"text","text":"taskId"}]}`, `{"content":[{"type":"text","text":"taskId"}]}`},
	} {
		if got := renameTasks(json.RawMessage(tc.in), "gh"); string(got) != tc.want {
			t.Errorf("renameTasks(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		params, res string
		want        bool
	}{
		{`{"name":"x","task":{}}`, `{"task":{"taskId":"1"}}`, true},
		{`{"name":"x"}`, `{"resultType":"task","taskId":"1"}`, true},
		{`{"name":"x"}`, `{"content":[]}`, false},
	} {
		if got := createsTask(json.RawMessage(tc.params), json.RawMessage(tc.res), true); got != tc.want {
			t.Errorf("createsTask(%s, %s) = %v", tc.params, tc.res, got)
		}
	}
}
