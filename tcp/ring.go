package tcp

// ring is a fixed-size byte ring. Logical offset 0 is the oldest byte (head); the
// first n bytes are "filled". The receive side also stores out-of-order data at
// logical offsets beyond n (see reassemble in input.go), so head only moves by
// consume, never by a reset.
//
// A ring can be released (its memory handed back once the connection can no
// longer use it, as in TIME-WAIT): a released ring is empty with size 0, and
// every method still works on it, as on a full and empty ring at once (append
// takes nothing, peek and read return nothing), without allocating.
type ring struct {
	buf  []byte
	head int
	n    int
}

func newRing(size int) ring { return ring{buf: make([]byte, size)} }

// release drops the buffer and whatever it holds.
func (r *ring) release() { *r = ring{} }

func (r *ring) size() int { return len(r.buf) }
func (r *ring) free() int { return len(r.buf) - r.n }

// pos maps a logical offset in [0, size) to an index in buf.
func (r *ring) pos(off int) int {
	p := r.head + off
	if p >= len(r.buf) {
		p -= len(r.buf)
	}
	return p
}

// append copies as much of p as fits after the filled bytes and returns the count.
func (r *ring) append(p []byte) int {
	n := min(len(p), r.free())
	r.writeAt(r.n, p[:n])
	r.n += n
	return n
}

// writeAt copies p to logical offset off without changing n. off+len(p) <= size.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 || len(r.buf) == 0 {
		return
	}
	c := copy(r.buf[r.pos(off):], p)
	copy(r.buf, p[c:])
}

// peek returns logical bytes [off, off+n) as at most two slices, without
// copying. off+n <= size (nothing for a released ring).
func (r *ring) peek(off, n int) (a, b []byte) {
	if n <= 0 || len(r.buf) == 0 {
		return nil, nil
	}
	p := r.pos(off)
	if p+n <= len(r.buf) {
		return r.buf[p : p+n], nil
	}
	return r.buf[p:], r.buf[:n-(len(r.buf)-p)]
}

// read copies up to len(p) filled bytes into p and consumes them.
func (r *ring) read(p []byte) int {
	n := min(len(p), r.n)
	a, b := r.peek(0, n)
	copy(p, a)
	copy(p[len(a):], b)
	r.consume(n)
	return n
}

// consume drops the n oldest filled bytes.
func (r *ring) consume(n int) {
	if n <= 0 {
		return
	}
	r.head = r.pos(n)
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n -= n
}
