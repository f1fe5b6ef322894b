package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config"
)

// Retries of a portal that cannot be read, for Follow: the wait doubles
// from RetryMin up to portal.retry_max, DefaultRetryMax unless set.
const (
	RetryMin        = time.Second
	DefaultRetryMax = time.Minute
)

// Follow reads the catalog for a process that serves for long (bridge
// serve) and must never wait on a portal. Before it returns, it hands
// update the catalog at hand: the files, and the portal's cached read or,
// with no cache, nothing of the portal, whose status then says it is not
// read yet ([ErrNotRead]). Then it reads the portal in the background,
// retrying with backoff until a read succeeds, and hands update the
// catalog with what it read; each failed read is logged to opts.Log with
// the wait before the next and what stands in meanwhile. The reads end
// when ctx does; done is closed once they have, and update is not called
// after.
func Follow(ctx context.Context, cfg *config.Config, opts Options, update func(*Catalog)) (done <-chan struct{}, err error) {
	sources, err := sources(cfg, opts)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reads, portal := readAtHand(ctx, sources)
	first := assemble(cfg, opts, sources, reads)
	update(first)

	ch := make(chan struct{})
	if portal < 0 {
		close(ch)
		return ch, nil
	}
	p := sources[portal].(*portalSource)
	meanwhile := "nothing cached to use meanwhile"
	if st := first.Sources[portal]; !st.CachedAt.IsZero() {
		meanwhile = fmt.Sprintf("%d servers from its cache of %s meanwhile", st.Servers, st.CachedAt.Local().Format(time.DateTime))
	}
	hi := time.Duration(cfg.Portal.RetryMax)
	if hi <= 0 {
		hi = DefaultRetryMax
	}
	go func() {
		defer close(ch)
		res, ok := p.readUntil(ctx, min(RetryMin, hi), hi, log, meanwhile)
		if !ok {
			return
		}
		reads[portal] = sourceRead{res: res}
		cat := assemble(cfg, opts, sources, reads)
		log.Info("catalog read", "source", p.url, "servers", cat.Sources[portal].Servers)
		if ctx.Err() == nil {
			update(cat)
		}
	}()
	return ch, nil
}

// Configured reports whether cfg (or the options' files) names a catalog
// to read: Follow's only error.
func Configured(cfg *config.Config, opts Options) error {
	_, err := sources(cfg, opts)
	return err
}

// AtHand is the catalog Follow hands over first: the files, and the
// portal's cached read; the portal itself is not read.
func AtHand(ctx context.Context, cfg *config.Config, opts Options) (*Catalog, error) {
	sources, err := sources(cfg, opts)
	if err != nil {
		return nil, err
	}
	reads, _ := readAtHand(ctx, sources)
	return assemble(cfg, opts, sources, reads), nil
}

// Inputs are the files the catalog at hand is read from, in the order
// AtHand reads them: each file source's files, and the portal's cache
// file, which need not exist. A file source that names no file is an
// error, as it is for AtHand's read.
func Inputs(cfg *config.Config, opts Options) ([]string, error) {
	sources, err := sources(cfg, opts)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sources {
		switch s := s.(type) {
		case fileSource:
			files, err := s.files()
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		case *portalSource:
			if s.cache.dir != "" {
				out = append(out, s.cache.path(s.url))
			}
		}
	}
	return out, nil
}

// readAtHand reads the files of every file source in parallel, and the
// portal's cache; portal is the portal's index in sources, or -1.
func readAtHand(ctx context.Context, sources []source) (reads []sourceRead, portal int) {
	reads = make([]sourceRead, len(sources))
	portal = -1
	var wg sync.WaitGroup
	for i, s := range sources {
		if p, ok := s.(*portalSource); ok {
			portal = i
			reads[i].res, reads[i].err = p.cached()
			continue
		}
		wg.Go(func() { reads[i].res, reads[i].err = s.read(ctx) })
	}
	wg.Wait()
	return reads, portal
}

// cached is the portal's cached read, for a start that must not wait on
// the portal, stale for ErrNotRead; with no cache it is nothing, and
// ErrNotRead.
func (p *portalSource) cached() (readResult, error) {
	notRead := fmt.Errorf("%w %s: %w", ErrPortal, p.url, ErrNotRead)
	snap, err := p.cache.load(p.url)
	switch {
	case err != nil:
		return readResult{}, fmt.Errorf("%w; reading the portal in the background", err)
	case snap == nil:
		return readResult{}, notRead
	}
	return readResult{docs: itemDocuments(p.url, snap.Items), cachedAt: snap.FetchedAt, stale: notRead}, nil
}

// readUntil reads the portal until a read succeeds, and saves it in the
// cache, or until ctx ends (false). Between tries it waits lo, then twice
// as long each time up to hi. A failure is a warning the first time and
// when its reason changes; the same reason again is for debugging.
func (p *portalSource) readUntil(ctx context.Context, lo, hi time.Duration, log *slog.Logger, meanwhile string) (readResult, bool) {
	last := ""
	for attempt := 0; ; attempt++ {
		items, err := p.fetch(ctx)
		if err == nil {
			res := readResult{docs: itemDocuments(p.url, items)}
			if cerr := p.cache.save(p.url, items); cerr != nil {
				res.warnings = append(res.warnings, cerr.Error())
				log.Warn("catalog read, but not cached", "source", p.url, "err", cerr)
			}
			return res, true
		}
		if ctx.Err() != nil {
			return readResult{}, false
		}
		delay := retryDelay(attempt, lo, hi)
		level := slog.LevelWarn
		if err.Error() == last {
			level = slog.LevelDebug
		}
		last = err.Error()
		log.Log(ctx, level, fmt.Sprintf("catalog not read; retrying in %s; %s", delay, meanwhile), "source", p.url, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return readResult{}, false
		}
	}
}

// retryDelay is lo doubled attempt times, at most hi.
func retryDelay(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for range attempt {
		if d >= hi/2 {
			return hi
		}
		d *= 2
	}
	return min(d, hi)
}
