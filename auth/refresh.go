package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mcp-bridge/bridge/config/catalog"
)

// ErrGrantRevoked means the authorization server refused to renew the
// token (the grant expired, was revoked or reused, or the client is no
// longer known): the user must log in again.
var ErrGrantRevoked = errors.New("the login has expired or was revoked")

// ErrTransient means the authorization server could not be reached or
// failed: no answer in time, a refused connection, a 5xx, an answer that
// is not OAuth's. The login is still good; trying again later may work.
var ErrTransient = errors.New("the authorization server is unreachable or failing")

// OAuthError is an error answer of an authorization server (RFC 6749 §5.2).
// invalid_grant is ErrGrantRevoked (unless it came with a 5xx, a server's
// failure): the user must log in again.
type OAuthError struct {
	Endpoint, Code, Description string
	// Status is the HTTP status the answer came with.
	Status int
}

func (e *OAuthError) Error() string {
	if e.revoked() {
		return fmt.Sprintf("%s (%s)", ErrGrantRevoked, strings.TrimSpace(e.Code+" "+e.Description))
	}
	return fmt.Sprintf("%s answered %s %s", e.Endpoint, e.Code, e.Description)
}

// Unwrap makes invalid_grant match ErrGrantRevoked.
func (e *OAuthError) Unwrap() error {
	if e.revoked() {
		return ErrGrantRevoked
	}
	return nil
}

func (e *OAuthError) revoked() bool { return e.Code == "invalid_grant" && e.refusal() }

// refusal reports whether the answer refuses the request for good (a
// grant or client the server will not take), as against saying the server
// is failing for now: a 5xx or 429, server_error, temporarily_unavailable.
func (e *OAuthError) refusal() bool {
	switch {
	case e.Status >= 500, e.Status == http.StatusTooManyRequests:
		return false
	case e.Code == "server_error", e.Code == "temporarily_unavailable":
		return false
	}
	return true
}

// Refresh renews a token (RFC 6749 §6) with x/oauth2: with its refresh
// token, or, for a client-credentials token, with a new grant. The client
// authenticates as it did at the login (its secret, by its method), and
// the resource (RFC 8707) is sent again. A rotated refresh token replaces
// the old one; the caller must save the result.
//
// Its errors sort themselves: a refused grant (an OAuth error answer such
// as invalid_grant or invalid_client) is ErrGrantRevoked, which only a new
// login cures; a failure of the server or of the way to it is ErrTransient,
// which passes.
func Refresh(ctx context.Context, client *http.Client, t *Token) (*Token, error) {
	if t.TokenURL == "" || (t.RefreshToken == "" && t.Grant != GrantClientCredentials) {
		return nil, fmt.Errorf("%w: the token cannot be renewed", ErrGrantRevoked)
	}
	if err := catalog.CheckURL(t.TokenURL); err != nil {
		return nil, fmt.Errorf("%w: refusing the token endpoint: %w", ErrGrantRevoked, err)
	}
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	var tok *oauth2.Token
	var err error
	if t.Grant == GrantClientCredentials {
		tok, err = clientCredentials(ctx, client, t)
	} else {
		// x/oauth2's refresh takes no extra parameters: the resource goes
		// into the request on its way out.
		cfg := &oauth2.Config{ClientID: t.ClientID, ClientSecret: t.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: t.TokenURL, AuthStyle: authStyle(t.AuthMethod, t.ClientSecret)}}
		var params url.Values
		if t.Resource != "" {
			params = url.Values{"resource": {t.Resource}}
		}
		tok, err = cfg.TokenSource(withParams(ctx, client, t.TokenURL, params), &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		err = tokenError(t.TokenURL, err)
	}
	if err != nil {
		return nil, renewalError(ctx, err)
	}
	nt := *t
	nt.update(tok)
	return &nt, nil
}

