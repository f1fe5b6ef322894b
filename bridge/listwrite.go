package bridge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// Save keeps a server's lists as verified now; the file is written in
// the background. Lists unchanged since they were written are written
// again only to renew their time, once it is listsRefresh old.
func (c *ListCache) Save(s *catalog.Server, l Lists) {
	if c == nil || c.dir == "" {
		return
	}
	k := &keptLists{Version: keptListsVersion, Server: s.ID, Definition: definitionDigest(s), Lists: map[string]keptList{}}
	private := false
	for _, f := range listFields {
		items := *f.field(&l)
		cache, listed := l.Cache[f.method]
		if !listed && (l.Cache != nil || items == nil) {
			continue // the server offers no such list
		}
		kl := keptList{CacheScope: cache.Scope, Items: items}
		if cache.TTL > 0 || cache.Scope != "" {
			ms := cache.TTL.Milliseconds()
			kl.TTLMs = &ms
		}
		private = private || cache.Scope == "private"
		k.Lists[f.method] = kl
	}
	if private {
		k.LoginOf, k.Login = listLogin(s)
	}
	path := c.Path(s.ID)
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := c.slot(path)
	slot.pending, slot.forget = k, "" // the file is written whole: no older login's lists stay
	c.startWriter(path, slot)
}

// ForgetLogin takes the private lists that came with a login (a server's
// ID, or "portal") out of every file, when that login is logged out, or
// in again, or found gone. It returns at once; Wait waits for the files.
func (c *ListCache) ForgetLogin(loginOf string) {
	if c == nil || c.dir == "" {
		return
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("kept lists: the private lists of a login may be left", "login", loginOf, "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, slot := range c.slots {
		if p := slot.pending; p != nil && p.LoginOf == loginOf {
			dropPrivate(p)
		}
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(c.dir, e.Name())
		slot := c.slot(path)
		slot.forget = loginOf
		c.startWriter(path, slot)
	}
}

// Wait waits until every file is written.
func (c *ListCache) Wait() {
	if c != nil {
		c.writes.Wait()
	}
}

// slot is the slot of a file; c.mu is held.
func (c *ListCache) slot(path string) *listSlot {
	slot, ok := c.slots[path]
	if !ok {
		slot = &listSlot{}
		c.slots[path] = slot
	}
	return slot
}

// startWriter has the file's writer take what its slot holds; c.mu is held.
func (c *ListCache) startWriter(path string, slot *listSlot) {
	if slot.writing {
		return // the writer at work takes it next
	}
	slot.writing = true
	c.writes.Go(func() { c.writeOut(path, slot) })
}

// writeOut does what a file's slot holds until nothing more is waiting.
func (c *ListCache) writeOut(path string, slot *listSlot) {
	c.held.wait()
	for {
		c.mu.Lock()
		k, forget := slot.pending, slot.forget
		slot.pending, slot.forget = nil, ""
		if k == nil && forget == "" {
			slot.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if k != nil {
			if err := c.write(path, slot, k); err != nil {
				c.log.Warn("kept lists not written", "server", k.Server, "err", err)
			}
		}
		if forget != "" {
			if err := c.forgetIn(path, slot, forget); err != nil {
				c.log.Warn("kept lists: the private lists of a login are left", "login", forget, "err", err)
			}
		}
	}
}

// write writes a server's file, unless it holds these lists already and
// they are recent.
func (c *ListCache) write(path string, slot *listSlot, k *keptLists) error {
	k.At = time.Time{}
	sum := sha256.Sum256(k.encode())
	now := c.now().UTC()
	c.mu.Lock()
	read := slot.read
	slot.read = nil
	c.mu.Unlock()
	if read != nil {
		at := read.At
		read.At = time.Time{}
		readSum := sha256.Sum256(read.encode())
		c.mu.Lock()
		if slot.onDiskAt.IsZero() {
			slot.onDisk, slot.onDiskAt = readSum, at
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	same := slot.onDisk == sum && now.Sub(slot.onDiskAt) < listsRefresh
	c.mu.Unlock()
	if same {
		return nil
	}
	k.At = now
	data := k.encode()
	return c.locked(path, func() error {
		if len(data) > maxListsFile {
			// Older lists must not stand in for these.
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", path, err)
			}
			return fmt.Errorf("%s: the lists are larger than %d bytes; none are kept", path, maxListsFile)
		}
		if err := state.WriteFile(path, data, 0o600); err != nil {
			return err
		}
		c.mu.Lock()
		slot.onDisk, slot.onDiskAt = sum, now
		c.mu.Unlock()
		return nil
	})
}

// forgetIn takes a login's private lists out of one file, removing the
// file when nothing is left in it.
func (c *ListCache) forgetIn(path string, slot *listSlot, loginOf string) error {
	return c.locked(path, func() error {
		data, err := state.ReadLimited(path, maxListsFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		k, err := parseKept(path, data)
		if err != nil {
			return err
		}
		if k.LoginOf != loginOf {
			return nil
		}
		dropPrivate(k)
		c.mu.Lock()
		slot.onDisk, slot.read = [sha256.Size]byte{}, nil
		c.mu.Unlock()
		if len(k.Lists) == 0 {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("removing %s: %w", path, err)
			}
			return nil
		}
		return state.WriteFile(path, k.encode(), 0o600)
	})
}

// locked runs f under the file's cross-process lock, the one every
// change of a state file takes.
func (c *ListCache) locked(path string, f func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target, err := state.Target(path)
	if err != nil {
		return err
	}
	unlock, err := c.locks.Lock(ctx, "file:"+target, "another bridge to finish writing "+path)
	if err != nil {
		return err
	}
	defer unlock()
	return f()
}

// noteOnDisk records what a file read holds, so that the same lists seen
// again soon are not written again.
func (c *ListCache) noteOnDisk(path string, k *keptLists) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot := c.slot(path); slot.onDiskAt.IsZero() {
		slot.read = k
	}
}

// dropPrivate takes the private lists out of k, and its login with them.
func dropPrivate(k *keptLists) {
	for method, kl := range k.Lists {
		if kl.CacheScope == "private" {
			delete(k.Lists, method)
		}
	}
	k.LoginOf, k.Login = "", ""
}

// encode writes the file with every item's bytes as they are: an encoder
// would compact them and escape what it escapes in strings, and the lists
// served from the file must be byte for byte those the server sent, or
// they would differ from the live ones.
