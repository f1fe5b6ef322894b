package main

import (
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// What serve sends a remote: the SSE fallback and the configured headers.

func TestServeFallsBackToSSEAndSendsConfiguredHeaders(t *testing.T) {
	sseOnly := upstreamtest.Start(t, upstreamtest.Options{Name: "legacy", Transport: upstreamtest.SSE})
	base := strings.TrimSuffix(sseOnly.SSEURL, "/sse")
	catalog := strings.Replace(entityYAML("legacy",
		[2]string{"streamable-http", base + "/mcp"}, [2]string{"sse", sseOnly.SSEURL}),
		"        url: "+sseOnly.SSEURL+"\n",
		"        url: "+sseOnly.SSEURL+"\n        headers:\n          - name: X-Tenant\n            isRequired: true\n          - name: X-Api-Key\n            isSecret: true\n          - name: X-Fixed\n            value: fixed-value\n", 1)
	t.Setenv("BRIDGE_TEST_SECRET", "s3cret-value")
	a := startAgent(t, catalog, []string{"legacy"},
		"servers:\n  legacy:\n    headers:\n      X-Tenant: acme\n      X-Api-Key: ${BRIDGE_TEST_SECRET}\n")
	a.initialize("2025-11-25")
	if text, errm := a.toolText("legacy__echo", map[string]any{"text": "via sse"}); errm != nil || text != "via sse" {
		t.Fatalf("legacy__echo: %q %v", text, errm)
	}
	h := sseOnly.Stats().Headers
	if h["X-Tenant"] != "acme" || h["X-Api-Key"] != "s3cret-value" || h["X-Fixed"] != "fixed-value" {
		t.Errorf("headers the server received: %v", h)
	}
	if strings.Contains(a.stderr.String(), "s3cret-value") {
		t.Error("a secret header value appears in the log")
	}
	if !strings.Contains(a.stderr.String(), "trying SSE") {
		t.Errorf("no fallback logged:\n%s", a.stderr.String())
	}
}

func TestServeReportsAMissingRequiredHeader(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Options{Name: "needy", Transport: upstreamtest.StreamableHTTP})
	catalog := entityYAML("needy", [2]string{"streamable-http", up.StreamableURL}) + ""
	catalog = strings.Replace(catalog, "        url: "+up.StreamableURL+"\n",
		"        url: "+up.StreamableURL+"\n        headers:\n          - name: X-Tenant\n            isRequired: true\n", 1)
	a := startAgent(t, catalog, []string{"needy"}, "", "--startup-wait", "200ms")
	a.initialize("2025-11-25")
	if tools := listTools(a); len(tools) != 0 {
		t.Errorf("tools of a server that cannot connect: %v", keys(tools))
	}
	waitFor(t, func() bool {
		return strings.Contains(a.stderr.String(), "header X-Tenant is required: set servers.needy.headers.X-Tenant in the config")
	})
}
