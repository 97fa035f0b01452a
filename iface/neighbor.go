package iface

import (
	"net/netip"

	"offload/clock"
	"offload/pkt"
)

// neighState is where a neighbour cache entry is in its life (RFC 826 resolution,
// with the refresh idea of RFC 1122 §2.3.2.1 and RFC 4861 §7.3.2).
type neighState uint8

const (
	// neighFree: the slot is unused and on the free list.
	neighFree neighState = iota
	// neighIncomplete: a request is out, no hardware address yet; packets queue.
	neighIncomplete
	// neighReachable: the hardware address is known and was confirmed recently.
	neighReachable
	// neighProbe: the entry expired while in use; the old address keeps being
	// used while unicast requests re-confirm it (RFC 1122 §2.3.2.1 "unicast poll").
	neighProbe
)

const nilIdx = -1

// nkey is a neighbour's IP address as 16 bytes: IPv6 as is, IPv4 IPv4-mapped
// (::ffff:a.b.c.d), so one flat, pointer-free map key serves both families.
type nkey [16]byte

func key4(u uint32) nkey {
	return nkey{10: 0xff, 11: 0xff, 12: byte(u >> 24), 13: byte(u >> 16), 14: byte(u >> 8), 15: byte(u)}
}

func key6(a netip.Addr) nkey { return nkey(a.As16()) }

// keyOf maps any address to its key (IPv4-mapped IPv6 as IPv4).
func keyOf(a netip.Addr) nkey { return nkey(a.Unmap().As16()) }

// is4 reports an IPv4 (mapped) key.
func (k nkey) is4() bool {
	return k[10] == 0xff && k[11] == 0xff && k[0]|k[1]|k[2]|k[3]|k[4]|k[5]|k[6]|k[7]|k[8]|k[9] == 0
}

// v4 returns an IPv4 key's address as an integer.
func (k nkey) v4() uint32 {
	return uint32(k[12])<<24 | uint32(k[13])<<16 | uint32(k[14])<<8 | uint32(k[15])
}

// neighbor is one neighbour cache slot. Slots live in one preallocated array and
// are linked into an LRU list (or the free list) by index, so the cache never
// allocates after New.
type neighbor struct {
	key   nkey // the neighbour's address (IPv4 as IPv4-mapped)
	mac   [6]byte
	state neighState
	// used: the entry carried a packet since it was last confirmed. An unused
	// entry is dropped at expiry instead of being refreshed.
	used    bool
	retries int           // requests sent in the current resolution/probe round
	due     clock.Instant // next retry (incomplete/probe) or expiry (reachable)
	src     nkey          // our address to put in requests for this neighbour

	prev, next int32 // LRU list (most recent at head), or free list via next

	// Packets waiting for resolution: a FIFO linked through the cache's shared
	// node pool, oldest at pendHead.
	pendHead, pendTail int32
	pendLen            int
}

// pendNode holds one queued packet; nodes not in use form a free list.
type pendNode struct {
	buf  *pkt.Buffer
	next int32
}

// neighborCache is a bounded IP (IPv4 and IPv6) → MAC map with least-recently-used eviction and
// bounded per-neighbour and total queues of packets awaiting resolution.
type neighborCache struct {
	ents     []neighbor
	idx      map[nkey]int32
	free     int32
	lruHead  int32 // most recently used
	lruTail  int32 // least recently used: evicted first
	pendMax  int   // per neighbour
	pendAll  int   // packets queued over all neighbours
	nodes    []pendNode
	nodeFree int32
	earliest clock.Instant
}

func newNeighborCache(size, pendPer, pendTotal int) *neighborCache {
	c := &neighborCache{
		ents:     make([]neighbor, size),
		idx:      make(map[nkey]int32, size),
		free:     nilIdx,
		lruHead:  nilIdx,
		lruTail:  nilIdx,
		pendMax:  pendPer,
		nodes:    make([]pendNode, pendTotal),
		nodeFree: nilIdx,
		earliest: clock.Never,
	}
	for i := size - 1; i >= 0; i-- {
		e := &c.ents[i]
		e.prev = nilIdx
		e.next = c.free
		c.free = int32(i)
	}
	for n := pendTotal - 1; n >= 0; n-- {
		c.nodes[n].next = c.nodeFree
		c.nodeFree = int32(n)
	}
	return c
}

