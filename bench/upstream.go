package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// upstream is one MCP server of the benchmark: mcp-go over streamable HTTP
// on loopback, as a remote server would be, with a fixed number of tools.
// Its blob tool answers with as many bytes of text as it is asked for.
type upstream struct {
	name string
	url  string
	http *http.Server // nil when it runs in another process
}

// blobs holds the blob tool's answers, made once per size, so that no
// benchmark measures making them.
var blobs sync.Map // int → string

func blob(n int) string {
	if s, ok := blobs.Load(n); ok {
		return s.(string)
	}
	s, _ := blobs.LoadOrStore(n, strings.Repeat("x", n))
	return s.(string)
}

// ServeUpstreams runs n upstreams of tools tools each for another process
// (see Options.ServerCommand): it writes their URLs to out, as one JSON
// list on one line, and serves until ctx is done.
func ServeUpstreams(ctx context.Context, n, tools int, out io.Writer) error {
	ups, stop, err := startUpstreams(n, tools)
	if err != nil {
		return err
	}
	defer stop()
	urls := make([]string, len(ups))
	for i, u := range ups {
		urls[i] = u.url
	}
	line, _ := json.Marshal(urls)
	if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// spawnUpstreams runs cmd, which serves n upstreams (ServeUpstreams), and
// reads their URLs. stop ends it.
func spawnUpstreams(cmd *exec.Cmd, n int) (ups []*upstream, stop func(), err error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the servers' process: %w", err)
	}
	stop = func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var urls []string
	if err == nil {
		err = json.Unmarshal(line, &urls)
	}
	if err != nil || len(urls) != n {
		stop()
		return nil, nil, fmt.Errorf("the servers' process gave %q (%v): %s", line, err, stderr.String())
	}
	for i, url := range urls {
		ups = append(ups, &upstream{name: upstreamName(i), url: url})
	}
	return ups, stop, nil
}

func upstreamName(i int) string { return fmt.Sprintf("s%02d", i) }

// startUpstreams starts n upstreams named s00, s01, … with tools tools
// each. stop ends them all.
func startUpstreams(n, tools int) (ups []*upstream, stop func(), err error) {
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, u := range ups {
			_ = u.http.Shutdown(ctx)
		}
	}
	for i := range n {
		u, err := startUpstream(upstreamName(i), tools)
		if err != nil {
			stop()
			return nil, nil, err
		}
		ups = append(ups, u)
	}
	return ups, stop, nil
}

func startUpstream(name string, tools int) (*upstream, error) {
	s := server.NewMCPServer(name, "1.0.0", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("blob",
		mcp.WithDescription("Answers with a text of the given number of bytes."),
		mcp.WithNumber("bytes", mcp.Required(), mcp.Description("how many bytes of text to answer with")),
		mcp.WithReadOnlyHintAnnotation(true),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n, err := req.RequireInt("bytes")
		if err != nil || n < 0 || n > 64<<20 {
			return mcp.NewToolResultError("bytes must be between 0 and 64 MiB"), nil
		}
		return mcp.NewToolResultText(blob(n)), nil
	})
	// The rest are there to be listed, like the tools of a real server: a
	// description and a schema of a few typed arguments each.
	for k := 1; k < tools; k++ {
		s.AddTool(mcp.NewTool(fmt.Sprintf("tool_%02d", k),
			mcp.WithDescription(fmt.Sprintf("Tool %d of %s: looks something up by its identifier and returns what is known about it, in a few lines of text.", k, name)),
			mcp.WithString("id", mcp.Required(), mcp.Description("the identifier to look up")),
			mcp.WithNumber("limit", mcp.Description("at most this many lines")),
			mcp.WithBoolean("verbose", mcp.Description("include every field")),
			mcp.WithReadOnlyHintAnnotation(true),
		), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ok"), nil
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting upstream %s: %w", name, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	// The header timeout is long: fifty peer processes starting at once on
	// two CPUs can take seconds between opening a connection and writing
	// their first request on it.
	u := &upstream{name: name, url: "http://" + ln.Addr().String() + "/mcp",
		http: &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}}
	// Serve ends with Shutdown; a failure before shows in the calls.
	go func() { _ = u.http.Serve(ln) }()
	return u, nil
}
