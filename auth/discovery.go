package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// ErrNoAuthNeeded means the server answered without asking for a token.
var ErrNoAuthNeeded = errors.New("the server answers without a token")

// Challenge is what a 401's WWW-Authenticate: Bearer header says.
type Challenge struct {
	ResourceMetadata string
	Scope            string
	Error            string
}

// Probe sends an unauthenticated initialize to an MCP server and returns
// its 401 challenge, or ErrNoAuthNeeded.
func Probe(ctx context.Context, client *http.Client, serverURL string) (*Challenge, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-bridge","version":"probe"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", serverURL, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		return nil, ErrNoAuthNeeded
	}
	return ParseChallenge(res.Header.Values("WWW-Authenticate")), nil
}

// ParseChallenge reads the Bearer challenge's parameters.
func ParseChallenge(headers []string) *Challenge {
	c := &Challenge{}
	for _, h := range headers {
		scheme, params, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		for params != "" {
			var key, val string
			key, params, _ = strings.Cut(strings.TrimLeft(params, " ,"), "=")
			if strings.HasPrefix(params, `"`) {
				end := strings.Index(params[1:], `"`)
				if end < 0 {
					val, params = params[1:], ""
				} else {
					val, params = params[1:end+1], params[end+2:]
				}
			} else {
				val, params, _ = strings.Cut(params, ",")
			}
			switch strings.ToLower(strings.TrimSpace(key)) {
			case "resource_metadata":
				c.ResourceMetadata = val
			case "scope":
				c.Scope = val
			case "error":
				c.Error = val
			}
		}
	}
	return c
}

// resourceMetadata is RFC 9728's protected resource metadata.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// serverMetadata is RFC 8414's authorization server metadata.
type serverMetadata struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	DeviceEndpoint         string   `json:"device_authorization_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	RegistrationEndpoint   string   `json:"registration_endpoint"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	ClientIDMetadataDocSup bool     `json:"client_id_metadata_document_supported"`
}

// DiscoveryOptions are the user's settings for servers that use the MCP
// authorization spec.
type DiscoveryOptions struct {
	// ClientID is a client pre-registered for this server, if any.
	ClientID string
	// ClientMetadataURL is the organisation's Client ID Metadata Document
	// for the bridge, used where the authorization server supports them.
	ClientMetadataURL string
	// Registrations persists dynamic client registrations.
	Registrations *Registrations
}

// DiscoverLogin finds how to log in to an MCP server that answered 401:
// its protected resource metadata (from the challenge, else the well-known
// URLs), its authorization server's metadata (issuer checked), a client
// (pre-registered, a metadata document, or dynamic registration), and the
// scopes to ask for. The token is bound to the server with RFC 8707.
func DiscoverLogin(ctx context.Context, client *http.Client, serverURL string, ch *Challenge, o DiscoveryOptions) (*ProviderLogin, error) {
	origin, err := Origin(serverURL)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(serverURL)
	resource := origin + strings.TrimRight(u.Path, "/")
	var prm resourceMetadata
	var tried []string
	candidates := []string{}
	if ch.ResourceMetadata != "" {
		if o2, err := Origin(ch.ResourceMetadata); err != nil || o2 != origin {
			return nil, fmt.Errorf("the server points to resource metadata on another origin (%s): refusing it", ch.ResourceMetadata)
		}
		candidates = append(candidates, ch.ResourceMetadata)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" {
		candidates = append(candidates, origin+"/.well-known/oauth-protected-resource"+p)
	}
	candidates = append(candidates, origin+"/.well-known/oauth-protected-resource")
	for _, c := range candidates {
		if err := getJSON(ctx, client, c, &prm); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		break
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("%s asks for a token but publishes no authorization server (%s)", serverURL, strings.Join(tried, "; "))
	}
	if r := strings.TrimRight(prm.Resource, "/"); r != resource && !strings.HasPrefix(resource, r+"/") {
		return nil, fmt.Errorf("%s's resource metadata is for %q, not this server: refusing it", serverURL, prm.Resource)
	}
	issuer := strings.TrimRight(prm.AuthorizationServers[0], "/")
	md, err := serverMetadataFor(ctx, client, issuer)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(md.CodeChallengeMethods, "S256") {
		return nil, fmt.Errorf("the authorization server %s does not offer PKCE with S256: refusing to log in without it", issuer)
	}
	lo := &ProviderLogin{Name: issuer, LoginOptions: LoginOptions{
		Endpoints: Endpoints{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint, DeviceURL: md.DeviceEndpoint, RevokeURL: md.RevocationEndpoint},
		Resource:  resource, Origin: origin, HTTP: client,
	}}
	switch {
	case o.ClientID != "":
		lo.ClientID = o.ClientID
	case o.ClientMetadataURL != "" && md.ClientIDMetadataDocSup:
		lo.ClientID = o.ClientMetadataURL
	case md.RegistrationEndpoint != "":
		if err := catalog.CheckURL(md.RegistrationEndpoint); err != nil {
			return nil, fmt.Errorf("refusing the authorization server's registration endpoint: %w", err)
		}
		if lo.ClientID, err = o.Registrations.clientFor(ctx, client, issuer, md.RegistrationEndpoint); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the authorization server %s needs a client registered by hand: set servers.<id>.client_id in the config", issuer)
	}
	switch {
	case ch.Scope != "":
		lo.Scopes = strings.Fields(ch.Scope)
	case len(prm.ScopesSupported) > 0:
		lo.Scopes = prm.ScopesSupported
	}
	return lo, nil
}

