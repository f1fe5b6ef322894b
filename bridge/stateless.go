package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mcp-bridge/bridge/bridge/client"
	"github.com/mcp-bridge/bridge/config/rawjson"
)

// The stateless era toward the agent (2026-07-28): an agent that sends
// server/discover, or requests whose _meta carry their protocol version,
// is served without initialize, each request by what it carries. An agent
// of either era may use the same stdio, per request.

// _meta keys of the stateless era.
const (
	metaServerInfo     = "io.modelcontextprotocol/serverInfo"
	metaSubscriptionID = "io.modelcontextprotocol/subscriptionId"
)

// Error codes of the stateless era.
const codeUnsupportedVersion = -32022

// requestMeta reads a request's _meta: its protocol version when it names
// one, and the client capabilities it carries.
func requestMeta(params json.RawMessage) (version string, caps json.RawMessage) {
	// Every message passes here, and a call's params can be megabytes:
	// look for the key before walking.
	if !bytes.Contains(params, []byte(client.MetaProtocolVersion)) {
		return "", nil
	}
	meta, ok, err := rawjson.Lookup(params, "_meta")
	if err != nil || !ok || len(meta) == 0 || meta[0] != '{' {
		return "", nil
	}
	version, _ = rawjson.LookupString(meta, client.MetaProtocolVersion)
	caps, _, _ = rawjson.Lookup(meta, client.MetaClientCapabilities)
	return version, caps
}

// modernRequest checks a request that names a protocol version in its
// _meta: stateless reports one of the stateless era, which is served so;
// refusal is the error to answer with (a version the bridge does not
// speak, required members missing). A version of the handshake era in
// _meta is no concern of the bridge's: the request is served as any other.
func modernRequest(version string, caps json.RawMessage) (stateless bool, refusal *client.RPCError) {
	switch {
	case version == "" || slices.Contains(client.ProtocolVersions, version):
		return false, nil
	case version != client.ModernProtocolVersion:
		data, _ := json.Marshal(map[string]any{"supported": supportedVersions(), "requested": version})
		return true, &client.RPCError{Code: codeUnsupportedVersion, Message: "Unsupported protocol version " + version, Data: data}
	case len(caps) == 0 || caps[0] != '{':
		return true, &client.RPCError{Code: codeInvalidParams, Message: "params._meta." + client.MetaClientCapabilities + " is missing"}
	}
	return true, nil
}

// supportedVersions are every revision the bridge speaks with an agent.
func supportedVersions() []string {
	return append([]string{client.ModernProtocolVersion}, client.ProtocolVersions...)
}

// discoverResult answers server/discover.
func (s *stdioServer) discoverResult() json.RawMessage {
	out, _ := json.Marshal(map[string]any{
		"resultType":        "complete",
		"supportedVersions": []string{client.ModernProtocolVersion},
		"capabilities":      serverCapabilities(),
		"_meta":             map[string]any{metaServerInfo: map[string]any{"name": "mcp-bridge", "version": s.b.opts.Version}},
		"instructions":      instructions,
	})
	return out
}

// listenRoute holds an agent's subscriptions/listen open: it acknowledges
// the filter, subscribes upstream to the resources named, passes the
// changes on tagged with the request's id (changes.go) and, when the
// bridge shuts down, ends the subscription with a result.
func listenRoute(ctx context.Context, s *stdioServer, m message) (json.RawMessage, error) {
	var p struct {
		Notifications struct {
			Tools     bool     `json:"toolsListChanged"`
			Prompts   bool     `json:"promptsListChanged"`
			Resources bool     `json:"resourcesListChanged"`
			URIs      []string `json:"resourceSubscriptions"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		return nil, &routeError{codeInvalidParams, "subscriptions/listen: " + err.Error()}
	}
	n := p.Notifications
	sub := &subscription{id: m.ID, kinds: map[string]bool{KindTools: n.Tools, KindPrompts: n.Prompts, KindResources: n.Resources}, uris: n.URIs}
	ack, _ := json.Marshal(map[string]any{"notifications": n})
	s.writeNotification("notifications/subscriptions/acknowledged", tagged(ack, m.ID))
	s.mu.Lock()
	s.subscriptions = append(s.subscriptions, sub)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.subscriptions = slices.DeleteFunc(s.subscriptions, func(o *subscription) bool { return o == sub })
		s.mu.Unlock()
	}()
	s.b.WaitConnected(ctx)
	for _, uri := range n.URIs {
		s.subscribeUpstream(ctx, "resources/subscribe", uri)
	}
	<-ctx.Done()
	for _, uri := range n.URIs {
		s.subscribeUpstream(context.WithoutCancel(ctx), "resources/unsubscribe", uri)
	}
	if errors.Is(context.Cause(ctx), ErrClosed) {
		return tagged(json.RawMessage(`{"resultType":"complete"}`), m.ID), nil
	}
	return nil, context.Cause(ctx)
}

// subscribeUpstream subscribes to, or unsubscribes from, a resource at the
// server that owns it; a failure is logged, and costs only that resource.
func (s *stdioServer) subscribeUpstream(ctx context.Context, method, uri string) {
	server, ok := s.b.Registry.ResourceServer(uri)
	if !ok {
		if server, ok = s.b.onlyResourceServer(); !ok {
			s.log.Warn("subscriptions/listen: no enabled server offers the resource", "uri", uri)
			return
		}
	}
	params, _ := json.Marshal(map[string]string{"uri": uri})
	if _, err := s.forward(ctx, server, method, params); err != nil {
		s.log.Warn(fmt.Sprintf("subscriptions/listen: %s failed", method), "uri", uri, "err", err)
	}
}
