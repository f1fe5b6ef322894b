package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-bridge/bridge/config/catalog"
)

func TestParseChallenge(t *testing.T) {
	c := ParseChallenge([]string{`Basic realm="x"`, `Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource", scope="read write", error=insufficient_scope`})
	if c.ResourceMetadata != "https://a.example/.well-known/oauth-protected-resource" || c.Scope != "read write" || c.Error != "insufficient_scope" {
		t.Errorf("challenge = %+v", c)
	}
	if c := ParseChallenge(nil); c.ResourceMetadata != "" {
		t.Errorf("empty = %+v", c)
	}
}

// discoveryServer serves resource and authorization server metadata that
// each test bends one way.
func discoveryServer(t *testing.T, prm, asm func(base string) string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource"):
			fmt.Fprint(w, prm(srv.URL))
		case r.URL.Path == "/.well-known/oauth-authorization-server/as":
			fmt.Fprint(w, asm(srv.URL))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscoverLoginChecks(t *testing.T) {
	goodPRM := func(b string) string {
		return fmt.Sprintf(`{"resource":"%s/mcp","authorization_servers":["%s/as"],"scopes_supported":["s1"]}`, b, b)
	}
	goodAS := func(b string) string {
		return fmt.Sprintf(`{"issuer":"%s/as","authorization_endpoint":"%[1]s/as/auth","token_endpoint":"%[1]s/as/token","code_challenge_methods_supported":["S256"]}`, b)
	}
	tests := []struct {
		name     string
		prm, asm func(string) string
		ch       *Challenge
		clientID string
		err      string
	}{
		{"works, with a pre-registered client", goodPRM, goodAS, &Challenge{}, "pre", ""},
		{"cross-origin metadata", goodPRM, goodAS, &Challenge{ResourceMetadata: "https://evil.example/prm"}, "pre", "on another origin"},
		{"metadata for another resource", func(b string) string {
			return fmt.Sprintf(`{"resource":"https://other.example/mcp","authorization_servers":["%s/as"]}`, b)
		}, goodAS, &Challenge{}, "pre", "not this server"},
		{"issuer mismatch", goodPRM, func(b string) string {
			return fmt.Sprintf(`{"issuer":"https://evil.example","authorization_endpoint":"%s/a","token_endpoint":"%[1]s/t","code_challenge_methods_supported":["S256"]}`, b)
		}, &Challenge{}, "pre", "refusing it"},
		{"no PKCE", goodPRM, func(b string) string {
			return fmt.Sprintf(`{"issuer":"%s/as","authorization_endpoint":"%[1]s/a","token_endpoint":"%[1]s/t"}`, b)
		}, &Challenge{}, "pre", "does not offer PKCE with S256"},
		{"no way to get a client", goodPRM, goodAS, &Challenge{}, "", "needs a client registered by hand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := discoveryServer(t, tt.prm, tt.asm)
			lo, err := DiscoverLogin(context.Background(), srv.Client(), srv.URL+"/mcp", tt.ch, DiscoveryOptions{ClientID: tt.clientID})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lo.Resource != srv.URL+"/mcp" || lo.ClientID != "pre" || strings.Join(lo.Scopes, " ") != "s1" || lo.TokenURL != srv.URL+"/as/token" {
				t.Errorf("login = %+v", lo)
			}
		})
	}
	// The challenge's scope wins over scopes_supported.
	srv := discoveryServer(t, goodPRM, goodAS)
	lo, err := DiscoverLogin(context.Background(), srv.Client(), srv.URL+"/mcp", &Challenge{Scope: "only this"}, DiscoveryOptions{ClientID: "c"})
	if err != nil || strings.Join(lo.Scopes, " ") != "only this" {
		t.Errorf("scopes = %v, %v", lo, err)
	}
}

