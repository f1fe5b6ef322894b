// Package auth keeps the bridge's tokens and obtains them: the OS keychain
// (or, when the user asks, a 0600 file), and the rules that decide which
// token may be sent where.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/mcp-bridge/bridge/config/state"
)

// Errors of a secret store. Callers never see go-keyring's own.
var (
	// ErrNotFound means there is no secret under the key.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable means the keychain cannot be used at all here.
	ErrUnavailable = errors.New("keychain unavailable")
	// ErrTimeout means the keychain did not answer in time (a locked
	// keychain may be waiting for a password).
	ErrTimeout = errors.New("keychain did not answer in time")
)

// Secrets is where the bridge keeps secrets.
type Secrets interface {
	Get(ctx context.Context, key string) (string, error)
	Set(ctx context.Context, key, value string) error
	Delete(ctx context.Context, key string) error
	// Name says where secrets go, for messages.
	Name() string
}

// Service is the keychain service the bridge's entries are filed under.
const Service = "mcp-bridge"

// chunkSize keeps each keychain entry under every platform's limit
// (Windows Credential Manager: 2560 bytes; macOS's security tool: about
// 4 KB of command line). Longer secrets are split across entries.
const chunkSize = 1800

// Keychain stores secrets in the OS keychain through go-keyring, each call
// bounded by a timeout.
type Keychain struct {
	Service string
	Timeout time.Duration
}

// NewKeychain returns the OS keychain, or an ErrUnavailable that says why
// and what to do instead. On Linux without a D-Bus session bus it does not
// try at all: go-keyring would start stray daemons and fail anyway.
func NewKeychain(timeout time.Duration) (*Keychain, error) {
	if runtime.GOOS == "linux" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return nil, fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is empty), so no Secret Service; "+
			"run inside a desktop session, or store tokens in a file with --insecure-storage (or token_store: file in the config)", ErrUnavailable)
	}
	return &Keychain{Service: Service, Timeout: timeout}, nil
}

// Name says where secrets go.
func (k *Keychain) Name() string { return "the OS keychain" }

// Get reads a secret, joining its chunks.
func (k *Keychain) Get(ctx context.Context, key string) (string, error) {
	first, err := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, key) })
	if err != nil {
		return "", err
	}
	n, rest, ok := parseChunked(first)
	if !ok {
		return first, nil
	}
	var b strings.Builder
	b.WriteString(rest)
	for i := 1; i < n; i++ {
		part, err := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, chunkKey(key, i)) })
		if err != nil {
			return "", fmt.Errorf("part %d of %d: %w", i+1, n, err)
		}
		b.WriteString(part)
	}
	return b.String(), nil
}

// Set writes a secret, split into chunks when it is long, and removes
// chunks a longer earlier value left behind.
func (k *Keychain) Set(ctx context.Context, key, value string) error {
	old, _ := k.chunks(ctx, key)
	var parts []string
	for len(value) > chunkSize {
		parts = append(parts, value[:chunkSize])
		value = value[chunkSize:]
	}
	parts = append(parts, value)
	first := parts[0]
	if len(parts) > 1 || strings.HasPrefix(first, chunkPrefix) {
		first = fmt.Sprintf("%s%d:%s", chunkPrefix, len(parts), parts[0])
	}
	// Later parts first, so that a reader never finds a head without them.
	for i := len(parts) - 1; i >= 1; i-- {
		if _, err := k.call(ctx, func() (string, error) { return "", keyring.Set(k.Service, chunkKey(key, i), parts[i]) }); err != nil {
			return err
		}
	}
	if _, err := k.call(ctx, func() (string, error) { return "", keyring.Set(k.Service, key, first) }); err != nil {
		return err
	}
	for i := len(parts); i < old; i++ {
		_, _ = k.call(ctx, func() (string, error) { return "", keyring.Delete(k.Service, chunkKey(key, i)) })
	}
	return nil
}

// Delete removes a secret and its chunks; a missing one is ErrNotFound.
func (k *Keychain) Delete(ctx context.Context, key string) error {
	n, err := k.chunks(ctx, key)
	if err != nil {
		return err
	}
	for i := 1; i < n; i++ {
		_, _ = k.call(ctx, func() (string, error) { return "", keyring.Delete(k.Service, chunkKey(key, i)) })
	}
	_, err = k.call(ctx, func() (string, error) { return "", keyring.Delete(k.Service, key) })
	return err
}

