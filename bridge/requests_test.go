package bridge

import (
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestTheAgentsStrayAnswersNeverBlockTheReadLoop: a second answer to one
// request, or an answer to none, is dropped at once.
func TestTheAgentsStrayAnswersNeverBlockTheReadLoop(t *testing.T) {
	s := newStdioServer(New(nil, Options{}), io.Discard)
	defer s.cancel()
	ch := make(chan message, 1)
	s.pendingReqs.Store(`"bridge-1"`, ch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			s.answered(message{ID: json.RawMessage(`"bridge-1"`), Result: json.RawMessage(`{}`)})
		}
		s.answered(message{ID: json.RawMessage(`"bridge-9"`), Result: json.RawMessage(`{}`)})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("answering blocked")
	}
	if len(ch) != 1 {
		t.Errorf("%d answers delivered, want the first", len(ch))
	}
}