func TestInsufficientScopeAsksForALoginABoundedNumberOfTimes(t *testing.T) {
	ctx := context.Background()
	m := &Manager{Scopes: NewScopes(t.TempDir())}
	s := server("gh", catalog.AuthProvider, "")
	if err := m.Forbidden(ctx, s, "https://x/mcp", []string{`Bearer error="invalid_token"`}); err != nil {
		t.Errorf("a 403 that is not about scope: %v", err)
	}
	challenge := []string{`Bearer error="insufficient_scope", scope="repo admin"`}
	// Each 403 without a login in between asks for one again; each login
	// that asks for every scope counts, and one that does not is not.
	steps := []struct {
		login []string // the scopes a login asks for before the 403, if any
		final bool
	}{
		{nil, false},
		{nil, false},
		{[]string{"repo"}, false},
		{[]string{"repo", "admin", "read"}, false},
		{nil, false},
		{[]string{"admin", "repo"}, true},
		{nil, true},
	}
	for i, st := range steps {
		if st.login != nil {
			if err := m.Scopes.granted(ctx, "gh", st.login); err != nil {
				t.Fatal(err)
			}
		}
		err := m.Forbidden(ctx, s, "https://x/mcp", challenge)
		switch {
		case !errors.Is(err, ErrInsufficientScope):
			t.Fatalf("403 %d: %v", i, err)
		case st.final && (m.NeedsStepUp(err) || !errors.Is(err, ErrNoStepUp) || !strings.Contains(err.Error(), "still refuses after 2 logins")):
			t.Fatalf("403 %d, past the bound: %v", i, err)
		case !st.final && (!m.NeedsStepUp(err) || !strings.Contains(err.Error(), `(repo admin): run "bridge login gh"`)):
			t.Fatalf("403 %d: %v", i, err)
		}
	}
	if got := m.Scopes.Required("gh"); strings.Join(got, " ") != "repo admin" {
		t.Errorf("required scopes = %v", got)
	}
	// A new scope starts the count again.
	if err := m.Forbidden(ctx, s, "https://x/mcp", []string{`Bearer error="insufficient_scope", scope="write"`}); !m.NeedsStepUp(err) || !strings.Contains(fmt.Sprint(err), "run \"bridge login gh\"") {
		t.Errorf("a new scope: %v", err)
	}
	// A server with the portal's auth: the portal's login asks for no
	// scope of the server's, so serve has no step-up of its own to offer.
	plugin := server("actions", catalog.AuthPlugin, "mcp-actions")
	if err := m.Forbidden(ctx, plugin, "https://x/mcp", []string{`Bearer error="insufficient_scope", scope="admin"`}); m.NeedsStepUp(err) || !strings.Contains(fmt.Sprint(err), `run "bridge login portal"`) {
		t.Errorf("a server with the portal's auth: %v", err)
	}
	// A server that does not say which scope: no login helps.
	if err := m.Forbidden(ctx, s, "https://x/mcp", []string{`Bearer error="insufficient_scope"`}); m.NeedsStepUp(err) || !errors.Is(err, ErrInsufficientScope) {
		t.Errorf("no scope named: %v", err)
	}
}

// TestARegisteredClientsSecretIsKeptInTheTokenStore registers at a server
// that makes the bridge a confidential client: the secret and its method
// are used, kept in the token store and not in the state folder, and
// reused only at the same issuer.
func TestARegisteredClientsSecretIsKeptInTheTokenStore(t *testing.T) {
	var registered int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		must(t, json.NewDecoder(r.Body).Decode(&body))
		if body["application_type"] != "native" {
			t.Errorf("registration sent application_type %v; want native", body["application_type"])
		}
		registered++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"client_id":"c%d","client_secret":"s3cret-%d","token_endpoint_auth_method":"client_secret_post"}`, registered, registered)
	}))
	defer srv.Close()
	stateDir := t.TempDir()
	regs := NewRegistrations(stateDir)
	regs.Secrets = NewFile(t.TempDir(), func(string) {})
	md := &serverMetadata{RegistrationEndpoint: srv.URL}
	reg, err := regs.clientFor(context.Background(), srv.Client(), "https://as.example.com", md)
	if err != nil {
		t.Fatal(err)
	}
	if reg.ClientID != "c1" || reg.Secret != "s3cret-1" || reg.Method != AuthSecretPost {
		t.Errorf("registration = %+v; want c1 with its secret, by client_secret_post", *reg)
	}
	again, err := regs.clientFor(context.Background(), srv.Client(), "https://as.example.com", md)
	if err != nil || *again != *reg || registered != 1 {
		t.Errorf("second login at the same issuer: %+v, %v, %d registrations; want the first one again", again, err, registered)
	}
	other, err := regs.clientFor(context.Background(), srv.Client(), "https://other.example.com", md)
	if err != nil || other.ClientID == reg.ClientID || other.Secret == reg.Secret {
		t.Errorf("another issuer got %+v, %v; want a registration of its own", other, err)
	}
	filepath.WalkDir(stateDir, func(path string, d fs.DirEntry, err error) error {
		if data, _ := os.ReadFile(path); err == nil && !d.IsDir() && strings.Contains(string(data), "s3cret") {
			t.Errorf("%s holds a client secret", path)
		}
		return nil
	})
}
