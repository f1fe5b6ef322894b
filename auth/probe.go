package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// The probe's requests: the handshake, then a first ordinary request, for
// a server that lets the handshake through without a token and asks for
// one only from the next request on.
const (
	probeInitialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-bridge","version":"probe"}}}`
	probeInitialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	probeList        = `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`
)

// Probe talks to an MCP server without a token and returns the challenge
// of its first 401, or ErrNoAuthNeeded. It sends initialize, and when that
// is answered, the initialized notification and a tools/list on the
// session it opened, which it then ends.
func Probe(ctx context.Context, client *http.Client, serverURL string) (*Challenge, error) {
	res, err := probePost(ctx, client, serverURL, "", probeInitialize)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusUnauthorized {
		return ParseChallenge(res.Header.Values("WWW-Authenticate")), nil
	}
	if res.StatusCode/100 != 2 {
		return nil, ErrNoAuthNeeded
	}
	session := res.Header.Get("Mcp-Session-Id")
	defer probeEnd(ctx, client, serverURL, session)
	for _, body := range []string{probeInitialized, probeList} {
		res, err := probePost(ctx, client, serverURL, session, body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode == http.StatusUnauthorized {
			return ParseChallenge(res.Header.Values("WWW-Authenticate")), nil
		}
	}
	return nil, ErrNoAuthNeeded
}

// probePost sends one of the probe's messages; only the answer's status
// and headers are read.
func probePost(ctx context.Context, client *http.Client, serverURL, session, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", serverURL, err)
	}
	res.Body.Close()
	return res, nil
}

// probeEnd ends the session the probe opened, if the server opened one.
func probeEnd(ctx context.Context, client *http.Client, serverURL, session string) {
	if session == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, serverURL, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", session)
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
	}
}