// serverMetadataFor fetches an issuer's metadata in the spec's order and
// checks the issuer it names.
func serverMetadataFor(ctx context.Context, client *http.Client, issuer string) (*serverMetadata, error) {
	iu, err := url.Parse(issuer)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("authorization server %q is not a URL", issuer)
	}
	base, path := iu.Scheme+"://"+iu.Host, strings.TrimRight(iu.Path, "/")
	urls := []string{base + "/.well-known/oauth-authorization-server", base + "/.well-known/openid-configuration"}
	if path != "" {
		urls = []string{base + "/.well-known/oauth-authorization-server" + path, base + "/.well-known/openid-configuration" + path, base + path + "/.well-known/openid-configuration"}
	}
	var errs []string
	for _, u := range urls {
		var md serverMetadata
		if err := getJSON(ctx, client, u, &md); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if strings.TrimRight(md.Issuer, "/") != issuer {
			return nil, fmt.Errorf("%s names issuer %q, not %q: refusing it", u, md.Issuer, issuer)
		}
		return &md, nil
	}
	return nil, fmt.Errorf("no metadata for the authorization server %s (%s)", issuer, strings.Join(errs, "; "))
}

// Registrations keeps the clients the bridge registered dynamically, one per
// authorization server, in the state folder, so that it registers once.
type Registrations struct {
	Path  string
	Locks state.Locks
}

// NewRegistrations keeps registrations in stateDir/registrations.json.
func NewRegistrations(stateDir string) *Registrations {
	return &Registrations{Path: filepath.Join(stateDir, "registrations.json"), Locks: state.Locks{Dir: filepath.Join(stateDir, "locks")}}
}

// clientFor returns the client registered at issuer, registering one
// (RFC 7591) the first time.
func (r *Registrations) clientFor(ctx context.Context, client *http.Client, issuer, endpoint string) (string, error) {
	if r == nil {
		return "", errors.New("no state folder to keep a client registration in")
	}
	// One registration per issuer, however many logins run at once.
	unlock, err := r.Locks.Lock(ctx, "register "+issuer, "another login to finish registering the bridge at "+issuer)
	if err != nil {
		return "", err
	}
	defer unlock()
	m := map[string]string{}
	if err := state.ReadJSON(r.Path, &m, "fix or delete it"); err != nil {
		return "", fmt.Errorf("registrations file %w", err)
	}
	if id, ok := m[issuer]; ok {
		return id, nil
	}
	body, _ := json.Marshal(map[string]any{
		"client_name":                "mcp-bridge",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("registering at %s: %w", endpoint, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var reg struct {
		ClientID string `json:"client_id"`
		Error    string `json:"error"`
		Desc     string `json:"error_description"`
	}
	_ = json.Unmarshal(answer, &reg)
	if reg.ClientID == "" {
		return "", fmt.Errorf("registering at %s: %s %s %s", endpoint, res.Status, reg.Error, reg.Desc)
	}
	m = map[string]string{}
	err = r.Locks.UpdateJSON(ctx, r.Path, "fix or delete it", &m, func() error {
		m[issuer] = reg.ClientID
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("registrations file %w", err)
	}
	return reg.ClientID, nil
}
