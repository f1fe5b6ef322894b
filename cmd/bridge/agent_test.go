package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// agent drives "bridge serve" over stdio the way a desktop agent does.
type agent struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan rpcMessage
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit error, once exited is closed

	cfgPath, stateDir string
	args              []string

	mu     sync.Mutex
	nextID int
}

// rpcMessage is any JSON-RPC message from the bridge.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
	raw rawLine // the whole line
}

// rawLine is a line as it came, printed as text by every verb.
type rawLine []byte

func (l rawLine) String() string { return string(l) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent writes a config enabling every server in catalog (YAML) and
// starts "bridge serve" with it, then initializes.
func startAgent(t *testing.T, catalog string, enabled []string, configExtra string, args ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	catPath := filepath.Join(dir, "catalog.yaml")
	must(t, os.WriteFile(catPath, []byte(catalog), 0o644))
	cfg := fmt.Sprintf("catalog:\n  files: [%s]\nenabled: [%s]\n%s", catPath, strings.Join(enabled, ", "), configExtra)
	cfgPath := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	return spawnAgent(t, cfgPath, filepath.Join(dir, "state"), args...)
}

// spawnAgent starts "bridge serve" with a config file and state folder.
func spawnAgent(t *testing.T, cfgPath, stateDir string, args ...string) *agent {
	t.Helper()
	exe, err := exec.LookPath("bridge")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"serve", "--config", cfgPath, "--log-level", "debug"}, args...)...)
	// The race detector sleeps a second at exit unless told not to, which
	// would hide how fast the bridge itself exits.
	cmd.Env = append(os.Environ(), "MCP_BRIDGE_STATE_DIR="+stateDir, "GORACE=atexit_sleep_ms=0")
	a := &agent{t: t, cmd: cmd, msgs: make(chan rpcMessage, 10000), stderr: &syncBuffer{}, exited: make(chan struct{}),
		cfgPath: cfgPath, stateDir: stateDir, args: args}
	cmd.Stderr = a.stderr
	a.stdin, err = cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	go a.read(stdout)
	go func() { a.err = cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.stop)
	return a
}

// stop ends the bridge as an agent does, by closing its stdin.
func (a *agent) stop() {
	a.stdin.Close()
	select {
	case <-a.exited:
	case <-time.After(5 * time.Second):
		a.cmd.Process.Kill()
	}
	if a.t.Failed() {
		a.t.Logf("bridge stderr:\n%s", a.stderr.String())
	}
}

// pid is the bridge process's id, for tests that look at its resources.
func (a *agent) pid() int { return a.cmd.Process.Pid }

// restart stops the bridge and starts it again with the same config and
// state, as a new agent session would.
func (a *agent) restart() *agent {
	a.stop()
	return spawnAgent(a.t, a.cfgPath, a.stateDir, a.args...)
}

// read checks that every line of stdout is a JSON-RPC message: stdout is
// protocol only.
func (a *agent) read(stdout io.Reader) {
	defer close(a.msgs)
	r := bufio.NewReaderSize(stdout, 1<<20)
	for {
		line, err := readLine(r)
		if err != nil && len(line) == 0 {
			return
		}
		if m, perr := parseRPC(line); perr != nil {
			a.t.Errorf("stdout carries a line that is not JSON-RPC (%v): %.500q", perr, line)
		} else {
			a.msgs <- m
		}
		if err != nil {
			return
		}
	}
}

// readLine reads up to the next line break, without it, into memory of
// its own. It looks at each byte once, where a bufio.Scanner searches all
// it holds for the line's end again after each read (a pipe hands over
// 64 KB a read: a 50 MB line cost it seconds), and it joins the pieces of
// a long line once, where appending copies the line over and over as it
// grows.
func readLine(r *bufio.Reader) ([]byte, error) {
	var pieces [][]byte
	size := 0
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			pieces = append(pieces, bytes.Clone(chunk))
			size += len(chunk)
			continue
		}
		line := make([]byte, 0, size+len(chunk))
		for _, p := range pieces {
			line = append(line, p...)
		}
		line = append(line, chunk...)
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), err
	}
}

// parseRPC reads one line of stdout as encoding/json would into an
// rpcMessage (keys in any letter case, the last of a key winning), with
// one quick check of the whole line and a walk of its top level:
// encoding/json steps through every byte of a 50 MB result twice, which
// under the race detector takes seconds. The message holds on to line.
func parseRPC(line []byte) (rpcMessage, error) {
	if !rawjson.Valid(line) {
		return rpcMessage{}, errors.New("not JSON")
	}
	ms, err := rawjson.Members(line)
	if err != nil {
		return rpcMessage{}, err
	}
	m := rpcMessage{raw: line}
	for _, f := range ms {
		v := json.RawMessage(line[f.Start:f.End])
		switch {
		case f.Matches("id"):
			m.ID = v
		case f.Matches("method"):
			if err := json.Unmarshal(v, &m.Method); err != nil {
				return m, fmt.Errorf("method: %w", err)
			}
		case f.Matches("params"):
			m.Params = v
		case f.Matches("result"):
			m.Result = v
		case f.Matches("error"):
			if err := json.Unmarshal(v, &m.Error); err != nil {
				return m, fmt.Errorf("error: %w", err)
			}
		}
	}
	return m, nil
}

