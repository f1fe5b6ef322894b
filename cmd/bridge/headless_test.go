package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// TestServeLogsInWithClientCredentialsItself: a server used without a
// person (grant: client_credentials) needs no "bridge login": serve gets
// its token from the real authorization server itself, with the client's
// secret from the environment, and the agent gets the server's tools and
// calls them. No browser opens, and the token is in no answer or log.
// With a wrong secret the server is offered as its login tool, and the
// log says why.
func TestServeLogsInWithClientCredentialsItself(t *testing.T) {
	// The startup wait is far longer than this test's bounds: the first
	// list waits for the login.
	for _, tc := range []struct {
		name, secret string
		works        bool
	}{
		{"with its secret", oauthtest.Secret(oauthtest.MachineClientID), true},
		{"with a wrong secret", "wrong", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := oauthtest.Start(t, oauthtest.Options{})
			up := upstreamtest.Start(t, upstreamtest.Options{Name: "robot", Transport: upstreamtest.StreamableHTTP})
			prot := as.Protect(t, up.StreamableURL, nil)
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(entityYAML("robot", [2]string{"streamable-http", prot.URL})), 0o644))
			cfg := filepath.Join(dir, "config.yaml")
			must(t, os.WriteFile(cfg, []byte("catalog:\n  files: [catalog.yaml]\nenabled: [robot]\ntoken_store: file\n"+
				"servers:\n  robot:\n    client_id: "+oauthtest.MachineClientID+"\n    client_secret_env: ROBOT_SECRET\n    grant: client_credentials\n"), 0o644))
			t.Setenv("ROBOT_SECRET", tc.secret)
			marker := filepath.Join(dir, "browser-opened")
			t.Setenv("BROWSER", "touch "+marker)

			a := spawnAgent(t, cfg, state, "--startup-wait", "2m")
			a.initialize("2025-11-25")
			// The login is part of connecting: the first list waits for it.
			tools := keys(listTools(a))
			if tc.works {
				if !slices.Contains(tools, "robot__echo") {
					t.Fatalf("the first list: %v\n%s", tools, a.stderr.String())
				}
				if text, errm := a.toolText("robot__echo", map[string]any{"text": "unattended"}); errm != nil || text != "unattended" {
					t.Fatalf("robot__echo: %q %v (tools %v)\n%s", text, errm, tools, a.stderr.String())
				}
				origin, _ := auth.Origin(prot.URL)
				tok, err := (&auth.Tokens{Secrets: auth.NewFile(state, nil)}).Get(context.Background(), "robot", origin)
				must(t, err)
				if tok.Grant != auth.GrantClientCredentials || strings.Contains(a.stderr.String(), tok.AccessToken) {
					t.Errorf("the token kept is %q's, or it is in the log", tok.Grant)
				}
			} else {
				if !slices.Equal(tools, []string{"robot__login"}) {
					t.Fatalf("tools with a wrong secret: %v; want the login tool", tools)
				}
				// The log says why (read from the bridge's stderr as it comes).
				a.waitLog("the login without a person failed")
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("serve opened a browser")
			}
		})
	}
}
