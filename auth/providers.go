package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
)

// provider is what the bridge knows of an auth provider by its api id.
type provider struct {
	name          string
	defaultScopes []string
	// endpoints builds the endpoints from the user's settings; nil means
	// OIDC discovery from the configured issuer.
	endpoints func(c config.ProviderConfig) (Endpoints, error)
	// issuer is the default OIDC issuer for discovery.
	issuer      string
	needsSecret bool
	// scopes adjusts the scope list (Google's prefixes, Microsoft's
	// resource scopes).
	scopes func([]string) []string
	extra  map[string]string
}

// providers are the auth-api-ids of Backstage's auth providers that have
// an OAuth flow a local client can run.
var providers = map[string]provider{
	"core.auth.github": {name: "GitHub", defaultScopes: []string{"read:user"}, endpoints: func(c config.ProviderConfig) (Endpoints, error) {
		base := hostURL(c.Host, "https://github.com")
		return Endpoints{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token", DeviceURL: base + "/login/device/code"}, nil
	}},
	"core.auth.gitlab": {name: "GitLab", defaultScopes: []string{"read_user"}, endpoints: func(c config.ProviderConfig) (Endpoints, error) {
		base := hostURL(c.Host, "https://gitlab.com")
		return Endpoints{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token", DeviceURL: base + "/oauth/authorize_device", RevokeURL: base + "/oauth/revoke"}, nil
	}},
	"core.auth.google": {name: "Google", defaultScopes: []string{"openid", "userinfo.email", "userinfo.profile"}, scopes: googleScopes,
		issuer: "https://accounts.google.com"},
	"core.auth.microsoft": {name: "Microsoft", defaultScopes: []string{"openid", "offline_access", "profile", "email", "User.Read"}, scopes: microsoftScopes,
		endpoints: func(c config.ProviderConfig) (Endpoints, error) {
			tenant := c.Tenant
			if tenant == "" {
				tenant = "common"
			}
			base := "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0"
			return Endpoints{AuthURL: base + "/authorize", TokenURL: base + "/token", DeviceURL: base + "/devicecode"}, nil
		}},
	"core.auth.okta":      {name: "Okta", defaultScopes: []string{"openid", "email", "profile", "offline_access"}},
	"core.auth.onelogin":  {name: "OneLogin", defaultScopes: []string{"openid", "email", "profile", "offline_access"}},
	"core.auth.bitbucket": {name: "Bitbucket", defaultScopes: []string{"account"}, needsSecret: true, endpoints: fixed(Endpoints{AuthURL: "https://bitbucket.org/site/oauth2/authorize", TokenURL: "https://bitbucket.org/site/oauth2/access_token"})},
	"core.auth.bitbucket-server": {name: "Bitbucket Server", defaultScopes: []string{"PROJECT_ADMIN"}, endpoints: func(c config.ProviderConfig) (Endpoints, error) {
		if c.Host == "" {
			return Endpoints{}, fmt.Errorf("set the Bitbucket Server host")
		}
		base := hostURL(c.Host, "")
		return Endpoints{AuthURL: base + "/rest/oauth2/latest/authorize", TokenURL: base + "/rest/oauth2/latest/token"}, nil
	}},
	"core.auth.atlassian": {name: "Atlassian", defaultScopes: []string{"offline_access", "read:me", "read:jira-work", "read:jira-user"}, needsSecret: true,
		extra:     map[string]string{"audience": "api.atlassian.com", "prompt": "consent"},
		endpoints: fixed(Endpoints{AuthURL: "https://auth.atlassian.com/authorize", TokenURL: "https://auth.atlassian.com/oauth/token"})},
	"core.auth.vmware-cloud": {name: "VMware Cloud", defaultScopes: []string{"openid", "offline_access"}, endpoints: func(c config.ProviderConfig) (Endpoints, error) {
		base := hostURL(c.Host, "https://console.cloud.vmware.com")
		return Endpoints{AuthURL: base + "/csp/gateway/discovery", TokenURL: base + "/csp/gateway/am/api/auth/authorize", RevokeURL: base + "/csp/gateway/am/api/auth/revoke"}, nil
	}},
	"core.auth.openshift": {name: "OpenShift", defaultScopes: []string{"user:info"}, endpoints: func(c config.ProviderConfig) (Endpoints, error) {
		if c.AuthorizeURL == "" || c.TokenURL == "" {
			return Endpoints{}, fmt.Errorf("set authorize_url and token_url of the OpenShift OAuth server")
		}
		return Endpoints{}, nil
	}},
}

// proxyProviders sign users in at a proxy in front of the portal; there is
// no OAuth flow a local client could run.
var proxyProviders = []string{"alb", "iap", "cfaccess", "cloudflare", "easyauth", "easy-auth", "oauth2-proxy", "oauth2proxy", "guest"}

// ProviderLogin is how to log in to a provider, from the config.
type ProviderLogin struct {
	Name string
	LoginOptions
}

// ProviderFor resolves an auth-api-id and the user's settings into login
// options, or says exactly what is missing. Scopes are the provider's
// defaults, the config's, and the entity's.
func ProviderFor(ctx context.Context, client *http.Client, cfg *config.Config, apiID string, entityScopes []string) (*ProviderLogin, error) {
	settings, configured := cfg.Providers[apiID]
	p, known := providers[apiID]
	name := strings.TrimPrefix(apiID, "core.auth.")
	for _, proxy := range proxyProviders {
		if !known && strings.Contains(strings.ToLower(name), proxy) {
			return nil, fmt.Errorf("%s is a proxy-style provider: a proxy in front of the portal signs users in, and there is no OAuth flow a local bridge can run; ask the server's owners for another auth method", apiID)
		}
	}
	if !known {
		if !configured || settings.Issuer == "" {
			return nil, fmt.Errorf("%s is not a provider this bridge knows: set providers.%s.issuer (an OIDC issuer) and client_id in the config", apiID, apiID)
		}
		p = provider{name: name, defaultScopes: []string{"openid", "offline_access"}}
	}
	if settings.ClientID == "" {
		return nil, fmt.Errorf("set providers.%s.client_id in the config: the OAuth client your organisation registered for the bridge at %s", apiID, p.name)
	}
	lo := ProviderLogin{Name: p.name, LoginOptions: LoginOptions{ClientID: settings.ClientID, RedirectPort: settings.RedirectPort, HTTP: client}}
	if settings.ClientSecretEnv != "" {
		lo.ClientSecret = os.Getenv(settings.ClientSecretEnv)
	}
	if p.needsSecret && lo.ClientSecret == "" {
		return nil, fmt.Errorf("%s demands a client secret: set providers.%s.client_secret_env to the name of an environment variable that holds it", p.name, apiID)
	}
	issuer := settings.Issuer
	if issuer == "" {
		issuer = p.issuer
	}
	var err error
	switch {
	case p.endpoints != nil && settings.Issuer == "":
		lo.Endpoints, err = p.endpoints(settings)
	case issuer != "":
		lo.Endpoints, err = Discover(ctx, client, issuer)
	default:
		return nil, fmt.Errorf("set providers.%s.issuer (the %s authorization server's URL) in the config", apiID, p.name)
	}
	if err != nil {
		return nil, fmt.Errorf("providers.%s: %w", apiID, err)
	}
	for _, override := range []struct {
		to *string
		v  string
	}{
		{&lo.AuthURL, settings.AuthorizeURL}, {&lo.TokenURL, settings.TokenURL}, {&lo.DeviceURL, settings.DeviceURL}, {&lo.RevokeURL, settings.RevokeURL},
	} {
		if override.v != "" {
			*override.to = override.v
		}
	}
	scopes := union(slices.Clone(p.defaultScopes), append(slices.Clone(settings.Scopes), entityScopes...))
	if p.scopes != nil {
		scopes = p.scopes(scopes)
	}
	lo.Scopes = scopes
	for k, v := range p.extra {
		if lo.Extra == nil {
			lo.Extra = map[string][]string{}
		}
		lo.Extra.Set(k, v)
	}
	return &lo, nil
}

// Discover reads an issuer's OpenID configuration (or RFC 8414 metadata)
// and checks that it names the same issuer.
func Discover(ctx context.Context, client *http.Client, issuer string) (Endpoints, error) {
	issuer = strings.TrimRight(issuer, "/")
	var lastErr error
	for _, u := range []string{issuer + "/.well-known/openid-configuration", issuer + "/.well-known/oauth-authorization-server"} {
		var md struct {
			Issuer    string `json:"issuer"`
			Authorize string `json:"authorization_endpoint"`
			Token     string `json:"token_endpoint"`
			Device    string `json:"device_authorization_endpoint"`
			Revoke    string `json:"revocation_endpoint"`
		}
		if err := getJSON(ctx, client, u, &md); err != nil {
			lastErr = err
			continue
		}
		if strings.TrimRight(md.Issuer, "/") != issuer {
			return Endpoints{}, fmt.Errorf("%s names issuer %q, not %q: refusing it", u, md.Issuer, issuer)
		}
		if md.Authorize == "" || md.Token == "" {
			return Endpoints{}, fmt.Errorf("%s lacks the authorization or token endpoint", u)
		}
		return Endpoints{AuthURL: md.Authorize, TokenURL: md.Token, DeviceURL: md.Device, RevokeURL: md.Revoke}, nil
	}
	return Endpoints{}, fmt.Errorf("discovering %s: %w", issuer, lastErr)
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %s: %w", u, res.Status, errNotFound)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: not JSON metadata: %w", u, err)
	}
	return nil
}

