package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"
)

// This file answers the agent's first lists ahead, from what the last run
// kept (firstlists.go), until the kept lists are in place.

// aheadAnswers are the answers to the agent's first lists found at start,
// given until every server's kept lists are in place.
type aheadAnswers struct {
	done  chan struct{}              // closed once lists is set
	lists map[string]json.RawMessage // nil: none; mu guards it once done is closed

	mu       sync.Mutex
	answered map[string]bool // the list methods answered ahead
	over     bool            // the kept lists are in place: lists are answered as always
}

// lookAhead looks for answers to the agent's first lists, when its first
// message is initialize and the state folder may hold some, while the
// initialize is answered; the catalog is read once there are none, or
// once they have been answered (Bridge.Asked), or after KeptHold.
func (s *stdioServer) lookAhead(m message) {
	f := s.b.opts.First
	if f == nil || m.Method != "initialize" {
		s.b.Load()
		return
	}
	f.note(m.Params)
	if !f.had {
		s.b.Load()
		return
	}
	a := &aheadAnswers{done: make(chan struct{}), answered: map[string]bool{}}
	s.ahead.Store(a)
	params := bytes.Clone(m.Params)
	go func() {
		lists := f.lookup(params)
		a.lists = lists
		close(a.done)
		if lists == nil {
			s.b.Load()
			return
		}
		time.AfterFunc(s.b.opts.KeptHold, s.b.Load)
	}()
}

// answerAhead is the answer to a list found at start, until the kept
// lists are in place.
func (s *stdioServer) answerAhead(ctx context.Context, method string) (json.RawMessage, bool) {
	a := s.ahead.Load()
	if a == nil {
		return nil, false
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	res, ok := a.lists[method]
	if !ok || a.over {
		return nil, false
	}
	a.answered[method] = true
	return res, true
}

// keptInPlace is told that every server's kept lists are in place: a list
// answered ahead that differs from them brings its list_changed, and
// lists are answered as always from now on.
func (s *stdioServer) keptInPlace() {
	a := s.ahead.Load()
	if a == nil {
		return
	}
	<-a.done
	a.mu.Lock()
	a.over = true
	answered, lists := a.answered, a.lists
	a.lists = nil // nothing is answered from them any more
	a.mu.Unlock()
	var changed []string
	for _, method := range listMethods {
		if !answered[method] {
			continue
		}
		kind := listKinds[method]
		s.markListed(kind)
		if !bytes.Equal(s.b.listResult(method), lists[method]) {
			s.log.Info("a list answered ahead differs from the kept lists; the agent is told", "list", method)
			changed = append(changed, kind)
		}
	}
	s.listsChanged(changed)
}
