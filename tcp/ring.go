package tcp

import (
	"sync"
	"unsafe"
)

// ring is a fixed-size byte ring. Logical offset 0 is the oldest byte (head); the
// first n bytes are "filled". The receive side also stores out-of-order data at
// logical offsets beyond n (see reassemble in input.go), so head only moves by
// consume, never by a reset.
//
// The ring's size is fixed when the connection is created, but its backing array
// is not: an idle connection holds none. The array is taken from a pool shared
// by every ring of the same size the first time a byte is stored (acquire, done
// by append, writeAt and space), and handed back by idle once the owner knows
// nothing is stored in it any more. So an idle connection costs its Conn, not
// its buffers, and a busy one cycling between empty and non-empty takes and
// returns the same arrays without allocating. A ring without its array behaves
// as an empty ring of its size: free() is still size, so the receive window
// advertised by an idle connection is the full configured buffer.
//
// A ring can also be released for good (once the connection can no longer use
// it, as in TIME-WAIT): a released ring is empty with size 0, and every method
// still works on it, as on a full and empty ring at once (append takes nothing,
// peek and read return nothing), without allocating.
type ring struct {
	buf   []byte // nil while idle or released; len(buf) == sz otherwise
	head  int
	n     int
	sz    int
	arena *bufPool
}

func newRing(size int) ring { return ring{sz: size, arena: poolFor(size)} }

// release hands the array back, dropping whatever it holds, and makes the
// ring size 0 for good.
func (r *ring) release() {
	r.n = 0
	r.idle()
	*r = ring{}
}

// acquire makes sure the ring has its array (a released ring gets none).
func (r *ring) acquire() {
	if r.buf == nil && r.sz > 0 {
		r.buf = r.arena.get()
		r.head = 0
	}
}

// idle hands the array back to the pool. The caller guarantees that nothing is
// stored in the ring: no filled bytes (n == 0) and, on the receive side, no
// out-of-order data beyond them. Slices from an earlier peek must not be used
// afterwards (PeekRead and PeekWrite document that).
func (r *ring) idle() {
	if r.buf == nil || r.n != 0 {
		return
	}
	r.arena.put(r.buf)
	r.buf = nil
	r.head = 0
}

// held reports whether the ring holds its backing array now.
func (r *ring) held() bool { return r.buf != nil }

func (r *ring) size() int { return r.sz }
func (r *ring) free() int { return r.sz - r.n }

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
	if n == 0 {
		return 0
	}
	r.writeAt(r.n, p[:n])
	r.n += n
	return n
}

// writeAt copies p to logical offset off without changing n. off+len(p) <= size.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	r.acquire()
	if len(r.buf) == 0 {
		return
	}
	c := copy(r.buf[r.pos(off):], p)
	copy(r.buf, p[c:])
}

// space returns the free space after the filled bytes as at most two slices,
// acquiring the array first, for a caller that fills it in place. The bytes in
// it are unspecified (an array from the pool keeps what its last user left).
func (r *ring) space() (a, b []byte) {
	if r.free() == 0 {
		return nil, nil
	}
	r.acquire()
	return r.peek(r.n, r.free())
}

// peek returns logical bytes [off, off+n) as at most two slices, without
// copying. off+n <= size (nothing for a released or idle ring).
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

// arrayPool recycles the backing arrays of one size: ring arrays ([]byte) and
// send scoreboards ([]txSeg). It is a sync.Pool, so it grows to what the busy
// connections of the moment need, is cheap from every core at once, and lets
// the garbage collector take back what idle connections returned (within two
// collections). It holds the arrays as pointers to their first element: a
// slice put in a sync.Pool would be boxed in a fresh allocation on every put,
// a pointer is not, and the array's length is the pool's size.
type arrayPool[T any] struct {
	size int
	p    sync.Pool
}

type bufPool = arrayPool[byte]

func (ap *arrayPool[T]) get() []T {
	if p, ok := ap.p.Get().(*T); ok {
		return unsafe.Slice(p, ap.size)
	}
	return make([]T, ap.size)
}

func (ap *arrayPool[T]) put(a []T) {
	if len(a) == ap.size {
		ap.p.Put(unsafe.SliceData(a))
	}
}

// arrayPools maps an array size to its pool. It is consulted once per ring or
// scoreboard, when a connection is created; it only grows by the distinct
// sizes configured in the process, which are few.
type arrayPools[T any] struct {
	mu sync.Mutex
	m  map[int]*arrayPool[T]
}

func (ps *arrayPools[T]) of(size int) *arrayPool[T] {
	if size <= 0 {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ap := ps.m[size]
	if ap == nil {
		if ps.m == nil {
			ps.m = make(map[int]*arrayPool[T])
		}
		ap = &arrayPool[T]{size: size}
		ps.m[size] = ap
	}
	return ap
}

var (
	bufPools arrayPools[byte]
	segPools arrayPools[txSeg]
)

func poolFor(size int) *bufPool { return bufPools.of(size) }
