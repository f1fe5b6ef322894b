package bridge

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

func TestSetStringKeepsEveryOtherByte(t *testing.T) {
	in := `{ "inputSchema" : {"type":"object",  "x-k": [1, 2]},
	  "name":"orig" , "title": "T", "_meta": {"name": "inner"} }`
	out, err := rawjson.SetString(json.RawMessage(in), "name", "srv__orig")
	if err != nil {
		t.Fatal(err)
	}
	want := `{ "inputSchema" : {"type":"object",  "x-k": [1, 2]},
	  "name":"srv__orig" , "title": "T", "_meta": {"name": "inner"} }`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := rawjson.SetString(json.RawMessage(`[1]`), "name", "x"); err == nil {
		t.Error("a list was accepted as an object")
	}
}

func TestRegistryMergesAndRoutes(t *testing.T) {
	r := NewRegistry([]string{"b", "a"}, RegistryOptions{Log: slog.New(slog.DiscardHandler)})
	changed := r.Set("b", Lists{
		Tools:     []json.RawMessage{json.RawMessage(`{"name":"x.y","annotations":{"readOnlyHint":true},"inputSchema":{"anyOf":[{}]}}`)},
		Resources: []json.RawMessage{json.RawMessage(`{"uri":"file:///shared","name":"s"}`)},
		Templates: []json.RawMessage{json.RawMessage(`{"uriTemplate":"b://items/{id}","name":"item"}`)},
	})
	if !slices.Equal(changed, []string{KindTools, KindResources}) {
		t.Errorf("changed = %v", changed)
	}
	r.Set("a", Lists{
		Tools:     []json.RawMessage{json.RawMessage(`{"name":"x.y"}`)},
		Prompts:   []json.RawMessage{json.RawMessage(`{"name":"greet","arguments":[]}`)},
		Resources: []json.RawMessage{json.RawMessage(`{"uri":"file:///shared","name":"a's"}`)},
	})
	if got := string(r.Result("tools/list")); got != `{"tools":[{"name":"a__x_y"},{"name":"b__x_y","annotations":{"readOnlyHint":true},"inputSchema":{"anyOf":[{}]}}]}` {
		t.Errorf("tools/list = %s", got)
	}
	if e, ok := r.Tool("b__x_y"); !ok || e.Server != "b" || e.Original != "x.y" || !e.ReadOnly {
		t.Errorf("Tool(b__x_y) = %+v, %v", e, ok)
	}
	if e, ok := r.Prompt("a__greet"); !ok || e.Original != "greet" {
		t.Errorf("Prompt(a__greet) = %+v, %v", e, ok)
	}
	// The URI both offer goes to the first server by ID.
	for uri, want := range map[string]string{"file:///shared": "a", "b://items/42": "b", "c://none": ""} {
		if got, _ := r.ResourceServer(uri); got != want {
			t.Errorf("ResourceServer(%s) = %q, want %q", uri, got, want)
		}
	}
	if got := string(r.Result("resources/list")); got != `{"resources":[{"uri":"file:///shared","name":"a's"}]}` {
		t.Errorf("resources/list = %s", got)
	}
	if changed := r.Set("a", r.lists["a"]); len(changed) != 0 {
		t.Errorf("setting the same lists changed %v", changed)
	}
}

func TestListChangesAreCoalescedAndOnlyForListedKinds(t *testing.T) {
	var buf strings.Builder
	b := New(nil, Options{})
	s := newStdioServer(b, &buf)
	defer s.cancel()
	// The server writes under its writer's lock: read under it too.
	written := func() string {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return buf.String()
	}
	s.ready.Store(true)
	s.listsChanged([]string{KindTools}) // not listed yet: nothing to announce
	time.Sleep(3 * coalesceDelay)
	if got := written(); got != "" {
		t.Fatalf("announced a change of a list the agent never saw: %s", got)
	}
	s.markListed(KindTools)
	s.markListed(KindPrompts)
	for range 5 {
		s.listsChanged([]string{KindTools})
		s.listsChanged([]string{KindPrompts, KindTools})
	}
	time.Sleep(3 * coalesceDelay)
	want := `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}` + "\n" +
		`{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}` + "\n"
	if got := written(); got != want {
		t.Errorf("notifications:\n%s\nwant\n%s", got, want)
	}
}

