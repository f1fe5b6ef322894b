package catalog

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-bridge/bridge/config"
)

// entity builds an mcp-server entity that passes every rule, changed by mut.
func entity(t *testing.T, mut func(e, meta, ann, spec map[string]any)) []byte {
	t.Helper()
	ann := map[string]any{AnnotationSchemaVersion: SchemaVersion}
	meta := map[string]any{"name": "srv", "title": "Srv", "annotations": ann}
	spec := map[string]any{"type": "mcp-server", "lifecycle": "production", "owner": "team",
		"definition": definition(t, nil)}
	e := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": meta, "spec": spec}
	if mut != nil {
		mut(e, meta, ann, spec)
	}
	out, err := yaml.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// definition builds a server.json string that passes every rule, changed by mut.
func definition(t *testing.T, mut func(d map[string]any)) string {
	t.Helper()
	d := map[string]any{"name": "com.example/srv", "description": "A server.", "version": "1.0.0",
		"remotes": []any{map[string]any{"type": "streamable-http", "url": "https://srv.example.com/mcp"}}}
	if mut != nil {
		mut(d)
	}
	out, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func parseOne(t *testing.T, data []byte) (*Server, *Problem) {
	t.Helper()
	docs := splitDocuments("test.yaml", data)
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	return parseEntity(docs[0])
}

func TestEntityRules(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		// reasons are the exact reasons the entity must get; none means available.
		reasons []string
	}{
		{"valid", entity(t, nil), nil},
		{"lifecycle experimental", entity(t, func(_, _, _, spec map[string]any) { spec["lifecycle"] = "experimental" }),
			[]string{`lifecycle "experimental": only production servers can be enabled`}},
		{"lifecycle missing", entity(t, func(_, _, _, spec map[string]any) { delete(spec, "lifecycle") }),
			[]string{"spec.lifecycle is missing: only production servers can be enabled"}},
		{"schema version missing", entity(t, func(_, _, ann, _ map[string]any) { delete(ann, AnnotationSchemaVersion) }),
			[]string{`annotation mcp.spotify.com/schema-version is missing (this bridge reads "2025-09-29")`}},
		{"schema version unknown", entity(t, func(_, _, ann, _ map[string]any) { ann[AnnotationSchemaVersion] = "2030-01-01" }),
			[]string{`schema-version "2030-01-01" is not supported: this bridge reads "2025-09-29"`}},
		{"definition is a mapping", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = map[string]any{"name": "com.example/srv"}
		}), []string{"spec.definition must be a string holding server.json as YAML or JSON, not a mapping"}},
		{"definition is a number", entity(t, func(_, _, _, spec map[string]any) { spec["definition"] = 42 }),
			[]string{"spec.definition must be a string holding server.json as YAML or JSON, not a number"}},
		{"definition invalid YAML", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = "name: a\ndescription: b\nremotes: [\n"
		}), []string{"definition: invalid YAML at line 4: did not find expected node content"}},
		{"definition is a list", entity(t, func(_, _, _, spec map[string]any) { spec["definition"] = "- a\n- b\n" }),
			[]string{"definition: not a mapping of server.json fields"}},
		{"definition as JSON", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = `{"name":"com.example/srv","description":"d","version":"1","remotes":[{"type":"sse","url":"http://127.0.0.1:8080/sse"}]}`
		}), nil},
		{"name missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { delete(d, "name") })
		}), []string{"definition: name is missing"}},
		{"description missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { delete(d, "description") })
		}), []string{"definition: description is missing"}},
		{"version missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { delete(d, "version") })
		}), []string{"definition: version is missing"}},
		{"version empty", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["version"] = " " })
		}), []string{"definition: version is empty"}},
		{"name not a string", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["name"] = []string{"a"} })
		}), []string{"definition: name must be a string, not a list"}},
		{"remotes missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { delete(d, "remotes") })
		}), []string{"definition: remotes is missing"}},
		{"remotes empty", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["remotes"] = []any{} })
		}), []string{"definition: remotes is empty: the server has nothing to connect to"}},
		{"remotes not a list", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["remotes"] = "https://x" })
		}), []string{"definition: remotes must be a list, not a string"}},
		{"remote not a mapping", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["remotes"] = []any{"https://x"} })
		}), []string{"definition: remotes[0] must be a mapping with type and url"}},
		{"remote type websocket", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "websocket", "url": "https://x.example.com"}}
			})
		}), []string{`definition: remotes[0].type "websocket" is not streamable-http or sse`}},
		{"remote type missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"url": "https://x.example.com"}}
			})
		}), []string{"definition: remotes[0].type is missing"}},
		{"remote url missing", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) { d["remotes"] = []any{map[string]any{"type": "sse"}} })
		}), []string{"definition: remotes[0].url is missing"}},
		{"remote url relative", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "sse", "url": "/sse"}}
			})
		}), []string{`definition: remotes[0].url "/sse" is not an absolute http(s) URL`}},
		{"remote url not http", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "sse", "url": "ftp://x.example.com/sse"}}
			})
		}), []string{`definition: remotes[0].url "ftp://x.example.com/sse" is not an absolute http(s) URL`}},
		{"remote url with password is redacted", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "sse", "url": "https://me:hunter2@x.example.com/sse"}}
			})
		}), []string{`definition: remotes[0].url "https://me:xxxxx@x.example.com/sse" must not carry credentials`}},
		{"header without name", entity(t, func(_, _, _, spec map[string]any) {
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "sse", "url": "https://x.example.com/sse",
					"headers": []any{map[string]any{"value": "v"}}}}
			})
		}), []string{"definition: remotes[0].headers[0].name is missing"}},
		{"upstream spec.remotes", entity(t, func(_, _, _, spec map[string]any) {
			delete(spec, "definition")
			spec["remotes"] = []any{map[string]any{"type": "streamable-http", "url": "https://x.example.com/mcp"}}
		}), nil},
		{"upstream spec.remotes invalid", entity(t, func(_, _, _, spec map[string]any) {
			delete(spec, "definition")
			spec["remotes"] = []any{map[string]any{"type": "grpc", "url": "https://x.example.com"}}
		}), []string{`spec.remotes[0].type "grpc" is not streamable-http or sse`}},
		{"definition preferred over spec.remotes", entity(t, func(_, _, _, spec map[string]any) {
			spec["remotes"] = []any{map[string]any{"type": "grpc"}}
		}), nil},
		{"no definition and no remotes", entity(t, func(_, _, _, spec map[string]any) { delete(spec, "definition") }),
			[]string{"spec.definition is missing: an entity with annotation mcp.spotify.com/schema-version carries its server.json there"}},
		{"null definition", entity(t, func(_, _, _, spec map[string]any) { spec["definition"] = nil }),
			[]string{"spec.definition is missing: an entity with annotation mcp.spotify.com/schema-version carries its server.json there"}},
		{"both auth methods", entity(t, func(_, _, ann, _ map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			ann[AnnotationAuthPluginID] = "mcp-actions"
		}), []string{"auth-api-id and auth-plugin-id are both set: use one"}},
		{"a token over plain http", entity(t, func(_, _, ann, spec map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "streamable-http", "url": "http://srv.example.com/mcp"}}
			})
		}), []string{"http://srv.example.com/mcp would carry its token in clear: a remote that needs a token must be https (plain http only on this machine)"}},
		{"a token over plain http on this machine", entity(t, func(_, _, ann, spec map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			spec["definition"] = definition(t, func(d map[string]any) {
				d["remotes"] = []any{map[string]any{"type": "streamable-http", "url": "http://127.0.0.1:8080/mcp"}}
			})
		}), nil},
		{"the portal's reserved name", entity(t, func(_, meta, _, _ map[string]any) { meta["name"] = "portal" }),
			[]string{`the name "portal" is the portal's own login's; rename the entity`}},
		{"scopes not JSON", entity(t, func(_, _, ann, _ map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			ann[AnnotationAuthScopes] = "repo read:org"
		}), []string{"auth-scopes is not a JSON array of strings: repo read:org"}},
		{"scopes not strings", entity(t, func(_, _, ann, _ map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			ann[AnnotationAuthScopes] = `[1, 2]`
		}), []string{"auth-scopes is not a JSON array of strings: [1, 2]"}},
		{"every problem at once", entity(t, func(_, _, ann, spec map[string]any) {
			spec["lifecycle"] = "deprecated"
			delete(ann, AnnotationSchemaVersion)
			spec["definition"] = definition(t, func(d map[string]any) { delete(d, "version") })
		}), []string{
			`lifecycle "deprecated": only production servers can be enabled`,
			`annotation mcp.spotify.com/schema-version is missing (this bridge reads "2025-09-29")`,
			"definition: version is missing",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := parseOne(t, tt.data)
			if p != nil {
				t.Fatalf("problem %v, want a server", p)
			}
			if s == nil {
				t.Fatal("entity ignored, want a server")
			}
			if !slices.Equal(s.Reasons, tt.reasons) {
				t.Errorf("reasons:\n got %q\nwant %q", s.Reasons, tt.reasons)
			}
			if got := s.Available(); got != (len(tt.reasons) == 0) {
				t.Errorf("Available() = %v", got)
			}
		})
	}
}