// clientCredentials obtains a token with the client-credentials grant
// (RFC 6749 §4.4), for the token's client and resource.
func clientCredentials(ctx context.Context, client *http.Client, t *Token) (*oauth2.Token, error) {
	if t.ClientSecret == "" {
		return nil, fmt.Errorf("%w: the client-credentials grant needs the client's secret or key", ErrGrantRevoked)
	}
	cc := &clientcredentials.Config{ClientID: t.ClientID, ClientSecret: t.ClientSecret, TokenURL: t.TokenURL, Scopes: t.Scopes,
		AuthStyle: authStyle(t.AuthMethod, t.ClientSecret), EndpointParams: url.Values{}}
	if t.Resource != "" {
		cc.EndpointParams.Set("resource", t.Resource)
	}
	if t.AuthMethod == AuthPrivateKeyJWT {
		// The key signs a new assertion for each request; it is never sent.
		a, err := clientAssertion(t.ClientSecret, t.ClientID, t.Issuer, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrGrantRevoked, err)
		}
		cc.ClientSecret, cc.AuthStyle = "", oauth2.AuthStyleInParams
		cc.EndpointParams.Set("client_assertion_type", clientAssertionType)
		cc.EndpointParams.Set("client_assertion", a)
	}
	tok, err := cc.Token(tokenContext(ctx, client))
	return tok, tokenError(t.TokenURL, err)
}

// tokenTimeout bounds one request to a token endpoint.
const tokenTimeout = 30 * time.Second

// tokenContext hands x/oauth2 the bridge's HTTP client (bounded, and
// dropping credentials on redirects to other origins), through
// oauthTransport.
func tokenContext(ctx context.Context, client *http.Client) context.Context {
	return withParams(ctx, client, "", nil)
}

// withParams is tokenContext whose client also adds params to the forms
// it posts to endpoint, for what x/oauth2 cannot add itself (the resource
// on a refresh).
func withParams(ctx context.Context, client *http.Client, endpoint string, params url.Values) context.Context {
	c := *catalog.SafeClient(client, tokenTimeout)
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = oauthTransport{base: base, endpoint: endpoint, params: params}
	return context.WithValue(ctx, oauth2.HTTPClient, &c)
}

// authStyle is x/oauth2's name for a client authentication method:
// client_secret_basic puts the secret in the Authorization header;
// client_secret_post, and none (a public client), put the client id (and
// secret) in the form.
func authStyle(method, secret string) oauth2.AuthStyle {
	switch {
	case method == AuthSecretPost, method == AuthNone, secret == "":
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// errNoAccessToken is a token endpoint's 200 without a token.
var errNoAccessToken = errors.New("the answer has no access_token")

// tokenError turns x/oauth2's errors into the bridge's: an OAuth error
// answer becomes an OAuthError; any other answer is named by its status
// only, since its body is the server's and may echo what was sent.
func tokenError(endpoint string, err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode != "":
		return &OAuthError{Endpoint: endpoint, Code: re.ErrorCode, Description: re.ErrorDescription, Status: re.Response.StatusCode}
	case errors.As(err, &re):
		return fmt.Errorf("token endpoint %s: %s", endpoint, re.Response.Status)
	case strings.Contains(err.Error(), "missing access_token"):
		return fmt.Errorf("token endpoint %s: %w", endpoint, errNoAccessToken)
	}
	return fmt.Errorf("token endpoint %s: %w", endpoint, err)
}

// oauthTransport is how the bridge's requests to OAuth endpoints go out
// through x/oauth2: asking for JSON (GitHub answers a form otherwise),
// with params added to the forms posted to endpoint, and with a JSON
// answer labelled text/plain read as the JSON it is.
type oauthTransport struct {
	base     http.RoundTripper
	endpoint string
	params   url.Values
}

func (p oauthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	if len(p.params) > 0 && r.Method == http.MethodPost && r.URL.String() == p.endpoint && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range p.params {
			form[k] = v
		}
		enc := form.Encode()
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(enc)), int64(len(enc))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	}
	res, err := p.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct == "text/plain" || ct == "" {
		br := bufio.NewReader(res.Body)
		if first, _ := br.Peek(1); len(first) == 1 && first[0] == '{' {
			res.Header.Set("Content-Type", "application/json")
		}
		res.Body = struct {
			io.Reader
			io.Closer
		}{br, res.Body}
	}
	return res, nil
}

// renewalError sorts the failure of a renewal: a refused grant is
// ErrGrantRevoked; the end of the caller's ctx stays what it is; anything
// else is ErrTransient.
func renewalError(ctx context.Context, err error) error {
	var oe *OAuthError
	switch {
	case errors.Is(err, ErrGrantRevoked):
		return err
	case errors.As(err, &oe) && oe.refusal():
		return fmt.Errorf("%w: %w", ErrGrantRevoked, err)
	case ctx.Err() != nil:
		return err
	}
	return fmt.Errorf("%w: %w", ErrTransient, err)
}

// post sends a form to an OAuth endpoint, asking for JSON, and reads at
// most 1 MiB of the answer.
func post(ctx context.Context, client *http.Client, endpoint string, form url.Values) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	return res, body, nil
}
