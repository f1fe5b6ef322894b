package client

// A body of unknown size is read in pieces and joined, once it has all
// come, into one buffer of its size. Pieces on the heap would hold the
// body a second time until the collector runs, so the peak of a large
// answer would be twice its size; pieces are taken outside the heap
// instead where the system allows (scratch_mmap.go), and each is given
// back as soon as it is copied: the peak is the body and one piece.

// pieceSize is the size of one piece: what the last one leaves unused
// is the waste.
const pieceSize = 256 << 10

// piece is memory to read into: mapped outside the heap, or not.
type piece struct {
	b      []byte // what it holds; cap(b) is all of it
	mapped bool
}

// pieces hold what has come of a body, in order.
type pieces struct {
	list []piece
	size int64 // bytes held
}

// room is where the next bytes go: the free part of the last piece, or a
// new piece.
func (p *pieces) room() []byte {
	if n := len(p.list); n > 0 {
		if last := p.list[n-1].b; len(last) < cap(last) {
			return last[len(last):cap(last)]
		}
	}
	b, mapped := newPiece(pieceSize)
	p.list = append(p.list, piece{b: b[:0], mapped: mapped})
	return b
}

// wrote records that n bytes went into the room last given.
func (p *pieces) wrote(n int) {
	last := &p.list[len(p.list)-1].b
	*last = (*last)[:len(*last)+n]
	p.size += int64(n)
}

// add copies b in.
func (p *pieces) add(b []byte) {
	for len(b) > 0 {
		n := copy(p.room(), b)
		p.wrote(n)
		b = b[n:]
	}
}

// join returns head and then what the pieces hold, in one buffer of
// their size, and gives every piece back as it is copied.
func (p *pieces) join(head []byte) []byte {
	out := make([]byte, len(head)+int(p.size))
	p.moveTo(out[copy(out, head):])
	return out
}

// moveTo copies what the pieces hold to the start of out, which has room
// for it, giving every piece back as it is copied, and returns how many
// bytes it copied.
func (p *pieces) moveTo(out []byte) int {
	n := 0
	for i := range p.list {
		n += copy(out[n:], p.list[i].b)
		freePiece(p.list[i])
		p.list[i] = piece{}
	}
	p.list, p.size = nil, 0
	return n
}

// free gives every piece back, unread: a body that failed.
func (p *pieces) free() {
	for _, pc := range p.list {
		freePiece(pc)
	}
	p.list, p.size = nil, 0
}