// backstageEntity builds an entity in Backstage's own shape
// (ApiV1alpha1McpServer) that passes every rule, changed by mut: spec.remotes
// and no annotation.
func backstageEntity(t *testing.T, mut func(meta, ann, spec map[string]any)) []byte {
	t.Helper()
	ann := map[string]any{}
	meta := map[string]any{"name": "srv", "title": "Srv", "description": "A server.", "annotations": ann}
	spec := map[string]any{"type": "mcp-server", "lifecycle": "production", "owner": "team",
		"remotes": []any{map[string]any{"type": "streamable-http", "url": "https://srv.example.com/mcp"}}}
	if mut != nil {
		mut(meta, ann, spec)
	}
	if len(ann) == 0 {
		delete(meta, "annotations")
	}
	out, err := yaml.Marshal(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "API", "metadata": meta, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func remotes(typeAndURL ...string) []any {
	var out []any
	for i := 0; i+1 < len(typeAndURL); i += 2 {
		out = append(out, map[string]any{"type": typeAndURL[i], "url": typeAndURL[i+1]})
	}
	return out
}

// TestBackstageEntityRules: an entity of Backstage's shape needs no Portal
// annotation, and every other rule holds for it as for the Portal's.
func TestBackstageEntityRules(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		reasons  []string
		warnings []string
	}{
		{"valid, no annotation", backstageEntity(t, nil), nil, nil},
		{"the model's own example", []byte(`apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: backstage-mcp-actions
  title: Backstage MCP Server
  description: Exposes tools related to the Backstage Ecosystem
spec:
  type: mcp-server
  lifecycle: experimental
  owner: backstage
  remotes:
    - type: streamable-http
      url: http://internal.backstage.company:7007/api/mcp-actions/v1
`), []string{`lifecycle "experimental": only production servers can be enabled`}, nil},
		{"apiVersion v1beta1", bytes.Replace(backstageEntity(t, nil), []byte("backstage.io/v1alpha1"), []byte("backstage.io/v1beta1"), 1), nil, nil},
		{"supported schema version", backstageEntity(t, func(_, ann, _ map[string]any) { ann[AnnotationSchemaVersion] = SchemaVersion }), nil, nil},
		{"unknown schema version warns", backstageEntity(t, func(_, ann, _ map[string]any) { ann[AnnotationSchemaVersion] = "2030-01-01" }),
			nil, []string{`annotation mcp.spotify.com/schema-version "2030-01-01" is ignored: it versions spec.definition, which this entity does not have`}},
		{"lifecycle missing", backstageEntity(t, func(_, _, spec map[string]any) { delete(spec, "lifecycle") }),
			[]string{"spec.lifecycle is missing: only production servers can be enabled"}, nil},
		{"remotes missing", backstageEntity(t, func(_, _, spec map[string]any) { delete(spec, "remotes") }),
			[]string{"spec.remotes is missing (or spec.definition, with annotation mcp.spotify.com/schema-version): the server has nothing to connect to"}, nil},
		{"remotes null", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = nil }),
			[]string{"spec.remotes is missing (or spec.definition, with annotation mcp.spotify.com/schema-version): the server has nothing to connect to"}, nil},
		{"remotes empty", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = []any{} }),
			[]string{"spec.remotes is empty: the server has nothing to connect to"}, nil},
		{"remotes a mapping", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = map[string]any{"type": "sse"} }),
			[]string{"spec.remotes must be a list, not a mapping"}, nil},
		{"remote type unknown", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = remotes("websocket", "wss://srv.example.com") }),
			[]string{`spec.remotes[0].type "websocket" is not streamable-http or sse`, `spec.remotes[0].url "wss://srv.example.com" is not an absolute http(s) URL`}, nil},
		{"remote url relative", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = remotes("sse", "/sse") }),
			[]string{`spec.remotes[0].url "/sse" is not an absolute http(s) URL`}, nil},
		{"remote url with password is redacted", backstageEntity(t, func(_, _, spec map[string]any) {
			spec["remotes"] = remotes("sse", "https://me:hunter2@srv.example.com/sse")
		}), []string{`spec.remotes[0].url "https://me:xxxxx@srv.example.com/sse" must not carry credentials`}, nil},
		{"stdio beside a remote is skipped", backstageEntity(t, func(_, _, spec map[string]any) {
			spec["remotes"] = remotes("stdio", "npx -y srv-mcp", "streamable-http", "https://srv.example.com/mcp")
		}), nil, []string{"spec.remotes[0] (stdio) is skipped: the bridge runs no commands from the catalog"}},
		{"stdio alone", backstageEntity(t, func(_, _, spec map[string]any) { spec["remotes"] = remotes("stdio", "npx -y srv-mcp") }),
			[]string{"spec.remotes has no streamable-http or sse remote to connect to: the bridge runs no stdio commands from the catalog"}, nil},
		{"both auth methods", backstageEntity(t, func(_, ann, _ map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			ann[AnnotationAuthPluginID] = "mcp-actions"
		}), []string{"auth-api-id and auth-plugin-id are both set: use one"}, nil},
		{"scopes not JSON", backstageEntity(t, func(_, ann, _ map[string]any) {
			ann[AnnotationAuthAPIID] = "core.auth.github"
			ann[AnnotationAuthScopes] = "repo"
		}), []string{"auth-scopes is not a JSON array of strings: repo"}, nil},
		{"a token over plain http", backstageEntity(t, func(_, ann, spec map[string]any) {
			ann[AnnotationAuthPluginID] = "mcp-actions"
			spec["remotes"] = remotes("streamable-http", "http://portal.example.com/api/mcp-actions/v1")
		}), []string{"http://portal.example.com/api/mcp-actions/v1 would carry its token in clear: a remote that needs a token must be https (plain http only on this machine)"}, nil},
		{"a token over plain http on this machine", backstageEntity(t, func(_, ann, spec map[string]any) {
			ann[AnnotationAuthPluginID] = "mcp-actions"
			spec["remotes"] = remotes("streamable-http", "http://127.0.0.1:7007/api/mcp-actions/v1")
		}), nil, nil},
		{"the portal's reserved name", backstageEntity(t, func(meta, _, _ map[string]any) { meta["name"] = "Portal" }),
			[]string{`the name "Portal" is the portal's own login's; rename the entity`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := parseOne(t, tt.data)
			if p != nil || s == nil {
				t.Fatalf("got server %v, problem %v; want a server", s, p)
			}
			if s.Shape != ShapeBackstage {
				t.Errorf("Shape = %q, want %q", s.Shape, ShapeBackstage)
			}
			if !slices.Equal(s.Reasons, tt.reasons) {
				t.Errorf("reasons:\n got %q\nwant %q", s.Reasons, tt.reasons)
			}
			if !slices.Equal(s.Warnings, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", s.Warnings, tt.warnings)
			}
			if got := s.Available(); got != (len(tt.reasons) == 0) {
				t.Errorf("Available() = %v", got)
			}
		})
	}
}

