package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/config/backstagetest"
)

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// nextCatalog is the next catalog handed to update, failing the test when
// none comes within a generous bound.
func nextCatalog(t *testing.T, updates <-chan *Catalog) *Catalog {
	t.Helper()
	select {
	case c := <-updates:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no catalog within 30s")
		return nil
	}
}

func servedIDs(servers []*Server) []string {
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	return ids
}

var (
	docsEntity  = backstagetest.MCPServerEntity("default", "docs", "https://docs.example.com/mcp")
	extraEntity = backstagetest.MCPServerEntity("default", "extra", "https://extra.example.com/mcp")
)

// TestFollowStartsFromWhatIsAtHandAndReadsThePortalBehind: Follow hands
// over the catalog at hand before it returns, while the portal hangs —
// nothing of the portal without a cache, the cache when there is one — and
// the portal's own catalog once it answers, cached for the next start.
func TestFollowStartsFromWhatIsAtHandAndReadsThePortalBehind(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cached      bool
		firstServed []string
		firstUnread []string // enabled, and said to be not read yet
	}{
		{"no cache", false, nil, []string{"docs", "extra"}},
		{"a cache", true, []string{"docs"}, []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := backstagetest.New(t, []json.RawMessage{docsEntity})
			t.Setenv(tokenEnv, srv.Token)
			cfg, opts := portalConfig(t, srv.URL, "enabled: [docs, extra]\n")
			if tc.cached {
				loadPortal(t, cfg, opts) // a good read is cached
			}
			srv.SetEntities([]json.RawMessage{docsEntity, extraEntity})
			held, release := srv.Hold()

			updates := make(chan *Catalog, 10)
			done, err := Follow(t.Context(), cfg, opts, func(c *Catalog) { updates <- c })
			if err != nil {
				t.Fatal(err)
			}
			var first *Catalog
			select {
			case first = <-updates:
			default:
				t.Fatal("Follow returned before handing over the catalog at hand")
			}
			<-held // the portal is being read, in the background
			servers, skipped := first.Enabled(cfg)
			if got := servedIDs(servers); !slices.Equal(got, tc.firstServed) {
				t.Errorf("served at first: %v, want %v", got, tc.firstServed)
			}
			var unread []string
			for _, sk := range skipped {
				if sk.Reason != SkipUnread || !errors.Is(sk.Err, ErrNotRead) {
					t.Errorf("%s skipped as %s (%v), want not read yet", sk.ID, sk.Reason, sk.Err)
				}
				if msg := sk.String(); !strings.Contains(msg, "the catalog is not read yet: reading "+srv.URL+" in the background") ||
					strings.Contains(msg, "not in the catalog") {
					t.Errorf("skipped: %q", msg)
				}
				unread = append(unread, sk.ID)
			}
			if !slices.Equal(unread, tc.firstUnread) {
				t.Errorf("not read yet: %v, want %v", unread, tc.firstUnread)
			}

			release()
			second := nextCatalog(t, updates)
			servers, skipped = second.Enabled(cfg)
			if got := servedIDs(servers); !slices.Equal(got, []string{"docs", "extra"}) || len(skipped) > 0 {
				t.Errorf("once read: served %v, skipped %v", got, skipped)
			}
			if st := second.Sources[0]; st.Err != nil || st.Stale != nil || !st.CachedAt.IsZero() || st.Servers != 2 {
				t.Errorf("once read, the source is %+v", st)
			}
			<-done

			// The read was cached: the next start has both at hand.
			srv.FailWith(http.StatusBadGateway)
			cat, _ := loadPortal(t, cfg, opts)
			if servers, _ := cat.Enabled(cfg); len(servers) != 2 {
				t.Errorf("from the cache after the read: %v", servedIDs(servers))
			}
		})
	}
}

// TestFollowRetriesAPortalThatCannotBeRead: a portal that answers 503, or
// refuses connections, is read again and again, each failure logged with
// the wait and the reason — a warning once, debug after — until it
// answers; then its catalog arrives.
func TestFollowRetriesAPortalThatCannotBeRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		down, up func(*backstagetest.Server)
		reason   string
	}{
		{"503", func(s *backstagetest.Server) { s.FailWith(http.StatusServiceUnavailable) }, func(s *backstagetest.Server) { s.FailWith(0) }, "503 Service Unavailable"},
		{"connection refused", (*backstagetest.Server).Kill, (*backstagetest.Server).Restart, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := backstagetest.New(t, []json.RawMessage{docsEntity})
			t.Setenv(tokenEnv, srv.Token)
			cfg, opts := portalConfig(t, srv.URL, "  retry_max: 20ms\nenabled: [docs]\n")
			var logs logBuffer
			opts.Log = logs.logger()
			tc.down(srv)

			updates := make(chan *Catalog, 10)
			done, err := Follow(t.Context(), cfg, opts, func(c *Catalog) { updates <- c })
			if err != nil {
				t.Fatal(err)
			}
			first := nextCatalog(t, updates)
			if _, skipped := first.Enabled(cfg); len(skipped) != 1 || skipped[0].Reason != SkipUnread {
				t.Errorf("before any read: %v", skipped)
			}
			const retries = 3
			for deadline := time.Now().Add(30 * time.Second); strings.Count(logs.String(), "catalog not read; retrying in") < retries; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("fewer than %d retries logged:\n%s", retries, logs.String())
				}
			}
			tc.up(srv)
			if servers, _ := nextCatalog(t, updates).Enabled(cfg); !slices.Equal(servedIDs(servers), []string{"docs"}) {
				t.Errorf("once the portal answers: %v", servedIDs(servers))
			}
			<-done

			out := logs.String()
			var warned int
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "catalog not read") {
					if !strings.Contains(line, "nothing cached to use meanwhile") || !strings.Contains(line, tc.reason) ||
						!strings.Contains(line, "source="+srv.URL) {
						t.Errorf("retry line lacks the reason, the source or what stands in: %s", line)
					}
					if strings.Contains(line, "level=WARN") {
						warned++
					}
				}
			}
			if warned != 1 {
				t.Errorf("%d warnings for one reason, want 1:\n%s", warned, out)
			}
			if !strings.Contains(out, `msg="catalog read" source=`+srv.URL+" servers=1") {
				t.Errorf("the read is not logged:\n%s", out)
			}
			if strings.Contains(out, srv.Token) {
				t.Error("the token is in the log")
			}
		})
	}
}

