package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/config"
)

// Six "bridge login"s for six servers run at once, each a process of its
// own with the token file as the store, and six "bridge enable"s after
// them: every token and every server is kept.
func TestParallelLoginsAndEnablesLoseNothing(t *testing.T) {
	o := newOAuthSetup(t, oauthtest.Options{})
	const n = 6
	var catalog strings.Builder
	var ids []string
	for i := range n {
		id := fmt.Sprintf("sso%d", i)
		ids = append(ids, id)
		catalog.WriteString(annotated(entityYAML(id, [2]string{"streamable-http", o.remote.URL + "/mcp"}), "mcp.spotify.com/auth-api-id: core.auth.test-sso"))
	}
	must(t, os.WriteFile(filepath.Join(o.dir, "catalog.yaml"), []byte(catalog.String()), 0o644))
	must(t, os.WriteFile(o.cfg, []byte("# my servers\ncatalog:\n  files: [catalog.yaml]\n\ntoken_store: file\nproviders:\n  core.auth.test-sso:\n    issuer: "+
		o.as.Issuer+"\n    client_id: "+o.as.ClientID+"\n"), 0o644))
	exe, err := exec.LookPath("bridge")
	must(t, err)

	runAll := func(args func(id string) []string) {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				out, err := exec.Command(exe, args(id)...).CombinedOutput()
				if err != nil {
					t.Errorf("bridge %v: %v\n%s", args(id), err, out)
				}
			})
		}
		wg.Wait()
	}
	runAll(func(id string) []string { return []string{"login", "--config", o.cfg, id} })
	tokens := &auth.Tokens{Secrets: auth.NewFile(o.state, nil)}
	for _, id := range ids {
		if tok, err := tokens.Get(context.Background(), id, o.origin); err != nil || tok.AccessToken == "" {
			t.Errorf("the token of %s was lost: %v", id, err)
		}
	}

	runAll(func(id string) []string { return []string{"enable", "--config", o.cfg, id} })
	cfg, err := config.Load(o.cfg)
	must(t, err)
	slices.Sort(cfg.Enabled)
	if !slices.Equal(cfg.Enabled, ids) {
		t.Errorf("enabled = %v, want %v", cfg.Enabled, ids)
	}
	data, err := os.ReadFile(o.cfg)
	must(t, err)
	if !strings.HasPrefix(string(data), "# my servers\ncatalog:\n  files: [catalog.yaml]\n\ntoken_store: file\n") {
		t.Errorf("the lines enable did not change were changed:\n%s", data)
	}
}
