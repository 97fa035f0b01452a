// Package udp is an I/O-free UDP endpoint (RFC 768): a bounded receive queue of
// datagrams with their source addresses. It starts no goroutines and reads no
// clock; package stack demultiplexes datagrams to endpoints, locks them and
// sends on their behalf.
//
// The queue is bounded twice, as a kernel socket's receive buffer is: by a
// number of datagrams and by bytes. Its memory is allocated once, when the
// endpoint is made, so a flood costs drops (counted), never memory.
package udp

import "net/netip"

// Defaults for Config.
const (
	DefaultQueueDatagrams = 256
	DefaultQueueBytes     = 256 << 10
)

// Config bounds an endpoint's receive queue.
type Config struct {
	// QueueDatagrams is the most datagrams held (default DefaultQueueDatagrams).
	QueueDatagrams int
	// QueueBytes is the most payload bytes held (default DefaultQueueBytes).
	// A datagram larger than this is always dropped.
	QueueBytes int
}

func (c Config) withDefaults() Config {
	if c.QueueDatagrams <= 0 {
		c.QueueDatagrams = DefaultQueueDatagrams
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	return c
}

// Stats are an endpoint's counters.
type Stats struct {
	Received  uint64 // datagrams queued
	Delivered uint64 // datagrams taken by Recv
	Dropped   uint64 // datagrams dropped: the queue was full (count or bytes)
	Truncated uint64 // datagrams Recv cut short because the caller's buffer was smaller
}

// slot is one queued datagram: its payload is buf[off:off+n], and pad bytes at
// the end of buf were skipped before it because it did not fit there.
type slot struct {
	from        netip.AddrPort
	off, n, pad int
}

// Endpoint is one UDP endpoint's receive queue. It is not safe for concurrent
// use: the stack guards it with the socket's lock.
type Endpoint struct {
	slots []slot // ring of queued datagrams
	first int    // index of the oldest slot
	count int    // slots in use

	// buf is a byte ring: datagrams occupy [head, tail), wrapping at most once;
	// each datagram is contiguous, so one that does not fit before the end goes
	// to the start and the tail end is skipped (slot.pad).
	buf        []byte
	head, tail int
	used       int // bytes occupied, pads included

	st Stats
}

// New returns an endpoint with an empty queue of the configured bounds.
func New(cfg Config) *Endpoint {
	cfg = cfg.withDefaults()
	return &Endpoint{slots: make([]slot, cfg.QueueDatagrams), buf: make([]byte, cfg.QueueBytes)}
}

// Push queues a copy of payload from from. It reports false, and counts a
// drop, if the queue has no room for it (RFC 1122 §4.1.3.5 leaves the
// buffering to the implementation; dropping is UDP's only back-pressure).
func (e *Endpoint) Push(from netip.AddrPort, payload []byte) bool {
	n := len(payload)
	if e.count == len(e.slots) || n > len(e.buf)-e.used {
		e.st.Dropped++
		return false
	}
	off, pad := e.tail, 0
	if n > 0 {
		switch {
		case e.used == 0:
			e.head, e.tail, off = 0, 0, 0
		case e.tail > e.head || (e.tail == e.head && e.used == 0):
			// Occupied [head, tail): free space is after tail, then before head.
			if len(e.buf)-e.tail < n {
				if e.head < n {
					e.st.Dropped++
					return false
				}
				pad, off = len(e.buf)-e.tail, 0
			}
		default:
			// Wrapped: free space is [tail, head).
			if e.head-e.tail < n {
				e.st.Dropped++
				return false
			}
		}
		copy(e.buf[off:off+n], payload)
		e.tail = off + n
	}
	i := e.first + e.count
	if i >= len(e.slots) {
		i -= len(e.slots)
	}
	e.slots[i] = slot{from: from, off: off, n: n, pad: pad}
	e.count++
	e.used += n + pad
	e.st.Received++
	return true
}

// Recv copies the oldest datagram into p and removes it from the queue. As
// recvfrom(2) without MSG_TRUNC, bytes beyond len(p) are discarded: n is what
// was copied and truncated says whether any were. ok is false if the queue is
// empty.
func (e *Endpoint) Recv(p []byte) (n int, from netip.AddrPort, truncated, ok bool) {
	if e.count == 0 {
		return 0, netip.AddrPort{}, false, false
	}
	s := &e.slots[e.first]
	n = copy(p, e.buf[s.off:s.off+s.n])
	truncated = n < s.n
	from = s.from
	e.used -= s.n + s.pad
	if s.n > 0 {
		e.head = s.off + s.n
	}
	*s = slot{}
	e.first++
	if e.first == len(e.slots) {
		e.first = 0
	}
	e.count--
	if e.count == 0 {
		e.head, e.tail, e.used = 0, 0, 0
	}
	e.st.Delivered++
	if truncated {
		e.st.Truncated++
	}
	return n, from, truncated, true
}

// Len returns the number of queued datagrams.
func (e *Endpoint) Len() int { return e.count }

// Bytes returns the bytes the queue holds, including space skipped at the end
// of the ring.
func (e *Endpoint) Bytes() int { return e.used }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats { return e.st }
