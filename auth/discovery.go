package auth

import (
	"bytes"
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
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	IssParameterSupported  bool     `json:"authorization_response_iss_parameter_supported"`
}

// authMethodFor chooses how a client with a secret (or none) authenticates
// at the token endpoint, among the methods the server offers:
// client_secret_basic unless only client_secret_post is offered (RFC 8414
// §2: basic is the default when the list is absent).
func (md *serverMetadata) authMethodFor(secret string) string {
	switch {
	case secret == "":
		return AuthNone
	case len(md.TokenAuthMethods) == 0, slices.Contains(md.TokenAuthMethods, AuthSecretBasic):
		return AuthSecretBasic
	case slices.Contains(md.TokenAuthMethods, AuthSecretPost):
		return AuthSecretPost
	}
	return AuthSecretBasic
}

// DiscoveryOptions are the user's settings for servers that use the MCP
// authorization spec.
type DiscoveryOptions struct {
	// ClientID is a client pre-registered for this server, if any, and
	// ClientSecret its secret (from servers.<id>.client_secret_env).
	ClientID     string
	ClientSecret string
	// ClientKey is the client's private key (PEM), for the
	// client-credentials grant with a private key JWT instead of a secret.
	ClientKey string
	// Grant is servers.<id>.grant: "" for a person's login, or
	// GrantClientCredentials.
	Grant string
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
//
// A server of the 2025-03-26 revision publishes no resource metadata: its
// origin is the authorization server, whose RFC 8414 metadata is at the
// origin's well-known URL, and without that at the default endpoints
// /authorize, /token and /register.
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
	var md *serverMetadata
	if len(prm.AuthorizationServers) == 0 {
		if md, err = legacyMetadata(ctx, client, origin); err != nil {
			return nil, fmt.Errorf("%s asks for a token but publishes no authorization server (%s), and %w", serverURL, strings.Join(tried, "; "), err)
		}
	} else {
		if r := strings.TrimRight(prm.Resource, "/"); r != resource && !strings.HasPrefix(resource, r+"/") {
			return nil, fmt.Errorf("%s's resource metadata is for %q, not this server: refusing it", serverURL, prm.Resource)
		}
		if md, err = serverMetadataFor(ctx, client, strings.TrimRight(prm.AuthorizationServers[0], "/")); err != nil {
			return nil, err
		}
	}
	issuer := md.Issuer
	lo := &ProviderLogin{Name: issuer, LoginOptions: LoginOptions{
		Endpoints: Endpoints{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint, DeviceURL: md.DeviceEndpoint, RevokeURL: md.RevocationEndpoint},
		Issuer:    issuer, IssRequired: md.IssParameterSupported,
		Resource: resource, Origin: origin, HTTP: client, Grant: o.Grant,
	}}
	switch {
	case o.Grant == GrantClientCredentials:
		// A machine's own client: no browser, so no PKCE to check.
		switch {
		case o.ClientID == "" || (o.ClientSecret == "" && o.ClientKey == ""):
			return nil, fmt.Errorf("the client-credentials grant needs the client registered for the bridge at %s: set servers.<id>.client_id, and client_secret_env or client_key_env", issuer)
		case o.ClientKey != "":
			lo.ClientID, lo.ClientSecret, lo.AuthMethod = o.ClientID, o.ClientKey, AuthPrivateKeyJWT
		default:
			lo.ClientID, lo.ClientSecret, lo.AuthMethod = o.ClientID, o.ClientSecret, md.authMethodFor(o.ClientSecret)
		}
	case o.Grant != "":
		return nil, fmt.Errorf("servers.<id>.grant is %q: the bridge knows %q, or none for a person's login", o.Grant, GrantClientCredentials)
	case !slices.Contains(md.CodeChallengeMethods, "S256"):
		return nil, fmt.Errorf("the authorization server %s does not offer PKCE with S256: refusing to log in without it", issuer)
	case o.ClientID != "":
		lo.ClientID, lo.ClientSecret, lo.AuthMethod = o.ClientID, o.ClientSecret, md.authMethodFor(o.ClientSecret)
	case o.ClientMetadataURL != "" && md.ClientIDMetadataDocSup:
		// Preferred over registration where both are offered: nothing
		// to keep, and the server can see who the client is.
		lo.ClientID, lo.AuthMethod = o.ClientMetadataURL, AuthNone
	case md.RegistrationEndpoint != "":
		if err := catalog.CheckURL(md.RegistrationEndpoint); err != nil {
			return nil, fmt.Errorf("refusing the authorization server's registration endpoint: %w", err)
		}
		reg, err := o.Registrations.clientFor(ctx, client, issuer, md)
		if err != nil {
			return nil, err
		}
		lo.ClientID, lo.ClientSecret, lo.AuthMethod = reg.ClientID, reg.Secret, reg.Method
	default:
		return nil, fmt.Errorf("the authorization server %s needs a client registered by hand: set servers.<id>.client_id (and client_secret_env, for a confidential client) in the config", issuer)
	}
	switch {
	case ch.Scope != "":
		lo.Scopes = strings.Fields(ch.Scope)
	case len(prm.ScopesSupported) > 0:
		lo.Scopes = prm.ScopesSupported
	}
	return lo, nil
}

