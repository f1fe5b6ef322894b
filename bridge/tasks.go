package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// Tasks (2025-11-25): a task-augmented tools/call goes to the tool's server
// like any call, and the task it creates is known to the agent by an id of
// the bridge's, "<server>~<task id>", so that tasks/get, tasks/result and
// tasks/cancel find their server and ids of two servers never collide.
// tasks/list merges every server's. A tool that runs only as a task is
// withheld from an agent that did not declare tasks (policy.go). The
// tasks extension of 2026-07-28 (resultType "task", tasks/get polling,
// tasks/update) passes between an agent and a server that both declare
// it, under the same ids; the bridge declares it to no server itself.

// taskSeparator joins a server ID and its task id; server IDs never hold
// it.
const taskSeparator = "~"

// metaRelatedTask is the _meta key of a task's result naming its task.
const metaRelatedTask = "io.modelcontextprotocol/related-task"

// taskRoute forwards tasks/get, tasks/result and tasks/cancel to the
// task's server, under its own id.
func taskRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	id, err := rawjson.LookupString(m.Params, "taskId")
	if err != nil || id == "" {
		return nil, &routeError{codeInvalidParams, m.Method + ": params.taskId is missing"}
	}
	server, own, ok := strings.Cut(id, taskSeparator)
	if _, known := s.b.Upstream(server); !ok || !known {
		return nil, &routeError{codeInvalidParams, fmt.Sprintf("%s: unknown task %q", m.Method, id)}
	}
	params, err := rawjson.SetString(m.Params, "taskId", own)
	if err != nil {
		return nil, &routeError{codeInvalidParams, m.Method + ": params is not an object"}
	}
	res, err := s.forward(ctx, server, m.Method, params)
	if err != nil {
		return nil, err
	}
	return renameTasks(res, server), nil
}

// tasksListRoute answers tasks/list with every server's tasks, each under
// the bridge's id for it. One page holds them all.
func tasksListRoute(ctx context.Context, s *stdioServer, _ message) (json.RawMessage, error) {
	s.b.WaitConnected(ctx)
	var (
		mu    sync.Mutex
		tasks []json.RawMessage
		wg    sync.WaitGroup
	)
	for _, u := range s.b.Upstreams() {
		sess, err := u.current()
		if err != nil || !sess.Capabilities().TaskList {
			continue
		}
		wg.Go(func() {
			items, err := sess.List(ctx, "tasks/list", "tasks")
			if err != nil {
				u.log.Warn("tasks/list failed", "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, t := range items {
				tasks = append(tasks, renameTasks(t, u.ID()))
			}
		})
	}
	wg.Wait()
	return listResult("tasks", tasks), nil
}

// createsTask reports whether a tools/call made a task: it asked for one
// (2025-11-25), or a server of the stateless era answered with one (the
// 2026-07-28 extension's resultType "task").
func createsTask(params, res json.RawMessage, stateless bool) bool {
	if _, asked, _ := rawjson.Lookup(params, "task"); asked {
		return true
	}
	if !stateless {
		return false // no need to walk a result that can be megabytes
	}
	kind, _ := rawjson.LookupString(res, "resultType")
	return kind == "task"
}

// renameTasks gives the task ids in a server's message the bridge's
// names: a Task's own taskId, a created task's (task.taskId), and a
// result's related task (_meta).
func renameTasks(raw json.RawMessage, server string) json.RawMessage {
	out := raw
	if id, err := rawjson.LookupString(out, "taskId"); err == nil && id != "" {
		out = setOr(out, "taskId", server+taskSeparator+id)
	}
	if task, ok, _ := rawjson.Lookup(out, "task"); ok && len(task) > 0 && task[0] == '{' {
		if renamed, err := rawjson.SetMember(out, "task", renameTasks(task, server)); err == nil {
			out = renamed
		}
	}
	if meta, ok, _ := rawjson.Lookup(out, "_meta"); ok && len(meta) > 0 && meta[0] == '{' {
		if related, ok, _ := rawjson.Lookup(meta, metaRelatedTask); ok && len(related) > 0 && related[0] == '{' {
			if meta, err := rawjson.SetMember(meta, metaRelatedTask, renameTasks(related, server)); err == nil {
				out = setMemberOr(out, "_meta", meta)
			}
		}
	}
	return out
}

func setOr(obj json.RawMessage, name, value string) json.RawMessage {
	if out, err := rawjson.SetString(obj, name, value); err == nil {
		return out
	}
	return obj
}

func setMemberOr(obj json.RawMessage, name string, value json.RawMessage) json.RawMessage {
	if out, err := rawjson.SetMember(obj, name, value); err == nil {
		return out
	}
	return obj
}