// find returns the slot index for address k, or nilIdx.
func (c *neighborCache) find(k nkey) int32 {
	if i, ok := c.idx[k]; ok {
		return i
	}
	return nilIdx
}

func (c *neighborCache) unlink(i int32) {
	e := &c.ents[i]
	if e.prev != nilIdx {
		c.ents[e.prev].next = e.next
	} else {
		c.lruHead = e.next
	}
	if e.next != nilIdx {
		c.ents[e.next].prev = e.prev
	} else {
		c.lruTail = e.prev
	}
	e.prev, e.next = nilIdx, nilIdx
}

func (c *neighborCache) pushFront(i int32) {
	e := &c.ents[i]
	e.prev = nilIdx
	e.next = c.lruHead
	if c.lruHead != nilIdx {
		c.ents[c.lruHead].prev = i
	}
	c.lruHead = i
	if c.lruTail == nilIdx {
		c.lruTail = i
	}
}

// touch marks slot i most recently used.
func (c *neighborCache) touch(i int32) {
	if c.lruHead == i {
		return
	}
	c.unlink(i)
	c.pushFront(i)
}

// insert creates an entry for address ip in state st. When the cache is full the least
// recently used entry is evicted first: its queued packets are released and
// their number returned as dropped, and evicted reports that it happened.
func (c *neighborCache) insert(ip nkey, st neighState) (i int32, dropped int, evicted bool) {
	if c.free == nilIdx {
		victim := c.lruTail
		dropped = c.remove(victim)
		evicted = true
	}
	i = c.free
	e := &c.ents[i]
	c.free = e.next
	*e = neighbor{key: ip, state: st, prev: nilIdx, next: nilIdx, pendHead: nilIdx, pendTail: nilIdx}
	c.pushFront(i)
	c.idx[ip] = i
	return i, dropped, evicted
}

// remove frees slot i, releasing its queued packets; it returns how many.
func (c *neighborCache) remove(i int32) int {
	e := &c.ents[i]
	n := c.dropPending(i)
	delete(c.idx, e.key)
	c.unlink(i)
	e.state = neighFree
	e.next = c.free
	c.free = i
	return n
}

// enqueue queues buf on slot i. When the neighbour's queue or the shared node
// pool (the total bound) is full, the neighbour's oldest packet is released to make room (the newest data
// is the most useful to a retransmitting sender); if this neighbour has nothing
// queued and the total bound is reached, buf itself is released. It returns
// whether a packet was dropped.
func (c *neighborCache) enqueue(i int32, buf *pkt.Buffer) (dropped bool) {
	e := &c.ents[i]
	if e.pendLen >= c.pendMax || c.nodeFree == nilIdx {
		if e.pendLen == 0 {
			buf.Release()
			return true
		}
		c.dequeue(i).Release()
		dropped = true
	}
	n := c.nodeFree
	node := &c.nodes[n]
	c.nodeFree = node.next
	node.buf, node.next = buf, nilIdx
	if e.pendTail == nilIdx {
		e.pendHead = n
	} else {
		c.nodes[e.pendTail].next = n
	}
	e.pendTail = n
	e.pendLen++
	c.pendAll++
	return dropped
}

// dequeue takes the oldest queued packet of slot i, or nil.
func (c *neighborCache) dequeue(i int32) *pkt.Buffer {
	e := &c.ents[i]
	if e.pendLen == 0 {
		return nil
	}
	n := e.pendHead
	node := &c.nodes[n]
	b := node.buf
	e.pendHead = node.next
	if e.pendHead == nilIdx {
		e.pendTail = nilIdx
	}
	node.buf, node.next = nil, c.nodeFree
	c.nodeFree = n
	e.pendLen--
	c.pendAll--
	return b
}

// dropPending releases every packet queued on slot i and returns how many.
func (c *neighborCache) dropPending(i int32) int {
	n := 0
	for b := c.dequeue(i); b != nil; b = c.dequeue(i) {
		b.Release()
		n++
	}
	return n
}

// schedule records that slot work is due at t, keeping earliest a lower bound of
// every entry's due time so Deadline is O(1).
func (c *neighborCache) schedule(t clock.Instant) {
	if t < c.earliest {
		c.earliest = t
	}
}
