package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// A server's requests (elicitation, sampling, roots), its logs and its
// completions, carried to and from an agent through serve, against a
// real server (mcp-go) that asks them.

// startInteractive is serve over one interactive server, "x", with an
// agent that declared caps in initialize.
func startInteractive(t *testing.T, caps map[string]any) (*upstreamtest.Server, *agent) {
	t.Helper()
	return startInteractiveEra(t, upstreamtest.LegacyOnly, caps, "")
}

// startInteractiveEra is startInteractive with a server of that era and
// more config.
func startInteractiveEra(t *testing.T, era upstreamtest.Era, caps map[string]any, configExtra string) (*upstreamtest.Server, *agent) {
	t.Helper()
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP, Interactive: true, Era: era})
	a := startAgent(t, entityYAML("x", [2]string{"streamable-http", up.StreamableURL}), []string{"x"}, configExtra)
	a.result("initialize", map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": caps,
		"clientInfo": map[string]any{"name": "e2e", "version": "1"},
	}, nil)
	a.notify("notifications/initialized", map[string]any{})
	listTools(a)
	return up, a
}

// callAnswering calls a tool and answers each request the bridge sends
// meanwhile with answer (a result, or an *rpcError to refuse). It returns
// the call's response, the requests it answered and the notifications.
func callAnswering(a *agent, name string, args map[string]any, answer func(m rpcMessage) any) (rpcMessage, []rpcMessage, []rpcMessage) {
	a.t.Helper()
	id := a.request("tools/call", map[string]any{"name": name, "arguments": args})
	var requests, notes []rpcMessage
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-a.msgs:
			switch {
			case !ok:
				a.t.Fatalf("the bridge closed stdout during %s", name)
			case m.Method != "" && len(m.ID) > 0:
				requests = append(requests, m)
				reply := map[string]any{"jsonrpc": "2.0", "id": m.ID}
				if r := answer(m); r != nil {
					if e, ok := r.(*rpcError); ok {
						reply["error"] = e
					} else {
						reply["result"] = r
					}
				}
				a.send(reply)
			case m.Method != "":
				notes = append(notes, m)
			case string(m.ID) == fmt.Sprint(id):
				return m, requests, notes
			}
		case <-deadline:
			a.t.Fatalf("no answer to %s within 20s", name)
		}
	}
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func TestServerRequestsReachTheAgentAndTheAnswerGoesBack(t *testing.T) {
	up, a := startInteractive(t, map[string]any{
		"roots": map[string]any{"listChanged": true}, "sampling": map[string]any{},
		"elicitation":  map[string]any{"form": map[string]any{}, "url": map[string]any{}},
		"experimental": map[string]any{"x": map[string]any{}},
	})
	if got := up.Stats().ClientCapabilities; got != `{"elicitation":{"form":{},"url":{}},"roots":{"listChanged":true},"sampling":{}}` {
		t.Errorf("the server was told the capabilities %s; want the agent's roots, sampling and elicitation as it wrote them", got)
	}
	answers := map[string]any{
		"elicitation/create":     map[string]any{"action": "accept", "content": map[string]any{"name": "ada"}},
		"sampling/createMessage": map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "hi there"}, "model": "m"},
		"roots/list":             map[string]any{"roots": []any{map[string]any{"uri": "file:///work", "name": "work"}}},
	}
	for tool, want := range map[string]string{"x__ask": `"name":"ada"`, "x__sample": "hi there", "x__roots": "file:///work"} {
		m, requests, _ := callAnswering(a, tool, map[string]any{}, func(m rpcMessage) any { return answers[m.Method] })
		if len(requests) != 1 || !strings.HasPrefix(string(requests[0].ID), `"bridge-`) {
			t.Errorf("%s: the agent got %d requests (ids should be the bridge's own): %v", tool, len(requests), requests)
		}
		if m.Error != nil || !strings.Contains(firstText(t, m.Result), want) {
			t.Errorf("%s: %s; want the agent's answer, %s", tool, m.raw, want)
		}
	}

	m, requests, notes := callAnswering(a, "x__ask_url", map[string]any{"url": "https://login.example.com/x"},
		func(rpcMessage) any { return map[string]any{"action": "accept"} })
	if len(requests) != 1 || !strings.Contains(string(requests[0].Params), `"mode":"url"`) || m.Error != nil {
		t.Errorf("URL elicitation: requests %v, answer %s", requests, m.raw)
	}
	complete := false
	for _, n := range notes {
		complete = complete || n.Method == "notifications/elicitation/complete" && strings.Contains(string(n.Params), `"e-1"`)
	}
	if !complete { // it may come on the server's GET stream, after the answer
		n := a.waitNotification("notifications/elicitation/complete", 10*time.Second)
		complete = strings.Contains(string(n.Params), `"e-1"`)
	}
	if !complete {
		t.Errorf("notifications/elicitation/complete did not reach the agent: %v", notes)
	}

	// A URL that is not https (or http on loopback) never reaches the agent.
	m, requests, _ = callAnswering(a, "x__ask_url", map[string]any{"url": "file:///etc/passwd"},
		func(rpcMessage) any { return map[string]any{"action": "accept"} })
	if len(requests) != 0 || !strings.Contains(firstText(t, m.Result), "failed") {
		t.Errorf("a file: URL: the agent got %v; answer %s", requests, m.raw)
	}

	// The agent's refusal reaches the server as the error it is.
	m, _, _ = callAnswering(a, "x__sample", map[string]any{}, func(rpcMessage) any { return &rpcError{-1, "the user said no"} })
	if !strings.Contains(firstText(t, m.Result), "the user said no") {
		t.Errorf("a refused sampling: %s", m.raw)
	}

	a.notify("notifications/roots/list_changed", map[string]any{})
	waitFor(t, func() bool { return up.Stats().RootsChanged == 1 })
}

