package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcp-bridge/bridge/config/rawjson"
)

// The stateless era (2026-07-28): no handshake and no session. Every
// request carries the protocol version, the client's capabilities and its
// identity in _meta, and over HTTP the Mcp-Method and Mcp-Name headers; a
// server that needs input answers "input_required" and is asked again with
// the answers (multi round-trip requests); change notifications come on a
// subscriptions/listen stream. Names and keys are the spec's
// (docs/specification/2026-07-28: basic/versioning, basic/transports/
// streamable-http, basic/patterns/mrtr, basic/patterns/subscriptions).

// ModernProtocolVersion is the stateless revision the bridge speaks.
const ModernProtocolVersion = "2026-07-28"

// Eras a session speaks, as Session.Era and Remote.Era name them.
const (
	EraModern = "modern"
	EraLegacy = "legacy"
)

// _meta keys of the stateless era; the first two are the ones a server
// of it reads a request's era and capabilities from.
const (
	MetaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	MetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaLogLevel           = "io.modelcontextprotocol/logLevel"
)

// Results of the multi round-trip pattern.
const (
	resultInputRequired = "input_required"
	// maxInputRounds bounds how often one request is answered with
	// input_required and asked again.
	maxInputRounds = 10
)

// probeTimeout bounds server/discover to a server that may be of the
// handshake era and say nothing to it.
const probeTimeout = 5 * time.Second

// errLegacyServer: server/discover was not answered as a modern server
// answers it.
var errLegacyServer = errors.New("the server does not speak the stateless protocol")

// stateless is the era of 2026-07-28.
type stateless struct{}

func (stateless) modern() bool { return true }

// start probes with server/discover, as the spec's backward compatibility
// asks of a client of both eras: a modern answer, or else errLegacyServer.
// A 401 is passed on, so that the token is renewed and the probe made
// again.
func (stateless) start(ctx context.Context, s *Session) (Capabilities, error) {
	s.w.modernize(ModernProtocolVersion)
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	params, _ := s.withMeta(nil)
	res, err := s.w.call(pctx, s.nextID.Add(1), "server/discover", params)
	switch {
	case isUnauthorized(err):
		return Capabilities{}, err
	case err != nil && ctx.Err() == nil && !connectionBroken(err):
		s.w.modernize("")
		return Capabilities{}, fmt.Errorf("%w: server/discover: %w", errLegacyServer, err)
	case err != nil:
		return Capabilities{}, fmt.Errorf("server/discover: %w", err)
	}
	var result struct {
		SupportedVersions []string           `json:"supportedVersions"`
		Capabilities      serverCapabilities `json:"capabilities"`
	}
	if json.Unmarshal(res, &result) != nil || !slices.Contains(result.SupportedVersions, ModernProtocolVersion) {
		s.w.modernize("")
		return Capabilities{}, fmt.Errorf("%w: server/discover offers %q", errLegacyServer, result.SupportedVersions)
	}
	return result.Capabilities.offered(), nil
}

// withMeta is params with the stateless era's _meta members set: the
// version, the client's capabilities and identity, and the log level the
// caller set. A request of an agent of the stateless era keeps the
// capabilities and log level it carries: they are its own, for this
// request. Every other member stays.
func (s *Session) withMeta(params json.RawMessage) (json.RawMessage, error) {
	if len(strings.TrimSpace(string(params))) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	meta, ok, err := rawjson.Lookup(params, "_meta")
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if !ok || len(meta) == 0 || meta[0] != '{' {
		meta = json.RawMessage("{}")
	}
	caps := s.remote.Capabilities
	if len(caps) == 0 {
		caps = json.RawMessage("{}")
	}
	info, _ := json.Marshal(map[string]string{"name": s.remote.Name, "version": s.remote.Version})
	version, _ := json.Marshal(ModernProtocolVersion)
	set := [][2][]byte{{[]byte(MetaProtocolVersion), version}, {[]byte(metaClientInfo), info}}
	if _, own, _ := rawjson.Lookup(meta, MetaClientCapabilities); !own {
		set = append(set, [2][]byte{[]byte(MetaClientCapabilities), caps})
	}
	_, ownLevel, _ := rawjson.Lookup(meta, metaLogLevel)
	if level, _ := s.logLevel.Load().(string); level != "" && !ownLevel {
		l, _ := json.Marshal(level)
		set = append(set, [2][]byte{[]byte(metaLogLevel), l})
	}
	for _, kv := range set {
		if meta, err = rawjson.SetMember(meta, string(kv[0]), kv[1]); err != nil {
			return nil, fmt.Errorf("params._meta: %w", err)
		}
	}
	return rawjson.SetMember(params, "_meta", meta)
}

