package upstreamtest

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The tasks part of a server (Options.Tasks, protocol 2025-11-25): a tool
// that must run as a task and one that may.

func taskOptions() []server.ServerOption {
	return []server.ServerOption{server.WithTaskCapabilities(true, true, true)}
}

func (g *generation) addTaskTools(s *server.MCPServer) {
	s.AddTool(mcp.NewTool("batch",
		mcp.WithDescription("Runs as a task only: waits `ms` milliseconds (default 100), then answers."),
		mcp.WithTaskSupport(mcp.TaskSupportRequired),
		mcp.WithNumber("ms"),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// Not on the context: mcp-go ends it with the POST that created
		// the task, which is no reason for the task to end.
		time.Sleep(time.Duration(req.GetFloat("ms", 100)) * time.Millisecond)
		return mcp.NewToolResultText("batch done"), nil
	})
	s.AddTool(mcp.NewTool("analyze",
		mcp.WithDescription("Runs as a task or not, as the client asks."),
		mcp.WithTaskSupport(mcp.TaskSupportOptional),
	), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("analyzed"), nil
	})
}
