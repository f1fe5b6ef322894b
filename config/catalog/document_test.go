package catalog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/config"
)

// entityFile is a catalog file of n entities, one after another.
func entityFile(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: s%03d\n  title: Server %d\nspec:\n  type: mcp-server\n  lifecycle: production\n  owner: team-a\n", i, i)
	}
	return []byte(b.String())
}

// Deep in a long file, every document's lines, and an error's, are the
// file's: an error on a document's first line and one further in.
func TestDocumentLinesDeepInAFile(t *testing.T) {
	data := entityFile(300)
	lines := strings.Count(string(data), "\n")
	for _, tc := range []struct {
		doc  string
		want string
	}{
		{"kind: [broken\n", fmt.Sprintf("line %d: did not find expected ',' or ']'", lines+2)},
		{"kind: API\nmetadata:\n  name: x\n   bad: indent\n", fmt.Sprintf("line %d: mapping values are not allowed in this context", lines+5)},
	} {
		docs := splitDocuments("f.yaml", append(append(append([]byte{}, data...), "---\n"...), tc.doc...))
		if len(docs) != 301 {
			t.Fatalf("%d documents, want 301", len(docs))
		}
		for i, d := range docs[:300] {
			if want := fmt.Sprintf("f.yaml:%d", 2+i*10); d.location != want || d.err != nil {
				t.Fatalf("document %d at %s (%v), want %s", i, d.location, d.err, want)
			}
			if got := config.Field(config.Field(d.node, "metadata"), "name").Line; got != 5+i*10 {
				t.Fatalf("document %d's name on line %d, want %d", i, got, 5+i*10)
			}
		}
		last := docs[300]
		if last.err == nil || !strings.Contains(last.err.Error(), tc.want) {
			t.Errorf("the broken document: %v, want %q", last.err, tc.want)
		}
	}
}

// BenchmarkSplitDocuments reads catalog files of 50 and 500 entities: the
// time per entity should not grow with the file. Run:
//
//	GOTOOLCHAIN=local go test ./config/catalog -run '^$' -bench SplitDocuments -benchmem
func BenchmarkSplitDocuments(b *testing.B) {
	for _, n := range []int{50, 500} {
		data := entityFile(n)
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			for b.Loop() {
				if docs := splitDocuments("f.yaml", data); len(docs) != n {
					b.Fatalf("%d documents", len(docs))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entity")
		})
	}
}
