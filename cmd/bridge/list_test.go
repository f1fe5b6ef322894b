package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config/backstagetest"
)

func runBridge(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestListFromPortalWorksOffline reads a portal, then lists again with the
// portal down: the cached catalog is shown with its age.
func TestListFromPortalWorksOffline(t *testing.T) {
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("portal:\n  url: %s\n  token_env: BRIDGE_TEST_TOKEN\n", srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRIDGE_TEST_TOKEN", srv.Token)
	t.Setenv("MCP_BRIDGE_STATE_DIR", filepath.Join(dir, "state"))

	code, out, errOut := runBridge(t, "list", "--config", cfg)
	if code != exitOK || errOut != "reading the catalog from "+srv.URL+"…\n" {
		t.Fatalf("exit %d, stderr %q; want only the progress line", code, errOut)
	}
	for _, want := range []string{"docs ", "mcp-actions  Portal actions  built-in  streamable-http  plugin: mcp-actions"} {
		if !strings.Contains(out, want) {
			t.Errorf("online list lacks %q:\n%s", want, out)
		}
	}

	srv.FailWith(http.StatusBadGateway)
	code, out2, errOut := runBridge(t, "list", "--config", cfg)
	if code != exitOK || out2 != out {
		t.Errorf("offline list: exit %d, stdout differs from the online one:\n%s", code, out2)
	}
	if !regexp.MustCompile(`warning: showing the catalog of http://\S+ as cached less than a minute ago`).MatchString(errOut) ||
		!strings.Contains(errOut, "502 Bad Gateway") {
		t.Errorf("stderr does not say the portal failed and how old the cache is:\n%s", errOut)
	}
	if strings.Contains(errOut+out2, srv.Token) {
		t.Error("the token appears in the output")
	}
}

// TestPortalLoginReadsTheCatalog: the token of "bridge login portal" reads
// the catalog, with no static token configured.
func TestPortalLoginReadsTheCatalog(t *testing.T) {
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("portal:\n  url: "+srv.URL+"\ntoken_store: file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	t.Setenv("MCP_BRIDGE_STATE_DIR", state)
	code, _, errOut := runBridge(t, "list", "--config", cfg)
	if code != 0 || !strings.Contains(errOut, `run "bridge login portal"`) {
		t.Errorf("without a login: %d %s", code, errOut)
	}
	origin, _ := auth.Origin(srv.URL)
	tokens := &auth.Tokens{Secrets: auth.NewFile(state, nil)}
	if err := tokens.Save(context.Background(), auth.PortalID, &auth.Token{AccessToken: srv.Token, Origin: origin}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBridge(t, "list", "--config", cfg)
	// A status 401, not the digits in the portal's port.
	if code != 0 || !strings.Contains(out, "docs ") || regexp.MustCompile(`\b401\b`).MatchString(errOut) {
		t.Errorf("with a portal login: %d\n%s\n%s", code, out, errOut)
	}
}

// TestEnabledServersOfAnUnreadPortalAreNotCalledMissing: while the portal
// cannot be read, an enabled server it may hold is "not read yet" in list
// and doctor, never "not in the catalog"; once it is read, a server it
// lacks is.
func TestEnabledServersOfAnUnreadPortalAreNotCalledMissing(t *testing.T) {
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("portal:\n  url: %s\n  token_env: BRIDGE_TEST_TOKEN\nenabled: [ghost]\ntoken_store: file\n", srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRIDGE_TEST_TOKEN", srv.Token)
	t.Setenv("MCP_BRIDGE_STATE_DIR", filepath.Join(dir, "state"))
	for _, tc := range []struct {
		name               string
		status             int
		listSays, doctorAt string
	}{
		{"the portal cannot be read", http.StatusServiceUnavailable, "Enabled, and not in what could be read of the catalog: ghost", "ghost " + codeEnabledUnread},
		{"the portal is read", 0, "Enabled but not in the catalog: ghost", "ghost " + codeEnabledMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.FailWith(tc.status)
			_, out, _ := runBridge(t, "list", "--config", cfg)
			if !strings.Contains(out, tc.listSays) {
				t.Errorf("list does not say %q:\n%s", tc.listSays, out)
			}
			_, out, _ = runBridge(t, "doctor", "--json", "--config", cfg)
			var findings []finding
			must(t, json.Unmarshal([]byte(out), &findings))
			var got []string
			for _, f := range findings {
				if f.Subject == "ghost" {
					got = append(got, f.Subject+" "+f.Code)
					if tc.status != 0 && (strings.Contains(f.Message, "not in the catalog") || !strings.Contains(f.Message, "503")) {
						t.Errorf("doctor says %q", f.Message)
					}
				}
			}
			if len(got) != 1 || got[0] != tc.doctorAt {
				t.Errorf("doctor's findings on ghost: %v, want %s", got, tc.doctorAt)
			}
		})
	}
}

// TestAPortalLoginThePortalRefusesIsNotShownAsLoggedIn: a stored portal
// login the portal answers 401 to is "refused by the portal" in list and
// doctor, with the login to run, never "logged in"; the error names the
// login as the token's source.
func TestAPortalLoginThePortalRefusesIsNotShownAsLoggedIn(t *testing.T) {
	srv := backstagetest.New(t, []json.RawMessage{backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte("portal:\n  url: "+srv.URL+"\ntoken_store: file\nenabled: [mcp-actions]\n"), 0o644))
	state := filepath.Join(dir, "state")
	t.Setenv("MCP_BRIDGE_STATE_DIR", state)
	origin, _ := auth.Origin(srv.URL)
	tokens := &auth.Tokens{Secrets: auth.NewFile(state, nil)}
	must(t, tokens.Save(context.Background(), auth.PortalID, &auth.Token{AccessToken: "from-before-a-reset", Origin: origin, Expiry: time.Now().Add(58 * time.Minute)}))

	_, out, errOut := runBridge(t, "list", "--config", cfg)
	if !strings.Contains(out, `needs login (refused by the portal; run "bridge login portal")`) || strings.Contains(out, "logged in") {
		t.Errorf("list with a refused portal login:\n%s", out)
	}
	if !strings.Contains(errOut, "refused by the portal: your portal login") || strings.Contains(errOut, "$ ") || strings.Contains(errOut, "from-before") {
		t.Errorf("list's note on the portal:\n%s", errOut)
	}
	_, out, _ = runBridge(t, "doctor", "--config", cfg)
	if out = strings.Join(strings.Fields(out), " "); !strings.Contains(out, "refused by the portal") || !strings.Contains(out, `bridge login portal`) {
		t.Errorf("doctor with a refused portal login:\n%s", out)
	}
}