// TestNamesAreDistinctAcrossServers: two servers whose names meet, with no
// prefix or through a separator in a tool's name, both stay reachable.
func TestNamesAreDistinctAcrossServers(t *testing.T) {
	empty, a, ab := "", "a", "a__b"
	for _, tc := range []struct {
		prefixes map[string]*string
		tools    map[string]string // server → tool
	}{
		{map[string]*string{"one": &empty, "two": &empty}, map[string]string{"one": "search", "two": "search"}},
		{map[string]*string{"one": &a, "two": &ab}, map[string]string{"one": "b__c", "two": "c"}},
	} {
		r := NewRegistry([]string{"one", "two"}, RegistryOptions{Prefixes: tc.prefixes})
		for server, tool := range tc.tools {
			r.Set(server, Lists{Tools: []json.RawMessage{json.RawMessage(`{"name":"` + tool + `","inputSchema":{"type":"object"}}`)}})
		}
		var names []string
		for _, e := range r.Tools() {
			names = append(names, e.Name)
			if got, ok := r.Tool(e.Name); !ok || got.Server != e.Server || got.Original != tc.tools[e.Server] {
				t.Errorf("%s routes to %+v", e.Name, got)
			}
		}
		if len(names) != 2 || names[0] == names[1] {
			t.Errorf("%v: names %v", tc.tools, names)
		}
		if res := string(r.Result("tools/list")); strings.Count(res, `"name":"`+names[0]+`"`) != 1 || strings.Count(res, `"name":"`+names[1]+`"`) != 1 {
			t.Errorf("tools/list: %s", res)
		}
	}
}

// TestServersAddedLaterKeepTheirNames: a server's prefix does not depend on
// when it arrives. Named among the servers that may be served, it gets the
// prefix it would have had from the start; one the registry was not made
// for gets a prefix no other server has, and the others keep theirs.
func TestServersAddedLaterKeepTheirNames(t *testing.T) {
	echo := Lists{Tools: []json.RawMessage{json.RawMessage(`{"name":"echo","inputSchema":{"type":"object"}}`)}}
	names := func(r *Registry) map[string]string {
		out := map[string]string{}
		for _, e := range r.Tools() {
			out[e.Server] = e.Name
		}
		return out
	}
	// "a.b" and "a_b" both sanitize to a_b: the second in ID order gives way.
	fromStart := NewRegistry([]string{"a.b", "a_b"}, RegistryOptions{})
	fromStart.Set("a.b", echo)
	fromStart.Set("a_b", echo)
	want := names(fromStart)
	if want["a.b"] == want["a_b"] {
		t.Fatalf("names meet: %v", want)
	}
	for _, tc := range []struct {
		name  string
		ids   []string // what the registry is made for
		added []string // servers that arrive later, in order
		same  bool     // the names equal those of a registry made for both
	}{
		{"both named, both arrive later", []string{"a.b", "a_b"}, []string{"a_b", "a.b"}, true},
		{"both named, one arrives later", []string{"a.b", "a_b"}, []string{"a_b"}, true},
		{"one not named", []string{"a.b"}, []string{"a_b"}, false},
		{"none named", nil, []string{"a_b", "a.b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry(tc.ids, RegistryOptions{})
			for _, id := range tc.ids {
				if !slices.Contains(tc.added, id) {
					r.Set(id, echo)
				}
			}
			for _, id := range tc.added {
				r.addServer(id)
				r.Set(id, echo)
			}
			got := names(r)
			if len(got) != 2 || got["a.b"] == got["a_b"] {
				t.Fatalf("names meet: %v", got)
			}
			if tc.same && !maps.Equal(got, want) {
				t.Errorf("names %v, want %v as from the start", got, want)
			}
		})
	}
}

// TestRemovedServersLeaveTheMergedLists: Remove takes a server's items out
// and reports the kinds that changed; removing it again changes nothing.
func TestRemovedServersLeaveTheMergedLists(t *testing.T) {
	r := NewRegistry([]string{"a", "b"}, RegistryOptions{})
	r.Set("a", Lists{Tools: []json.RawMessage{json.RawMessage(`{"name":"echo","inputSchema":{"type":"object"}}`)},
		Resources: []json.RawMessage{json.RawMessage(`{"uri":"test://a","name":"a"}`)}})
	r.Set("b", Lists{Tools: []json.RawMessage{json.RawMessage(`{"name":"echo","inputSchema":{"type":"object"}}`)}})
	if changed := r.Remove("a"); !slices.Equal(changed, []string{KindTools, KindResources}) {
		t.Errorf("removing a changed %v", changed)
	}
	if got := string(r.Result("tools/list")); strings.Contains(got, "a__echo") || !strings.Contains(got, "b__echo") {
		t.Errorf("tools/list = %s", got)
	}
	if _, ok := r.ResourceServer("test://a"); ok {
		t.Error("a's resource is still routed")
	}
	if changed := r.Remove("a"); len(changed) != 0 {
		t.Errorf("removing a again changed %v", changed)
	}
}
