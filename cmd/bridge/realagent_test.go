package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// The real agents, Gemini CLI and Codex, each started from the config file
// "bridge setup" wrote for it, with a bridge config at a path of its own,
// and its model API played by a loopback stand-in (realagent_model_test.go)
// whose first answer calls the bridge's tool and whose second reads what
// the tool gave back.

// agentsDir holds Gemini CLI, Codex and Node 22, from npm.
const agentsDir = "../../testdata/agents"

// agentRunBound bounds one agent's whole run; a run that needs it has hung.
const agentRunBound = 3 * time.Minute

// probeTool is the upstream's tool the stand-ins call. It is read-only, as
// Codex runs only such MCP tools without asking, and a call answers with its
// name and arguments (upstreamtest's toolset tools).
const probeTool = "lookup_ticket"

var probeToolJSON = json.RawMessage(`{"name": "lookup_ticket", "description": "Looks up a support ticket by its id.",
	"inputSchema": {"type": "object", "properties": {"id": {"type": "string", "description": "The ticket id."}}, "required": ["id"]},
	"annotations": {"readOnlyHint": true}}`)

// decoyTool is served only by the server of the default config, which the
// agent's bridge must not read.
const decoyTool = "decoy_only_in_the_default_config"

// TestRealGeminiCLIReachesTheBridge runs Gemini CLI 0.61.0 headless
// (--prompt, --yolo) against a stand-in of the Gemini API at
// GOOGLE_GEMINI_BASE_URL. With that variable alone 0.61 picks its
// "gateway" auth, which headless mode refuses ("Invalid auth method
// selected."), so the settings choose the API key auth, as its auth
// dialog would: the key's requests still go to that base URL. Gemini CLI
// starts MCP servers only in trusted folders, so the folder it runs in is
// trusted as a user would from its prompt: in ~/.gemini/trustedFolders.json.
// The project's own settings (.gemini/settings.json there) turn off usage
// statistics and the update check, which would leave the machine.
func TestRealGeminiCLIReachesTheBridge(t *testing.T) {
	node, modules := realAgents(t)
	h := newAgentHome(t, "gemini")
	writeJSONFile(t, filepath.Join(h.home, ".gemini", "trustedFolders.json"), map[string]string{h.work: "TRUST_FOLDER"})
	writeJSONFile(t, filepath.Join(h.work, ".gemini", "settings.json"), map[string]any{
		"privacy":  map[string]any{"usageStatisticsEnabled": false},
		"general":  map[string]any{"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
		"security": map[string]any{"auth": map[string]any{"selectedType": "gemini-api-key"}},
	})
	m := startModel(t, h.nonce, geminiAPI)
	out := h.runAgent(t, node, []string{filepath.Join(modules, "@google/gemini-cli/bundle/gemini.js"),
		"--prompt", "What is the state of ticket " + h.nonce + "?", "--yolo", "--model", "gemini-2.5-flash", "--output-format", "text"},
		"GEMINI_API_KEY=fake", "GOOGLE_GEMINI_BASE_URL="+m.URL, "NO_COLOR=1")
	h.checkCall(t, m)
	h.checkClient(t, "gemini-cli-mcp-client", "gemini")
	if !strings.Contains(out, finalText) {
		t.Errorf("Gemini CLI did not print the model's final answer %q:\n%s", finalText, out)
	}
}

// TestRealCodexReachesTheBridge runs Codex 0.171.0 headless (codex exec)
// with CODEX_HOME set, against a stand-in of the Responses API: a model
// provider of its own, appended to the config.toml setup wrote, and chosen
// with -c. Headless, Codex runs an MCP tool without asking only when the
// tool says it is read-only (readOnlyHint), as the probe does; the sandbox
// is read-only too.
func TestRealCodexReachesTheBridge(t *testing.T) {
	node, modules := realAgents(t)
	codexHome := t.TempDir()
	h := newAgentHome(t, "codex", "CODEX_HOME="+codexHome)
	m := startModel(t, h.nonce, responsesAPI)
	appendFile(t, filepath.Join(codexHome, "config.toml"), fmt.Sprintf(codexStandIn, m.URL+"/v1"))
	out := h.runAgent(t, node, []string{filepath.Join(modules, "@openai/codex/bin/codex.js"), "exec",
		"--skip-git-repo-check", "--sandbox", "read-only", "--color", "never",
		"-c", `model_provider="stand-in"`, "-c", "check_for_update_on_startup=false", "-m", "stand-in-model",
		"What is the state of ticket " + h.nonce + "?"},
		"STAND_IN_API_KEY=fake")
	h.checkCall(t, m)
	h.checkClient(t, "codex-mcp-client", "codex")
	if !strings.Contains(out, finalText) {
		t.Errorf("Codex did not print the model's final answer %q:\n%s", finalText, out)
	}
}

// codexStandIn is appended to the config.toml setup wrote: the stand-in as
// a model provider, and no analytics, nor the features that reach out on
// their own (plugins sync a curated repository from GitHub and ChatGPT's
// backend; apps are ChatGPT's connectors).
const codexStandIn = `
[model_providers.stand-in]
name = "loopback stand-in"
base_url = %q
wire_api = "responses"
env_key = "STAND_IN_API_KEY"

[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
`

// realAgents finds Node and the agents' modules, or skips (never in CI)
// when they are not installed.
func realAgents(t *testing.T) (node, modules string) {
	return npmInstalled(t, agentsDir, "the real agents")
}

// agentHome is a user's home folder with the bridge set up for one agent:
// a catalog with one real upstream, the bridge config at a non-default
// path with that upstream enabled, and a default config whose catalog has
// only a decoy.
type agentHome struct {
	home, work string // the home folder, and the folder the agent runs in
	config     string // the non-default bridge config
	env        []string
	calls      *callRecorder
	nonce      string // the ticket id the stand-in asks for
	audit      string // the bridge's audit log
}

// checkClient checks, from the audit log, that the bridge recognised the
// agent by the name it gave itself and fitted its tools to the agent's
// row of the client table.
func (h *agentHome) checkClient(t *testing.T, said, row string) {
	t.Helper()
	data, err := os.ReadFile(h.audit)
	must(t, err)
	var e struct{ Client, Fit, Outcome string }
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
		t.Fatalf("audit log %s: %v\n%s", h.audit, err, data)
	}
	if e.Client != said || e.Fit != row || e.Outcome != "ok" {
		t.Errorf("the call's audit line names client %q, fit %q, outcome %q; want %q, %q, ok", e.Client, e.Fit, e.Outcome, said, row)
	}
}

