// Package config owns the user's config file: reading it strictly (an
// unknown key is named with its path, line and file) and editing it in
// place, comments kept.
//
// The file (YAML, see the README's reference) names the catalog sources,
// a local file or a Backstage portal, records which servers the user
// enabled, and holds per-server settings, OAuth clients and serve's
// tuning. Its packages import nothing else of the bridge's: the catalog
// (package catalog), the state folder (package state), in-place JSON
// (package rawjson) and the agents' configuration files (package agent).
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-bridge/bridge/config/state"
)

// EnvConfig names the environment variable that overrides the config path.
const EnvConfig = "MCP_BRIDGE_CONFIG"

// Config is the bridge's config file.
type Config struct {
	Catalog CatalogConfig `yaml:"catalog"`
	Portal  PortalConfig  `yaml:"portal"`
	// Enabled lists the IDs of the servers the user enabled.
	Enabled []string `yaml:"enabled"`
	// Servers holds per-server settings, by server ID.
	Servers map[string]ServerConfig `yaml:"servers"`
	// MaxNameLength caps exposed tool and prompt names (default 64), to
	// leave room for an agent's own prefix.
	MaxNameLength int `yaml:"max_name_length"`
	// Serve tunes "bridge serve".
	Serve ServeConfig `yaml:"serve"`
	// ReadOnly exposes only tools annotated readOnlyHint, for every server.
	ReadOnly bool `yaml:"read_only"`
	// HideDestructive withholds destructive tools (destructiveHint true, or
	// unset on a tool that is not read-only), for every server.
	HideDestructive bool `yaml:"hide_destructive"`
	// Pins is what happens to a tool whose definition changed, or that is
	// new, since it was first seen: "withhold" (the default) or "warn".
	Pins string `yaml:"pins"`
	// MaxDescriptionLength caps the descriptions servers send (default 2048).
	MaxDescriptionLength int `yaml:"max_description_length"`
	// Audit, when its path is set, logs every tool call.
	Audit AuditConfig `yaml:"audit"`
	// TokenStore is where tokens are kept: "keychain" (the default) or
	// "file", a 0600 file in the state folder for machines without one.
	TokenStore string `yaml:"token_store"`
	// Providers configure the bridge's own OAuth client per auth-api-id
	// (core.auth.github, …), as the organisation registered it.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// ClientMetadataURL is the organisation's Client ID Metadata Document
	// for the bridge, used with authorization servers that accept them.
	ClientMetadataURL string `yaml:"client_metadata_url"`
	// Tools is the tool surface the agent sees: "auto" (the default: the
	// tools themselves, or tool search past the client's tool cap),
	// "search" (tool search always) or "direct" (the tools always).
	Tools string `yaml:"tools"`
	// Clients override the bridge's rules for each agent, by the name
	// "bridge setup" gives it (claude-code, cursor, …) or, for another
	// agent, the name it gives itself in initialize's clientInfo.
	Clients map[string]ClientConfig `yaml:"clients"`

	// Locks keep two processes from changing the file at once; without a
	// folder the lock is a hidden file beside the config file.
	Locks state.Locks `yaml:"-"`

	// path is the file this config was read from, or would be written to.
	path string
	// exists is false when no file was found at path.
	exists bool
}

// CatalogConfig lists local catalog sources.
type CatalogConfig struct {
	// Files are files, globs or folders of multi-document YAML. Relative
	// paths are relative to the config file's folder.
	Files []string `yaml:"files"`
}

// PortalConfig is a Backstage portal whose catalog the bridge reads.
type PortalConfig struct {
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding the portal token.
	TokenEnv string `yaml:"token_env"`
	// Timeout bounds each request to the portal.
	Timeout Duration `yaml:"timeout"`
	// RetryMax is the longest wait between two reads of a portal that
	// could not be read, for serve (default 1m).
	RetryMax Duration `yaml:"retry_max"`
}

// ServerConfig is what the user sets for one server.
type ServerConfig struct {
	// Prefix replaces the server's ID in exposed names; empty is allowed
	// (a single server's tools under their own names).
	Prefix *string `yaml:"prefix"`
	// Headers give values to the headers the server's definition asks
	// for, or add others; ${VAR} is read from the environment.
	Headers map[string]string `yaml:"headers"`
	// ReadOnly exposes only this server's read-only tools.
	ReadOnly bool `yaml:"read_only"`
	// HideDestructive withholds this server's destructive tools.
	HideDestructive bool `yaml:"hide_destructive"`
	// Allow, when set, exposes only tools whose original names match one
	// of these globs; Deny withholds those that match, and wins.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// ClientID is an OAuth client registered for this server by hand, for
	// servers that use the MCP authorization spec; ClientSecretEnv names
	// the environment variable that holds its secret, for a confidential
	// client (the secret itself is never in the config).
	ClientID        string `yaml:"client_id"`
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientKeyEnv names an environment variable holding the client's
	// private key (PEM; P-256 or RSA), for the client-credentials grant
	// with a private key JWT (RFC 7523) instead of a secret.
	ClientKeyEnv string `yaml:"client_key_env"`
	// Grant is "client_credentials" for a server used without a person:
	// the client's own credentials get the token, no browser is opened,
	// and serve renews it by itself. Empty is a person's login.
	Grant string `yaml:"grant"`
}

