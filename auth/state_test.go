package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-bridge/bridge/auth/oauthtest"
)

// failingStore is a real token file whose writes fail from the failFrom-th
// on, as a keychain that locks (or a disk that fills) would; it keeps what
// it was asked to store and did not.
type failingStore struct {
	*File
	failFrom int

	mu      sync.Mutex
	sets    int
	refused []string
}

func (f *failingStore) Set(ctx context.Context, key, value string) error {
	f.mu.Lock()
	f.sets++
	fail := f.sets >= f.failFrom
	if fail {
		f.refused = append(f.refused, value)
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("%w (5s): unlock the keychain and try again", ErrTimeout)
	}
	return f.File.Set(ctx, key, value)
}

// Name is the keychain's, whose failures it plays.
func (f *failingStore) Name() string { return "the OS keychain" }

// refusedToken is the token the store was last asked to keep and did not.
func (f *failingStore) refusedToken(t *testing.T) *Token {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refused) == 0 {
		t.Fatal("the store was never asked to keep a token")
	}
	var tok Token
	must(t, json.Unmarshal([]byte(f.refused[len(f.refused)-1]), &tok))
	return &tok
}

// TestLoginChecksTheStoreBeforeAnythingIsAsked: a store that cannot keep
// a token fails the login before the browser opens, before any URL is
// printed, and before the authorization server gets a single request.
func TestLoginChecksTheStoreBeforeAnythingIsAsked(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	notADir := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(notADir, nil, 0o600))
	tests := []struct {
		name    string
		secrets Secrets
		want    error
		says    string
	}{
		{"keychain unavailable", Unusable{Err: fmt.Errorf("%w: no D-Bus session bus; store tokens in a file with --insecure-storage", ErrUnavailable)},
			ErrUnavailable, "--insecure-storage"},
		{"keychain locked", &failingStore{File: NewFile(t.TempDir(), nil), failFrom: 1}, ErrTimeout, "unlock the keychain"},
		{"token file cannot be written", NewFile(filepath.Join(notADir, "state"), nil), os.ErrInvalid, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, b := realLogin(t, as)
			before := as.Requests(t)
			m := &Manager{Tokens: &Tokens{Secrets: tt.secrets}}
			_, err := m.Login(context.Background(), "sso", lo)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), "the login was not started") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err = %v; want the login not started, saying %q", err, tt.says)
			}
			if tt.want != os.ErrInvalid && !errors.Is(err, tt.want) {
				t.Errorf("err = %v; want %v in it", err, tt.want)
			}
			if got := b.urls(); len(got) != 0 || b.out.String() != "" {
				t.Errorf("the browser was given %q, and the user was told %q", got, b.out.String())
			}
			if after := as.Requests(t); len(after) != len(before) {
				t.Errorf("the authorization server was asked %q", after[len(before):])
			}
		})
	}
}

// TestLoginKeepsItsTokenAndNoCheckEntry: a store that works gets the
// token, and nothing of the check is left in it.
func TestLoginKeepsItsTokenAndNoCheckEntry(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	lo, b := realLogin(t, as)
	dir := t.TempDir()
	m := &Manager{Tokens: &Tokens{Secrets: NewFile(dir, nil)}}
	tok, err := m.Login(context.Background(), "sso", lo)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.urls()) != 1 {
		t.Errorf("the browser was opened %d times", len(b.urls()))
	}
	stored, err := m.Tokens.Get(context.Background(), "sso", lo.Origin)
	if err != nil || stored.AccessToken != tok.AccessToken || stored.RefreshToken == "" {
		t.Fatalf("stored %v, %v", stored, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokens.json"))
	must(t, err)
	var entries map[string]string
	must(t, json.Unmarshal(data, &entries))
	if len(entries) != 1 {
		t.Errorf("entries %q; want only the token's", keysOf(entries))
	}
	if !as.Active(t, stored.RefreshToken) {
		t.Error("the stored refresh token is not active")
	}
}

// TestTheLoginChecksARealKeychain: the check writes to and deletes from
// the OS keychain, and leaves nothing there.
func TestTheLoginChecksARealKeychain(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	if err := (&Tokens{Secrets: k}).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(ctx, "mcp-bridge store check "+strconv.Itoa(os.Getpid())); !errors.Is(err, ErrNotFound) {
		t.Errorf("the check's entry is left in the keychain: %v", err)
	}
}

// TestATokenThatCannotBeStoredIsRevoked: when the store fails only on the
// final save, the login's token is revoked at the authorization server's
// revocation endpoint (both its refresh and its access token), and the
// error says so; without a revocation endpoint, or with a failing one,
// the error says the token stays valid and what to do.
func TestATokenThatCannotBeStoredIsRevoked(t *testing.T) {
	as := oauthtest.Start(t, oauthtest.Options{})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	revocation := as.Issuer + "/token/revocation"
	tests := []struct {
		name      string
		revokeURL string // "" keeps the one from the metadata
		noRevoke  bool
		revoked   bool
		says      string
	}{
		{name: "revoked", revoked: true, says: "the token was revoked at " + revocation + ", so none is left live"},
		{name: "no revocation endpoint", noRevoke: true, says: "offers no revocation, so the token stays valid until it expires (in "},
		{name: "revocation fails", revokeURL: failing.URL, says: "revoking it at " + failing.URL + " failed (the refresh token: revocation endpoint " + failing.URL + ": 503 Service Unavailable; the access token: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, _ := realLogin(t, as)
			if lo.RevokeURL != revocation {
				t.Fatalf("the metadata's revocation endpoint is %q, want %q", lo.RevokeURL, revocation)
			}
			switch {
			case tt.noRevoke:
				lo.RevokeURL = ""
			case tt.revokeURL != "":
				lo.RevokeURL = tt.revokeURL
			}
			store := &failingStore{File: NewFile(t.TempDir(), nil), failFrom: 2}
			m := &Manager{Tokens: &Tokens{Secrets: store}}
			before := len(as.Requests(t))
			_, err := m.Login(context.Background(), "sso", lo)
			t.Log(err)
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "the login worked, but saving sso's token in the OS keychain") ||
				!strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "log in again once the token can be stored") {
				t.Fatalf("err = %v; want the store's error and %q", err, tt.says)
			}
			tok := store.refusedToken(t)
			if strings.Contains(err.Error(), tok.AccessToken) || strings.Contains(err.Error(), tok.RefreshToken) {
				t.Error("a token appears in the error")
			}
			asked := as.Requests(t)[before:]
			revocations := 0
			for _, r := range asked {
				if r == "POST /token/revocation" {
					revocations++
				}
			}
			if want := map[bool]int{true: 2, false: 0}[tt.revoked]; revocations != want {
				t.Errorf("the authorization server got %d revocation requests, want %d: %q", revocations, want, asked)
			}
			if active := as.Active(t, tok.RefreshToken); active == tt.revoked {
				t.Errorf("refresh token active = %v after the failed save", active)
			}
			if active := as.Active(t, tok.AccessToken); active == tt.revoked {
				t.Errorf("access token active = %v after the failed save", active)
			}
			if _, err := m.Tokens.Get(context.Background(), "sso", lo.Origin); !errors.Is(err, ErrNoToken) {
				t.Errorf("a token was stored after all: %v", err)
			}
		})
	}
}

func keysOf(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
