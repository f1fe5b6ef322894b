package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// conformanceAgent is the client the conformance suite's client scenarios
// run: "bridge serve" over one server, the scenario's (its URL is the last
// argument), driven by a plain agent that initializes, lists the tools and
// calls each with arguments made from its schema, answering what the
// server asks on the way as an agent would (a form elicitation with the
// schema's defaults; a URL elicitation by visiting the URL as the fake
// browser does, then accepting). What the scenarios check is what the bridge does
// toward the server.
//
// With "auth" as its first argument it is a user first, for the auth
// scenarios: it writes the catalog entity, runs "bridge enable" and "bridge
// login" (a fake browser follows the redirects; the scenario's context,
// MCP_CONFORMANCE_CONTEXT, gives a pre-registered client's id and secret
// as the config's servers.<id>.client_id and client_secret_env), and then
// drives "bridge serve" as above.
func conformanceAgent() {
	run := runConformanceAgent
	if len(os.Args) > 2 && os.Args[1] == "auth" {
		run = runConformanceAuthAgent
	}
	if err := run(os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-agent:", err)
		os.Exit(1)
	}
}

func runConformanceAgent(url string) error {
	dir, err := os.MkdirTemp("", "conformance-agent")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	catPath, cfgPath := filepath.Join(dir, "catalog.yaml"), filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(catPath, []byte(entityYAML("scenario", [2]string{"streamable-http", url})), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf("catalog:\n  files: [%s]\nenabled: [scenario]\nservers:\n  scenario:\n    prefix: \"\"\n", catPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	return driveServe(cfgPath, append(os.Environ(), "MCP_BRIDGE_STATE_DIR="+filepath.Join(dir, "state")))
}

// conformanceClientMetadataURL is the Client ID Metadata Document the
// suite's auth/basic-cimd expects a client to use, as an organisation's
// client_metadata_url.
const conformanceClientMetadataURL = "https://conformance-test.local/client-metadata.json"

func runConformanceAuthAgent(url string) error {
	dir, err := os.MkdirTemp("", "conformance-auth-agent")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var sc struct {
		Name         string `json:"name"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		PrivateKey   string `json:"private_key_pem"`
	}
	if c := os.Getenv("MCP_CONFORMANCE_CONTEXT"); c != "" {
		if err := json.Unmarshal([]byte(c), &sc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	catPath, cfgPath, stateDir := filepath.Join(dir, "catalog.yaml"), filepath.Join(dir, "config.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(catPath, []byte(entityYAML("scenario", [2]string{"streamable-http", url})), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf("catalog:\n  files: [%s]\nclient_metadata_url: %s\nservers:\n  scenario:\n    prefix: \"\"\n", catPath, conformanceClientMetadataURL)
	if sc.ClientID != "" {
		cfg += fmt.Sprintf("    client_id: %q\n", sc.ClientID)
	}
	if sc.ClientSecret != "" {
		cfg += "    client_secret_env: CONFORMANCE_CLIENT_SECRET\n"
	}
	if sc.PrivateKey != "" {
		cfg += "    client_key_env: CONFORMANCE_CLIENT_KEY\n"
	}
	steps := [][]string{{"enable", "scenario"}, {"login", "scenario", "--timeout", "20s"}}
	if strings.HasPrefix(os.Getenv("MCP_CONFORMANCE_SCENARIO"), "auth/client-credentials") {
		// Used without a person: serve gets the token itself.
		cfg += "    grant: client_credentials\n"
		steps = steps[:1]
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "MCP_BRIDGE_STATE_DIR="+stateDir, "BROWSER=fake-browser", "CONFORMANCE_CLIENT_SECRET="+sc.ClientSecret, "CONFORMANCE_CLIENT_KEY="+sc.PrivateKey)
	for _, args := range steps {
		cmd := exec.Command("bridge", append(args, "--config", cfgPath)...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bridge %s: %w", args[0], err)
		}
	}
	// The client's secret and key reach serve as they reached login: a
	// client-credentials server is logged in to by serve itself.
	return driveServe(cfgPath, env)
}

// driveServe runs "bridge serve" with a config and plays the agent: it
// initializes, lists the tools and calls each.
func driveServe(cfgPath string, env []string) error {
	cmd := exec.Command("bridge", "serve", "--config", cfgPath, "--log-level", "debug")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	s := &scriptedAgent{in: stdin, out: bufio.NewScanner(stdout)}
	s.out.Buffer(nil, 64<<20)
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	if _, err := s.call("initialize", map[string]any{"protocolVersion": "2025-11-25",
		"capabilities": map[string]any{"elicitation": map[string]any{"form": map[string]any{}, "url": map[string]any{}}, "sampling": map[string]any{}, "roots": map[string]any{}},
		"clientInfo":   map[string]any{"name": "conformance-agent", "version": "1"}}); err != nil {
		return err
	}
	s.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	res, err := s.call("tools/list", map[string]any{})
	if err != nil {
		return err
	}
	var list struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(res, &list); err != nil {
		return err
	}
	for _, tool := range list.Tools {
		if _, err := s.call("tools/call", map[string]any{"name": tool.Name, "arguments": valuesFor(tool.InputSchema, false)}); err != nil {
			fmt.Fprintf(os.Stderr, "conformance-agent: %s: %v\n", tool.Name, err)
		}
	}
	return nil
}

// scriptedAgent speaks JSON-RPC over the bridge's stdio, one request at a
// time, answering the bridge's requests meanwhile.
type scriptedAgent struct {
	in     io.Writer
	out    *bufio.Scanner
	nextID int
}

func (a *scriptedAgent) send(v any) {
	data, _ := json.Marshal(v)
	_, _ = a.in.Write(append(data, '\n'))
}

func (a *scriptedAgent) call(method string, params any) (json.RawMessage, error) {
	a.nextID++
	id := a.nextID
	a.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && a.out.Scan() {
		var m rpcMessage
		if json.Unmarshal(a.out.Bytes(), &m) != nil {
			continue
		}
		switch {
		case m.Method != "" && len(m.ID) > 0:
			a.send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": answerFor(m.Method, m.Params)})
		case m.Method == "" && string(m.ID) == fmt.Sprint(id):
			if m.Error != nil {
				return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
			}
			return m.Result, nil
		}
	}
	return nil, fmt.Errorf("%s: no answer", method)
}

// answerFor is what the agent answers a server's request with.
func answerFor(method string, params json.RawMessage) any {
	switch method {
	case "elicitation/create":
		var p struct {
			Mode            string          `json:"mode"`
			URL             string          `json:"url"`
			RequestedSchema json.RawMessage `json:"requestedSchema"`
		}
		_ = json.Unmarshal(params, &p)
		if p.Mode == "url" {
			// A user with a browser: the page visited, then the accept.
			if err := browse(p.URL); err != nil {
				fmt.Fprintf(os.Stderr, "conformance-agent: visiting %s: %v\n", p.URL, err)
				return map[string]any{"action": "cancel"}
			}
			return map[string]any{"action": "accept"}
		}
		return map[string]any{"action": "accept", "content": valuesFor(p.RequestedSchema, true)}
	case "sampling/createMessage":
		return map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "ok"}, "model": "conformance-agent"}
	case "roots/list":
		return map[string]any{"roots": []any{}}
	}
	return map[string]any{}
}

// valuesFor fills an object schema's properties: with their defaults when
// defaults is set and they have one, else with a value of their type.
func valuesFor(schema json.RawMessage, defaults bool) map[string]any {
	var s struct {
		Properties map[string]struct {
			Type    string          `json:"type"`
			Default json.RawMessage `json:"default"`
			Enum    []any           `json:"enum"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	out := map[string]any{}
	for name, p := range s.Properties {
		switch {
		case defaults && len(p.Default) > 0:
			out[name] = p.Default
		case len(p.Enum) > 0:
			out[name] = p.Enum[0]
		case p.Type == "number" || p.Type == "integer":
			out[name] = 1
		case p.Type == "boolean":
			out[name] = true
		case strings.Contains(p.Type, "array"):
			out[name] = []any{}
		default:
			out[name] = "x"
		}
	}
	return out
}
