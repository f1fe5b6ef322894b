package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// ProtocolVersion is the revision a session asks servers for: the last
// one with the initialize handshake.
const ProtocolVersion = "2025-11-25"

// ProtocolVersions are the revisions the bridge speaks, newest first; a
// server may answer initialize with any of them.
var ProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// An era is how a session speaks one generation of the protocol. The
// handshake revisions (2024-11-05 to 2025-11-25) start with initialize
// and keep a session the server may forget; the stateless revision
// (stateless.go) starts with discovery and carries its version and
// capabilities in each request instead. Calls, progress, auth and
// cancellation are the same in both, but for what Session.Call asks of
// era.modern.
type era interface {
	// start begins the protocol on an open transport and says what the
	// server offers. It runs again when the server has forgotten the
	// session.
	start(ctx context.Context, s *Session) (Capabilities, error)
	// modern reports the stateless era (stateless.go).
	modern() bool
}

// handshake is the era of initialize, notifications/initialized and a
// session the server keeps.
type handshake struct{}

func (handshake) modern() bool { return false }

func (handshake) start(ctx context.Context, s *Session) (Capabilities, error) {
	caps := s.remote.Capabilities
	if len(caps) == 0 {
		caps = json.RawMessage("{}")
	}
	params := map[string]any{
		"protocolVersion": ProtocolVersion,
		"capabilities":    caps,
		"clientInfo":      map[string]any{"name": s.remote.Name, "version": s.remote.Version},
	}
	raw, _ := json.Marshal(params)
	res, err := s.w.call(ctx, s.nextID.Add(1), "initialize", raw)
	if err != nil {
		return Capabilities{}, fmt.Errorf("initialize: %w", err)
	}
	var result struct {
		ProtocolVersion string             `json:"protocolVersion"`
		Capabilities    serverCapabilities `json:"capabilities"`
	}
	if err := json.Unmarshal(res, &result); err != nil {
		return Capabilities{}, fmt.Errorf("initialize: the answer is not an initialize result: %w", err)
	}
	if !slices.Contains(ProtocolVersions, result.ProtocolVersion) {
		return Capabilities{}, fmt.Errorf("initialize: the server speaks protocol %q, which this bridge does not", result.ProtocolVersion)
	}
	offered := result.Capabilities.offered()
	s.w.initialized(result.ProtocolVersion)
	if err := s.w.notify(ctx, "notifications/initialized", nil); err != nil {
		return Capabilities{}, fmt.Errorf("notifications/initialized: %w", err)
	}
	return offered, nil
}

// present reports whether a capability is declared: any value but null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// serverCapabilities is a server's capabilities object, as far as a
// session reads it.
type serverCapabilities struct {
	Tools       json.RawMessage `json:"tools"`
	Prompts     json.RawMessage `json:"prompts"`
	Resources   json.RawMessage `json:"resources"`
	Logging     json.RawMessage `json:"logging"`
	Completions json.RawMessage `json:"completions"`
	Tasks       struct {
		List     json.RawMessage `json:"list"`
		Cancel   json.RawMessage `json:"cancel"`
		Requests struct {
			Tools struct {
				Call json.RawMessage `json:"call"`
			} `json:"tools"`
		} `json:"requests"`
	} `json:"tasks"`
}

func (c serverCapabilities) offered() Capabilities {
	return Capabilities{
		Tools: present(c.Tools), Prompts: present(c.Prompts), Resources: present(c.Resources),
		Logging: present(c.Logging), Completions: present(c.Completions),
		TaskCalls: present(c.Tasks.Requests.Tools.Call), TaskList: present(c.Tasks.List), TaskCancel: present(c.Tasks.Cancel),
	}
}