func fixed(e Endpoints) func(config.ProviderConfig) (Endpoints, error) {
	return func(config.ProviderConfig) (Endpoints, error) { return e, nil }
}

func hostURL(host, def string) string {
	switch {
	case host == "":
		return def
	case strings.HasPrefix(host, "http://"), strings.HasPrefix(host, "https://"):
		return strings.TrimRight(host, "/")
	}
	return "https://" + strings.TrimRight(host, "/")
}

// googleScopes gives bare scope names Google's prefix.
func googleScopes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "openid" && !strings.Contains(s, "://") && !strings.Contains(s, ".googleapis.com") {
			s = "https://www.googleapis.com/auth/" + s
		}
		out = append(out, s)
	}
	return out
}

// microsoftScopes: a resource scope (api://…/.default) must be requested
// alone, with offline_access for a refresh token.
func microsoftScopes(in []string) []string {
	for _, s := range in {
		if strings.HasSuffix(s, "/.default") {
			return []string{s, "offline_access"}
		}
	}
	return in
}

// ServerLogin is how to log in for a server: its provider's login, or the
// portal's for a server that uses the portal's auth. It returns the key the
// token is kept under (the server's ID, or "portal"). It keeps no
// registered client's secret; ServerLoginFor does.
func ServerLogin(ctx context.Context, client *http.Client, cfg *config.Config, s *catalog.Server, stateDir string) (string, *ProviderLogin, error) {
	return ServerLoginFor(ctx, client, cfg, s, stateDir, nil)
}

