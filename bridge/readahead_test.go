package bridge

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/mcp-bridge/bridge/config/catalog"
)

// aheadState is a state folder with kept lists and pins for "good", a
// corrupt file of each for "bad", and none for "none".
func aheadState(t *testing.T) (dir string, servers []*catalog.Server) {
	dir = t.TempDir()
	for _, id := range []string{"good", "bad", "none"} {
		servers = append(servers, testServer(id, catalog.RemoteStreamableHTTP, "http://127.0.0.1:1/mcp"))
	}
	tools := []json.RawMessage{json.RawMessage(`{"name":"echo","description":"Echoes.","inputSchema":{"type":"object"}}`)}
	lists, pins := NewListCache(dir, 0, nil), NewPins(dir)
	for _, s := range servers[:2] {
		lists.Save(s, Lists{Tools: tools})
		if _, err := pins.Review(s.ID, tools); err != nil {
			t.Fatal(err)
		}
	}
	lists.Wait()
	pins.Wait()
	for _, path := range []string{lists.Path("bad"), pins.Path("bad")} {
		if err := os.WriteFile(path, []byte(`{"trusted":`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, servers
}

// What is read ahead is what a read of the file gives: the lists, the
// pins' verdicts, and the errors that name a corrupt file.
func TestReadAheadGivesWhatTheFilesHold(t *testing.T) {
	dir, servers := aheadState(t)
	tools := []json.RawMessage{json.RawMessage(`{"name":"echo","description":"Echoes.","inputSchema":{"type":"object"}}`)}
	type read struct {
		lists     Lists
		listsErr  string
		facts     []ToolFacts
		factsErr  string
		seenTools int
	}
	readAll := func(ahead bool) map[string]read {
		lists, pins := NewListCache(dir, 0, nil), NewPins(dir)
		if ahead {
			ReadAhead(lists, pins, []string{"good", "bad", "none"})
		}
		out := map[string]read{}
		for _, s := range servers {
			var r read
			var err error
			if r.lists, _, err = lists.Load(s); err != nil {
				r.listsErr = err.Error()
			}
			if r.facts, err = pins.Check(s.ID, tools); err != nil {
				r.factsErr = err.Error()
			}
			out[s.ID] = r
		}
		return out
	}
	plain, ahead := readAll(false), readAll(true)
	if !reflect.DeepEqual(plain, ahead) {
		t.Fatalf("read ahead:\n%+v\nread when asked:\n%+v", ahead, plain)
	}
	if len(plain["good"].lists.Tools) != 1 || plain["bad"].listsErr == "" || plain["bad"].factsErr == "" || plain["none"].listsErr != "" {
		t.Fatalf("the files did not read as written: %+v", plain)
	}
}

// A file read ahead is taken once, and what is not taken is dropped: a
// later read is of the file as it is then.
func TestReadAheadIsTakenOnceAndDropped(t *testing.T) {
	dir, servers := aheadState(t)
	good := servers[0]
	for _, tc := range []struct {
		name  string
		first bool // the read ahead is taken before the file changes
	}{
		{"taken", true},
		{"dropped", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lists, pins := NewListCache(dir, 0, nil), NewPins(dir)
			ReadAhead(lists, pins, []string{good.ID})
			if tc.first {
				if l, _, err := lists.Load(good); err != nil || len(l.Tools) != 1 {
					t.Fatalf("first read: %v, %v", l, err)
				}
			} else {
				lists.ahead.drop()
				pins.ahead.drop()
			}
			saved, err := os.ReadFile(lists.Path(good.ID))
			if err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(lists.Path(good.ID), saved, 0o600)
			if err := os.WriteFile(lists.Path(good.ID), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := lists.Load(good); err == nil {
				t.Fatal("the file was changed, and a read after the first did not see it")
			}
		})
	}
}

// A pin file read ahead lacks what was seen; a read that needs it reads
// the file.
func TestReadAheadPinsWithWhatWasSeen(t *testing.T) {
	dir, _ := aheadState(t)
	pins := NewPins(dir)
	ReadAhead(nil, pins, []string{"good"})
	seen, err := pins.Seen("good")
	if err != nil || seen == nil || len(seen.Tools) != 1 {
		t.Fatalf("seen: %+v, %v", seen, err)
	}
	if _, _, ok := pins.ahead.take(pins.Path("good")); ok {
		t.Fatal("the read ahead was left to be taken again")
	}
}

// A file the start-up takes before the reader in the background has come
// to it is read by the taker, once: the reader's turn then reads nothing.
func TestReadAheadTakenBeforeItsTurnIsReadOnce(t *testing.T) {
	var r readAhead[int]
	reads := 0
	background := r.start("f", func(string) (int, error) { reads++; return 7, nil })
	v, err, ok := r.take("f")
	if !ok || err != nil || v != 7 || reads != 1 {
		t.Fatalf("take = %v, %v, %v after %d reads; want 7 read once", v, err, ok, reads)
	}
	background()
	if reads != 1 {
		t.Fatalf("the reader in the background read the taken file again: %d reads", reads)
	}
}
