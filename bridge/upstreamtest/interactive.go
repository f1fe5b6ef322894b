package upstreamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The interactive part of a server (Options.Interactive): tools that ask
// the client something (elicitation in form and URL mode, sampling,
// roots), a tool that logs, and completions for the greet prompt and the
// items template.

// interactiveOptions are the capabilities the interactive part declares.
func interactiveOptions() []server.ServerOption {
	return []server.ServerOption{
		server.WithLogging(),
		server.WithElicitation(),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completer{}),
		server.WithResourceCompletionProvider(completer{}),
	}
}

func (g *generation) interactiveTools() []server.ServerTool {
	return []server.ServerTool{
		{Tool: mcp.NewTool("ask",
			mcp.WithDescription("Asks the user for a name (form elicitation) and answers with what came back."),
		), Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := server.ServerFromContext(ctx).RequestElicitation(ctx, mcp.ElicitationRequest{
				Request: mcp.Request{Method: string(mcp.MethodElicitationCreate)},
				Params: mcp.ElicitationParams{Message: "Who are you?", RequestedSchema: map[string]any{
					"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}},
				}},
			})
			return answer("elicitation", res, err)
		}},
		{Tool: mcp.NewTool("ask_url",
			mcp.WithDescription("Sends the user to `url` (URL elicitation), then tells the client it is complete."),
			mcp.WithString("url", mcp.Required()),
		), Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			srv, session := server.ServerFromContext(ctx), server.ClientSessionFromContext(ctx)
			res, err := srv.RequestURLElicitation(ctx, session, "e-1", req.GetString("url", ""), "Please visit")
			if err == nil {
				err = srv.SendElicitationComplete(ctx, session, "e-1")
			}
			return answer("url elicitation", res, err)
		}},
		{Tool: mcp.NewTool("sample",
			mcp.WithDescription("Asks the client's model to say something (sampling)."),
		), Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := server.ServerFromContext(ctx).RequestSampling(ctx, mcp.CreateMessageRequest{
				Request: mcp.Request{Method: string(mcp.MethodSamplingCreateMessage)},
				CreateMessageParams: mcp.CreateMessageParams{MaxTokens: 10, Messages: []mcp.SamplingMessage{
					{Role: mcp.RoleUser, Content: mcp.NewTextContent("say hi")},
				}},
			})
			return answer("sampling", res, err)
		}},
		{Tool: mcp.NewTool("roots",
			mcp.WithDescription("Asks the client for its roots."),
		), Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := server.ServerFromContext(ctx).RequestRoots(ctx, mcp.ListRootsRequest{
				Request: mcp.Request{Method: string(mcp.MethodListRoots)},
			})
			return answer("roots", res, err)
		}},
		{Tool: mcp.NewTool("confirm",
			mcp.WithDescription("Asks the user to confirm (a multi round-trip request in the stateless era, elicitation before it) and says what came back."),
		), Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if answer := server.ElicitationResponse(req.Params.InputResponses, "confirm"); answer != nil {
				content, _ := json.Marshal(answer.Content)
				return mcp.NewToolResultText(fmt.Sprintf("confirmed: %s %s, state %q", answer.Action, content, req.Params.RequestState)), nil
			}
			return server.NewInputRequestBuilder("step-1").Elicit("confirm", mcp.ElicitationParams{
				Mode: mcp.ElicitationModeForm, Message: "Go ahead?",
				RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}}},
			}).ToolResult(), nil
		}},
		{Tool: mcp.Tool{
			Name:        "regional",
			Description: "Says which region it ran in; the region travels in a header too (x-mcp-header).",
			RawInputSchema: json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},` +
				`"query":{"type":"string"}},"required":["region"]}`),
		}, Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ran in " + req.GetString("region", "")), nil
		}},
		{Tool: mcp.NewTool("log",
			mcp.WithDescription("Logs `count` messages at info, on the call's own stream, then answers."),
			mcp.WithInteger("count", mcp.Required()),
		), Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			count := req.GetInt("count", 1)
			for i := range count {
				err := g.deliver(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, "test", fmt.Sprintf("message %d", i+1)))
				if err != nil {
					return nil, err
				}
			}
			return mcp.NewToolResultText(fmt.Sprintf("logged %d", count)), nil
		}},
	}
}

// answer is a tool result with the client's answer as JSON text, or the
// failure as an error result.
func answer(what string, res any, err error) (*mcp.CallToolResult, error) {
	if err != nil {
		return mcp.NewToolResultError(what + " failed: " + err.Error()), nil
	}
	data, _ := json.Marshal(res)
	return mcp.NewToolResultText(string(data)), nil
}

// completer completes the greet prompt's name and the items template's id.
type completer struct{}

func (completer) CompletePromptArgument(_ context.Context, prompt string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	if prompt != "greet" || arg.Name != "name" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	return &mcp.Completion{Values: withPrefix([]string{"alice", "albert", "bob"}, arg.Value)}, nil
}

func (completer) CompleteResourceArgument(_ context.Context, uri string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	if !strings.HasSuffix(uri, "/items/{id}") || arg.Name != "id" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	return &mcp.Completion{Values: withPrefix([]string{"1", "10", "2"}, arg.Value)}, nil
}

func withPrefix(all []string, prefix string) []string {
	out := []string{}
	for _, v := range all {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}
