package catalog

import (
	"net/url"
	"os"
	"testing"
)

// FuzzParseEntity feeds arbitrary catalog files through the document
// splitter and the entity parser: they must never panic, and what they call
// available must be usable.
func FuzzParseEntity(f *testing.F) {
	for _, name := range []string{"examples.yaml", "upstream.yaml", "broken.yaml"} {
		data, err := os.ReadFile(testdata + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("kind: API\nspec: {type: mcp-server, definition: '{\"remotes\": [{}]}'}\nmetadata: {name: x}\n"))
	f.Add([]byte("--- {kind: API}\n...\n---\n"))
	// Backstage's own shape: spec.remotes, no annotation.
	f.Add([]byte("kind: API\nmetadata: {name: b}\nspec: {type: mcp-server, lifecycle: production, remotes: [{type: streamable-http, url: 'https://b.example.com/api/mcp-actions/v1'}]}\n"))
	f.Add([]byte("kind: API\nmetadata: {name: s}\nspec: {type: mcp-server, lifecycle: production, definition: ~, remotes: [{type: stdio, url: 'npx s'}, {type: sse, url: 'http://127.0.0.1:1/sse'}]}\n"))
	f.Add([]byte("kind: API\nmetadata: {name: m, annotations: {mcp.spotify.com/auth-plugin-id: x}}\nspec: {type: mcp-server, lifecycle: production, remotes: {type: sse}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, doc := range splitDocuments("fuzz.yaml", data) {
			s, p := parseEntity(doc)
			if p != nil && p.Reason == "" {
				t.Fatalf("problem without a reason at %s", p.Location)
			}
			if s == nil {
				continue
			}
			if s.ID == "" {
				t.Fatal("server without an ID")
			}
			if s.Shape != ShapePortal && s.Shape != ShapeBackstage {
				t.Fatalf("%s has shape %q", s.ID, s.Shape)
			}
			if !s.Available() {
				continue
			}
			tr, ok := s.Transport()
			if !ok {
				t.Fatalf("%s is available with no transport", s.ID)
			}
			u, err := url.Parse(tr.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("%s is available with remote URL %q", s.ID, tr.URL)
			}
			if tr.Type != RemoteStreamableHTTP && tr.Type != RemoteSSE {
				t.Fatalf("%s is available with remote type %q", s.ID, tr.Type)
			}
			if s.Lifecycle != "production" {
				t.Fatalf("%s is available with lifecycle %q", s.ID, s.Lifecycle)
			}
		}
	})
}
