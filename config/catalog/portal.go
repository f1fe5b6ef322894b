package catalog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-bridge/bridge/config"
)

// ErrPortal marks a failed read of a portal's catalog.
var ErrPortal = errors.New("portal")

// ErrTokenRefused marks a read the portal refused (401) although it
// carried a token: the user's portal login, or the static token.
var ErrTokenRefused = errors.New("refused by the portal")

// DefaultPortalTimeout bounds each request to the portal unless
// portal.timeout says otherwise.
const DefaultPortalTimeout = 30 * time.Second

// The query the bridge sends: only mcp-server APIs, only the fields it reads.
const (
	portalFilter = "kind=api,spec.type=mcp-server"
	portalFields = "kind,metadata.namespace,metadata.name,metadata.title,metadata.description,metadata.annotations,metadata.etag,spec"
	portalLimit  = 100
	// portalMaxPages stops a portal whose cursors never end.
	portalMaxPages = 1000
)

// portalSource reads mcp-server entities from a Backstage portal's catalog
// API and keeps the last good read on disk for when the portal is away.
type portalSource struct {
	url      string // base URL, no trailing slash
	tokenEnv string
	// login gives the user's portal login token, "" for none; it is tried
	// before tokenEnv.
	login   func(ctx context.Context) string
	timeout time.Duration
	client  *http.Client
	cache   snapshotCache
	// preferCache answers from the cache when there is one and refreshes
	// it in the background, for a start-up that must not wait on the portal.
	preferCache bool
}

func (p *portalSource) name() string { return p.url }
func (p *portalSource) kind() string { return "portal" }

// read fetches every page. When that fails and a cached read exists, the
// cached entities are returned with the failure as readResult.stale.
func (p *portalSource) read(ctx context.Context) (readResult, error) {
	if p.preferCache {
		if snap, err := p.cache.load(p.url); err == nil && snap != nil {
			go p.refresh()
			return readResult{docs: itemDocuments(p.url, snap.Items), cachedAt: snap.FetchedAt}, nil
		}
	}
	items, err := p.fetch(ctx)
	if err == nil {
		res := readResult{docs: itemDocuments(p.url, items)}
		if cerr := p.cache.save(p.url, items); cerr != nil {
			res.warnings = append(res.warnings, cerr.Error())
		}
		return res, nil
	}
	snap, cerr := p.cache.load(p.url)
	if cerr != nil {
		return readResult{}, fmt.Errorf("%w; the cached copy is no help either: %w", err, cerr)
	}
	if snap == nil {
		return readResult{}, err
	}
	return readResult{docs: itemDocuments(p.url, snap.Items), cachedAt: snap.FetchedAt, stale: err}, nil
}

// refresh reads the portal and saves the cache for the next start.
func (p *portalSource) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*p.timeout)
	defer cancel()
	if items, err := p.fetch(ctx); err == nil {
		_ = p.cache.save(p.url, items)
	}
}

// page is one answer of /api/catalog/entities/by-query.
type page struct {
	Items    []json.RawMessage `json:"items"`
	PageInfo struct {
		NextCursor string `json:"nextCursor"`
	} `json:"pageInfo"`
}

func (p *portalSource) fetch(ctx context.Context) ([]json.RawMessage, error) {
	var items []json.RawMessage
	q := url.Values{
		"filter":     {portalFilter},
		"fields":     {portalFields},
		"limit":      {fmt.Sprint(portalLimit)},
		"orderField": {"metadata.name,asc"},
	}
	seen := map[string]bool{}
	for range portalMaxPages {
		pg, err := p.get(ctx, "/api/catalog/entities/by-query", q)
		if err != nil {
			return nil, err
		}
		items = append(items, pg.Items...)
		next := pg.PageInfo.NextCursor
		if next == "" {
			return items, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("%w %s: the catalog's cursors go round in a circle", ErrPortal, p.url)
		}
		seen[next] = true
		// A cursor carries the query; later pages send only these.
		q = url.Values{"cursor": {next}, "fields": {portalFields}, "limit": {fmt.Sprint(portalLimit)}}
	}
	return nil, fmt.Errorf("%w %s: more than %d pages of mcp-server entities; giving up", ErrPortal, p.url, portalMaxPages)
}