// ClientConfig overrides what the bridge knows of one agent.
type ClientConfig struct {
	// MaxNameLength is the longest tool name the agent accepts, counting
	// the prefix it puts before each name itself.
	MaxNameLength int `yaml:"max_name_length"`
	// MaxTools is the most tools the agent takes; past it, the agent gets
	// tool search (0 keeps the bridge's rule).
	MaxTools int `yaml:"max_tools"`
	// Entry is the name of the bridge's entry in the agent's config
	// ("bridge setup --name"), which the agent's own prefix holds.
	Entry string `yaml:"entry"`
	// Tools is this agent's tool surface: "auto", "search" or "direct".
	Tools string `yaml:"tools"`
}

// Tool surfaces.
const (
	ToolsAuto   = "auto"
	ToolsSearch = "search"
	ToolsDirect = "direct"
)

// ProviderConfig is the bridge's OAuth client at one provider.
type ProviderConfig struct {
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names an environment variable holding the client
	// secret, for the providers that demand one (Bitbucket, Atlassian).
	ClientSecretEnv string `yaml:"client_secret_env"`
	// Host is a self-hosted instance (GitHub Enterprise, GitLab,
	// Bitbucket Server); Tenant is Microsoft's; Issuer an OIDC issuer
	// (Okta, OneLogin, Google, or any OIDC provider).
	Host   string `yaml:"host"`
	Tenant string `yaml:"tenant"`
	Issuer string `yaml:"issuer"`
	// Endpoints, for providers configured by hand (OpenShift) or to
	// override the defaults.
	AuthorizeURL string `yaml:"authorize_url"`
	TokenURL     string `yaml:"token_url"`
	DeviceURL    string `yaml:"device_url"`
	RevokeURL    string `yaml:"revoke_url"`
	// Scopes are added to the provider's defaults and the entity's.
	Scopes []string `yaml:"scopes"`
	// RedirectPort fixes the loopback port of the login redirect, for
	// clients registered with one exact redirect URI; 0 takes any.
	RedirectPort int `yaml:"redirect_port"`
}

// Token stores.
const (
	TokenStoreKeychain = "keychain"
	TokenStoreFile     = "file"
)

// Pin modes.
const (
	PinsWithhold = "withhold"
	PinsWarn     = "warn"
)

// AuditConfig is the audit log of tool calls.
type AuditConfig struct {
	// Path is the log file; empty turns the audit log off.
	Path string `yaml:"path"`
	// Arguments adds each call's arguments to its line.
	Arguments bool `yaml:"arguments"`
	// MaxSizeMB rotates the file when it grows past this size (default 10).
	MaxSizeMB int `yaml:"max_size_mb"`
	// Keep is how many rotated files to keep (default 3).
	Keep int `yaml:"keep"`
}

// ServeConfig tunes "bridge serve".
type ServeConfig struct {
	// StartupWait is how long the first tools/list waits for servers that
	// are still connecting (default 3s).
	StartupWait Duration `yaml:"startup_wait"`
	// CallTimeout fails a call that has neither answered nor sent progress
	// for this long (default 5m).
	CallTimeout Duration `yaml:"call_timeout"`
	// MaxMessageMB bounds one message, from the agent or from a server,
	// in MiB (default 32).
	MaxMessageMB int `yaml:"max_message_mb"`
	// CachedLists answers the agent's first lists from each server's
	// lists as last verified, kept in the state folder, while the servers
	// connect (default true; see CachedListsOn).
	CachedLists *bool `yaml:"cached_lists"`
	// CacheMaxAge is the oldest a server's kept lists may be to be served
	// (default a week).
	CacheMaxAge Duration `yaml:"cache_max_age"`
}

// CachedListsOn reports whether serve answers from kept lists: unless
// serve.cached_lists is false.
func (s ServeConfig) CachedListsOn() bool { return s.CachedLists == nil || *s.CachedLists }

// Duration is a time.Duration written as "30s" or "2m" in the config file.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ErrConfig marks a config file that cannot be used as it is.
var ErrConfig = errors.New("config file")

// DefaultPath is where the config file lives when neither --config nor
// MCP_BRIDGE_CONFIG says otherwise: the OS's user config folder.
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder: %w; pass --config or set %s", err, EnvConfig)
	}
	return filepath.Join(dir, "mcp-bridge", "config.yaml"), nil
}

// Load reads the config file at path, or at DefaultPath when path is empty.
// A missing file is an empty config; a file that exists but cannot be read,
// parsed, or holds unknown keys is an error that names the file.
func Load(path string) (*Config, error) {
	if path == "" {
		p, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	cfg := &Config{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrConfig, path, err)
	}
	cfg.exists = true
	if err := decodeStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrConfig, path, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrConfig, path, err)
	}
	return cfg, nil
}