// withoutStatelessMeta is params without the _meta members of the
// stateless era, for a server of the handshake era: an agent of the
// stateless era sends them, and a server of both eras would take a request
// whose _meta names another version than its session for a mistake.
func withoutStatelessMeta(params json.RawMessage) (json.RawMessage, error) {
	// A call's params can be megabytes: look for the keys before walking.
	if !bytes.Contains(params, []byte("io.modelcontextprotocol/")) {
		return params, nil
	}
	meta, ok, err := rawjson.Lookup(params, "_meta")
	if err != nil || !ok || len(meta) == 0 || meta[0] != '{' {
		return params, nil
	}
	trimmed := meta
	for _, key := range []string{MetaProtocolVersion, MetaClientCapabilities, metaClientInfo, metaLogLevel} {
		if trimmed, err = rawjson.DeleteMember(trimmed, key); err != nil {
			return nil, fmt.Errorf("params._meta: %w", err)
		}
	}
	if len(trimmed) == len(meta) {
		return params, nil
	}
	return rawjson.SetMember(params, "_meta", trimmed)
}

// modernLocally answers what the stateless era does another way: ping is
// gone, the log level rides on each request, and resource subscriptions
// are part of the subscriptions/listen stream. handled is false for
// everything else.
func (s *Session) modernLocally(method string, params json.RawMessage) (result json.RawMessage, handled bool, err error) {
	switch method {
	case "ping":
		return json.RawMessage("{}"), true, nil
	case "logging/setLevel":
		level, err := rawjson.LookupString(params, "level")
		if err != nil || level == "" {
			return nil, true, &RPCError{Code: -32602, Message: "logging/setLevel: params.level is missing"}
		}
		s.logLevel.Store(level)
		return json.RawMessage("{}"), true, nil
	case "resources/subscribe", "resources/unsubscribe":
		uri, err := rawjson.LookupString(params, "uri")
		if err != nil || uri == "" {
			return nil, true, &RPCError{Code: -32602, Message: method + ": params.uri is missing"}
		}
		s.subs.set(uri, method == "resources/subscribe")
		return json.RawMessage("{}"), true, nil
	}
	return nil, false, nil
}

// fulfil plays the client's part of multi round-trip requests: while the
// server answers input_required, each of its input requests goes to the
// Handler (that is, to the agent), and the request is sent again with the
// answers and the server's requestState, at most maxInputRounds times.
func (s *Session) fulfil(ctx context.Context, params, res json.RawMessage, again func(params json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	for round := 0; ; round++ {
		kind, _ := rawjson.LookupString(res, "resultType")
		if kind != resultInputRequired {
			return res, nil // complete, or a server that names no resultType
		}
		if round == maxInputRounds {
			return nil, fmt.Errorf("the server asked for input %d times for one request; giving up", maxInputRounds)
		}
		responses, err := s.inputResponses(ctx, res)
		if err != nil {
			return nil, err
		}
		retry, err := rawjson.SetMember(params, "inputResponses", responses)
		if err == nil {
			if state, ok, _ := rawjson.Lookup(res, "requestState"); ok {
				retry, err = rawjson.SetMember(retry, "requestState", state)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		if res, err = again(retry); err != nil {
			return nil, err
		}
	}
}

// inputResponses asks the Handler each of an input_required result's
// input requests, in turn, and returns the answers under their keys.
func (s *Session) inputResponses(ctx context.Context, res json.RawMessage) (json.RawMessage, error) {
	requests, ok, err := rawjson.Lookup(res, "inputRequests")
	if err != nil || !ok || string(requests) == "null" {
		return json.RawMessage("{}"), nil // state alone: ask again at once
	}
	ms, err := rawjson.Members(requests)
	if err != nil {
		return nil, fmt.Errorf("inputRequests: %w", err)
	}
	out := []byte("{")
	for i, m := range ms {
		request := requests[m.Start:m.End]
		method, _ := rawjson.LookupString(request, "method")
		params, _, _ := rawjson.Lookup(request, "params")
		answer, err := s.handler.Request(ctx, method, params)
		if err != nil {
			return nil, fmt.Errorf("the server asked %s, which could not be answered: %w", method, err)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(append(append(out, m.Key...), ':'), answer...)
	}
	return append(out, '}'), nil
}

// requestHeaders are the stateless era's headers for a request: its
// method, and the name or URI it is about.
func requestHeaders(method string, params json.RawMessage) map[string]string {
	h := map[string]string{"Mcp-Method": method}
	key := ""
	switch method {
	case "tools/call", "prompts/get":
		key = "name"
	case "resources/read":
		key = "uri"
	}
	if key != "" {
		if name, err := rawjson.LookupString(params, key); err == nil && name != "" {
			h["Mcp-Name"] = headerValue(name)
		}
	}
	return h
}

// headerValue is v as a header value: as it is when it is plain visible
// ASCII, else in the spec's Base64 sentinel form, which is also what a
// value that looks like one gets.
func headerValue(v string) string {
	plain := v == strings.TrimSpace(v) && !(strings.HasPrefix(v, "=?base64?") && strings.HasSuffix(v, "?="))
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			plain = false
			break
		}
	}
	if plain {
		return v
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}
