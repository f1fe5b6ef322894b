package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// realLogin says how to log in to a real authorization server, found
// through its discovery as a configured provider is; its browser follows
// the authorization URL with a cookie jar, as a person's would, and counts
// the URLs it was given.
func realLogin(t *testing.T, as *oauthtest.Server) (LoginOptions, *browser) {
	t.Helper()
	cfg := &config.Config{Providers: map[string]config.ProviderConfig{"core.auth.test": {ClientID: as.ClientID, Issuer: as.Issuer}}}
	lo, err := ProviderFor(context.Background(), &http.Client{Timeout: 30 * time.Second}, cfg, "core.auth.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	lo.Origin, lo.Browser, lo.Timeout, lo.Out = "https://mcp.example.com", b.open, time.Minute, &b.out
	return lo.LoginOptions, b
}

type browser struct {
	mu     sync.Mutex
	opened []string
	out    lockedWriter
}

func (b *browser) open(u string) error {
	b.mu.Lock()
	b.opened = append(b.opened, u)
	b.mu.Unlock()
	go func() {
		jar, _ := cookiejar.New(nil)
		if res, err := (&http.Client{Jar: jar, Timeout: time.Minute}).Get(u); err == nil {
			res.Body.Close()
		}
	}()
	return nil
}

func (b *browser) urls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.opened)
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// gate stands in front of a real authorization server's token endpoint and
// fails the way a server, or the way to it, fails for a while: 503s,
// answers that never come, answers that are not OAuth's. Open, it passes
// requests through.
type gate struct {
	*httptest.Server
	closing chan struct{}

	mu    sync.Mutex
	mode  string
	asked int
}

const (
	gateOpen        = "open"
	gateUnavailable = "503"
	gateHang        = "hang"
	gateHTML        = "html"
	gateServerError = "server_error"
	gateEmpty       = "empty"
)

func newGate(t *testing.T, as *oauthtest.Server, mode string) *gate {
	target, err := url.Parse(as.Issuer)
	must(t, err)
	g := &gate{mode: mode, closing: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.asked++
		mode := g.mode
		g.mu.Unlock()
		switch mode {
		case gateUnavailable:
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
		case gateHang:
			// Until the client gives up, which the server notices once
			// the body is read.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-g.closing:
			}
		case gateHTML:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>We'll be back soon.</body></html>")
		case gateServerError:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":"server_error","error_description":"database unavailable"}`)
		case gateEmpty:
			fmt.Fprint(w, `{}`)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(g.Close)
	t.Cleanup(func() { close(g.closing) })
	return g
}

func (g *gate) set(mode string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode = mode
}

func (g *gate) requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.asked
}

// renewal is a manager over a token file holding tok, expired, renewing
// through client.
func renewal(t *testing.T, tok Token, client *http.Client) *Manager {
	dir := t.TempDir()
	m := &Manager{Tokens: &Tokens{Secrets: NewFile(dir, nil)}, Locks: state.Locks{Dir: filepath.Join(dir, "locks")},
		Refresher: func(ctx context.Context, t *Token) (*Token, error) { return Refresh(ctx, client, t) }}
	tok.Expiry = time.Now().Add(-time.Minute)
	must(t, m.Tokens.Save(context.Background(), "sso", &tok))
	return m
}

// storedSecret is the token's entry as the store holds it, byte for byte.
func storedSecret(t *testing.T, m *Manager) string {
	t.Helper()
	v, err := m.Tokens.Secrets.Get(context.Background(), Key("sso", "https://mcp.example.com"))
	must(t, err)
	return v
}

