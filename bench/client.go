package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// caller makes one MCP request and returns its raw result.
type caller interface {
	call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
}

const protocolVersion = "2025-11-25"

var initializeParams = json.RawMessage(`{"protocolVersion":"` + protocolVersion + `","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}`)

// agent speaks to a local MCP server over stdio ("bridge serve", or a
// peer), as a desktop agent does: one JSON-RPC message per line, any
// number of requests in flight.
type agent struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	wmu     sync.Mutex
	next    atomic.Int64
	waiting sync.Map // id → chan reply
	exited  chan struct{}
	stderr  *tailBuffer
	err     error
}

type reply struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"` // set in a request of the server's own
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// decodeReply reads one JSON-RPC message, as every client the bench
// measures reads each it gets: the whole text checked once, in one pass
// (rawjson.Valid; encoding/json makes two and copies the result, 6 ms
// for a list of a thousand tools where this takes 1 ms), then its
// top-level members decoded. The result is a span of data. An id that is
// not a number (a request of the server's own) is left out.
func decodeReply(data []byte) (reply, error) {
	var rep reply
	if !rawjson.Valid(data) {
		return rep, errors.New("not JSON")
	}
	var buf [8]rawjson.Member
	members, err := rawjson.AppendMembers(buf[:0], data)
	if err != nil {
		return rep, err
	}
	for _, m := range members {
		v := data[m.Start:m.End]
		switch {
		case m.Is("id"):
			var id int64
			if json.Unmarshal(v, &id) == nil && string(v) != "null" {
				rep.ID = &id
			}
		case m.Is("method"):
			err = json.Unmarshal(v, &rep.Method)
		case m.Is("result"):
			rep.Result = v
		case m.Is("error") && string(v) != "null":
			rep.Error = &rpcError{}
			err = json.Unmarshal(v, rep.Error)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", m.Key, err)
		}
	}
	return rep, nil
}

// fleetConfig writes a catalog of ups and a config that enables them all
// into dir, and returns the config's path.
func fleetConfig(dir string, ups []*upstream) (string, error) {
	var cat strings.Builder
	var ids []string
	for _, u := range ups {
		cat.WriteString(upstreamtest.Entity(u.name, [2]string{"streamable-http", u.url}))
		ids = append(ids, u.name)
	}
	catPath := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catPath, []byte(cat.String()), 0o644); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf("catalog:\n  files: [%s]\nenabled: [%s]\nserve:\n  startup_wait: 10s\n", catPath, strings.Join(ids, ", "))
	cfgPath := filepath.Join(dir, "config.yaml")
	return cfgPath, os.WriteFile(cfgPath, []byte(cfg), 0o644)
}

// startBridge starts "bridge serve" from the binary exe with a config file
// and state folder. It does not send anything yet.
func startBridge(exe, cfgPath, stateDir string) (*agent, error) {
	cmd := exec.Command(exe, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "MCP_BRIDGE_STATE_DIR="+stateDir)
	a, err := startStdio(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting the bridge: %w", err)
	}
	return a, nil
}

// startStdio starts cmd, a local MCP server over stdio (the bridge, or a
// peer), as an agent starts one. It does not send anything yet.
func startStdio(cmd *exec.Cmd) (*agent, error) {
	a := &agent{cmd: cmd, exited: make(chan struct{}), stderr: &tailBuffer{max: 4 << 10}}
	cmd.Stderr = a.stderr
	var err error
	if a.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go a.read(stdout)
	go func() { a.err = cmd.Wait(); close(a.exited) }()
	return a, nil
}

// initialize runs the handshake.
func (a *agent) initialize(ctx context.Context) error {
	if _, err := a.call(ctx, "initialize", initializeParams); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return a.send([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
}

func (a *agent) read(stdout io.Reader) {
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		// One decoding, as a client's own would.
		rep, err := decodeReply(line)
		if err != nil {
			a.stderr.Write([]byte("\nnot JSON on stdout: " + err.Error()))
			break
		}
		if rep.ID == nil || rep.Method != "" {
			continue // a notification, or a request no benchmark needs answered
		}
		if ch, ok := a.waiting.LoadAndDelete(*rep.ID); ok {
			ch.(chan reply) <- rep
		}
	}
	// The bridge is gone: whoever still waits hears so.
	a.waiting.Range(func(id, ch any) bool {
		a.waiting.Delete(id)
		close(ch.(chan reply))
		return true
	})
}

func (a *agent) send(line []byte) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	_, err := a.stdin.Write(append(line, '\n'))
	return err
}

func (a *agent) call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	id := a.next.Add(1)
	ch := make(chan reply, 1)
	a.waiting.Store(id, ch)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":%q`, id, method)
	if len(params) > 0 {
		b.WriteString(`,"params":`)
		b.Write(params)
	}
	b.WriteByte('}')
	if err := a.send(b.Bytes()); err != nil {
		a.waiting.Delete(id)
		return nil, fmt.Errorf("writing to the server: %w", err)
	}
	select {
	case rep, ok := <-ch:
		switch {
		case !ok:
			return nil, fmt.Errorf("the server stopped answering: %s", a.stderr.String())
		case rep.Error != nil:
			return nil, fmt.Errorf("%s: error %d: %s", method, rep.Error.Code, rep.Error.Message)
		}
		return rep.Result, nil
	case <-ctx.Done():
		a.waiting.Delete(id)
		return nil, ctx.Err()
	}
}

// stop closes stdin, as an agent does, and waits for the server to exit;
// one still running after stopWait is killed.
func (a *agent) stop() error {
	_ = a.stdin.Close()
	select {
	case <-a.exited:
	case <-time.After(stopWait):
		_ = a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("%s did not exit within %s of the end of its input: %s", a.cmd.Path, stopWait, a.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(a.err, &exit) {
		return fmt.Errorf("%s exited with %v: %s", a.cmd.Path, a.err, a.stderr.String())
	}
	return a.err
}

const stopWait = 10 * time.Second

func (a *agent) pid() int { return a.cmd.Process.Pid }

// tailBuffer keeps the last max bytes written to it: the end of the
// bridge's log, for an error message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
