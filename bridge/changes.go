package bridge

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// This file tells the agent what changed: merged lists and resources. An
// agent of the handshake era hears of the kinds it has listed, once it
// has said it is initialized; one of the stateless era hears what each of
// its subscriptions/listen streams asked for, tagged with the
// subscription's id.

// subscription is one subscriptions/listen request of the agent's.
type subscription struct {
	id    json.RawMessage // the request's id, which tags its notifications
	kinds map[string]bool // KindTools, KindPrompts, KindResources
	uris  []string        // resources whose updates it wants
}

// listsChanged queues list_changed notifications, sent together once the
// changes stop coming for coalesceDelay.
func (s *stdioServer) listsChanged(kinds []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range kinds {
		if s.listed[k] {
			s.pending[k] = true
		}
		for _, sub := range s.subscriptions {
			if sub.kinds[k] {
				s.pendingModern[k] = true
			}
		}
	}
	if len(s.pending) == 0 && len(s.pendingModern) == 0 {
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(coalesceDelay, s.flushChanges)
	} else {
		s.timer.Reset(coalesceDelay)
	}
}

func (s *stdioServer) flushChanges() {
	s.mu.Lock()
	var legacy map[string]bool
	if s.ready.Load() {
		legacy, s.pending = s.pending, map[string]bool{}
	}
	modern := s.pendingModern
	s.pendingModern = map[string]bool{}
	subs := slices.Clone(s.subscriptions)
	s.mu.Unlock()
	for _, k := range []string{KindTools, KindPrompts, KindResources} {
		if legacy[k] {
			s.writeNotification("notifications/"+k+"/list_changed", nil)
		}
		for _, sub := range subs {
			if modern[k] && sub.kinds[k] {
				s.writeNotification("notifications/"+k+"/list_changed", tagged(nil, sub.id))
			}
		}
	}
}

// markListed records that the agent has seen a list of this kind, so that
// its later changes are worth a list_changed.
func (s *stdioServer) markListed(kind string) {
	s.mu.Lock()
	s.listed[kind] = true
	s.mu.Unlock()
}

// notify passes a notification from an upstream on to the agent. An
// update of a resource goes once for each subscription of the stateless
// era that asked for it, tagged with its id, and as it is when the agent
// subscribed with resources/subscribe; an update nobody asked for is
// dropped.
func (s *stdioServer) notify(method string, params json.RawMessage) {
	if method != "notifications/resources/updated" {
		s.writeNotification(method, params)
		return
	}
	uri, _ := rawjson.LookupString(params, "uri")
	s.mu.Lock()
	var ids []json.RawMessage
	for _, sub := range s.subscriptions {
		if slices.Contains(sub.uris, uri) {
			ids = append(ids, sub.id)
		}
	}
	plain := s.subscribed[uri]
	s.mu.Unlock()
	for _, id := range ids {
		s.writeNotification(method, tagged(params, id))
	}
	if plain {
		s.writeNotification(method, params)
	}
}

// tagged is params with _meta's subscription id set to id.
func tagged(params, id json.RawMessage) json.RawMessage {
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	meta, ok, _ := rawjson.Lookup(params, "_meta")
	if !ok || len(meta) == 0 || meta[0] != '{' {
		meta = json.RawMessage("{}")
	}
	meta, err := rawjson.SetMember(meta, metaSubscriptionID, id)
	if err != nil {
		return params
	}
	out, err := rawjson.SetMember(params, "_meta", meta)
	if err != nil {
		return params
	}
	return out
}