// chunks is how many entries the secret under key spans.
func (k *Keychain) chunks(ctx context.Context, key string) (int, error) {
	first, err := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, key) })
	if err != nil {
		return 0, err
	}
	if n, _, ok := parseChunked(first); ok {
		return n, nil
	}
	return 1, nil
}

// call runs a keychain operation with the timeout, translating errors.
func (k *Keychain) call(ctx context.Context, op func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := op()
		ch <- result{v, err}
	}()
	timer := time.NewTimer(k.Timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		switch {
		case r.err == nil:
			return r.v, nil
		case errors.Is(r.err, keyring.ErrNotFound):
			return "", ErrNotFound
		}
		return "", fmt.Errorf("%w: %v; store tokens in a file with --insecure-storage (or token_store: file) if it cannot be fixed", ErrUnavailable, r.err)
	case <-timer.C:
		return "", fmt.Errorf("%w (%s): unlock the keychain and try again", ErrTimeout, k.Timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Unusable is a secret store that cannot be used, for a machine whose
// keychain is unavailable: every call fails with the reason, so that only
// the servers that need a token are affected.
type Unusable struct{ Err error }

// Name says where secrets would go.
func (u Unusable) Name() string { return "the OS keychain" }

// Get fails with the reason.
func (u Unusable) Get(context.Context, string) (string, error) { return "", u.Err }

// Set fails with the reason.
func (u Unusable) Set(context.Context, string, string) error { return u.Err }

// Delete fails with the reason.
func (u Unusable) Delete(context.Context, string) error { return u.Err }

const chunkPrefix = "mcp-bridge-chunks:"

func parseChunked(v string) (n int, rest string, ok bool) {
	after, found := strings.CutPrefix(v, chunkPrefix)
	if !found {
		return 0, "", false
	}
	num, rest, found := strings.Cut(after, ":")
	n, err := strconv.Atoi(num)
	if !found || err != nil || n < 1 {
		return 0, "", false
	}
	return n, rest, true
}

func chunkKey(key string, i int) string { return fmt.Sprintf("%s#%d", key, i) }

// File stores secrets in one JSON file readable by the user alone. It is the
// explicit fallback for machines without a keychain; Warn is called each
// time it is used, so that the user never forgets the tokens are on disk.
type File struct {
	Path string
	Warn func(msg string)

	mu sync.Mutex
}

// NewFile keeps secrets in stateDir/tokens.json.
func NewFile(stateDir string, warn func(string)) *File {
	return &File{Path: stateDir + string(os.PathSeparator) + "tokens.json", Warn: warn}
}

// Name says where secrets go.
func (f *File) Name() string { return f.Path }

func (f *File) warn() {
	if f.Warn != nil {
		f.Warn(fmt.Sprintf("tokens are stored in a plain file, %s (readable by you alone), not in the OS keychain", f.Path))
	}
}

// Get reads a secret.
func (f *File) Get(_ context.Context, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warn()
	m, err := f.load()
	if err != nil {
		return "", err
	}
	v, ok := m[key]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// Set writes a secret.
func (f *File) Set(_ context.Context, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warn()
	m, err := f.load()
	if err != nil {
		return err
	}
	m[key] = value
	return f.save(m)
}

// Delete removes a secret.
func (f *File) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.load()
	if err != nil {
		return err
	}
	if _, ok := m[key]; !ok {
		return ErrNotFound
	}
	delete(m, key)
	return f.save(m)
}

// load reads the file; a corrupt one is named, never reset.
func (f *File) load() (map[string]string, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if fi, err := os.Stat(f.Path); err == nil && fi.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("token file %s is readable by others (mode %v): chmod 600 it", f.Path, fi.Mode().Perm())
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("token file %s is corrupt (%w): fix or delete it, then log in again", f.Path, err)
	}
	if m == nil { // the file holds null
		return nil, fmt.Errorf("token file %s is corrupt (it holds null): fix or delete it, then log in again", f.Path)
	}
	return m, nil
}

func (f *File) save(m map[string]string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFile(f.Path, data, 0o600)
}
