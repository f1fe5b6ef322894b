package oauthtest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Protected is an MCP endpoint that follows the MCP authorization spec: it
// publishes RFC 9728 resource metadata naming the authorization server,
// answers 401 with a resource_metadata challenge, and lets a request
// through to the upstream only with a JWT access token that the
// authorization server signed for this very resource (aud), unexpired.
type Protected struct {
	// URL is the MCP endpoint, http://127.0.0.1:PORT/mcp: the resource.
	URL string

	mu       sync.Mutex
	accepted int
	rejected []string
}

// Protect puts a Protected endpoint in front of an MCP upstream URL.
// scopes are advertised as scopes_supported.
func (s *Server) Protect(t testing.TB, upstream string, scopes []string) *Protected {
	t.Helper()
	return s.protect(t, upstream, scopes, false)
}

// ProtectAfterInitialize is Protect for a server that answers initialize
// (and the initialized notification) without a token and asks for one
// only from the next request on, as some servers do.
func (s *Server) ProtectAfterInitialize(t testing.TB, upstream string, scopes []string) *Protected {
	t.Helper()
	return s.protect(t, upstream, scopes, true)
}

func (s *Server) protect(t testing.TB, upstream string, scopes []string, openInitialize bool) *Protected {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &Protected{}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.URL.Path = target.Path },
		FlushInterval: -1,
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/mcp"
	metadata := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"resource": p.URL, "authorization_servers": []string{s.Issuer}, "scopes_supported": scopes,
		})
	}
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", metadata)
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if openInitialize && r.Method == http.MethodPost && r.Header.Get("Authorization") == "" {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			var m struct{ Method string }
			if json.Unmarshal(body, &m) == nil && (m.Method == "initialize" || m.Method == "notifications/initialized") {
				rp.ServeHTTP(w, r)
				return
			}
		}
		if err := s.checkToken(r.Header.Get("Authorization"), p.URL); err != nil {
			p.mu.Lock()
			p.rejected = append(p.rejected, err.Error())
			p.mu.Unlock()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, srv.URL))
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		p.mu.Lock()
		p.accepted++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})
	return p
}

// Accepted counts requests let through; Rejected lists why others were not.
func (p *Protected) Accepted() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, slices.Clone(p.rejected)
}

// checkToken verifies an RS256 JWT access token against the authorization
// server's JWKS and checks its audience and expiry.
func (s *Server) checkToken(header, resource string) error {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return fmt.Errorf("no bearer token")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	var head struct {
		Alg, Kid string
	}
	if err := decodePart(parts[0], &head); err != nil || head.Alg != "RS256" {
		return fmt.Errorf("unexpected JWT header %+v (%v)", head, err)
	}
	key, err := s.key(head.Kid)
	if err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("bad signature: %w", err)
	}
	var claims struct {
		Aud any   `json:"aud"`
		Exp int64 `json:"exp"`
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return err
	}
	if time.Now().Unix() >= claims.Exp {
		return fmt.Errorf("expired")
	}
	auds := []string{}
	switch a := claims.Aud.(type) {
	case string:
		auds = append(auds, a)
	case []any:
		for _, v := range a {
			auds = append(auds, fmt.Sprint(v))
		}
	}
	if !slices.Contains(auds, resource) {
		return fmt.Errorf("token for audience %v, not %s", auds, resource)
	}
	return nil
}

// key fetches the signing key kid from the authorization server's JWKS.
func (s *Server) key(kid string) (*rsa.PublicKey, error) {
	res, err := http.Get(s.Issuer + "/jwks")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return nil, err
	}
	for _, k := range set.Keys {
		if k.Kid != kid || k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad JWK")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

func decodePart(part string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