// TestEntityShape: spec.definition makes an entity the Portal's and wins
// over spec.remotes; spec.remotes alone makes it Backstage's; with
// neither, the schema-version annotation decides which shape's reasons it
// gets.
func TestEntityShape(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Shape
	}{
		{"definition", entity(t, nil), ShapePortal},
		{"definition and remotes", entity(t, func(_, _, _, spec map[string]any) { spec["remotes"] = remotes("sse", "https://x.example.com/sse") }), ShapePortal},
		{"definition without annotation", entity(t, func(_, _, ann, _ map[string]any) { delete(ann, AnnotationSchemaVersion) }), ShapePortal},
		{"remotes", backstageEntity(t, nil), ShapeBackstage},
		{"remotes and annotation", backstageEntity(t, func(_, ann, _ map[string]any) { ann[AnnotationSchemaVersion] = SchemaVersion }), ShapeBackstage},
		{"null definition and remotes", backstageEntity(t, func(_, _, spec map[string]any) { spec["definition"] = nil }), ShapeBackstage},
		{"neither, with annotation", entity(t, func(_, _, _, spec map[string]any) { delete(spec, "definition") }), ShapePortal},
		{"neither, without annotation", backstageEntity(t, func(_, _, spec map[string]any) { delete(spec, "remotes") }), ShapeBackstage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := parseOne(t, tt.data)
			if s == nil || s.Shape != tt.want {
				t.Errorf("server %+v, want shape %q", s, tt.want)
			}
		})
	}
}

