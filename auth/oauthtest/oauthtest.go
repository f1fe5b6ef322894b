// Package oauthtest runs a real OAuth 2.0 / OpenID Connect authorization
// server (oidc-provider, from testdata/oauth-server) on loopback for tests.
//
// The server needs Node.js and its npm packages:
//
//	npm ci --no-audit --no-fund --prefix testdata/oauth-server
//
// What it offers (see testdata/oauth-server/server.js): discovery at both
// well-known URLs, authorization code + PKCE (S256, required), rotating
// refresh tokens whose reuse revokes the grant, the device authorization
// grant, open dynamic client registration, RFC 8707 resource indicators
// (JWT access tokens with aud = resource), revocation and introspection,
// and a record of the requests it received (Server.Requests).
// Login and consent happen automatically as user "alice" (unless
// Options.ManualConsent), so following the redirects of an authorization URL
// with a cookie jar ends at the redirect URI.
package oauthtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClientID is the public client pre-registered on every server. It is a
// native client: its redirect URI http://127.0.0.1/callback matches on any port.
const ClientID = "bridge-test"

// Confidential clients pre-registered on every server, each with the
// secret "<id>-secret": BasicClientID authenticates at the token endpoint
// with client_secret_basic, PostClientID with client_secret_post, and
// MachineClientID (client_secret_basic) may use only the
// client-credentials grant.
const (
	BasicClientID   = "bridge-basic"
	PostClientID    = "bridge-post"
	MachineClientID = "bridge-machine"
)

// Secret is a confidential client's secret.
func Secret(clientID string) string { return clientID + "-secret" }

// Server is a running oidc-provider on loopback.
type Server struct {
	Issuer   string // http://127.0.0.1:PORT, also the base of every endpoint
	ClientID string // "bridge-test"
}

// Options tune a server.
type Options struct {
	// AccessTTL is the lifetime of access tokens, rounded up to whole
	// seconds; zero means the server's default of 10 minutes.
	AccessTTL time.Duration
	// ManualConsent serves oidc-provider's development login and consent
	// HTML forms (any login and password work) instead of finishing each
	// interaction automatically, for tests that drive a "browser" through them.
	ManualConsent bool
}

const (
	serverDir    = "testdata/oauth-server"
	startTimeout = 30 * time.Second
	stopTimeout  = 5 * time.Second
)

// Start runs testdata/oauth-server/server.js with node, waits for its
// "listening" line, and stops it with t.Cleanup.
//
// Without node or without the server's node_modules it skips the test, or
// fails it when CI=true so that a broken CI setup cannot pass silently.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()

	root, err := repoRoot()
	if err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	dir := filepath.Join(root, filepath.FromSlash(serverDir))
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node not found in PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		unavailable(t, serverDir+"/node_modules is missing")
	}

	cmd := exec.Command(node, "server.js", "--port", "0")
	cmd.Dir = dir
	ttl := int64(600)
	if opts.AccessTTL > 0 {
		ttl = int64((opts.AccessTTL + time.Second - 1) / time.Second)
	}
	autoConsent := "1"
	if opts.ManualConsent {
		autoConsent = "0"
	}
	cmd.Env = append(os.Environ(), "AUTO_CONSENT="+autoConsent, "ACCESS_TTL="+strconv.FormatInt(ttl, 10))
	// The server exits when its stdin closes: if this process dies without
	// running cleanups, the pipe closes and no server is left behind.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	// exec copies stdout into the pipe and Wait waits for that copy, so no
	// output is lost; the reader drains it to the end so node never blocks.
	stdoutR, stdoutW := io.Pipe()
	cmd.Stdout = stdoutW
	stderr := new(lockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("oauthtest: starting node: %v", err)
	}

	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				select {
				case issuer <- u:
				default:
				}
			}
		}
		close(issuer)
		_, _ = io.Copy(io.Discard, stdoutR)
	}()

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		_ = stdoutW.Close()
		close(exited)
	}()

	stop := func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	var iss string
	select {
	case u, ok := <-issuer:
		if !ok {
			<-exited
			t.Fatalf("oauthtest: server exited before listening (%v); stderr:\n%s", waitErr, stderr)
		}
		iss = u
	case <-time.After(startTimeout):
		stop()
		t.Fatalf("oauthtest: server not listening after %v; stderr:\n%s", startTimeout, stderr)
	}

	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("oauthtest: server %s stderr:\n%s", iss, stderr)
		}
	})
	return &Server{Issuer: iss, ClientID: ClientID}
}

// ApproveDevice approves a pending device authorization (RFC 8628) as user
// "alice", granting every scope and resource it asked for, as if she had
// entered userCode at the verification URI. Call it from the test goroutine.
func (s *Server) ApproveDevice(t testing.TB, userCode string) {
	t.Helper()
	resp, err := http.PostForm(s.Issuer+"/test/device/approve", url.Values{"user_code": {userCode}})
	if err != nil {
		t.Fatalf("oauthtest: approving device code: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("oauthtest: approving device code %q: %s: %s", userCode, resp.Status, body)
	}
}

// Requests are "METHOD /path" of every request the server has received so
// far, in order ("GET /.well-known/openid-configuration", "POST /token");
// queries and bodies are left out. Call it from the test goroutine.
func (s *Server) Requests(t testing.TB) []string {
	t.Helper()
	resp, err := http.Get(s.Issuer + "/test/requests")
	if err != nil {
		t.Fatalf("oauthtest: reading the requests: %v", err)
	}
	defer resp.Body.Close()
	var got []string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("oauthtest: reading the requests: %s, %v", resp.Status, err)
	}
	return got
}

// Active reports whether the server still honours token (an access or a
// refresh token of ClientID), by introspection (RFC 7662). Call it from the
// test goroutine.
func (s *Server) Active(t testing.TB, token string) bool {
	t.Helper()
	resp, err := http.PostForm(s.Issuer+"/token/introspection", url.Values{"client_id": {s.ClientID}, "token": {token}})
	if err != nil {
		t.Fatalf("oauthtest: introspecting: %v", err)
	}
	defer resp.Body.Close()
	var got struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("oauthtest: introspecting: %s, %v", resp.Status, err)
	}
	return got.Active
}

// unavailable skips, or fails under CI, when the server cannot run here.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("oauthtest: %s; run `npm ci --prefix %s` (needs Node.js) to enable OAuth server tests", why, serverDir)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// repoRoot walks up from the working directory (a test's package folder) to
// the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// lockedBuffer collects the server's stderr; exec writes it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
