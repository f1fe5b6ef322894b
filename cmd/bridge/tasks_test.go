package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// Tasks (2025-11-25) through the bridge, against a real server (mcp-go)
// that runs them.

func startTasks(t *testing.T, caps map[string]any) *agent {
	t.Helper()
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "x", Transport: upstreamtest.StreamableHTTP, Tasks: true})
	a := startAgent(t, entityYAML("x", [2]string{"streamable-http", up.StreamableURL}), []string{"x"}, "")
	a.result("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": caps,
		"clientInfo": map[string]any{"name": "e2e", "version": "1"}}, nil)
	a.notify("notifications/initialized", map[string]any{})
	return a
}

func TestATaskRunsThroughTheBridgeUnderAnIDOfItsOwn(t *testing.T) {
	a := startTasks(t, map[string]any{"tasks": map[string]any{}})
	tools := listTools(a)
	if _, ok := tools["x__batch"]; !ok {
		t.Fatalf("x__batch, which runs only as a task, is withheld from an agent of tasks: %v", keys(tools))
	}
	var created struct {
		Task struct{ TaskID, Status string } `json:"task"`
	}
	a.result("tools/call", map[string]any{"name": "x__batch", "arguments": map[string]any{"ms": 50}, "task": map[string]any{"ttl": 60000}}, &created)
	if !strings.HasPrefix(created.Task.TaskID, "x~") || created.Task.Status == "" {
		t.Fatalf("the created task: %+v", created)
	}
	id := created.Task.TaskID
	var got struct{ TaskID, Status string }
	a.result("tasks/get", map[string]any{"taskId": id}, &got)
	if got.TaskID != id {
		t.Errorf("tasks/get: %+v", got)
	}
	var result struct {
		Content []struct{ Text string } `json:"content"`
		Meta    map[string]struct {
			TaskID string `json:"taskId"`
		} `json:"_meta"`
	}
	a.result("tasks/result", map[string]any{"taskId": id}, &result)
	if len(result.Content) != 1 || result.Content[0].Text != "batch done" {
		m, _ := a.call("tasks/result", map[string]any{"taskId": id})
		t.Errorf("tasks/result: %+v (%s)", result, m.raw)
	}
	if rel := result.Meta["io.modelcontextprotocol/related-task"]; rel.TaskID != "" && rel.TaskID != id {
		t.Errorf("the result's related task is %q, not %q", rel.TaskID, id)
	}
	var list struct {
		Tasks []struct{ TaskID string } `json:"tasks"`
	}
	a.result("tasks/list", map[string]any{}, &list)
	found := false
	for _, tk := range list.Tasks {
		found = found || tk.TaskID == id
	}
	if !found {
		t.Errorf("tasks/list: %+v", list)
	}
	if m, _ := a.call("tasks/get", map[string]any{"taskId": "nope~1"}); m.Error == nil || !strings.Contains(m.Error.Message, "unknown task") {
		t.Errorf("an unknown task: %s", m.raw)
	}
}

func TestAToolThatRunsOnlyAsATaskIsWithheldFromAnAgentWithoutTasks(t *testing.T) {
	a := startTasks(t, map[string]any{})
	tools := listTools(a)
	if _, ok := tools["x__batch"]; ok {
		t.Error("x__batch runs only as a task, and is listed to an agent that cannot do tasks")
	}
	if _, ok := tools["x__analyze"]; !ok {
		t.Errorf("x__analyze may run as a task or not, and is withheld: %v", keys(tools))
	}
	m, _ := a.call("tools/call", map[string]any{"name": "x__batch", "arguments": map[string]any{}})
	if m.Error == nil || !strings.Contains(m.Error.Message, "runs only as a task") {
		t.Errorf("calling it anyway: %s", m.raw)
	}
	var res json.RawMessage
	a.result("tools/call", map[string]any{"name": "x__analyze", "arguments": map[string]any{}}, &res)
	if firstText(t, res) != "analyzed" {
		t.Errorf("x__analyze, not as a task: %s", res)
	}
}