// TestBackstageEntityFields: the entity's metadata stands for server.json's.
func TestBackstageEntityFields(t *testing.T) {
	s, _ := parseOne(t, backstageEntity(t, func(meta, ann, spec map[string]any) {
		meta["namespace"] = "tools"
		ann[AnnotationAuthAPIID] = "core.auth.github"
		ann[AnnotationAuthScopes] = `["repo"]`
		spec["remotes"] = remotes("sse", "https://x.example.com/sse", "streamable-http", "https://x.example.com/mcp")
	}))
	if s.ID != "tools/srv" || s.Description != "A server." || s.Definition.Description != "A server." || s.Definition.Name != "" {
		t.Errorf("server %+v", s)
	}
	if s.Auth.Method != AuthProvider || s.Auth.Provider() != "github" || !slices.Equal(s.Auth.Scopes, []string{"repo"}) {
		t.Errorf("Auth = %+v", s.Auth)
	}
	tr, _ := s.Transport()
	fb, _ := s.Fallback()
	if tr.URL != "https://x.example.com/mcp" || fb.URL != "https://x.example.com/sse" {
		t.Errorf("Transport %+v, Fallback %+v", tr, fb)
	}
}

func TestEntitiesThatAreNotServersAreIgnored(t *testing.T) {
	tests := map[string][]byte{
		"component":    entity(t, func(e, _, _, _ map[string]any) { e["kind"] = "Component" }),
		"openapi":      entity(t, func(_, _, _, spec map[string]any) { spec["type"] = "openapi" }),
		"no spec":      entity(t, func(e, _, _, _ map[string]any) { delete(e, "spec") }),
		"scalar doc":   []byte("just a string\n"),
		"list doc":     []byte("- a\n- b\n"),
		"type in caps": entity(t, func(_, _, _, spec map[string]any) { spec["type"] = "MCP-Server" }),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			s, p := parseOne(t, data)
			if s != nil || p != nil {
				t.Errorf("got server %v, problem %v; want it ignored", s, p)
			}
		})
	}
}