func TestServerRequestsTheAgentCannotTakeAreRefused(t *testing.T) {
	up, a := startInteractive(t, map[string]any{})
	if got := up.Stats().ClientCapabilities; got != `{}` {
		t.Errorf("the server was told the capabilities %s; the agent declared none", got)
	}
	for _, tool := range []string{"x__ask", "x__sample", "x__roots"} {
		m, requests, _ := callAnswering(a, tool, map[string]any{}, func(rpcMessage) any { return map[string]any{} })
		if len(requests) != 0 || !strings.Contains(firstText(t, m.Result), "failed") {
			t.Errorf("%s: the agent got %v; answer %s", tool, requests, m.raw)
		}
	}
}

func TestServerLogsReachTheAgentNamedAfterTheServer(t *testing.T) {
	up, a := startInteractive(t, map[string]any{})
	var init struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	a.result("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}}, &init)
	if _, ok := init.Capabilities["logging"]; !ok {
		t.Errorf("the bridge does not say it logs: %v", init.Capabilities)
	}
	a.result("logging/setLevel", map[string]any{"level": "info"}, nil)
	if got := up.Stats().LogLevel; got != "info" {
		t.Errorf("the server's level is %q, want info", got)
	}
	m, _, notes := callAnswering(a, "x__log", map[string]any{"count": 3}, func(rpcMessage) any { return nil })
	if m.Error != nil {
		t.Fatal(m.raw)
	}
	var logs []string
	for _, n := range notes {
		if n.Method == "notifications/message" {
			logs = append(logs, string(n.Params))
		}
	}
	if len(logs) != 3 {
		t.Fatalf("%d log messages before the result, want 3: %q", len(logs), logs)
	}
	for i, l := range logs {
		if !strings.Contains(l, `"logger":"x/test"`) || !strings.Contains(l, fmt.Sprintf("message %d", i+1)) {
			t.Errorf("log %d: %s", i, l)
		}
	}
}

func TestCompletionIsRoutedByPromptAndTemplate(t *testing.T) {
	_, a := startInteractive(t, map[string]any{})
	for _, tc := range []struct {
		ref  map[string]any
		arg  map[string]any
		want string
	}{
		{map[string]any{"type": "ref/prompt", "name": "x__greet"}, map[string]any{"name": "name", "value": "al"}, `["alice","albert"]`},
		{map[string]any{"type": "ref/resource", "uri": "test://x/items/{id}"}, map[string]any{"name": "id", "value": "1"}, `["1","10"]`},
	} {
		var res struct {
			Completion struct {
				Values json.RawMessage `json:"values"`
			} `json:"completion"`
		}
		a.result("completion/complete", map[string]any{"ref": tc.ref, "argument": tc.arg}, &res)
		if string(res.Completion.Values) != tc.want {
			t.Errorf("%v: values %s, want %s", tc.ref, res.Completion.Values, tc.want)
		}
	}
	m, _ := a.call("completion/complete", map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": "nope"}, "argument": map[string]any{"name": "a", "value": ""}})
	if m.Error == nil || !strings.Contains(m.Error.Message, "unknown prompt") {
		t.Errorf("an unknown prompt: %s", m.raw)
	}
}
