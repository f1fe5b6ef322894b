package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

	"golang.org/x/oauth2"

	"github.com/mcp-bridge/bridge/config/catalog"
)

// Endpoints are where an authorization server takes logins.
type Endpoints struct {
	AuthURL   string
	TokenURL  string
	DeviceURL string // "" when the server has no device flow
	RevokeURL string // "" when the server offers no revocation
}

// Token endpoint client authentication methods (RFC 7591 §2), as an
// authorization server's metadata and a registration name them.
const (
	AuthNone        = "none"
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
)

// GrantClientCredentials is the client-credentials grant (RFC 6749 §4.4),
// for a server used without a person: no browser, and the bridge obtains
// each new token itself.
const GrantClientCredentials = "client_credentials"

// LoginOptions describe one login.
type LoginOptions struct {
	Endpoints
	ClientID     string
	ClientSecret string // for confidential clients (AuthPrivateKeyJWT: its PEM key); never printed
	// AuthMethod is how the client authenticates at the token endpoint:
	// AuthNone, AuthSecretBasic or AuthSecretPost, or AuthPrivateKeyJWT
	// (client-credentials only); "" chooses basic when there is a secret,
	// none otherwise.
	AuthMethod string
	// Grant is "" for a person's login (browser or device), or
	// GrantClientCredentials.
	Grant string
	// Issuer is the authorization server's issuer identifier, when known:
	// an authorization response's iss must name it (RFC 9207).
	Issuer string
	// IssRequired refuses an authorization response without iss, for
	// servers whose metadata promise it
	// (authorization_response_iss_parameter_supported).
	IssRequired bool
	Scopes      []string
	// Extra are more authorization parameters (audience, …).
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
// redirect, a device login, or a client-credentials grant, and returns
// the token. golang.org/x/oauth2 does the protocol; this adds the
// loopback listener, the checks of what the server sends, and RFC 8707.
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
	t := &Token{Origin: o.Origin, TokenURL: o.TokenURL, RevokeURL: o.RevokeURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		AuthMethod: o.AuthMethod, Grant: o.Grant, Resource: o.Resource, Issuer: o.Issuer}
	if o.Grant == GrantClientCredentials {
		t.Scopes = o.Scopes
	}
	var tok *oauth2.Token
	var err error
	switch {
	case o.Grant == GrantClientCredentials:
		tok, err = clientCredentials(ctx, o.HTTP, t)
	case o.Grant != "":
		return nil, fmt.Errorf("grant %q is not one the bridge knows: use %q, or none for a person's login", o.Grant, GrantClientCredentials)
	case o.Device:
		tok, err = deviceLogin(ctx, o)
	default:
		tok, err = codeLogin(ctx, o)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w (%s); run the login again", ErrLoginTimeout, o.Timeout)
	}
	if err != nil {
		return nil, err
	}
	t.update(tok)
	return t, nil
}

// config is the x/oauth2 client for a login.
func (o *LoginOptions) config(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: redirect, Scopes: o.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceURL, AuthStyle: authStyle(o.AuthMethod, o.ClientSecret)},
	}
}

// params are the authorization and token requests' own parameters: the
// resource (RFC 8707) on every one, the extra ones on the first.
func (o *LoginOptions) params(extra bool) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	if o.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", o.Resource))
	}
	if extra {
		for k, v := range o.Extra {
			if len(v) > 0 {
				opts = append(opts, oauth2.SetAuthURLParam(k, v[0]))
			}
		}
	}
	return opts
}

// codeLogin is the browser flow: a loopback listener on 127.0.0.1 receives
// the redirect; state and PKCE bind it to this login, iss to its server.
func codeLogin(ctx context.Context, o LoginOptions) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.RedirectPort))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("port %d on 127.0.0.1 is in use, so the login cannot receive its redirect: free it, or set another redirect_port", o.RedirectPort)
	}
	if err != nil {
		return nil, fmt.Errorf("listening for the login's redirect: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	verifier, state := oauth2.GenerateVerifier(), randomString(16)
	cfg := o.config(redirect)
	authURL := cfg.AuthCodeURL(state, append(o.params(true), oauth2.S256ChallengeOption(verifier))...)

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
		res := result{err: checkIssuer(o, p)}
		switch {
		case res.err != nil:
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
	tok, err := cfg.Exchange(tokenContext(ctx, o.HTTP), res.code, append(o.params(false), oauth2.VerifierOption(verifier))...)
	if err != nil {
		return nil, tokenError(o.TokenURL, err)
	}
	return tok, nil
}

// ErrWrongIssuer means an authorization response names another
// authorization server than the one the login was started with: a mix-up
// attack (RFC 9207), or a misconfigured server. Its code is not redeemed.
var ErrWrongIssuer = errors.New("the authorization response comes from another authorization server")

// checkIssuer applies RFC 9207 before anything else of the answer is
// used: a present iss must be the issuer the login recorded, and a server
// that promised iss must send it.
func checkIssuer(o LoginOptions, p url.Values) error {
	iss, present := p.Get("iss"), p.Has("iss")
	switch {
	case present && o.Issuer != "" && iss != o.Issuer:
		return fmt.Errorf("%w: it names %q, not %q; run the login again, and tell the server's owners if it happens again", ErrWrongIssuer, iss, o.Issuer)
	case !present && o.IssRequired:
		return fmt.Errorf("%w: %s promises to name itself in its answers, and this one does not", ErrWrongIssuer, o.Issuer)
	}
	return nil
}

// deviceLogin is the device authorization grant (RFC 8628): the user
// enters a code on another device while the bridge polls.
func deviceLogin(ctx context.Context, o LoginOptions) (*oauth2.Token, error) {
	if o.DeviceURL == "" {
		return nil, errors.New("this provider has no device login; log in without --device, from a machine with a browser")
	}
	cfg := o.config("")
	tctx := tokenContext(ctx, o.HTTP)
	d, err := cfg.DeviceAuth(tctx, o.params(false)...)
	if err != nil {
		return nil, tokenError(o.DeviceURL, err)
	}
	if d.DeviceCode == "" {
		return nil, fmt.Errorf("device authorization endpoint %s: not a device authorization answer", o.DeviceURL)
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
	tok, err := cfg.DeviceAccessToken(tctx, d, o.params(false)...)
	var oe *OAuthError
	switch err := tokenError(o.TokenURL, err); {
	case err == nil:
		return tok, nil
	case errors.As(err, &oe) && oe.Code == "access_denied":
		return nil, errors.New("the login was denied")
	case errors.As(err, &oe) && oe.Code == "expired_token":
		return nil, fmt.Errorf("%w: the code expired; run the login again", ErrLoginTimeout)
	default:
		return nil, err
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