func TestEntityWithoutNameIsAProblem(t *testing.T) {
	s, p := parseOne(t, entity(t, func(_, meta, _, _ map[string]any) { delete(meta, "name") }))
	if s != nil || p == nil {
		t.Fatalf("got server %v, problem %v; want a problem", s, p)
	}
	if p.Location != "test.yaml:1" || !strings.Contains(p.Reason, "without metadata.name") {
		t.Errorf("problem = %v", p)
	}
}

func TestEntityFields(t *testing.T) {
	data := entity(t, func(_, meta, ann, spec map[string]any) {
		meta["namespace"] = "tools"
		meta["description"] = ""
		ann[AnnotationAuthAPIID] = "core.auth.github"
		ann[AnnotationAuthScopes] = `["repo","read:org"]`
		spec["definition"] = definition(t, func(d map[string]any) {
			d["remotes"] = []any{
				map[string]any{"type": "sse", "url": "https://x.example.com/sse"},
				map[string]any{"type": "streamable-http", "url": "https://x.example.com/mcp",
					"headers": []any{map[string]any{"name": "X-Tenant", "value": "{tenant}", "isSecret": true}}},
			}
		})
	})
	s, _ := parseOne(t, data)
	if s.ID != "tools/srv" || s.Ref() != "api:tools/srv" {
		t.Errorf("ID %q, Ref %q", s.ID, s.Ref())
	}
	if s.Description != "A server." {
		t.Errorf("Description %q, want the definition's", s.Description)
	}
	if s.Auth.Method != AuthProvider || s.Auth.Provider() != "github" || !slices.Equal(s.Auth.Scopes, []string{"repo", "read:org"}) {
		t.Errorf("Auth = %+v", s.Auth)
	}
	tr, ok := s.Transport()
	if !ok || tr.Type != RemoteStreamableHTTP || tr.URL != "https://x.example.com/mcp" {
		t.Errorf("Transport() = %+v, %v", tr, ok)
	}
	if h := tr.Headers; len(h) != 1 || h[0].Name != "X-Tenant" || !h[0].IsSecret || h[0].Value != "{tenant}" {
		t.Errorf("Headers = %+v", h)
	}
	fb, ok := s.Fallback()
	if !ok || fb.Type != RemoteSSE {
		t.Errorf("Fallback() = %+v, %v", fb, ok)
	}
}