func (a *agent) send(v any) {
	a.t.Helper()
	data, err := json.Marshal(v)
	must(a.t, err)
	if _, err := a.stdin.Write(append(data, '\n')); err != nil {
		a.t.Fatalf("writing to the bridge: %v", err)
	}
}

// request sends a request and returns its id.
func (a *agent) request(method string, params any) int {
	a.mu.Lock()
	a.nextID++
	id := a.nextID
	a.mu.Unlock()
	msg := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	a.send(msg)
	return id
}

func (a *agent) notify(method string, params any) {
	a.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// await reads messages until the response to id, returning it and the
// notifications that came before it.
func (a *agent) await(id int, timeout time.Duration) (rpcMessage, []rpcMessage) {
	a.t.Helper()
	var notes []rpcMessage
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				a.t.Fatalf("the bridge closed stdout waiting for response %d", id)
			}
			if m.Method != "" {
				notes = append(notes, m)
				continue
			}
			if string(m.ID) == fmt.Sprint(id) {
				return m, notes
			}
			a.t.Fatalf("unexpected response while waiting for %d: %s", id, m.raw)
		case <-deadline:
			a.t.Fatalf("no response to %d within %s", id, timeout)
		}
	}
}

// awaitAll reads until each of ids is answered, in whatever order. It
// returns the answers by id and, for each, the notifications that came
// before it.
func (a *agent) awaitAll(timeout time.Duration, ids ...int) (answers map[int]rpcMessage, notes map[int][]rpcMessage) {
	a.t.Helper()
	want := map[string]int{}
	for _, id := range ids {
		want[fmt.Sprint(id)] = id
	}
	answers, notes = map[int]rpcMessage{}, map[int][]rpcMessage{}
	var seen []rpcMessage
	deadline := time.After(timeout)
	for len(answers) < len(want) {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				a.t.Fatalf("the bridge closed stdout with %d of %d responses outstanding", len(want)-len(answers), len(want))
			}
			if m.Method != "" {
				seen = append(seen, m)
				continue
			}
			id, ok := want[string(m.ID)]
			if !ok {
				a.t.Fatalf("unexpected response: %s", m.raw)
			}
			answers[id], notes[id] = m, slices.Clone(seen)
		case <-deadline:
			a.t.Fatalf("%d of %d responses missing after %s", len(want)-len(answers), len(want), timeout)
		}
	}
	return answers, notes
}

// call sends a request and waits for its response.
func (a *agent) call(method string, params any) (rpcMessage, []rpcMessage) {
	a.t.Helper()
	return a.await(a.request(method, params), 20*time.Second)
}

// result calls and fails the test on an error response.
func (a *agent) result(method string, params any, v any) []rpcMessage {
	a.t.Helper()
	m, notes := a.call(method, params)
	if m.Error != nil {
		a.t.Fatalf("%s: error %d %s", method, m.Error.Code, m.Error.Message)
	}
	if v != nil {
		must(a.t, json.Unmarshal(m.Result, v))
	}
	return notes
}

func (a *agent) initialize(version string) json.RawMessage {
	a.t.Helper()
	var res json.RawMessage
	a.result("initialize", map[string]any{
		"protocolVersion": version, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "e2e", "version": "1"},
	}, &res)
	a.notify("notifications/initialized", map[string]any{})
	return res
}

// waitNotification reads until a notification with this method arrives.
func (a *agent) waitNotification(method string, timeout time.Duration) rpcMessage {
	a.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-a.msgs:
			if m.Method == method {
				return m
			}
		case <-deadline:
			a.t.Fatalf("no %s within %s", method, timeout)
		}
	}
}

// toolText calls a tool and returns its first text block, or the error.
func (a *agent) toolText(name string, args map[string]any) (string, *rpcMessage) {
	a.t.Helper()
	m, _ := a.call("tools/call", map[string]any{"name": name, "arguments": args})
	if m.Error != nil {
		return "", &m
	}
	return firstText(a.t, m.Result), nil
}

func firstText(t *testing.T, result json.RawMessage) string {
	t.Helper()
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	must(t, json.Unmarshal(result, &r))
	if len(r.Content) == 0 {
		t.Fatalf("result without content: %s", result)
	}
	return r.Content[0].Text
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
