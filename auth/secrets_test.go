package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// realKeychain is the OS keychain for tests. On Linux that is a Secret
// Service (gnome-keyring under dbus-run-session in CI); without one the
// test is skipped with the reason, except in CI, where it fails.
func realKeychain(t *testing.T) *Keychain {
	t.Helper()
	k, err := NewKeychain(10 * time.Second)
	if err == nil {
		return k
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI has no keychain: %v", err)
	}
	t.Skipf("no keychain here (%v); run the tests under dbus-run-session with gnome-keyring, as .ci/run does", err)
	return nil
}

// uniqueKey keeps tests from meeting each other's entries in a real keychain.
func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d https://example.com", t.Name(), time.Now().UnixNano())
}

func TestKeychainSetGetDelete(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	for _, size := range []int{10, chunkSize, chunkSize + 1, 3*chunkSize + 17, 9000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := uniqueKey(t)
			value := strings.Repeat("x", size-1) + "!"
			if err := k.Set(ctx, key, value); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k.Delete(ctx, key) })
			got, err := k.Get(ctx, key)
			if err != nil || got != value {
				t.Fatalf("Get = %d bytes, %v; want %d", len(got), err, len(value))
			}
			// A shorter value replaces it, and leaves no chunks behind.
			long, _ := k.head(ctx, key)
			if err := k.Set(ctx, key, "short"); err != nil {
				t.Fatal(err)
			}
			if got, _ := k.Get(ctx, key); got != "short" {
				t.Fatalf("after overwrite: %q", got)
			}
			for i := 1; i < long.n; i++ {
				if _, err := keyring.Get(k.Service, long.part(key, i)); !errors.Is(err, keyring.ErrNotFound) {
					t.Errorf("chunk %d of the longer value is left: %v", i, err)
				}
			}
			if err := k.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := k.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("after delete: %v", err)
			}
			if err := k.Delete(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleting twice: %v", err)
			}
		})
	}
}

func TestKeychainValueThatLooksChunked(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	key := uniqueKey(t)
	value := chunkPrefix + "5:not really"
	if err := k.Set(ctx, key, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(ctx, key) })
	if got, err := k.Get(ctx, key); err != nil || got != value {
		t.Errorf("Get = %q, %v", got, err)
	}
}

// A secret rewritten while it is read is read whole, old or new, never
// chunks of the one with chunks of the other.
func TestKeychainReadWhileRewrittenIsWhole(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	key := uniqueKey(t)
	a, b := strings.Repeat("a", 3*chunkSize+5), strings.Repeat("b", 3*chunkSize+5)
	must(t, k.Set(ctx, key, a))
	t.Cleanup(func() { _ = k.Delete(ctx, key) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 16 {
			v := a
			if i%2 == 0 {
				v = b
			}
			if err := k.Set(ctx, key, v); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		got, err := k.Get(ctx, key)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if got != a && got != b {
			t.Fatalf("read %d is a mix of two values (%d bytes, %d of them a)", reads, len(got), strings.Count(got, "a"))
		}
	}
	t.Logf("%d reads while it was rewritten 16 times", reads)
}

// Entries written by earlier versions (chunks under key#i) are read, and
// replaced without leaving their chunks behind.
func TestKeychainReadsEarlierChunks(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	key := uniqueKey(t)
	must(t, keyring.Set(k.Service, key+"#2", "three"))
	must(t, keyring.Set(k.Service, key+"#1", "two-"))
	must(t, keyring.Set(k.Service, key, chunkPrefix+"3:one-"))
	t.Cleanup(func() { _ = k.Delete(ctx, key) })
	if got, err := k.Get(ctx, key); err != nil || got != "one-two-three" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	must(t, k.Set(ctx, key, "new"))
	for _, part := range []string{key + "#1", key + "#2"} {
		if _, err := keyring.Get(k.Service, part); !errors.Is(err, keyring.ErrNotFound) {
			t.Errorf("%s left behind: %v", part, err)
		}
	}
	// A chunk gone missing is a secret not found, with the reason.
	must(t, k.Set(ctx, key, strings.Repeat("x", 2*chunkSize+1)))
	h, err := k.head(ctx, key)
	must(t, err)
	must(t, keyring.Delete(k.Service, h.part(key, 1)))
	if _, err := k.Get(ctx, key); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "part 2 of 3 is missing") {
		t.Errorf("Get with a chunk missing: %v", err)
	}
}

// TestKeychainEntryIsVisibleToOtherTools checks with secret-tool that the
// token really went into the Secret Service, under the bridge's service.
func TestKeychainEntryIsVisibleToOtherTools(t *testing.T) {
	k := realKeychain(t)
	if runtime.GOOS != "linux" {
		t.Skip("secret-tool is the Linux Secret Service's command")
	}
	tool, err := exec.LookPath("secret-tool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI lacks secret-tool (libsecret-tools)")
		}
		t.Skip("secret-tool (libsecret-tools) is not installed")
	}
	ctx := context.Background()
	key := uniqueKey(t)
	if err := k.Set(ctx, key, "visible"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(ctx, key) })
	out, err := exec.Command(tool, "lookup", "service", Service, "username", key).Output()
	if err != nil || string(out) != "visible" {
		t.Errorf("secret-tool lookup: %q, %v", out, err)
	}
}

func TestKeychainWithoutSessionBusSaysWhatToDo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the D-Bus check is Linux's")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	_, err := NewKeychain(time.Second)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no D-Bus session bus") || !strings.Contains(err.Error(), "--insecure-storage") {
		t.Errorf("err = %v", err)
	}
}

