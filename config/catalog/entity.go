package catalog

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-bridge/bridge/config"
)

// Annotations the bridge reads, from the entity format in the seeds.
const (
	AnnotationSchemaVersion = "mcp.spotify.com/schema-version"
	AnnotationAuthAPIID     = "mcp.spotify.com/auth-api-id"
	AnnotationAuthScopes    = "mcp.spotify.com/auth-scopes"
	AnnotationAuthPluginID  = "mcp.spotify.com/auth-plugin-id"
)

// SchemaVersion is the only definition schema this bridge reads.
const SchemaVersion = "2025-09-29"

// remoteStdio is the remote type of Backstage's model for a local server
// started by a command.
const remoteStdio = "stdio"

// Problem is a catalog document that could not become a Server at all:
// invalid YAML, or an mcp-server entity without a name.
type Problem struct {
	Location string
	Reason   string
}

func (p Problem) String() string { return p.Location + ": " + p.Reason }

// parseEntity turns one catalog document into a Server. It returns nil, nil
// for documents that are not mcp-server API entities (they are none of the
// bridge's business) and a Problem for candidates it cannot identify.
// Everything else becomes a Server, unavailable with reasons when invalid.
func parseEntity(doc document) (*Server, *Problem) {
	if doc.err != nil {
		return nil, &Problem{Location: doc.location, Reason: doc.err.Error()}
	}
	n := doc.node
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	spec := config.Field(n, "spec")
	if !strings.EqualFold(str(n, "kind"), "API") || str(spec, "type") != "mcp-server" {
		return nil, nil
	}
	meta := config.Field(n, "metadata")
	name := str(meta, "name")
	if name == "" {
		return nil, &Problem{Location: doc.location, Reason: "mcp-server entity without metadata.name: it cannot be listed or enabled"}
	}
	ns := str(meta, "namespace")
	if ns == "" {
		ns = "default"
	}
	s := &Server{
		ID:          serverID(ns, name),
		Namespace:   ns,
		Name:        name,
		Title:       str(meta, "title"),
		Description: str(meta, "description"),
		Lifecycle:   str(spec, "lifecycle"),
		Owner:       str(spec, "owner"),
		Source:      doc.location,
	}
	annotations := config.Field(meta, "annotations")
	s.Shape = entityShape(spec, annotations)
	s.checkLifecycle()
	switch s.Shape {
	case ShapePortal:
		s.checkSchemaVersion(annotations)
		s.readDefinition(spec)
	case ShapeBackstage:
		s.ignoreSchemaVersion(annotations)
		s.readSpecRemotes(spec)
	}
	s.readAuth(annotations)
	s.checkReserved()
	s.checkCleartext()
	if s.Description == "" {
		s.Description = s.Definition.Description
	}
	return s, nil
}

func serverID(namespace, name string) string {
	if strings.EqualFold(namespace, "default") {
		return name
	}
	return namespace + "/" + name
}

func (s *Server) unavailable(format string, args ...any) {
	s.Reasons = append(s.Reasons, fmt.Sprintf(format, args...))
}

func (s *Server) checkLifecycle() {
	switch s.Lifecycle {
	case "production":
	case "":
		s.unavailable("spec.lifecycle is missing: only production servers can be enabled")
	default:
		s.unavailable("lifecycle %q: only production servers can be enabled", s.Lifecycle)
	}
}

func (s *Server) checkSchemaVersion(annotations *yaml.Node) {
	v, ok := scalar(config.Field(annotations, AnnotationSchemaVersion))
	switch {
	case !ok || v == "":
		s.unavailable("annotation %s is missing (this bridge reads %q)", AnnotationSchemaVersion, SchemaVersion)
	case v != SchemaVersion:
		s.unavailable("schema-version %q is not supported: this bridge reads %q", v, SchemaVersion)
	}
}

// entityShape tells the Portal's shape from Backstage's: spec.definition
// makes an entity the Portal's, and wins when spec.remotes is there too;
// spec.remotes alone makes it Backstage's. An entity with neither is the
// Portal's when it carries the Portal's schema-version annotation, and
// Backstage's otherwise, so that its reasons name what it lacks.
func entityShape(spec, annotations *yaml.Node) Shape {
	switch {
	case present(config.Field(spec, "definition")):
		return ShapePortal
	case present(config.Field(spec, "remotes")):
		return ShapeBackstage
	case present(config.Field(annotations, AnnotationSchemaVersion)):
		return ShapePortal
	}
	return ShapeBackstage
}