// newAgentHome builds the home and runs "bridge enable" and "bridge setup
// <agent> --config <path>" in it, as a user would; extraEnv is the agent's
// own environment (CODEX_HOME), also seen by setup.
func newAgentHome(t *testing.T, agent string, extraEnv ...string) *agentHome {
	t.Helper()
	root := t.TempDir()
	h := &agentHome{home: filepath.Join(root, "home"), work: filepath.Join(root, "work"), nonce: "T-" + randomHex(t)}
	must(t, os.MkdirAll(h.work, 0o755))
	h.env = append(userEnv(), "HOME="+h.home)
	h.env = append(h.env, extraEnv...)

	up := upstreamtest.Start(t, upstreamtest.Options{Name: "tickets", Transport: upstreamtest.StreamableHTTP, Tools: []json.RawMessage{probeToolJSON}})
	h.calls = recordCalls(t, up.StreamableURL)
	decoy := upstreamtest.Start(t, upstreamtest.Options{Name: "decoy", Transport: upstreamtest.StreamableHTTP,
		Tools: []json.RawMessage{json.RawMessage(`{"name": "` + decoyTool + `"}`)}})

	// The default config (~/.config/mcp-bridge/config.yaml) knows only the
	// decoy: a bridge that read it would offer the decoy's tool.
	defaultCfg := filepath.Join(h.home, ".config", "mcp-bridge", "config.yaml")
	decoyCat := filepath.Join(root, "decoy-catalog.yaml")
	must(t, os.MkdirAll(filepath.Dir(defaultCfg), 0o755))
	must(t, os.WriteFile(decoyCat, []byte(entityYAML("decoy", [2]string{"streamable-http", decoy.StreamableURL})), 0o644))
	must(t, os.WriteFile(defaultCfg, []byte(fmt.Sprintf("catalog:\n  files: [%s]\nenabled: [decoy]\n", decoyCat)), 0o644))

	cat := filepath.Join(root, "catalogs", "tickets.yaml")
	h.config = filepath.Join(root, "bridge-configs", agent+".yaml")
	must(t, os.MkdirAll(filepath.Dir(cat), 0o755))
	must(t, os.MkdirAll(filepath.Dir(h.config), 0o755))
	must(t, os.WriteFile(cat, []byte(entityYAML("tickets", [2]string{"streamable-http", h.calls.URL})), 0o644))
	h.audit = filepath.Join(root, "audit.log")
	must(t, os.WriteFile(h.config, []byte(fmt.Sprintf("catalog:\n  files: [%s]\naudit:\n  path: %s\n", cat, h.audit)), 0o644))

	h.bridge(t, "enable", "tickets", "--config", h.config)
	out := h.bridge(t, "setup", agent, "--config", h.config)
	if !strings.Contains(out, "serve --config "+h.config) {
		t.Fatalf("setup did not write serve --config %s:\n%s", h.config, out)
	}
	return h
}

