package main

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
)

// TestInsecureStorageGivenOnceHolds: where there is no keychain, the
// login's error and doctor's remedy say to pass --insecure-storage once;
// a login with it records token_store: file in the config, with a
// warning, and every later command and serve, without the flag, use the
// file.
func TestInsecureStorageGivenOnceHolds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the keychain is missing only where it is a D-Bus service")
	}
	o := newOAuthSetup(t, oauthtest.Options{})
	config, err := os.ReadFile(o.cfg)
	must(t, err)
	must(t, os.WriteFile(o.cfg, bytes.Replace(config, []byte("token_store: file\n"), nil, 1), 0o644))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")

	const remedy = "run the command once with --insecure-storage: it records token_store: file in the config"
	if code, _, errOut := runBridge(t, "login", "--config", o.cfg, "sso"); code == 0 || !strings.Contains(errOut, remedy) {
		t.Fatalf("login without a keychain: %d\n%s", code, errOut)
	}
	code, out, errOut := runBridge(t, "doctor", "--config", o.cfg)
	if out = strings.Join(strings.Fields(out), " "); !strings.Contains(out, "[keychain-unavailable]") || !strings.Contains(out, "→ unlock the keychain, or "+remedy) {
		t.Errorf("doctor without a keychain: %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = runBridge(t, "login", "--insecure-storage", "--config", o.cfg, "sso")
	if code != 0 || !strings.Contains(errOut, "recorded token_store: file in "+o.cfg) {
		t.Fatalf("login --insecure-storage: %d %s\n%s", code, out, errOut)
	}
	if data, _ := os.ReadFile(o.cfg); !strings.Contains(string(data), "token_store: file\n") || !strings.Contains(string(data), "client_id: "+o.as.ClientID) {
		t.Errorf("the config after --insecure-storage:\n%s", data)
	}
	if code, out, errOut := runBridge(t, "list", "--config", o.cfg); code != 0 || !strings.Contains(out, "logged in") {
		t.Errorf("list without the flag: %d\n%s\n%s", code, out, errOut)
	}
	a := spawnAgent(t, o.cfg, o.state, "--startup-wait", "5s")
	a.initialize("2025-11-25")
	if text, errm := a.toolText("sso__echo", map[string]any{"text": "filed"}); errm != nil || text != "filed" {
		t.Fatalf("sso__echo from a serve without the flag: %q %v\n%s", text, errm, a.stderr.String())
	}
}
