// Package auth keeps the bridge's tokens and obtains them: the OS keychain
// (or, when the user asks, a 0600 file), and the rules that decide which
// token may be sent where.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// FileRemedy says how to keep tokens without a keychain, for good.
const FileRemedy = "run the command once with --insecure-storage: it records token_store: file in the config, " +
	"so that every later command, and the serve your agent starts, keep tokens in a 0600 file in the state folder"

// NewKeychain returns the OS keychain, or an ErrUnavailable that says why
// and what to do instead. On Linux without a D-Bus session bus it does not
// try at all: go-keyring would start stray daemons and fail anyway.
func NewKeychain(timeout time.Duration) (*Keychain, error) {
	if runtime.GOOS == "linux" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return nil, fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is empty), so no Secret Service; "+
			"run inside a desktop session, or "+FileRemedy, ErrUnavailable)
	}
	return &Keychain{Service: Service, Timeout: timeout}, nil
}

// Name says where secrets go.
func (k *Keychain) Name() string { return "the OS keychain" }

// Get reads a secret, joining its chunks. A secret being replaced while it
// is read is read again, so that the value returned is one whole secret;
// one whose first entry stays the same while a part is missing is broken,
// not being replaced.
func (k *Keychain) Get(ctx context.Context, key string) (string, error) {
	last := ""
	for tries := 1; ; tries++ {
		v, first, err := k.get(ctx, key)
		if !errors.Is(err, errTorn) || first == last || tries == maxTornReads {
			return v, err
		}
		last = first
	}
}

// maxTornReads bounds the reads of a secret that keeps changing as it is
// read.
const maxTornReads = 20

// errTorn means a long secret's parts do not make up the secret its first
// entry describes: it changed while it was read, or a part was removed.
var errTorn = fmt.Errorf("%w: the keychain holds only part of it (log in again)", ErrNotFound)

func (k *Keychain) get(ctx context.Context, key string) (v, first string, err error) {
	first, err = k.call(ctx, func() (string, error) { return keyring.Get(k.Service, key) })
	if err != nil {
		return "", "", err
	}
	h, ok := parseChunked(first)
	if !ok {
		return first, first, nil
	}
	var b strings.Builder
	b.WriteString(h.rest)
	for i := 1; i < h.n; i++ {
		part, err := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, h.part(key, i)) })
		if errors.Is(err, ErrNotFound) {
			return "", first, fmt.Errorf("part %d of %d is missing: %w", i+1, h.n, errTorn)
		}
		if err != nil {
			// A Secret Service fails a read of an item deleted while it
			// is found: when the first entry changed meanwhile, that is
			// a secret being replaced.
			if now, nerr := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, key) }); nerr == nil && now != first {
				return "", first, fmt.Errorf("part %d of %d: %w", i+1, h.n, errTorn)
			}
			return "", first, fmt.Errorf("part %d of %d: %w", i+1, h.n, err)
		}
		b.WriteString(part)
	}
	if h.gen != "" && digest(b.String()) != h.gen {
		return "", first, fmt.Errorf("its parts do not match: %w", errTorn)
	}
	return b.String(), first, nil
}

// Set writes a secret, split into chunks when it is long. The chunks of a
// new value go under names of their own and its first entry is written
// last, so that a reader finds the old value or the new one, whole; the
// old value's chunks are removed after.
func (k *Keychain) Set(ctx context.Context, key, value string) error {
	old, oldErr := k.head(ctx, key)
	gen := digest(value)
	var parts []string
	for len(value) > chunkSize {
		parts = append(parts, value[:chunkSize])
		value = value[chunkSize:]
	}
	parts = append(parts, value)
	first, written := parts[0], ""
	if len(parts) > 1 || strings.HasPrefix(first, chunkPrefix) {
		first, written = fmt.Sprintf("%s%d.%s:%s", chunkPrefix, len(parts), gen, parts[0]), gen
	}
	h := chunkHead{n: len(parts), gen: written}
	for i := len(parts) - 1; i >= 1; i-- {
		if _, err := k.call(ctx, func() (string, error) { return "", keyring.Set(k.Service, h.part(key, i), parts[i]) }); err != nil {
			return err
		}
	}
	if _, err := k.call(ctx, func() (string, error) { return "", keyring.Set(k.Service, key, first) }); err != nil {
		return err
	}
	if oldErr == nil && (old.gen == "" || old.gen != written) {
		k.deleteParts(ctx, key, old)
	}
	return nil
}

// Delete removes a secret and its chunks; a missing one is ErrNotFound.
// The first entry goes first, so that no reader finds it without its parts.
func (k *Keychain) Delete(ctx context.Context, key string) error {
	h, err := k.head(ctx, key)
	if err != nil {
		return err
	}
	if _, err := k.call(ctx, func() (string, error) { return "", keyring.Delete(k.Service, key) }); err != nil {
		return err
	}
	k.deleteParts(ctx, key, h)
	return nil
}