func TestScopesWithoutAPIIDWarn(t *testing.T) {
	s, _ := parseOne(t, entity(t, func(_, _, ann, _ map[string]any) { ann[AnnotationAuthScopes] = `["repo"]` }))
	if !s.Available() || len(s.Warnings) != 1 || s.Auth.Scopes != nil {
		t.Errorf("available %v, warnings %q, scopes %q", s.Available(), s.Warnings, s.Auth.Scopes)
	}
}

func TestSplitDocumentsKeepsLinesAndIsolatesErrors(t *testing.T) {
	data := []byte("# comment\nkind: API\nmetadata:\n  name: a\n---\nkind: [broken\n--- {kind: API, metadata: {name: c}}\n...\n---\n\nkind: API\nmetadata:\n  name: d\n")
	docs := splitDocuments("f.yaml", data)
	var got []string
	for _, d := range docs {
		if d.err != nil {
			got = append(got, d.location+" error "+d.err.Error())
			continue
		}
		got = append(got, d.location+" "+str(config.Field(d.node, "metadata"), "name"))
	}
	want := []string{
		"f.yaml:2 a",
		"f.yaml:6 error invalid YAML: line 6: did not find expected ',' or ']'",
		"f.yaml:7 c",
		"f.yaml:11 d",
	}
	if !slices.Equal(got, want) {
		t.Errorf("documents:\n got %q\nwant %q", got, want)
	}
}
