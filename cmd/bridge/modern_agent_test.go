package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// An agent of the stateless era (2026-07-28): no initialize, each request
// carrying its version and capabilities in _meta.

// modernMeta is the _meta of an agent of the stateless era.
func modernMeta(extra map[string]any) map[string]any {
	m := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "modern-e2e", "version": "1"},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// modernParams are params with the stateless era's _meta.
func modernParams(params map[string]any) map[string]any {
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = modernMeta(nil)
	return params
}

func TestAnAgentOfTheStatelessEraIsServedWithoutInitialize(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP, Interactive: true, Era: upstreamtest.ModernOnly})
	a := startAgent(t, entityYAML("x", [2]string{"streamable-http", up.StreamableURL}), []string{"x"}, "pins: warn\n")

	var discover struct {
		SupportedVersions []string                   `json:"supportedVersions"`
		Capabilities      map[string]json.RawMessage `json:"capabilities"`
		Meta              map[string]json.RawMessage `json:"_meta"`
	}
	a.result("server/discover", modernParams(nil), &discover)
	if len(discover.SupportedVersions) != 1 || discover.SupportedVersions[0] != "2026-07-28" || discover.Capabilities["tools"] == nil ||
		discover.Meta["io.modelcontextprotocol/serverInfo"] == nil {
		t.Errorf("server/discover: %+v", discover)
	}

	var list struct {
		Tools []tool `json:"tools"`
	}
	a.result("tools/list", modernParams(nil), &list)
	names := promptNames(list.Tools)
	if !strings.Contains(strings.Join(names, " "), "x__confirm") {
		t.Fatalf("tools/list without initialize: %v", names)
	}
	var echo json.RawMessage
	a.result("tools/call", modernParams(map[string]any{"name": "x__echo", "arguments": map[string]any{"text": "hi"}}), &echo)
	if firstText(t, echo) != "hi" {
		t.Errorf("echo: %s", echo)
	}

	// The server's input request reaches the agent as it is; the agent's
	// retry reaches the server under the server's name.
	var need struct {
		ResultType    string                     `json:"resultType"`
		InputRequests map[string]json.RawMessage `json:"inputRequests"`
		RequestState  string                     `json:"requestState"`
	}
	a.result("tools/call", modernParams(map[string]any{"name": "x__confirm", "arguments": map[string]any{}}), &need)
	if need.ResultType != "input_required" || need.InputRequests["confirm"] == nil || need.RequestState != "step-1" {
		t.Fatalf("confirm, first round: %+v", need)
	}
	var done json.RawMessage
	a.result("tools/call", modernParams(map[string]any{"name": "x__confirm", "arguments": map[string]any{},
		"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"ok": true}}},
		"requestState":   need.RequestState}), &done)
	if !strings.Contains(firstText(t, done), `confirmed: accept {"ok":true}, state "step-1"`) {
		t.Errorf("confirm, second round: %s", done)
	}
	if st := up.Stats(); st.Discovers == 0 || st.Initializes != 0 {
		t.Errorf("%d discovers, %d initializes: a server of both the agent's era is spoken to in it", st.Discovers, st.Initializes)
	}

	// subscriptions/listen: acknowledged, then changes tagged with its id.
	listen := a.request("subscriptions/listen", modernParams(map[string]any{"notifications": map[string]any{"toolsListChanged": true}}))
	ack := a.waitNotification("notifications/subscriptions/acknowledged", 10*time.Second)
	if !strings.Contains(string(ack.Params), `"io.modelcontextprotocol/subscriptionId":`+itoa(listen)) {
		t.Errorf("acknowledged: %s", ack.Params)
	}
	up.AddTool("late")
	changed := a.waitNotification("notifications/tools/list_changed", 20*time.Second)
	if !strings.Contains(string(changed.Params), `"io.modelcontextprotocol/subscriptionId":`+itoa(listen)) {
		t.Errorf("list_changed: %s", changed.Params)
	}
	a.notify("notifications/cancelled", map[string]any{"requestId": listen})

	// A version the bridge does not speak, and a request without the
	// capabilities, are refused as the spec says.
	m, _ := a.call("tools/list", map[string]any{"_meta": modernMeta(map[string]any{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})})
	if m.Error == nil || m.Error.Code != -32022 || !strings.Contains(string(m.Error.Data), `"2026-07-28"`) {
		t.Errorf("an unknown version: %s", m.raw)
	}
	meta := modernMeta(nil)
	delete(meta, "io.modelcontextprotocol/clientCapabilities")
	if m, _ := a.call("tools/list", map[string]any{"_meta": meta}); m.Error == nil || m.Error.Code != -32602 {
		t.Errorf("no capabilities: %s", m.raw)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestAServerOfTheHandshakeEraAsksAnAgentOfTheStatelessOne: the server's
// mid-call request reaches the agent as its call's input request, and the
// agent's retry brings the answer to the server, whose call went on.
func TestAServerOfTheHandshakeEraAsksAnAgentOfTheStatelessOne(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP, Interactive: true})
	a := startAgent(t, entityYAML("x", [2]string{"streamable-http", up.StreamableURL}), []string{"x"}, "")
	var need struct {
		ResultType    string `json:"resultType"`
		InputRequests map[string]struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		} `json:"inputRequests"`
		RequestState string `json:"requestState"`
	}
	a.result("tools/call", modernParams(map[string]any{"name": "x__ask", "arguments": map[string]any{}}), &need)
	q, ok := need.InputRequests["request"]
	if need.ResultType != "input_required" || !ok || q.Method != "elicitation/create" || !strings.Contains(string(q.Params), "Who are you?") || need.RequestState == "" {
		t.Fatalf("the server's request, as an input request: %+v", need)
	}
	var done json.RawMessage
	a.result("tools/call", modernParams(map[string]any{"name": "x__ask", "arguments": map[string]any{},
		"inputResponses": map[string]any{"request": map[string]any{"action": "accept", "content": map[string]any{"name": "ada"}}},
		"requestState":   need.RequestState}), &done)
	if !strings.Contains(firstText(t, done), `"name":"ada"`) {
		t.Errorf("the answer did not reach the server: %s", done)
	}
	if m, _ := a.call("tools/call", modernParams(map[string]any{"name": "x__ask", "arguments": map[string]any{},
		"inputResponses": map[string]any{"request": map[string]any{}}, "requestState": need.RequestState})); m.Error == nil {
		t.Errorf("an exchange answered twice: %s", m.raw)
	}

	// Without the capability in the request's _meta, the server is refused.
	params := map[string]any{"name": "x__ask", "arguments": map[string]any{}, "_meta": modernMeta(map[string]any{
		"io.modelcontextprotocol/clientCapabilities": map[string]any{}})}
	var refused json.RawMessage
	a.result("tools/call", params, &refused)
	if !strings.Contains(firstText(t, refused), "failed") {
		t.Errorf("without elicitation: %s", refused)
	}
}