// deleteParts removes the chunks after the first of the secret h describes.
func (k *Keychain) deleteParts(ctx context.Context, key string, h chunkHead) {
	for i := 1; i < h.n; i++ {
		_, _ = k.call(ctx, func() (string, error) { return "", keyring.Delete(k.Service, h.part(key, i)) })
	}
}

// head reads how the secret under key is split.
func (k *Keychain) head(ctx context.Context, key string) (chunkHead, error) {
	first, err := k.call(ctx, func() (string, error) { return keyring.Get(k.Service, key) })
	if err != nil {
		return chunkHead{}, err
	}
	if h, ok := parseChunked(first); ok {
		return h, nil
	}
	return chunkHead{n: 1}, nil
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
		return "", fmt.Errorf("%w: %v; if it cannot be fixed, %s", ErrUnavailable, r.err, FileRemedy)
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

// A secret longer than a chunk is kept as a first entry, chunkPrefix +
// "<n>.<gen>:" + its first chunk, and n-1 more entries under
// "<key>#<gen>#<i>", gen being a digest of the whole secret. Entries of
// earlier versions, chunkPrefix + "<n>:", have no gen and keep their
// chunks under "<key>#<i>".
const chunkPrefix = "mcp-bridge-chunks:"

// chunkHead is what a secret's first entry says of its chunks.
type chunkHead struct {
	n    int
	gen  string
	rest string // the first chunk
}

// part is the key of chunk i (from 1) of the secret under key.
func (h chunkHead) part(key string, i int) string {
	if h.gen == "" {
		return fmt.Sprintf("%s#%d", key, i)
	}
	return fmt.Sprintf("%s#%s#%d", key, h.gen, i)
}

func parseChunked(v string) (chunkHead, bool) {
	after, found := strings.CutPrefix(v, chunkPrefix)
	if !found {
		return chunkHead{}, false
	}
	num, rest, found := strings.Cut(after, ":")
	num, gen, _ := strings.Cut(num, ".")
	n, err := strconv.Atoi(num)
	if !found || err != nil || n < 1 || strings.ContainsAny(gen, "#:") {
		return chunkHead{}, false
	}
	return chunkHead{n: n, gen: gen, rest: rest}, true
}

// digest names one value of a secret, for its chunks' keys.
func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:8])
}

// File stores secrets in one JSON file readable by the user alone. It is the
// explicit fallback for machines without a keychain; Warn is called each
// time it is used, so that the user never forgets the tokens are on disk.
// Every change is a read-modify-write under a cross-process lock, so that
// logins and renewals in several processes at once all keep their token.
type File struct {
	Path  string
	Warn  func(msg string)
	Locks state.Locks
}

// NewFile keeps secrets in stateDir/tokens.json.
func NewFile(stateDir string, warn func(string)) *File {
	return &File{
		Path:  filepath.Join(stateDir, "tokens.json"),
		Warn:  warn,
		Locks: state.Locks{Dir: filepath.Join(stateDir, "locks")},
	}
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
	f.warn()
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	m, err := f.parse(data)
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
func (f *File) Set(ctx context.Context, key, value string) error {
	f.warn()
	return f.change(ctx, func(m map[string]string) error {
		m[key] = value
		return nil
	})
}

// Delete removes a secret.
func (f *File) Delete(ctx context.Context, key string) error {
	return f.change(ctx, func(m map[string]string) error {
		if _, ok := m[key]; !ok {
			return ErrNotFound
		}
		delete(m, key)
		return nil
	})
}

// change edits the file's secrets under the lock.
func (f *File) change(ctx context.Context, edit func(map[string]string) error) error {
	return f.Locks.Update(ctx, f.Path, 0o600, func(old []byte) ([]byte, error) {
		m := map[string]string{}
		if old != nil {
			var err error
			if m, err = f.parse(old); err != nil {
				return nil, err
			}
		}
		if err := edit(m); err != nil {
			return nil, err
		}
		return json.MarshalIndent(m, "", "  ")
	})
}

// parse reads the file's content; a corrupt file, or one others can read,
// is named, never reset.
func (f *File) parse(data []byte) (map[string]string, error) {
	if fi, err := os.Stat(f.Path); err == nil && fi.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("token file %s is readable by others (mode %v): chmod 600 it", f.Path, fi.Mode().Perm())
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("token file %s is corrupt (%w): fix or delete it, then log in again", f.Path, err)
	}
	if m == nil { // the file holds null
		return nil, fmt.Errorf("token file %s is corrupt (it holds null): fix or delete it, then log in again", f.Path)
	}
	return m, nil
}