func (p *portalSource) get(ctx context.Context, path string, q url.Values) (*page, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrPortal, p.url, err)
	}
	req.Header.Set("Accept", "application/json")
	token, from := "", ""
	if p.login != nil {
		token, from = p.login(ctx), "your portal login"
	}
	if token == "" && p.tokenEnv != "" {
		token, from = os.Getenv(p.tokenEnv), "$"+p.tokenEnv
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, p.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		if token == "" {
			from = ""
		}
		return nil, p.statusError(resp.StatusCode, body, from)
	}
	var pg page
	if err := json.Unmarshal(body, &pg); err != nil {
		return nil, fmt.Errorf("%w %s: the answer to %s is not a catalog page (%w); check portal.url", ErrPortal, p.url, path, err)
	}
	return &pg, nil
}

// statusError explains an HTTP error from the portal and what to do about
// it. from says where the token sent came from, "" when none was.
func (p *portalSource) statusError(status int, body []byte, from string) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	what := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if e.Error.Message != "" {
		what += ": " + e.Error.Message
	}
	var todo string
	switch {
	case status == http.StatusUnauthorized && from == "" && p.tokenEnv == "":
		todo = "the portal needs a token: run \"bridge login portal\", or set portal.token_env in the config to the name of an environment variable that holds one"
	case status == http.StatusUnauthorized && from == "":
		todo = fmt.Sprintf("the portal needs a token: $%s is empty", p.tokenEnv)
	case status == http.StatusUnauthorized && from == "your portal login":
		return fmt.Errorf("%w %s: %s; %w: your portal login (it may have expired, or the portal was reset): run \"bridge login portal\"", ErrPortal, p.url, what, ErrTokenRefused)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w %s: %s; %w: the token in %s (it may be wrong or expired)", ErrPortal, p.url, what, ErrTokenRefused, from)
	case status == http.StatusForbidden:
		todo = "the token may not read the catalog: ask the portal's admins for catalog read permission"
	case status == http.StatusNotFound:
		todo = "there is no catalog API here: portal.url should be the portal's base URL, like https://portal.example.com"
	default:
		todo = "the portal failed; try again later"
	}
	return fmt.Errorf("%w %s: %s; %s", ErrPortal, p.url, what, todo)
}

// transportError explains a failure to talk to the portal at all.
func (p *portalSource) transportError(ctx context.Context, err error) error {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		dnsErr     *net.DNSError
		opErr      *net.OpError
	)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w %s: no answer within %s; the portal is slow or away (portal.timeout sets the limit)", ErrPortal, p.url, p.timeout)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr), errors.As(err, &verifyErr):
		return fmt.Errorf("%w %s: TLS certificate not trusted (%s); check portal.url, or add the portal's CA to the system's trust store", ErrPortal, p.url, tlsReason(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w %s: TLS handshake failed: the server does not speak TLS; check portal.url's scheme", ErrPortal, p.url)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w %s: cannot reach the portal: host %q not found; check portal.url and the network", ErrPortal, p.url, dnsErr.Name)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("%w %s: cannot reach the portal: %v; check portal.url and the network", ErrPortal, p.url, opErr.Err)
	}
	// The URL, with its long query, says nothing the prefix does not.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Errorf("%w %s: %w", ErrPortal, p.url, err)
}

func tlsReason(err error) string {
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		err = verifyErr.Err
	}
	return err.Error()
}

// itemDocuments turns the portal's JSON entities into documents. JSON is
// YAML, so the entity parser reads both alike.
func itemDocuments(base string, items []json.RawMessage) []document {
	docs := make([]document, 0, len(items))
	for i, raw := range items {
		loc := fmt.Sprintf("%s item %d", base, i+1)
		var root yaml.Node
		if err := yaml.Unmarshal(raw, &root); err != nil || len(root.Content) == 0 {
			docs = append(docs, document{location: loc, err: fmt.Errorf("the portal sent an entity that is not JSON")})
			continue
		}
		n := root.Content[0]
		if name := str(config.Field(n, "metadata"), "name"); name != "" {
			ns := str(config.Field(n, "metadata"), "namespace")
			if ns == "" {
				ns = "default"
			}
			loc = fmt.Sprintf("%s api:%s/%s", base, ns, name)
		}
		docs = append(docs, document{location: loc, node: n})
	}
	return docs
}

func portalBase(raw string) string { return strings.TrimRight(raw, "/") }