func TestKeychainTimeout(t *testing.T) {
	k := &Keychain{Service: Service, Timeout: 10 * time.Millisecond}
	block := make(chan struct{})
	defer close(block)
	_, err := k.call(context.Background(), func() (string, error) { <-block; return "", nil })
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "unlock the keychain") {
		t.Errorf("err = %v", err)
	}
}

func TestFileSecrets(t *testing.T) {
	dir := t.TempDir()
	var warnings []string
	f := NewFile(dir, func(m string) { warnings = append(warnings, m) })
	ctx := context.Background()
	if _, err := f.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of nothing: %v", err)
	}
	if err := f.Set(ctx, "k", strings.Repeat("v", 9000)); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Get(ctx, "k"); err != nil || len(v) != 9000 {
		t.Errorf("Get = %d bytes, %v", len(v), err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tokens.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, %v", fi.Mode().Perm(), err)
	}
	if len(warnings) != 3 || !strings.Contains(warnings[0], "plain file") {
		t.Errorf("warnings = %q; want one per use", warnings)
	}
	if err := f.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A file others can read is refused; a corrupt one is named, not reset.
	must(t, os.Chmod(f.Path, 0o644))
	if _, err := f.Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("loose file: %v", err)
	}
	must(t, os.Chmod(f.Path, 0o600))
	must(t, os.WriteFile(f.Path, []byte("{nope"), 0o600))
	if err := f.Set(ctx, "k", "v"); err == nil || !strings.Contains(err.Error(), f.Path+" is corrupt") {
		t.Errorf("corrupt file: %v", err)
	}
	if data, _ := os.ReadFile(f.Path); string(data) != "{nope" {
		t.Error("corrupt file overwritten")
	}
}

func TestTokensRoundTripAndNeverPrintSecrets(t *testing.T) {
	s := &Tokens{Secrets: NewFile(t.TempDir(), nil)}
	ctx := context.Background()
	if _, err := s.Get(ctx, "srv", "https://a.example.com"); !errors.Is(err, ErrNoToken) {
		t.Errorf("Get of nothing: %v", err)
	}
	tok := &Token{AccessToken: "secret-access", RefreshToken: "secret-refresh", Origin: "https://a.example.com",
		Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Scopes: []string{"repo"}}
	must(t, s.Save(ctx, "srv", tok))
	got, err := s.Get(ctx, "srv", "https://a.example.com")
	if err != nil || got.AccessToken != "secret-access" || got.RefreshToken != "secret-refresh" || !got.Expiry.Equal(tok.Expiry) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for _, text := range []string{fmt.Sprint(got), fmt.Sprintf("%v %+v %#v %s", got, got, got, got)} {
		if strings.Contains(text, "secret-") {
			t.Errorf("a token prints its secrets: %s", text)
		}
	}
	if _, err := s.Get(ctx, "srv", "https://b.example.com"); !errors.Is(err, ErrNoToken) {
		t.Errorf("a token for another origin: %v", err)
	}
}

func TestTokenValid(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		tok  *Token
		want bool
	}{
		{nil, false},
		{&Token{}, false},
		{&Token{AccessToken: "a"}, true},
		{&Token{AccessToken: "a", Expiry: now.Add(time.Hour)}, true},
		{&Token{AccessToken: "a", Expiry: now.Add(30 * time.Second)}, false},
	} {
		if got := tt.tok.Valid(now); got != tt.want {
			t.Errorf("%v.Valid() = %v", tt.tok, got)
		}
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://API.example.com/mcp":    "https://api.example.com",
		"https://api.example.com:443/x":  "https://api.example.com",
		"http://127.0.0.1:8080/mcp?x=1":  "http://127.0.0.1:8080",
		"http://[::1]:80/":               "http://[::1]",
		"https://user:pw@host.example/x": "https://host.example",
	} {
		if got, err := Origin(in); err != nil || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Origin("/relative"); err == nil {
		t.Error("a relative URL has an origin")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLogoutLeavesNothingInTheKeychain stores a token too big for one entry,
// logs out, and checks that no entry of it is left.
func TestLogoutLeavesNothingInTheKeychain(t *testing.T) {
	k := realKeychain(t)
	ctx := context.Background()
	m := &Manager{Tokens: &Tokens{Secrets: k}}
	id := fmt.Sprintf("logout-test-%d", time.Now().UnixNano())
	tok := &Token{AccessToken: strings.Repeat("a", 3000), RefreshToken: strings.Repeat("r", 1500), Origin: "https://x.example.com"}
	must(t, m.Tokens.Save(ctx, id, tok))
	key := Key(id, tok.Origin)
	h, err := k.head(ctx, key)
	if err != nil || h.n < 3 {
		t.Fatalf("the token was not split as expected: %+v, %v", h, err)
	}
	found, revocation, err := m.Logout(ctx, nil, id, tok.Origin)
	if err != nil || !found || !strings.Contains(revocation, "offers no revocation, so the token stays valid until it expires") {
		t.Fatalf("Logout = %v %q %v", found, revocation, err)
	}
	for i := 0; i < h.n; i++ {
		k2 := key
		if i > 0 {
			k2 = h.part(key, i)
		}
		if _, err := keyring.Get(k.Service, k2); !errors.Is(err, keyring.ErrNotFound) {
			t.Errorf("entry %q left behind: %v", k2, err)
		}
	}
}

// TestATokenFileHoldingNullIsAnErrorNotAPanic: a file of null is named as
// corrupt, and left as it is.
func TestATokenFileHoldingNullIsAnErrorNotAPanic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(path, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile(dir, nil)
	if err := f.Set(context.Background(), "k", "v"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Set on a file of null: %v; want an error naming it", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "null" {
		t.Errorf("the file was changed: %q", data)
	}
}
