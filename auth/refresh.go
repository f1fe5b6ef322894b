package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
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

// errNoAccessToken is a token endpoint's 200 without a token.
var errNoAccessToken = errors.New("the answer has no access_token")

// tokenResponse is an OAuth 2.0 token endpoint's answer (RFC 6749 §5).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// Refresh renews a token with its refresh token (RFC 6749 §6). A rotated
// refresh token replaces the old one; the caller must save the result.
//
// Its errors sort themselves: a refused grant (an OAuth error answer such
// as invalid_grant or invalid_client) is ErrGrantRevoked, which only a new
// login cures; a failure of the server or of the way to it is ErrTransient,
// which passes.
func Refresh(ctx context.Context, client *http.Client, t *Token) (*Token, error) {
	if t.RefreshToken == "" || t.TokenURL == "" {
		return nil, fmt.Errorf("%w: the token cannot be renewed", ErrGrantRevoked)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.RefreshToken}}
	if t.ClientID != "" {
		form.Set("client_id", t.ClientID)
	}
	if t.Resource != "" {
		form.Set("resource", t.Resource)
	}
	resp, err := postForm(ctx, client, t.TokenURL, form)
	if err != nil {
		return nil, renewalError(ctx, err)
	}
	nt := *t
	nt.AccessToken, nt.TokenType = resp.AccessToken, resp.TokenType
	if resp.RefreshToken != "" {
		nt.RefreshToken = resp.RefreshToken
	}
	nt.Expiry = time.Time{}
	if resp.ExpiresIn > 0 {
		nt.Expiry = time.Now().Add(time.Duration(resp.ExpiresIn) * time.Second)
	}
	if resp.Scope != "" {
		nt.Scopes = strings.Fields(resp.Scope)
	}
	return &nt, nil
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

// postForm posts to a token endpoint and reads its answer, turning OAuth
// errors into messages a person can act on. Tokens never appear in them.
func postForm(ctx context.Context, client *http.Client, endpoint string, form url.Values) (*tokenResponse, error) {
	res, body, err := post(ctx, client, endpoint, form)
	if err != nil {
		return nil, fmt.Errorf("token endpoint %w", err)
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if tr.Error == "" && jsonErr != nil {
		// GitHub answers form-encoded unless asked; accept that too.
		if v, err := url.ParseQuery(string(body)); err == nil {
			tr = tokenResponse{AccessToken: v.Get("access_token"), TokenType: v.Get("token_type"),
				RefreshToken: v.Get("refresh_token"), Scope: v.Get("scope"), Error: v.Get("error"), Description: v.Get("error_description")}
		}
	}
	switch {
	case tr.Error != "":
		return nil, &OAuthError{Endpoint: endpoint, Code: tr.Error, Description: tr.Description, Status: res.StatusCode}
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("token endpoint %s: %s", endpoint, res.Status)
	case tr.AccessToken == "":
		return nil, fmt.Errorf("token endpoint %s: %w", endpoint, errNoAccessToken)
	}
	return &tr, nil
}

// postJSON posts a form and returns the JSON answer, for endpoints whose
// answer is not a token (device authorization).
func postJSON(ctx context.Context, client *http.Client, endpoint string, form url.Values) (json.RawMessage, error) {
	res, body, err := post(ctx, client, endpoint, form)
	if err != nil {
		return nil, err
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return nil, &OAuthError{Endpoint: endpoint, Code: e.Error, Description: e.Description, Status: res.StatusCode}
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", endpoint, res.Status)
	}
	return body, nil
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