// present reports whether a field is there with a value: "definition:"
// with nothing after it is as good as absent.
func present(n *yaml.Node) bool {
	return n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// readDefinition reads spec.definition, a string holding server.json as
// YAML or JSON.
func (s *Server) readDefinition(spec *yaml.Node) {
	def := config.Field(spec, "definition")
	if !present(def) {
		s.unavailable("spec.definition is missing: an entity with annotation %s carries its server.json there", AnnotationSchemaVersion)
		return
	}
	s.readDefinitionString(def)
}

// readSpecRemotes reads Backstage's shape: the remotes are spec.remotes,
// and the entity's own metadata stands for server.json's.
func (s *Server) readSpecRemotes(spec *yaml.Node) {
	s.Definition = Definition{Description: s.Description}
	remotes := config.Field(spec, "remotes")
	if !present(remotes) {
		s.unavailable("spec.remotes is missing (or spec.definition, with annotation %s): the server has nothing to connect to", AnnotationSchemaVersion)
		return
	}
	s.Definition.Remotes = s.readRemotes("spec.remotes", remotes)
}

// ignoreSchemaVersion warns of a schema version the bridge does not read on
// an entity of Backstage's shape: the annotation versions spec.definition,
// which the entity does not have, so it changes nothing.
func (s *Server) ignoreSchemaVersion(annotations *yaml.Node) {
	if v, ok := scalar(config.Field(annotations, AnnotationSchemaVersion)); ok && v != SchemaVersion {
		s.Warnings = append(s.Warnings, fmt.Sprintf("annotation %s %q is ignored: it versions spec.definition, which this entity does not have", AnnotationSchemaVersion, v))
	}
}

func (s *Server) readDefinitionString(def *yaml.Node) {
	text, ok := scalar(def)
	if !ok || def.Tag != "!!str" {
		s.unavailable("spec.definition must be a string holding server.json as YAML or JSON, not a %s", nodeKind(def))
		return
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		s.unavailable("definition: invalid YAML at %s", config.YAMLMessage(err))
		return
	}
	var d *yaml.Node
	if len(root.Content) > 0 {
		d = root.Content[0]
	}
	if d == nil || d.Kind != yaml.MappingNode {
		s.unavailable("definition: not a mapping of server.json fields")
		return
	}
	s.Definition = Definition{
		Name:        s.requiredString(d, "name"),
		Description: s.requiredString(d, "description"),
		Version:     s.requiredString(d, "version"),
		Title:       str(d, "title"),
	}
	remotes := config.Field(d, "remotes")
	if remotes == nil {
		s.unavailable("definition: remotes is missing")
		return
	}
	s.Definition.Remotes = s.readRemotes("definition: remotes", remotes)
}

func (s *Server) requiredString(d *yaml.Node, key string) string {
	n := config.Field(d, key)
	v, ok := scalar(n)
	switch {
	case n == nil || n.Tag == "!!null":
		s.unavailable("definition: %s is missing", key)
	case !ok:
		s.unavailable("definition: %s must be a string, not a %s", key, nodeKind(n))
	case strings.TrimSpace(v) == "":
		s.unavailable("definition: %s is empty", key)
	}
	return v
}

func (s *Server) readRemotes(what string, n *yaml.Node) []Remote {
	if n.Kind != yaml.SequenceNode {
		s.unavailable("%s must be a list, not a %s", what, nodeKind(n))
		return nil
	}
	if len(n.Content) == 0 {
		s.unavailable("%s is empty: the server has nothing to connect to", what)
		return nil
	}
	var out []Remote
	var stdio []string
	for i, item := range n.Content {
		at := fmt.Sprintf("%s[%d]", what, i)
		if item.Kind != yaml.MappingNode {
			s.unavailable("%s must be a mapping with type and url", at)
			continue
		}
		r := Remote{Type: str(item, "type"), URL: str(item, "url")}
		// Backstage's model lists local stdio servers too, their url a
		// command: a command from the catalog is never run here.
		if r.Type == remoteStdio && s.Shape == ShapeBackstage {
			stdio = append(stdio, fmt.Sprintf("%s (stdio) is skipped: the bridge runs no commands from the catalog", at))
			continue
		}
		ok := true
		switch r.Type {
		case RemoteStreamableHTTP, RemoteSSE:
		case "":
			s.unavailable("%s.type is missing", at)
			ok = false
		default:
			s.unavailable("%s.type %q is not streamable-http or sse", at, r.Type)
			ok = false
		}
		if r.URL == "" {
			s.unavailable("%s.url is missing", at)
			ok = false
		} else if err := checkRemoteURL(r.URL); err != nil {
			s.unavailable("%s.url %q %v", at, redactURL(r.URL), err)
			ok = false
		}
		r.Headers = s.readHeaders(at, config.Field(item, "headers"))
		if ok {
			out = append(out, r)
		}
	}
	switch {
	case len(stdio) == 0:
	case len(out) == 0:
		s.unavailable("%s has no streamable-http or sse remote to connect to: the bridge runs no stdio commands from the catalog", what)
	default:
		s.Warnings = append(s.Warnings, stdio...)
	}
	return out
}

func checkRemoteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("is not an absolute http(s) URL")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials")
	}
	return nil
}

