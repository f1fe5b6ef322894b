package bench

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkDirectCall is the direct client's own cost, in process, with
// the upstream in this process too: what the reference costs before any
// process boundary.
//
//	GOTOOLCHAIN=local go test ./bench -run '^$' -bench DirectCall -benchmem
func BenchmarkDirectCall(b *testing.B) {
	ups, stop, err := startUpstreams(1, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	client := newHTTPClient()
	d, err := dialDirect(ctx, ups[0].url, client)
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()
	for _, size := range []int{100, 10 << 10, 1 << 20} {
		params := blobCall("blob", size)
		b.Run(bytesText(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := timedCall(ctx, d, params, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDirectReadsEventStreams: an answer in an event stream is found after
// notifications and requests of the server's own, with its data split
// over lines.
func TestDirectReadsEventStreams(t *testing.T) {
	stream := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		": a comment\r\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n\n" +
		"id: 3\ndata: {\"jsonrpc\":\"2.0\",\n" +
		"data:  \"id\":7,\"result\":{\"ok\":true}}\n\n"
	rep, err := answerFromStream(strings.NewReader(stream), 7)
	if err != nil || string(rep.Result) != `{"ok":true}` {
		t.Fatalf("answerFromStream = %+v, %v", rep, err)
	}
	if _, err := answerFromStream(strings.NewReader("data: {\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{}}\n\n"), 7); err == nil {
		t.Fatal("a stream without the answer gave no error")
	}
}
