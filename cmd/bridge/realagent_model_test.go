package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// modelStandIn plays a model API on loopback: Gemini's (generateContent,
// streamGenerateContent) or OpenAI's Responses API. Its first answer calls
// the tool whose name ends in probeTool, with the ticket id nonce; once a
// request carries that call's result, it keeps the result and answers with
// a final text.
type modelStandIn struct {
	*httptest.Server
	nonce string

	mu       sync.Mutex
	declared []string // the tool names the agent declared, first seen
	toolName string   // the one of them that is the probe
	result   string   // the strings of the function result the agent sent back
	requests []string // what was asked, for a failure's log
}

// finalText is the stand-in's last answer.
const finalText = "The ticket is open."

func startModel(t *testing.T, nonce string, api func(*modelStandIn, http.ResponseWriter, *http.Request, []byte)) *modelStandIn {
	m := &modelStandIn{nonce: nonce}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.requests = append(m.requests, fmt.Sprintf("%s %s (%d bytes)", r.Method, r.URL.RequestURI(), len(body)))
		m.mu.Unlock()
		api(m, w, r, body)
	}))
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("the model stand-in was asked:\n%s", strings.Join(m.seen().requests, "\n"))
		}
	})
	return m
}

// standInSeen is what the stand-in has seen so far.
type standInSeen struct {
	declared         []string
	toolName, result string
	requests         []string
}

func (m *modelStandIn) seen() standInSeen {
	m.mu.Lock()
	defer m.mu.Unlock()
	return standInSeen{declared: slices.Clone(m.declared), toolName: m.toolName, result: m.result, requests: slices.Clone(m.requests)}
}

// see notes the tool names of one request; the probe is the one whose
// name ends in probeTool (agents prefix and rewrite names).
func (m *modelStandIn) see(names []string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.declared == nil && len(names) > 0 {
		m.declared = names
	}
	for _, n := range names {
		if strings.HasSuffix(n, probeTool) {
			m.toolName = n
		}
	}
	return m.toolName
}

// keep notes the function result, the first one only.
func (m *modelStandIn) keep(result json.RawMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.result == "" {
		m.result = strings.Join(stringsIn(result), "\n")
	}
}

// stringsIn is every string in a JSON value, and in each string that is
// itself JSON, as agents wrap a tool's result in layers of their own.
func stringsIn(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
			var inner any
			if json.Unmarshal([]byte(v), &inner) == nil {
				walk(inner)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// geminiRequest is what the stand-in reads of a generateContent request.
type geminiRequest struct {
	Contents []struct {
		Parts []map[string]json.RawMessage `json:"parts"`
	} `json:"contents"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
}

// geminiAPI answers POST /v1beta/models/<model>:<method>, with Server-Sent
// Events for streamGenerateContent.
func geminiAPI(m *modelStandIn, w http.ResponseWriter, r *http.Request, body []byte) {
	_, method, _ := strings.Cut(r.URL.Path, ":")
	if method == "countTokens" {
		writeJSON(w, map[string]any{"totalTokens": 10})
		return
	}
	var req geminiRequest
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil || (method != "generateContent" && method != "streamGenerateContent") {
		http.Error(w, "the stand-in does not serve this", http.StatusNotFound)
		return
	}
	answer := map[string]any{
		"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": m.geminiParts(req)}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": map[string]any{"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
		"modelVersion":  "stand-in",
	}
	if method == "generateContent" {
		writeJSON(w, answer)
		return
	}
	data, _ := json.Marshal(answer)
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprintf(w, "data: %s\r\n\r\n", data)
}

// geminiParts is the model's turn: the tool call, then the final text once
// the call's result came back.
func (m *modelStandIn) geminiParts(req geminiRequest) []any {
	var names []string
	for _, tool := range req.Tools {
		for _, d := range tool.FunctionDeclarations {
			names = append(names, d.Name)
		}
	}
	tool := m.see(names)
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			if res, ok := p["functionResponse"]; ok {
				m.keep(res)
				return []any{map[string]any{"text": finalText}}
			}
		}
	}
	if tool == "" {
		return []any{map[string]any{"text": "There is no ticket tool."}}
	}
	return []any{map[string]any{"functionCall": map[string]any{"name": tool, "args": map[string]any{"id": m.nonce}}}}
}

// responsesRequest is what the stand-in reads of a Responses API request.
type responsesRequest struct {
	Input []map[string]json.RawMessage `json:"input"`
	Tools []json.RawMessage            `json:"tools"`
}

// responsesAPI answers POST /v1/responses with its stream of events, and
// GET /v1/models with no models.
func responsesAPI(m *modelStandIn, w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		writeJSON(w, map[string]any{"object": "list", "data": []any{}, "models": []any{}})
		return
	}
	var req responsesRequest
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/responses") || json.Unmarshal(body, &req) != nil {
		http.Error(w, "the stand-in does not serve this", http.StatusNotFound)
		return
	}
	tools := map[string]responsesTool{}
	for _, raw := range req.Tools {
		for _, tool := range declaredTools(raw, "") {
			tools[tool.qualified()] = tool
		}
	}
	tool := tools[m.see(slices.Sorted(maps.Keys(tools)))]
	item := map[string]any{"type": "function_call", "id": "fc_probe", "call_id": "call_probe", "name": tool.Name,
		"arguments": fmt.Sprintf(`{"id":%q}`, m.nonce)}
	if tool.Namespace != "" {
		item["namespace"] = tool.Namespace
	}
	for _, in := range req.Input {
		if string(in["type"]) == `"function_call_output"` {
			m.keep(in["output"])
			item = assistantMessage(finalText)
		}
	}
	if tool.Name == "" && item["type"] == "function_call" {
		item = assistantMessage("There is no ticket tool.")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	event := func(v map[string]any) {
		data, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", v["type"], data)
	}
	event(map[string]any{"type": "response.created", "response": map[string]any{"id": "resp_stand_in"}})
	event(map[string]any{"type": "response.output_item.done", "output_index": 0, "item": item})
	event(map[string]any{"type": "response.completed", "response": map[string]any{"id": "resp_stand_in", "usage": map[string]any{
		"input_tokens": 10, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": 5, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": 15}}})
}

func assistantMessage(text string) map[string]any {
	return map[string]any{"type": "message", "role": "assistant", "id": "msg_stand_in",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// responsesTool is a function tool of a Responses API request, and the
// namespace that groups it (Codex groups an MCP server's tools under
// mcp__<entry>), which a call of it names.
type responsesTool struct{ Namespace, Name string }

// qualified is the name Codex shows: mcp__<entry>__<server>__<tool>.
func (t responsesTool) qualified() string {
	if t.Namespace == "" {
		return t.Name
	}
	return t.Namespace + "__" + t.Name
}

// declaredTools are the function tools one entry of a request's tools
// declares: itself, or those of a namespace.
func declaredTools(raw json.RawMessage, namespace string) []responsesTool {
	var tool struct {
		Type  string            `json:"type"`
		Name  string            `json:"name"`
		Tools []json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(raw, &tool) != nil {
		return nil
	}
	if tool.Type != "namespace" {
		return []responsesTool{{Namespace: namespace, Name: tool.Name}}
	}
	var tools []responsesTool
	for _, inner := range tool.Tools {
		tools = append(tools, declaredTools(inner, tool.Name)...)
	}
	return tools
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
