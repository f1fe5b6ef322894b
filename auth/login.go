package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
)

// Endpoints are where an authorization server takes logins.
type Endpoints struct {
	AuthURL   string
	TokenURL  string
	DeviceURL string // "" when the server has no device flow
	RevokeURL string // "" when the server offers no revocation
}

// LoginOptions describe one login.
type LoginOptions struct {
	Endpoints
	ClientID     string
	ClientSecret string // only for providers that demand one
	Scopes       []string
	// Extra are more authorization parameters (audience, resource, …).
	Extra url.Values
	// Resource is the RFC 8707 resource, sent on authorize and token
	// requests when set.
	Resource string
	// Origin is where the token will be sent; it is stored with it.
	Origin string
	// RedirectPort fixes the loopback port; 0 takes a free one.
	RedirectPort int
	// Device uses the device authorization grant instead of a browser
	// redirect (over SSH, say).
	Device bool
	// Browser opens a URL; nil uses $BROWSER or the OS default.
	Browser func(url string) error
	// Out gets the lines for the user: the URL, the device code.
	Out     io.Writer
	Timeout time.Duration
	HTTP    *http.Client
}

// ErrLoginTimeout means the user did not finish in time.
var ErrLoginTimeout = errors.New("the login was not finished in time")

// Login runs an authorization code + PKCE (S256) login with a loopback
// redirect, or a device login, and returns the token.
func Login(ctx context.Context, o LoginOptions) (*Token, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	o.HTTP = catalog.SafeClient(o.HTTP, time.Minute)
	if o.Out == nil {
		o.Out = io.Discard
	}
	// The endpoints may come from a server's metadata: none reaches the
	// browser, or gets a request, unless it is https (or http here).
	for _, e := range []string{o.AuthURL, o.TokenURL, o.DeviceURL, o.RevokeURL} {
		if e == "" {
			continue
		}
		if err := catalog.CheckURL(e); err != nil {
			return nil, fmt.Errorf("refusing the authorization server's endpoint: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var tr *tokenResponse
	var err error
	if o.Device {
		tr, err = deviceLogin(ctx, o)
	} else {
		tr, err = codeLogin(ctx, o)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w (%s); run the login again", ErrLoginTimeout, o.Timeout)
	}
	if err != nil {
		return nil, err
	}
	t := &Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: tr.TokenType, Origin: o.Origin,
		TokenURL: o.TokenURL, RevokeURL: o.RevokeURL, ClientID: o.ClientID, Resource: o.Resource, Scopes: strings.Fields(tr.Scope)}
	if tr.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return t, nil
}

// codeLogin is the browser flow: a loopback listener on 127.0.0.1 receives
// the redirect; state and PKCE bind it to this login.
func codeLogin(ctx context.Context, o LoginOptions) (*tokenResponse, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.RedirectPort))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("port %d on 127.0.0.1 is in use, so the login cannot receive its redirect: free it, or set another redirect_port", o.RedirectPort)
	}
	if err != nil {
		return nil, fmt.Errorf("listening for the login's redirect: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	verifier, state := randomString(32), randomString(16)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {o.ClientID},
		"redirect_uri":          {redirect},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if len(o.Scopes) > 0 {
		q.Set("scope", strings.Join(o.Scopes, " "))
	}
	if o.Resource != "" {
		q.Set("resource", o.Resource)
	}
	for k, v := range o.Extra {
		q[k] = v
	}
	authURL := o.AuthURL
	if strings.Contains(authURL, "?") {
		authURL += "&" + q.Encode()
	} else {
		authURL += "?" + q.Encode()
	}

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	// The server's own errors (a stray client's bad request) are no
	// business of the login's output.
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		p := r.URL.Query()
		var res result
		switch {
		case p.Get("state") != state:
			res.err = errors.New("the login's answer does not carry this login's state; it was not started here — run the login again")
		case p.Get("error") != "":
			res.err = fmt.Errorf("the authorization server refused: %s %s", p.Get("error"), p.Get("error_description"))
		case p.Get("code") == "":
			res.err = errors.New("the login's answer has no code")
		default:
			res.code = p.Get("code")
		}
		msg := "Logged in. You can close this tab and go back to the terminal."
		if res.err != nil {
			msg = "The login failed: " + res.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><title>mcp-bridge</title><p>%s</p>", html.EscapeString(msg))
		select {
		case got <- res:
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(o.Out, "Opening the browser to log in. If it does not open, visit:\n\n  %s\n\n", authURL)
	browser := o.Browser
	if browser == nil {
		browser = OpenBrowser
	}
	if err := browser(authURL); err != nil {
		fmt.Fprintf(o.Out, "(could not open a browser: %v)\n", err)
	}
	fmt.Fprintf(o.Out, "Waiting for the login to finish in the browser (giving up after %s)…\n", o.Timeout)
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {res.code},
		"redirect_uri":  {redirect},
		"client_id":     {o.ClientID},
		"code_verifier": {verifier},
	}
	if o.ClientSecret != "" {
		form.Set("client_secret", o.ClientSecret)
	}
	if o.Resource != "" {
		form.Set("resource", o.Resource)
	}
	return postForm(ctx, o.HTTP, o.TokenURL, form)
}

// deviceLogin is the device authorization grant (RFC 8628): the user
// enters a code on another device while the bridge polls.
func deviceLogin(ctx context.Context, o LoginOptions) (*tokenResponse, error) {
	if o.DeviceURL == "" {
		return nil, errors.New("this provider has no device login; log in without --device, from a machine with a browser")
	}
	form := url.Values{"client_id": {o.ClientID}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	if o.Resource != "" {
		form.Set("resource", o.Resource)
	}
	da, err := postJSON(ctx, o.HTTP, o.DeviceURL, form)
	if err != nil {
		return nil, err
	}
	var d struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURL         string `json:"verification_url"` // Google's spelling
		VerificationURIComplete string `json:"verification_uri_complete"`
		Interval                int    `json:"interval"`
	}
	if err := json.Unmarshal(da, &d); err != nil || d.DeviceCode == "" {
		return nil, fmt.Errorf("device authorization endpoint %s: not a device authorization answer", o.DeviceURL)
	}
	if d.VerificationURI == "" {
		d.VerificationURI = d.VerificationURL
	}
	for _, u := range []string{d.VerificationURI, d.VerificationURIComplete} {
		if u == "" {
			continue
		}
		if err := catalog.CheckURL(u); err != nil {
			return nil, fmt.Errorf("refusing the device verification page: %w", err)
		}
	}
	fmt.Fprintf(o.Out, "To log in, visit %s and enter the code %s\n", d.VerificationURI, d.UserCode)
	if d.VerificationURIComplete != "" {
		fmt.Fprintf(o.Out, "(or visit %s)\n", d.VerificationURIComplete)
	}
	fmt.Fprintf(o.Out, "Waiting for the code to be entered (giving up after %s)…\n", o.Timeout)
	interval := time.Duration(max(d.Interval, 1)) * time.Second
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}, "client_id": {o.ClientID}}
	if o.ClientSecret != "" {
		poll.Set("client_secret", o.ClientSecret)
	}
	for {
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		tr, err := postForm(ctx, o.HTTP, o.TokenURL, poll)
		var oe *OAuthError
		switch {
		case err == nil:
			return tr, nil
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second
		case errors.As(err, &oe) && oe.Code == "access_denied":
			return nil, errors.New("the login was denied")
		case errors.As(err, &oe) && oe.Code == "expired_token":
			return nil, fmt.Errorf("%w: the code expired; run the login again", ErrLoginTimeout)
		default:
			return nil, err
		}
	}
}

// OpenBrowser opens a URL in $BROWSER (a command that receives the URL),
// or the OS's default browser.
func OpenBrowser(u string) error {
	if b := os.Getenv("BROWSER"); b != "" {
		fields := strings.Fields(b)
		return exec.Command(fields[0], append(fields[1:], u)...).Start()
	}
	switch runtime.GOOS {
	case "darwin":
		return exec.Command("open", u).Start()
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", u).Start()
	}
	return exec.Command("xdg-open", u).Start()
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