// TestFollowStopsWithItsContext: whether a read hangs or Follow waits to
// retry, the end of its context ends it, and no catalog comes after.
func TestFollowStopsWithItsContext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*backstagetest.Server) <-chan struct{} // closed once Follow is where the case wants it
	}{
		{"a read that hangs", func(s *backstagetest.Server) <-chan struct{} {
			held, _ := s.Hold()
			return chanOf(held)
		}},
		{"waiting to retry", func(s *backstagetest.Server) <-chan struct{} {
			s.FailWith(http.StatusServiceUnavailable)
			return nil // waits in the log below
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := backstagetest.New(t, []json.RawMessage{docsEntity})
			t.Setenv(tokenEnv, srv.Token)
			cfg, opts := portalConfig(t, srv.URL, "  retry_max: 1h\nenabled: [docs]\n")
			var logs logBuffer
			opts.Log = logs.logger()
			ready := tc.setup(srv)
			ctx, cancel := context.WithCancel(t.Context())
			updates := make(chan *Catalog, 10)
			done, err := Follow(ctx, cfg, opts, func(c *Catalog) { updates <- c })
			if err != nil {
				t.Fatal(err)
			}
			nextCatalog(t, updates)
			if ready != nil {
				<-ready
			} else {
				for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "retrying in 1s"); time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("no retry logged:\n%s", logs.String())
					}
				}
			}
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Follow did not end with its context")
			}
			select {
			case c := <-updates:
				t.Errorf("a catalog came after the end: %+v", c.Sources)
			default:
			}
		})
	}
}

// chanOf is closed once c has received a value.
func chanOf(c <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() { <-c; close(out) }()
	return out
}

func TestRetryDelayDoublesUpToItsBound(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		lo, hi  time.Duration
		want    time.Duration
	}{
		{0, time.Second, time.Minute, time.Second},
		{1, time.Second, time.Minute, 2 * time.Second},
		{5, time.Second, time.Minute, 32 * time.Second},
		{6, time.Second, time.Minute, time.Minute},
		{1000, time.Second, time.Minute, time.Minute},
		{0, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		{3, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
	} {
		if got := retryDelay(tc.attempt, tc.lo, tc.hi); got != tc.want {
			t.Errorf("retryDelay(%d, %s, %s) = %s, want %s", tc.attempt, tc.lo, tc.hi, got, tc.want)
		}
	}
}

// TestEnabledServerOfAnUnreadCatalogIsNotCalledMissing: an enabled server
// absent from a catalog whose portal could not be read — nothing at all, or
// only its cache — is "not read yet", with the portal's reason; absent from
// a catalog read in full, it is not in the catalog.
func TestEnabledServerOfAnUnreadCatalogIsNotCalledMissing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cache  bool
		status int // the portal's answer when the catalog is loaded; 0 for a good one
		reason SkipReason
		want   string
	}{
		{"read in full", false, 0, SkipMissing, "ghost is enabled but not in the catalog"},
		{"the portal failed, no cache", false, http.StatusBadGateway, SkipUnread, "ghost is enabled, but the catalog is not read yet: portal http"},
		{"the portal failed, its cache used", true, http.StatusBadGateway, SkipUnread, "ghost is enabled, but the catalog is not read yet: portal http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := backstagetest.New(t, []json.RawMessage{docsEntity})
			t.Setenv(tokenEnv, srv.Token)
			cfg, opts := portalConfig(t, srv.URL, "enabled: [ghost]\n")
			if tc.cache {
				loadPortal(t, cfg, opts)
			}
			srv.FailWith(tc.status)
			cat, _ := loadPortal(t, cfg, opts)
			_, skipped := cat.Enabled(cfg)
			if len(skipped) != 1 || skipped[0].Reason != tc.reason || !strings.HasPrefix(skipped[0].String(), tc.want) {
				t.Fatalf("skipped = %+v, want %s: %q", skipped, tc.reason, tc.want)
			}
			if tc.status != 0 && !strings.Contains(skipped[0].String(), "502 Bad Gateway") {
				t.Errorf("the portal's reason is not given: %s", skipped[0])
			}
		})
	}
}
