package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token is what the bridge keeps for one server: the access token, what it
// needs to refresh and revoke it, and the one origin it may be sent to. The
// JSON names are short because keychain entries are small.
type Token struct {
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt,omitempty"`
	TokenType    string    `json:"tt,omitempty"`
	Expiry       time.Time `json:"exp,omitzero"`
	Scopes       []string  `json:"sc,omitempty"`
	// Origin is the only origin the token is sent to.
	Origin string `json:"o"`
	// TokenURL, RevokeURL, ClientID and Resource are how it was obtained,
	// for refreshing and revoking it.
	TokenURL  string `json:"tu,omitempty"`
	RevokeURL string `json:"ru,omitempty"`
	ClientID  string `json:"ci,omitempty"`
	Resource  string `json:"rs,omitempty"`
	// ClientSecret and AuthMethod are how the client authenticates when
	// it renews the token (RFC 6749 §2.3): a confidential client's secret
	// is kept here, in the token store, never in the state folder.
	ClientSecret string `json:"cs,omitempty"`
	AuthMethod   string `json:"am,omitempty"`
	// Grant is GrantClientCredentials for a token the bridge renews by
	// itself, without a refresh token or a person.
	Grant string `json:"gt,omitempty"`
	// Issuer is the authorization server's, the audience of a private
	// key JWT client assertion.
	Issuer string `json:"is,omitempty"`
}

// update takes what a token endpoint answered: a refresh token that is
// not sent again stays the one there was (RFC 6749 §6).
func (t *Token) update(tok *oauth2.Token) {
	t.AccessToken, t.TokenType, t.Expiry = tok.AccessToken, tok.TokenType, tok.Expiry
	if tok.RefreshToken != "" {
		t.RefreshToken = tok.RefreshToken
	}
	if scope, _ := tok.Extra("scope").(string); scope != "" {
		t.Scopes = strings.Fields(scope)
	}
}

// Renewable reports whether the bridge can get a new token by itself: with
// a refresh token, or a new client-credentials grant.
func (t *Token) Renewable() bool {
	return t != nil && (t.RefreshToken != "" || t.Grant == GrantClientCredentials)
}

// RefreshSkew is how long before expiry a token counts as expired, so that
// it is refreshed before a request can fail with it.
const RefreshSkew = time.Minute

// Valid reports whether the token can be sent now, with the skew margin.
func (t *Token) Valid(now time.Time) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || now.Add(RefreshSkew).Before(t.Expiry))
}

// String never shows the secret parts, so a token that reaches a log or an
// error by mistake gives nothing away.
func (t *Token) String() string {
	if t == nil {
		return "<no token>"
	}
	exp := "no expiry"
	if !t.Expiry.IsZero() {
		exp = "expires " + t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("<token for %s, %s, refresh token %v>", t.Origin, exp, t.RefreshToken != "")
}

// GoString is String, for %#v.
func (t *Token) GoString() string { return t.String() }

// Tokens keeps one token per server and origin in a secret store.
type Tokens struct {
	Secrets Secrets
}

// ErrNoToken means the server has no stored token: it needs a login.
var ErrNoToken = errors.New("not logged in")

// Key names a server's entry: the server ID and its remote's origin.
func Key(serverID, origin string) string { return serverID + " " + origin }

// Get returns the stored token, or ErrNoToken.
func (s *Tokens) Get(ctx context.Context, serverID, origin string) (*Token, error) {
	v, err := s.Secrets.Get(ctx, Key(serverID, origin))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoToken
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s's token from %s: %w", serverID, s.Secrets.Name(), err)
	}
	var t Token
	if err := json.Unmarshal([]byte(v), &t); err != nil {
		return nil, fmt.Errorf("%s's token in %s is unreadable (%v): run \"bridge login %s\"", serverID, s.Secrets.Name(), err, serverID)
	}
	return &t, nil
}

// Save stores a token.
func (s *Tokens) Save(ctx context.Context, serverID string, t *Token) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.Secrets.Set(ctx, Key(serverID, t.Origin), string(data)); err != nil {
		return fmt.Errorf("saving %s's token in %s: %w", serverID, s.Secrets.Name(), err)
	}
	return nil
}

// Check proves that the store can keep a token now, before a login asks
// anything of the user: it writes an entry of its own and deletes it
// again, which reads it first. A keychain that is unavailable, locked or
// too slow fails here with its own message, which says what to do.
func (s *Tokens) Check(ctx context.Context) error {
	// No server's key: those end in an origin. One per process, so that
	// two logins at once do not delete each other's.
	key := "mcp-bridge store check " + strconv.Itoa(os.Getpid())
	err := s.Secrets.Set(ctx, key, "a login is about to store a token here")
	if err == nil {
		err = s.Secrets.Delete(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("%s cannot keep the token: %w", s.Secrets.Name(), err)
	}
	return nil
}

// Delete removes a token; a missing one is ErrNoToken.
func (s *Tokens) Delete(ctx context.Context, serverID, origin string) error {
	err := s.Secrets.Delete(ctx, Key(serverID, origin))
	if errors.Is(err, ErrNotFound) {
		return ErrNoToken
	}
	return err
}

// Origin is scheme://host[:port] of a URL, lower-cased, with default ports
// dropped: what "the same origin" compares.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}