// redactURL hides a password in a URL, so that it never reaches output.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

func (s *Server) readHeaders(at string, n *yaml.Node) []Header {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		s.unavailable("%s.headers must be a list", at)
		return nil
	}
	var out []Header
	for i, item := range n.Content {
		h := Header{
			Name:        str(item, "name"),
			Description: str(item, "description"),
			Value:       str(item, "value"),
			Default:     str(item, "default"),
			IsRequired:  str(item, "isRequired") == "true",
			IsSecret:    str(item, "isSecret") == "true",
		}
		if h.Name == "" {
			s.unavailable("%s.headers[%d].name is missing", at, i)
			continue
		}
		out = append(out, h)
	}
	return out
}

func (s *Server) readAuth(annotations *yaml.Node) {
	apiID := strings.TrimSpace(str(annotations, AnnotationAuthAPIID))
	pluginID := strings.TrimSpace(str(annotations, AnnotationAuthPluginID))
	scopesText, hasScopes := scalar(config.Field(annotations, AnnotationAuthScopes))
	s.Auth = Auth{Method: AuthNone}
	switch {
	case apiID != "" && pluginID != "":
		s.unavailable("auth-api-id and auth-plugin-id are both set: use one")
		return
	case apiID != "":
		s.Auth = Auth{Method: AuthProvider, APIID: apiID}
	case pluginID != "":
		s.Auth = Auth{Method: AuthPlugin, PluginID: pluginID}
	}
	if !hasScopes || strings.TrimSpace(scopesText) == "" {
		return
	}
	var scopes []string
	if err := json.Unmarshal([]byte(scopesText), &scopes); err != nil {
		s.unavailable("auth-scopes is not a JSON array of strings: %s", scopesText)
		return
	}
	if s.Auth.Method != AuthProvider {
		s.Warnings = append(s.Warnings, "auth-scopes is set without auth-api-id; the scopes are ignored")
		return
	}
	s.Auth.Scopes = scopes
}

func nodeKind(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	}
	return "string"
}

// PortalID is the name the portal's own login is kept under: no server
// may have it, or it would be shown the portal's login and sent its token.
const PortalID = "portal"

func (s *Server) checkReserved() {
	if strings.EqualFold(s.ID, PortalID) {
		s.unavailable("the name %q is the portal's own login's; rename the entity", s.ID)
	}
}

// checkCleartext makes a server that sends a token unavailable when a
// remote of its is plain http to another machine: the token would travel
// in clear.
func (s *Server) checkCleartext() {
	if s.Auth.Method == AuthNone {
		return
	}
	for _, r := range s.Definition.Remotes {
		if InClear(r.URL) {
			s.unavailable("%s would carry its token in clear: a remote that needs a token must be https (plain http only on this machine)", redactURL(r.URL))
		}
	}
}
