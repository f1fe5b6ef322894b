package catalog

import "strings"

// Server is one MCP server offered by the catalog: a validated API entity of
// type mcp-server. A Server whose Reasons are not empty is listed but cannot
// be enabled or connected to.
type Server struct {
	// ID is what users type: metadata.name for the default namespace,
	// "<namespace>/<name>" for any other.
	ID        string
	Namespace string
	Name      string
	Title     string
	// Description is the entity's, or the definition's when the entity has none.
	Description string
	Lifecycle   string
	Owner       string
	// Shape is the format the entity is written in.
	Shape      Shape
	Definition Definition
	Auth       Auth
	// Source names where the entity was read: a file and line, or a portal.
	Source string
	// Reasons say why the server is unavailable, one problem each.
	Reasons []string
	// Warnings are problems that do not make the server unavailable.
	Warnings []string
	// DuplicateOf is the Source of the entity in use when this one defines
	// the same entity again.
	DuplicateOf string
}

// Shape is which of the two formats of an mcp-server entity a Server was
// read from.
type Shape string

// The entity formats the bridge reads.
const (
	// ShapePortal is the seeds' format: annotation
	// mcp.spotify.com/schema-version and spec.definition, a string holding
	// server.json.
	ShapePortal Shape = "portal"
	// ShapeBackstage is Backstage's own catalog model (ApiV1alpha1McpServer
	// in @backstage/catalog-model, RFC backstage/backstage#32062):
	// spec.remotes, a list of type and url, and no annotation.
	ShapeBackstage Shape = "backstage"
	// ShapeBuiltin is no entity at all: the portal's actions server, which
	// the bridge offers by itself.
	ShapeBuiltin Shape = "built-in"
)

// Definition is the server.json the entity carries (schema 2025-09-29); for
// the Backstage shape, its remotes and the entity's description.
type Definition struct {
	Name        string
	Title       string
	Description string
	Version     string
	Remotes     []Remote
}

// Remote types the bridge can connect to.
const (
	RemoteStreamableHTTP = "streamable-http"
	RemoteSSE            = "sse"
)

// Remote is one endpoint of a server.
type Remote struct {
	Type    string
	URL     string
	Headers []Header
}

// Header is a request header a remote asks for, from server.json.
type Header struct {
	Name        string
	Description string
	Value       string
	Default     string
	IsRequired  bool
	IsSecret    bool
}

// AuthMethod is how the bridge obtains a token for a server.
type AuthMethod string

// Auth methods, from the entity's annotations.
const (
	AuthNone     AuthMethod = "none"
	AuthProvider AuthMethod = "oauth-provider" // mcp.spotify.com/auth-api-id
	AuthPlugin   AuthMethod = "plugin"         // mcp.spotify.com/auth-plugin-id
)

// Auth is the auth an entity asks for.
type Auth struct {
	Method   AuthMethod
	APIID    string   // core.auth.github
	Scopes   []string // from auth-scopes
	PluginID string   // mcp-actions
}

// Provider is the provider named by APIID ("github" for "core.auth.github").
func (a Auth) Provider() string {
	return strings.TrimPrefix(a.APIID, "core.auth.")
}

// Ref is the Backstage entity ref, "api:<namespace>/<name>".
func (s *Server) Ref() string {
	return "api:" + s.Namespace + "/" + s.Name
}

// Available reports whether the server can be enabled and connected to.
func (s *Server) Available() bool { return len(s.Reasons) == 0 }

// Transport is the remote the bridge connects to first: streamable HTTP when
// the definition lists it, else SSE. The second result is false when the
// definition lists no usable remote.
func (s *Server) Transport() (Remote, bool) {
	for _, want := range []string{RemoteStreamableHTTP, RemoteSSE} {
		for _, r := range s.Definition.Remotes {
			if r.Type == want {
				return r, true
			}
		}
	}
	return Remote{}, false
}

// Fallback is the SSE remote to try when streamable HTTP fails to initialise,
// if the definition lists both.
func (s *Server) Fallback() (Remote, bool) {
	first, ok := s.Transport()
	if !ok || first.Type != RemoteStreamableHTTP {
		return Remote{}, false
	}
	for _, r := range s.Definition.Remotes {
		if r.Type == RemoteSSE {
			return r, true
		}
	}
	return Remote{}, false
}
