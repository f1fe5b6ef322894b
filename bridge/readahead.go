package bridge

import "sync"

// At start-up serve reads its catalog before it knows which servers it
// has, and only then reads each server's kept lists and pins: one core
// reads YAML while the other waits. ReadAhead reads those files in the
// background meanwhile, by the IDs the config enables; the start-up's
// first read of each takes what was read instead of reading the file
// again, and what it does not take is dropped once the start-up is over.

// ReadAhead starts reading the kept lists and pins of the servers with
// these IDs, one file after another on one goroutine: the core that is
// free while the catalog is read, without a thread for each file's read.
// A file the start-up asks for before that goroutine has come to it is
// read by the start-up itself. Either of lists and pins may be nil.
func ReadAhead(lists *ListCache, pins *Pins, ids []string) {
	var reads []func()
	for _, id := range ids {
		if lists != nil && lists.dir != "" {
			reads = append(reads, lists.ahead.start(lists.Path(id), lists.read))
		}
		if pins != nil && pins.dir != "" {
			reads = append(reads, pins.ahead.start(pins.Path(id), func(string) (*pinFile, error) { return pins.read(id, false) }))
		}
	}
	go func() {
		for _, read := range reads {
			read()
		}
	}()
}

// readAhead holds files read before they were asked for, each to be taken
// once. The zero readAhead holds nothing.
type readAhead[T any] struct {
	mu    sync.Mutex
	files map[string]*aheadFile[T] // by path
}

// aheadFile is one file read ahead: whichever comes first, the reader in
// the background or the one who takes it, reads it, and the other waits
// for that read (sync.Once), so that a start-up faster than the reader
// in the background reads its files itself, in parallel, as without it.
type aheadFile[T any] struct {
	once sync.Once
	read func() (T, error)
	v    T
	err  error
}

func (f *aheadFile[T]) run() { f.once.Do(func() { f.v, f.err = f.read() }) }

// start notes that the file at path is read ahead, and returns what reads
// it with read; a file noted already is read once.
func (r *readAhead[T]) start(path string, read func(path string) (T, error)) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.files == nil {
		r.files = map[string]*aheadFile[T]{}
	}
	if _, ok := r.files[path]; ok {
		return func() {}
	}
	f := &aheadFile[T]{read: func() (T, error) { return read(path) }}
	r.files[path] = f
	return f.run
}

// take returns what was read of the file at path, reading it now if the
// reader in the background has not come to it, or waiting for its read,
// and forgets it; ok is false when it was not read ahead.
func (r *readAhead[T]) take(path string) (v T, err error, ok bool) {
	r.mu.Lock()
	f, ok := r.files[path]
	delete(r.files, path)
	r.mu.Unlock()
	if !ok {
		return v, nil, false
	}
	f.run()
	return f.v, f.err, true
}

// drop forgets every file not taken: what is read later is read from disk.
func (r *readAhead[T]) drop() {
	r.mu.Lock()
	r.files = nil
	r.mu.Unlock()
}