// userEnv is this process's environment without what would point the
// bridge or an agent at another config, home, state folder or model: no
// MCP_BRIDGE_CONFIG, so that only the entry's args name the config.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || strings.HasPrefix(name, "MCP_BRIDGE_") ||
			strings.HasPrefix(name, "XDG_") || strings.HasPrefix(name, "GEMINI_") || strings.HasPrefix(name, "GOOGLE_") ||
			strings.HasPrefix(name, "OPENAI_") || strings.HasPrefix(name, "CODEX_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// bridge runs the bridge binary in the home, and returns its output.
func (h *agentHome) bridge(t *testing.T, args ...string) string {
	t.Helper()
	exe, err := exec.LookPath("bridge")
	must(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env, cmd.Dir = h.env, h.work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bridge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runAgent runs an agent to its end, within agentRunBound, and returns
// what it printed.
func (h *agentHome) runAgent(t *testing.T, name string, args []string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), agentRunBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir = append(slices.Clone(h.env), env...), h.work
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s ran %s", filepath.Base(args[0]), time.Since(start).Round(100*time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("the agent did not finish within %s:\n%s", agentRunBound, out)
	}
	if err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	return string(out)
}

// checkCall checks that the upstream got exactly the stand-in's call, and
// that what the agent gave the model back is the upstream's answer.
func (h *agentHome) checkCall(t *testing.T, model *modelStandIn) {
	t.Helper()
	m := model.seen()
	for _, name := range m.declared {
		if strings.Contains(name, decoyTool) {
			t.Errorf("the agent declared %s, from the default config: the bridge did not run with --config %s", name, h.config)
		}
	}
	if m.toolName == "" {
		t.Fatalf("no tool ending in %s among those the agent declared to the model: %v", probeTool, m.declared)
	}
	want := fmt.Sprintf(`{"id":%q}`, h.nonce)
	if got := h.calls.arguments(probeTool); !slices.Equal(got, []string{want}) {
		t.Errorf("the upstream got calls of %s with %v; want one, with %s", probeTool, got, want)
	}
	t.Logf("the agent declared the bridge's tool as %s; the stand-in was asked %d times", m.toolName, len(m.requests))
	output := probeTool + " " + want // what the upstream answers
	if m.result == "" {
		t.Fatalf("the agent sent the model no function result")
	}
	if !strings.Contains(m.result, output) {
		t.Errorf("the function result the agent sent the model lacks the upstream's answer %q:\n%s", output, m.result)
	}
}

// callRecorder fronts an upstream and keeps the arguments of each
// tools/call it passes on, by tool.
type callRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]string
}

func recordCalls(t *testing.T, upstream string) *callRecorder {
	target, err := url.Parse(upstream)
	must(t, err)
	r := &callRecorder{calls: map[string][]string{}}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.URL.Path = target.Path }, FlushInterval: -1}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			r.record(body)
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// rpcCall is the part of a JSON-RPC message the recorder reads.
type rpcCall struct {
	Method string `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"params"`
}

// record keeps the tools/call requests of one POST body: a message or a
// batch.
func (r *callRecorder) record(body []byte) {
	var msgs []rpcCall
	if json.Unmarshal(body, &msgs) != nil {
		var one rpcCall
		if json.Unmarshal(body, &one) != nil {
			return
		}
		msgs = []rpcCall{one}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if m.Method == "tools/call" {
			var compact bytes.Buffer
			if json.Compact(&compact, m.Params.Arguments) != nil {
				compact.Write(m.Params.Arguments)
			}
			r.calls[m.Params.Name] = append(r.calls[m.Params.Name], compact.String())
		}
	}
}

func (r *callRecorder) arguments(tool string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[tool])
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	_, err := rand.Read(b)
	must(t, err)
	return hex.EncodeToString(b)
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, data, 0o644))
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}