// ServerLoginFor is ServerLogin whose dynamic registrations keep their
// client secrets in secrets, the token store.
func ServerLoginFor(ctx context.Context, client *http.Client, cfg *config.Config, s *catalog.Server, stateDir string, secrets Secrets) (string, *ProviderLogin, error) {
	remote, ok := s.Transport()
	switch {
	case !ok:
		return "", nil, fmt.Errorf("%s has no remote to log in to", s.ID)
	case s.Auth.Method == catalog.AuthPlugin:
		lo, err := PortalLogin(ctx, client, cfg.Portal.URL)
		return PortalID, lo, err
	case s.Auth.Method != catalog.AuthProvider:
		// No annotation: the server's own authorization, if it asks.
		// A server may answer initialize without a token and refuse only
		// later requests: the probe goes on to the next request, and what
		// such a server said to serve (which keeps it) is the challenge
		// too.
		ch, err := Probe(ctx, client, remote.URL)
		last, asked := NewChallenges(stateDir).Last(s.ID)
		switch {
		case errors.Is(err, ErrNoAuthNeeded) && asked:
			ch, err = last, nil
		case errors.Is(err, ErrNoAuthNeeded):
			return "", nil, fmt.Errorf("%s answers without a token, and has not asked for one, so there is nothing to log in to", s.ID)
		case err == nil && asked:
			ch.ResourceMetadata = cmp.Or(ch.ResourceMetadata, last.ResourceMetadata)
			ch.Scope = cmp.Or(ch.Scope, last.Scope)
		}
		if err != nil {
			return "", nil, err
		}
		sc := cfg.Servers[s.ID]
		var secret string
		if sc.ClientSecretEnv != "" {
			if secret = os.Getenv(sc.ClientSecretEnv); secret == "" {
				return "", nil, fmt.Errorf("%s: servers.%s.client_secret_env names $%s, which is not set", s.ID, s.ID, sc.ClientSecretEnv)
			}
		}
		var key string
		if sc.ClientKeyEnv != "" {
			if key = os.Getenv(sc.ClientKeyEnv); key == "" {
				return "", nil, fmt.Errorf("%s: servers.%s.client_key_env names $%s, which is not set", s.ID, s.ID, sc.ClientKeyEnv)
			}
		}
		regs := NewRegistrations(stateDir)
		regs.Secrets = secrets
		lo, err := DiscoverLogin(ctx, client, remote.URL, ch, DiscoveryOptions{
			ClientID: sc.ClientID, ClientSecret: secret, ClientKey: key, Grant: sc.Grant, ClientMetadataURL: cfg.ClientMetadataURL, Registrations: regs,
		})
		if err != nil {
			return "", nil, err
		}
		lo.Scopes = union(lo.Scopes, NewScopes(stateDir).Required(s.ID))
		return s.ID, lo, nil
	}
	lo, err := ProviderFor(ctx, client, cfg, s.Auth.APIID, s.Auth.Scopes)
	if err != nil {
		return "", nil, err
	}
	if lo.Origin, err = Origin(remote.URL); err != nil {
		return "", nil, err
	}
	lo.Scopes = union(lo.Scopes, NewScopes(stateDir).Required(s.ID))
	return s.ID, lo, nil
}