// Path is the file the config was read from, or will be written to.
func (c *Config) Path() string { return c.path }

// Exists reports whether the config file exists.
func (c *Config) Exists() bool { return c.exists }

// IsEnabled reports whether the server with this ID is enabled.
func (c *Config) IsEnabled(id string) bool { return slices.Contains(c.Enabled, id) }

func (c *Config) validate() error {
	if c.Portal.URL != "" {
		if err := checkPortalURL(c.Portal.URL); err != nil {
			return fmt.Errorf("portal.url: %w", err)
		}
	}
	if c.MaxNameLength != 0 && c.MaxNameLength < 16 {
		return fmt.Errorf("max_name_length %d is too short: 16 is the least that leaves room for a name", c.MaxNameLength)
	}
	if err := checkTools("tools", c.Tools); err != nil {
		return err
	}
	for name, cc := range c.Clients {
		if err := checkTools("clients."+name+".tools", cc.Tools); err != nil {
			return err
		}
		if cc.MaxNameLength != 0 && cc.MaxNameLength < 16 {
			return fmt.Errorf("clients.%s.max_name_length %d is too short: 16 is the least that leaves room for a name", name, cc.MaxNameLength)
		}
		if cc.MaxTools < 0 {
			return fmt.Errorf("clients.%s.max_tools cannot be negative", name)
		}
		if strings.ContainsAny(cc.Entry, " \t\n") {
			return fmt.Errorf("clients.%s.entry %q: an entry name has no spaces", name, cc.Entry)
		}
	}
	switch c.TokenStore {
	case "", TokenStoreKeychain, TokenStoreFile:
	default:
		return fmt.Errorf("token_store is %q: use %q or %q", c.TokenStore, TokenStoreKeychain, TokenStoreFile)
	}
	switch c.Pins {
	case "", PinsWithhold, PinsWarn:
	default:
		return fmt.Errorf("pins is %q: use %q or %q", c.Pins, PinsWithhold, PinsWarn)
	}
	if c.MaxDescriptionLength < 0 || c.Audit.MaxSizeMB < 0 || c.Audit.Keep < 0 || c.Serve.MaxMessageMB < 0 {
		return fmt.Errorf("max_description_length, audit.max_size_mb, audit.keep and serve.max_message_mb cannot be negative")
	}
	for id, sc := range c.Servers {
		for _, g := range append(slices.Clone(sc.Allow), sc.Deny...) {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("servers.%s: bad glob %q: %w", id, g, err)
			}
		}
	}
	if c.Audit.Path != "" {
		c.Audit.Path = c.Resolve(c.Audit.Path)
	}
	if c.Portal.TokenEnv != "" && strings.ContainsAny(c.Portal.TokenEnv, "$ =") {
		return fmt.Errorf("portal.token_env is the name of an environment variable (like BACKSTAGE_TOKEN), not %q", c.Portal.TokenEnv)
	}
	return nil
}

// checkTools checks a tool surface setting.
func checkTools(key, v string) error {
	switch v {
	case "", ToolsAuto, ToolsSearch, ToolsDirect:
		return nil
	}
	return fmt.Errorf("%s is %q: use %q, %q or %q", key, v, ToolsAuto, ToolsSearch, ToolsDirect)
}

// Resolve makes a catalog path from the config file absolute: relative to
// the config file's folder, with a leading ~ for the home folder.
func (c *Config) Resolve(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if filepath.IsAbs(p) || c.path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// decodeStrict decodes YAML into v and rejects keys v has no field for,
// naming the key by its dotted path and line.
func decodeStrict(data []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return errors.New(YAMLMessage(err))
	}
	if len(root.Content) == 0 {
		return nil
	}
	if err := checkKeys(root.Content[0], reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := root.Content[0].Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return errors.New(strings.Join(te.Errors, "; "))
		}
		return err
	}
	return nil
}

// checkKeys walks a mapping node beside the struct type it decodes into.
func checkKeys(n *yaml.Node, t reflect.Type, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), prefix+n.Content[i].Value+"."); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		fields[tag] = f.Type
		names = append(names, tag)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		ft, ok := fields[key.Value]
		if !ok {
			where := "at the top level"
			if prefix != "" {
				where = "under " + strings.TrimSuffix(prefix, ".")
			}
			return fmt.Errorf("line %d: unknown key %q (known keys %s: %s)",
				key.Line, prefix+key.Value, where, strings.Join(names, ", "))
		}
		if err := checkKeys(n.Content[i+1], ft, prefix+key.Value+"."); err != nil {
			return err
		}
	}
	return nil
}

// checkPortalURL checks portal.url: an absolute http(s) base URL.
func checkPortalURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("%q must be the portal's base URL, without credentials or query", raw)
	}
	return nil
}
