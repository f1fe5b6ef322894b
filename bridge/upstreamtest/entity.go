package upstreamtest

import (
	"fmt"
	"strings"
)

// Entity is a catalog document for an available server of this name with
// these remotes, each {type, url}, ending with the document separator.
func Entity(name string, remotes ...[2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: %s
  annotations:
    mcp.spotify.com/schema-version: '2025-09-29'
spec:
  type: mcp-server
  lifecycle: production
  owner: test
  definition: |
    name: com.example/%s
    description: A test server.
    version: 1.0.0
    remotes:
`, name, name)
	for _, r := range remotes {
		fmt.Fprintf(&b, "      - type: %s\n        url: %s\n", r[0], r[1])
	}
	return b.String() + "---\n"
}