// union adds to a what b has that a lacks, in order.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// ErrPortalIssuer means portal.url is not the address the portal's auth
// backend knows itself by: its login would fail in the browser.
var ErrPortalIssuer = errors.New("portal.url is not the portal's own address")

// portalMetadata is what the bridge reads of the portal's authorization
// server metadata (RFC 8414).
type portalMetadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	ScopesSupported       []string `json:"scopes_supported"`
}

// PortalLogin logs in to a Backstage portal's auth backend as its built-in
// CLI client (a Client ID Metadata Document the portal serves itself), for
// the user's Backstage token. It reads the portal's authorization server
// metadata: the issuer named there is the address the CLI client is known
// by, so a portal.url on another origin (localhost for 127.0.0.1, say) is
// an error at once, with the fix, rather than a browser that shows 400
// Invalid client_id while the login waits out its timeout; and where the
// portal offers offline_access, the login asks for it, so that the token
// comes with a refresh token and is renewed before it expires, instead of
// lasting an hour. A portal without metadata gets the auth backend's usual
// endpoints.
func PortalLogin(ctx context.Context, client *http.Client, portal string) (*ProviderLogin, error) {
	origin, err := Origin(portal)
	if err != nil {
		return nil, fmt.Errorf("no portal to log in to: set portal.url in the config")
	}
	base := strings.TrimRight(portal, "/") + "/api/auth"
	lo := &ProviderLogin{Name: "the portal", LoginOptions: LoginOptions{
		Endpoints: Endpoints{AuthURL: base + "/v1/authorize", TokenURL: base + "/v1/token", RevokeURL: base + "/v1/revoke"},
		ClientID:  base + "/.well-known/oauth-client/cli.json",
		Origin:    origin,
	}}
	var md portalMetadata
	found := false
	for _, u := range []string{origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/oauth-authorization-server" + strings.TrimPrefix(base, origin)} {
		if getJSON(ctx, catalog.SafeClient(client, 30*time.Second), u, &md) == nil && md.Issuer != "" {
			found = true
			break
		}
	}
	if !found {
		return lo, nil
	}
	issuer := strings.TrimRight(md.Issuer, "/")
	if iss, err := Origin(issuer); err != nil || iss != origin {
		fix := strings.TrimSuffix(issuer, "/api/auth")
		return nil, fmt.Errorf("%w: portal.url is %s, but the portal's auth backend knows itself as %s (the issuer in its metadata), "+
			"and a login through %s would fail in the browser with 400 Invalid client_id: set portal.url to %s", ErrPortalIssuer, portal, issuer, origin, fix)
	}
	for _, e := range []string{md.AuthorizationEndpoint, md.TokenEndpoint, md.RevocationEndpoint} {
		if e == "" {
			continue
		}
		if err := catalog.CheckURL(e); err != nil {
			return nil, fmt.Errorf("refusing the portal's endpoint %s: %w", e, err)
		}
	}
	lo.AuthURL = cmp.Or(md.AuthorizationEndpoint, lo.AuthURL)
	lo.TokenURL = cmp.Or(md.TokenEndpoint, lo.TokenURL)
	lo.RevokeURL = cmp.Or(md.RevocationEndpoint, lo.RevokeURL)
	lo.ClientID = issuer + "/.well-known/oauth-client/cli.json"
	if slices.Contains(md.ScopesSupported, "offline_access") {
		if slices.Contains(md.ScopesSupported, "openid") {
			lo.Scopes = append(lo.Scopes, "openid")
		}
		lo.Scopes = append(lo.Scopes, "offline_access")
	}
	return lo, nil
}
