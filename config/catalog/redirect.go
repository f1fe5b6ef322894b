package catalog

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SafeRedirects is the redirect policy of every HTTP client of the
// bridge's (portal, servers, OAuth endpoints). Credentials go only to the
// origin they belong to: a redirect to another origin (scheme, host, port)
// keeps only the protocol's own headers, so that Authorization, cookies
// and every configured header are left behind; a redirect from https to
// http is not followed at all when the request carries any of them. Ten
// redirects at most.
func SafeRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0]
	if sameOrigin(req.URL, first.URL) {
		return nil
	}
	if first.URL.Scheme == "https" && req.URL.Scheme == "http" && carriesCredentials(first.Header) {
		return fmt.Errorf("refused a redirect from https to %s: the request carries credentials", req.URL.Redacted())
	}
	for name := range req.Header {
		if !protocolHeader(name) {
			req.Header.Del(name)
		}
	}
	return nil
}

// SafeClient is the HTTP client to use for credentials: c, or a new one
// with timeout when c is nil, following redirects by SafeRedirects unless
// it has a policy of its own.
func SafeClient(c *http.Client, timeout time.Duration) *http.Client {
	if c == nil {
		return &http.Client{Timeout: timeout, CheckRedirect: SafeRedirects}
	}
	if c.CheckRedirect == nil {
		safe := *c
		safe.CheckRedirect = SafeRedirects
		return &safe
	}
	return c
}

// InClear reports whether credentials sent to rawURL would travel in
// clear: http to a host that is not this machine.
func InClear(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// CheckURL is what a URL that came from a server (an authorization or
// token endpoint, a device verification page, a URL-mode elicitation) must
// be before it reaches a browser, the person or the agent: https, or http
// on this machine. Anything else (file:, javascript:, a custom scheme that
// an opener would run) is refused.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host != "" {
			return nil
		}
	case "http":
		if u.Host != "" && !InClear(raw) {
			return nil
		}
	}
	return fmt.Errorf("the URL %s is neither https nor http on this machine", u.Redacted())
}

// protocolHeader reports whether a header is the protocol's own, which
// carries no credential.
func protocolHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Accept", "Accept-Encoding", "Content-Type", "User-Agent", "Last-Event-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name":
		return true
	}
	return strings.HasPrefix(http.CanonicalHeaderKey(name), "Mcp-Param-")
}

func carriesCredentials(h http.Header) bool {
	for name := range h {
		if !protocolHeader(name) {
			return true
		}
	}
	return false
}

// sameOrigin compares scheme, host and port, the default ports spelled out.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return net.JoinHostPort(u.Hostname(), "443")
	case "http":
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}