// legacyMetadata is the authorization server of a 2025-03-26 server: its
// RFC 8414 metadata at the origin, whose issuer must be on that origin;
// else the default endpoints there. PKCE with S256 is the revision's rule
// either way.
func legacyMetadata(ctx context.Context, client *http.Client, origin string) (*serverMetadata, error) {
	var md serverMetadata
	u := origin + "/.well-known/oauth-authorization-server"
	err := getJSON(ctx, client, u, &md)
	if errors.Is(err, errNotFound) {
		return &serverMetadata{Issuer: origin, AuthorizationEndpoint: origin + "/authorize", TokenEndpoint: origin + "/token",
			RegistrationEndpoint: origin + "/register", CodeChallengeMethods: []string{"S256"}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("no authorization server metadata at its origin: %w", err)
	}
	if io, err := Origin(md.Issuer); err != nil || io != origin {
		return nil, fmt.Errorf("%s names issuer %q, not one on %s: refusing it", u, md.Issuer, origin)
	}
	for _, e := range []*string{&md.AuthorizationEndpoint, &md.TokenEndpoint} {
		if *e == "" {
			return nil, fmt.Errorf("%s names no authorization or token endpoint", u)
		}
	}
	return &md, nil
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

// errNotFound is a metadata URL that answers 404: nothing published there.
var errNotFound = errors.New("not found")

// Registrations keeps the clients the bridge registered dynamically, one
// per authorization server (by issuer), so that it registers once: the
// client id in the state folder, and the client's secret and
// authentication method in the token store (Secrets), never the state
// folder. A registration is only ever used with the issuer it was made at.
type Registrations struct {
	Path  string
	Locks state.Locks
	// Secrets keeps the secrets; nil keeps none, and a registration whose
	// secret cannot be found is made again.
	Secrets Secrets
}

// NewRegistrations keeps registrations in stateDir/registrations.json.
func NewRegistrations(stateDir string) *Registrations {
	return &Registrations{Path: filepath.Join(stateDir, "registrations.json"), Locks: state.Locks{Dir: filepath.Join(stateDir, "locks")}}
}

// registration is a client registered at one issuer.
type registration struct {
	ClientID string `json:"ci"`
	Secret   string `json:"cs,omitempty"`
	Method   string `json:"am"`
}

// registrationKey names an issuer's registration in the token store; no
// server's key looks like it.
func registrationKey(issuer string) string { return "registration " + issuer }

// clientFor returns the client registered at issuer, registering one
// (RFC 7591) the first time.
func (r *Registrations) clientFor(ctx context.Context, client *http.Client, issuer string, md *serverMetadata) (*registration, error) {
	if r == nil {
		return nil, errors.New("no state folder to keep a client registration in")
	}
	// One registration per issuer, however many logins run at once.
	unlock, err := r.Locks.Lock(ctx, "register "+issuer, "another login to finish registering the bridge at "+issuer)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := map[string]string{}
	if err := state.ReadJSON(r.Path, &m, "fix or delete it"); err != nil {
		return nil, fmt.Errorf("registrations file %w", err)
	}
	if id, ok := m[issuer]; ok && r.Secrets != nil {
		var reg registration
		v, err := r.Secrets.Get(ctx, registrationKey(issuer))
		if err == nil && json.Unmarshal([]byte(v), &reg) == nil && reg.ClientID == id {
			return &reg, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("reading the bridge's registration at %s from %s: %w", issuer, r.Secrets.Name(), err)
		}
		// Registered before its secret had a home, or the entry is gone:
		// a new registration, rather than a client that cannot log in.
	}
	reg, err := register(ctx, client, md)
	if err != nil {
		return nil, err
	}
	if r.Secrets != nil {
		data, _ := json.Marshal(reg)
		if err := r.Secrets.Set(ctx, registrationKey(issuer), string(data)); err != nil {
			return nil, fmt.Errorf("keeping the bridge's registration at %s in %s: %w", issuer, r.Secrets.Name(), err)
		}
	}
	m = map[string]string{}
	err = r.Locks.UpdateJSON(ctx, r.Path, "fix or delete it", &m, func() error {
		m[issuer] = reg.ClientID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registrations file %w", err)
	}
	return reg, nil
}

// register registers the bridge as a native public client (RFC 7591, with
// the application_type of OIDC registration that the 2026-07-28 revision
// asks for). A server that makes it confidential anyway answers with a
// client_secret and the token_endpoint_auth_method to use it by: both are
// kept, not dropped (RFC 6749 §4.1.3).
func register(ctx context.Context, client *http.Client, md *serverMetadata) (*registration, error) {
	endpoint := md.RegistrationEndpoint
	body, _ := json.Marshal(map[string]any{
		"client_name":                "mcp-bridge",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": AuthNone,
		"application_type":           "native",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registering at %s: %w", endpoint, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		AuthMethod   string `json:"token_endpoint_auth_method"`
		Error        string `json:"error"`
		Desc         string `json:"error_description"`
	}
	_ = json.Unmarshal(answer, &reg)
	if reg.ClientID == "" || res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("registering at %s: %s %s %s", endpoint, res.Status, reg.Error, reg.Desc)
	}
	out := &registration{ClientID: reg.ClientID, Secret: reg.ClientSecret, Method: reg.AuthMethod}
	switch {
	case out.Method == "":
		out.Method = md.authMethodFor(out.Secret)
	case out.Method != AuthNone && out.Method != AuthSecretBasic && out.Method != AuthSecretPost:
		return nil, fmt.Errorf("registering at %s: the server made the bridge a client that authenticates by %q, which the bridge cannot", endpoint, out.Method)
	case out.Method != AuthNone && out.Secret == "":
		return nil, fmt.Errorf("registering at %s: the server asks for %s but gave no client secret", endpoint, out.Method)
	}
	return out, nil
}