// TestATransientRenewalFailureIsNotANeedForLogin renews a real
// authorization server's token while its token endpoint, or the way to it,
// fails: each failure is tried again, then reported as the server failing
// — never as "needs login" — and the stored token stays as it was. Once
// the endpoint is back, the same token renews; a refused grant or client
// means a login.
func TestATransientRenewalFailureIsNotANeedForLogin(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	lo, _ := realLogin(t, as)
	tok, err := Login(context.Background(), lo)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens there once ln is closed, so connections are refused.
	// It is on 127.0.0.2, where no test server binds: a port on 127.0.0.1
	// could be taken at once by a parallel subtest's server.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	must(t, err)
	refusing := "http://" + ln.Addr().String() + "/token"
	ln.Close()

	s := server("sso", catalog.AuthProvider, "")
	remote := "https://mcp.example.com/mcp"
	client := &http.Client{Timeout: 30 * time.Second}
	t.Run("transient", func(t *testing.T) {
		tests := []struct {
			mode string // "" for a port where nothing listens
			// client is the one renewing, for a timeout of its own.
			client *http.Client
		}{
			{mode: gateUnavailable},
			{mode: gateHang, client: &http.Client{Timeout: 200 * time.Millisecond}},
			{mode: gateHTML},
			{mode: gateServerError},
			{mode: gateEmpty},
			{mode: ""},
		}
		for _, tt := range tests {
			name := tt.mode
			if name == "" {
				name = "connection refused"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				stale := *tok
				var g *gate
				if tt.mode == "" {
					stale.TokenURL = refusing
				} else {
					g = newGate(t, as, tt.mode)
					stale.TokenURL = g.URL + "/token"
				}
				m := renewal(t, stale, cmpClient(tt.client, client))
				before := storedSecret(t, m)
				_, err := m.Authorization(context.Background(), s, remote)
				t.Log(err)
				if !errors.Is(err, ErrTransient) || m.NeedsLogin(err) || errors.Is(err, ErrGrantRevoked) {
					t.Fatalf("err = %v; want ErrTransient, not a need for login", err)
				}
				if msg := err.Error(); !strings.Contains(msg, "the authorization server is unreachable or failing") ||
					!strings.Contains(msg, "the bridge will try again") || strings.Contains(msg, "bridge login") {
					t.Errorf("the error does not say the server fails and the bridge tries again: %v", err)
				}
				if g != nil && g.requests() != renewTries {
					t.Errorf("the token endpoint was asked %d times, want %d", g.requests(), renewTries)
				}
				// After a 401 the same: the token is tried again, not given up.
				fresh := stale
				fresh.Expiry = time.Now().Add(time.Hour)
				must(t, m.Tokens.Save(context.Background(), "sso", &fresh))
				before = storedSecret(t, m)
				if _, err := m.Rejected(context.Background(), s, remote, "Bearer "+fresh.AccessToken, nil); !errors.Is(err, ErrTransient) || m.NeedsLogin(err) {
					t.Errorf("after a 401: %v; want ErrTransient, not a need for login", err)
				}
				if after := storedSecret(t, m); after != before {
					t.Error("a transient failure changed the stored token")
				}
			})
		}
	})

	// The endpoint is back: the very token that could not be renewed is.
	g := newGate(t, as, gateUnavailable)
	stale := *tok
	stale.TokenURL = g.URL + "/token"
	m := renewal(t, stale, client)
	if _, err := m.Authorization(context.Background(), s, remote); !errors.Is(err, ErrTransient) {
		t.Fatalf("while down: %v", err)
	}
	g.set(gateOpen)
	got, err := m.Authorization(context.Background(), s, remote)
	if err != nil || got == "Bearer "+tok.AccessToken {
		t.Fatalf("after recovery: %q, %v; want a new token", got, err)
	}
	renewed, err := m.Tokens.Get(context.Background(), "sso", "https://mcp.example.com")
	if err != nil || got != "Bearer "+renewed.AccessToken || renewed.RefreshToken == tok.RefreshToken || !as.Active(t, renewed.RefreshToken) {
		t.Fatalf("stored after recovery: %v, %v", renewed, err)
	}

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name  string
			spoil func(*Token)
		}{
			// The original refresh token was spent by the renewal above;
			// presenting it again is invalid_grant (and ends the grant).
			{"invalid_client", func(t *Token) { t.RefreshToken, t.ClientID = renewed.RefreshToken, "nobody-registered-this" }},
			{"invalid_grant", func(*Token) {}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g := newGate(t, as, gateOpen)
				spoilt := *tok
				spoilt.TokenURL = g.URL + "/token"
				tt.spoil(&spoilt)
				m := renewal(t, spoilt, client)
				_, err := m.Authorization(context.Background(), s, remote)
				t.Log(err)
				if !m.NeedsLogin(err) || !errors.Is(err, ErrNeedsLogin) || errors.Is(err, ErrTransient) ||
					!strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), `run "bridge login sso"`) {
					t.Errorf("err = %v; want a need for login, naming %s", err, tt.name)
				}
				if g.requests() != 1 {
					t.Errorf("a refusal was asked %d times; want once", g.requests())
				}
			})
		}
	})
}

func cmpClient(a, b *http.Client) *http.Client {
	if a != nil {
		return a
	}
	return b
}

// TestRenewalErrorsSortThemselves: what the token endpoint answered
// decides whether a renewal needs a login or passes.
func TestRenewalErrorsSortThemselves(t *testing.T) {
	tests := []struct {
		status          int
		body            string
		refused, passes bool
	}{
		{status: 400, body: `{"error":"invalid_grant"}`, refused: true},
		{status: 401, body: `{"error":"invalid_client"}`, refused: true},
		{status: 400, body: `{"error":"unauthorized_client"}`, refused: true},
		{status: 200, body: `{"error":"bad_refresh_token"}`, refused: true}, // GitHub answers 200
		{status: 400, body: `error=invalid_grant`, refused: true},
		{status: 500, body: `{"error":"invalid_grant"}`, passes: true},
		{status: 503, body: `{"error":"temporarily_unavailable"}`, passes: true},
		{status: 400, body: `{"error":"server_error"}`, passes: true},
		{status: 429, body: `{"error":"slow_down"}`, passes: true},
		{status: 401, body: `<html>unauthorized</html>`, passes: true},
		{status: 502, body: `Bad Gateway`, passes: true},
		{status: 200, body: `{"token_type":"Bearer"}`, passes: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, " ", tt.body), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			_, err := Refresh(context.Background(), srv.Client(), &Token{RefreshToken: "r", TokenURL: srv.URL})
			if errors.Is(err, ErrGrantRevoked) != tt.refused || errors.Is(err, ErrTransient) != tt.passes {
				t.Errorf("err = %v; want refused %v, transient %v", err, tt.refused, tt.passes)
			}
		})
	}
	// The caller giving up is neither.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a cancelled renewal was sent") }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Refresh(ctx, srv.Client(), &Token{RefreshToken: "r", TokenURL: srv.URL}); !errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrTransient) || errors.Is(err, ErrGrantRevoked) {
		t.Errorf("cancelled: %v", err)
	}
}
