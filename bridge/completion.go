package bridge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// noCompletions is the answer for a server that completes nothing.
var noCompletions = json.RawMessage(`{"completion":{"values":[],"hasMore":false}}`)

// completeRoute forwards completion/complete to the server of the prompt
// (by its exposed name, sent on under the server's own) or of the
// resource template (by its URI template). The bridge cannot know at
// initialize whether any server completes, so it always says it does, and
// answers for one that does not with no values.
func completeRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	ref, ok, err := rawjson.Lookup(m.Params, "ref")
	if err != nil || !ok {
		return nil, &routeError{codeInvalidParams, "completion/complete: params.ref is missing"}
	}
	kind, _ := rawjson.LookupString(ref, "type")
	var server string
	params := m.Params
	switch kind {
	case "ref/prompt":
		name, _ := rawjson.LookupString(ref, "name")
		e, ok := s.b.Registry.Prompt(name)
		if !ok && s.b.WaitConnected(ctx) {
			e, ok = s.b.Registry.Prompt(name)
		}
		if !ok {
			return nil, &routeError{codeInvalidParams, fmt.Sprintf("completion/complete: unknown prompt %q", name)}
		}
		server = e.Server
		if ref, err = rawjson.SetString(ref, "name", e.Original); err == nil {
			params, err = rawjson.SetMember(m.Params, "ref", ref)
		}
		if err != nil {
			return nil, &routeError{codeInvalidParams, "completion/complete: params.ref is not an object"}
		}
	case "ref/resource":
		uri, _ := rawjson.LookupString(ref, "uri")
		if server, ok = s.b.Registry.TemplateServer(uri); !ok && s.b.WaitConnected(ctx) {
			server, ok = s.b.Registry.TemplateServer(uri)
		}
		if !ok {
			return nil, &routeError{codeResourceNotFound, fmt.Sprintf("completion/complete: no enabled server offers the resource template %q", uri)}
		}
	default:
		return nil, &routeError{codeInvalidParams, fmt.Sprintf("completion/complete: params.ref.type %q is neither ref/prompt nor ref/resource", kind)}
	}
	if u, ok := s.b.Upstream(server); ok {
		if sess, err := u.current(); err == nil && !sess.Capabilities().Completions {
			return noCompletions, nil
		}
	}
	return s.forward(ctx, server, m.Method, params)
}
