// Package pipe is an in-memory pair of connected Ethernet devices, like a veth
// pair: what one End sends on queue q the other End receives on queue q.
//
// Frames move without copying: the *pkt.Buffer handed to a.Send is the very one
// b.Recv returns, so the receiver releases it into the sender's pool (pkt.Pool is
// safe for that). Each direction of each queue is a bounded FIFO; a full FIFO drops
// the frame and counts it in the sender's TxDropped, as a real transmit ring would.
//
// Checksum metadata follows veth: when the ends advertise TxChecksumOffload and a
// sent frame says pkt.ChecksumPartial, the receiver gets it still marked
// ChecksumPartial (the checksum field holds only the pseudo-header sum, and the
// offsets say where the real one goes). Every other frame arrives as
// ChecksumUnknown: the pipe never verifies anything, so it never claims Verified.
package pipe

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"offload/link"
	"offload/pkt"
)

// Ethernet framing the size limit allows for.
const (
	ethHeaderLen = 14
	vlanTagLen   = 4
)

// Defaults for a zero Config.
const (
	DefaultMTU        = 1500
	DefaultQueueLen   = 1024
	DefaultMaxGSOSize = 65535 // largest IPv4 datagram: what a TCP super-frame may carry
)

// ErrQueue is returned for a queue index outside [0, Queues).
var ErrQueue = errors.New("pipe: queue index out of range")

// Config shapes a pipe. The zero value is a usable single-queue, 1500-byte pipe.
type Config struct {
	// Name prefixes the ends' names ("<Name>.a", "<Name>.b"); default "pipe".
	Name string
	// MTU is the largest IP packet carried; default 1500. Frames longer than
	// MTU + Ethernet header + one VLAN tag are dropped and counted (TxDropped),
	// unless they are GSO super-frames on a pipe with GSO set.
	MTU int
	// Queues is the number of queue pairs; default 1.
	Queues int
	// QueueLen is how many frames each direction of each queue buffers; default 1024.
	QueueLen int
	// MACA and MACB are the ends' addresses; zero picks distinct locally
	// administered unicast addresses (02:00:00:00:00:01 and :02).
	MACA, MACB [6]byte
	// Headroom is advertised in Caps; the pipe drops (and counts) frames sent with
	// less headroom than this, so a stack that ignores it is caught in tests.
	Headroom int

	// RxChecksumTrusted is advertised on both ends.
	RxChecksumTrusted bool
	// TxChecksumOffload is advertised on both ends; see the package comment for
	// how ChecksumPartial frames then cross.
	TxChecksumOffload bool

	// GSO lets TCP super-frames (Meta.GSO set) of up to MaxGSOSize IP bytes
	// through, and advertises TSO and RxGSO. The pipe does not segment: the peer
	// receives the super-frame whole, with its GSO metadata.
	GSO bool
	// MaxGSOSize bounds a super-frame's IP packet; default 65535.
	MaxGSOSize int
}

// End is one side of a pipe. It implements link.Device.
type End struct {
	caps  link.Capabilities
	stats link.Counters

	// limits for sent frames
	maxFrame int // largest normal frame: MTU + Ethernet + VLAN
	maxGSO   int // largest super-frame (0: none allowed)
	headroom int
	partial  bool // pass ChecksumPartial through

	rx   []*ring // rx[q]: frames travelling to this end; the peer's tx[q]
	tx   []*ring // tx[q]: the peer's rx[q]
	peer *End

	// notify[q] carries a wake-up for Wait(q); capacity 1 so a Wake before Wait
	// is remembered and many wake-ups collapse into one.
	notify []chan struct{}
	// timers[q] is reused by every Wait(q) with a timeout, so waiting allocates nothing.
	timers []*time.Timer

	closeOnce sync.Once
	closed    atomic.Bool
	done      chan struct{} // closed by Close: releases every blocked Wait
}

// ring is one direction of one queue: a bounded FIFO with one producer goroutine
// (the sending end's queue owner) and one consumer (the receiving end's). A mutex
// guards it; both sides take it once per batch, not per frame.
type ring struct {
	mu     sync.Mutex
	slots  []*pkt.Buffer
	head   int // index of the oldest frame
	n      int // frames queued
	closed bool
}

func newRing(n int) *ring { return &ring{slots: make([]*pkt.Buffer, n)} }

// New returns the two connected ends of a pipe.
func New(cfg Config) (a, b *End) {
	if cfg.Name == "" {
		cfg.Name = "pipe"
	}
	if cfg.MTU <= 0 {
		cfg.MTU = DefaultMTU
	}
	// Meta.Queue is 16 bits wide.
	cfg.Queues = min(max(cfg.Queues, 1), 1<<16)
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.MaxGSOSize <= 0 {
		cfg.MaxGSOSize = DefaultMaxGSOSize
	}
	if cfg.Headroom < 0 {
		cfg.Headroom = 0
	}
	var zero [6]byte
	if cfg.MACA == zero {
		cfg.MACA = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	}
	if cfg.MACB == zero {
		cfg.MACB = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	}
	a = newEnd(cfg, cfg.Name+".a", cfg.MACA)
	b = newEnd(cfg, cfg.Name+".b", cfg.MACB)
	ab := make([]*ring, cfg.Queues)
	ba := make([]*ring, cfg.Queues)
	for q := range cfg.Queues {
		ab[q] = newRing(cfg.QueueLen)
		ba[q] = newRing(cfg.QueueLen)
	}
	a.tx, b.rx = ab, ab
	b.tx, a.rx = ba, ba
	a.peer, b.peer = b, a
	return a, b
}

func newEnd(cfg Config, name string, mac [6]byte) *End {
	e := &End{
		maxFrame: cfg.MTU + ethHeaderLen + vlanTagLen,
		headroom: cfg.Headroom,
		partial:  cfg.TxChecksumOffload,
		notify:   make([]chan struct{}, cfg.Queues),
		timers:   make([]*time.Timer, cfg.Queues),
		done:     make(chan struct{}),
	}
	e.caps = link.Capabilities{
		Name:              name,
		L2:                true,
		HardwareAddr:      mac,
		MTU:               cfg.MTU,
		MaxFrame:          e.maxFrame,
		Headroom:          cfg.Headroom,
		RxChecksumTrusted: cfg.RxChecksumTrusted,
		TxChecksumOffload: cfg.TxChecksumOffload,
		Queues:            cfg.Queues,
	}
	if cfg.GSO {
		e.maxGSO = max(cfg.MaxGSOSize+ethHeaderLen+vlanTagLen, e.maxFrame)
		e.caps.MaxFrame = e.maxGSO
		e.caps.TSO = true
		e.caps.RxGSO = true
		e.caps.MaxGSOSize = cfg.MaxGSOSize
	}
	for q := range cfg.Queues {
		e.notify[q] = make(chan struct{}, 1)
		t := time.NewTimer(time.Hour)
		t.Stop()
		e.timers[q] = t
	}
	return e
}

// Caps returns the end's capabilities.
func (e *End) Caps() link.Capabilities { return e.caps }

// Stats returns the end's counters. A frame sent by one end and received by the
// other counts as TxFrames here and RxFrames there.
func (e *End) Stats() link.Stats { return e.stats.Snapshot() }

func (e *End) validQueue(q int) bool { return q >= 0 && q < len(e.rx) }

// acceptable reports whether a sent frame may cross the pipe.
func (e *End) acceptable(b *pkt.Buffer) bool {
	n := b.Len()
	if n < ethHeaderLen || b.Headroom() < e.headroom {
		return false
	}
	if n <= e.maxFrame {
		return true
	}
	return e.maxGSO > 0 && b.Meta.GSO != pkt.GSONone && n <= e.maxGSO
}

// Send moves the batch's frames to the peer's receive queue q and empties the
// batch. Frames that are runts (shorter than an Ethernet header), too long, short
// of headroom, or that find the queue full are released and counted as TxDropped.
// If the peer is closed every frame is dropped (its carrier is down).
func (e *End) Send(q int, batch *pkt.Batch) (int, error) {
	if e.closed.Load() {
		batch.ReleaseAll()
		return 0, link.ErrClosed
	}
	if !e.validQueue(q) {
		batch.ReleaseAll()
		return 0, ErrQueue
	}
	r := e.tx[q]
	sent, bytes, dropped := 0, 0, 0
	r.mu.Lock()
	wasEmpty := r.n == 0
	for _, b := range batch.Buffers() {
		if r.closed || r.n == len(r.slots) || !e.acceptable(b) {
			b.Release()
			dropped++
			continue
		}
		e.prepare(b, q)
		i := r.head + r.n
		if i >= len(r.slots) {
			i -= len(r.slots)
		}
		r.slots[i] = b
		r.n++
		sent++
		bytes += b.Len()
	}
	r.mu.Unlock()
	batch.Clear()

	if sent > 0 {
		e.stats.TxFrames.Add(uint64(sent))
		e.stats.TxBytes.Add(uint64(bytes))
		// Only the empty-to-non-empty transition needs a wake-up: a consumer that
		// saw frames queued does not block, and one that saw none is woken here.
		if wasEmpty {
			e.peer.Wake(q)
		}
	}
	if dropped > 0 {
		e.stats.TxDropped.Add(uint64(dropped))
	}
	return sent, nil
}

// prepare rewrites a frame's metadata to what the receiving end reports.
func (e *End) prepare(b *pkt.Buffer, q int) {
	m := &b.Meta
	if m.Checksum != pkt.ChecksumPartial || !e.partial {
		// Without offload the bytes cross as they are; nothing vouches for them.
		m.Checksum = pkt.ChecksumUnknown
		m.CsumStart, m.CsumOffset = 0, 0
	}
	if e.maxGSO == 0 || m.GSO == pkt.GSONone {
		m.GSO, m.GSOSize, m.Segs = pkt.GSONone, 0, 0
	}
	m.Queue = uint16(q)
}

// Recv moves frames waiting on queue q into batch, oldest first, until the batch
// is full or the queue is empty.
func (e *End) Recv(q int, batch *pkt.Batch) (int, error) {
	if e.closed.Load() {
		return 0, link.ErrClosed
	}
	if !e.validQueue(q) {
		return 0, ErrQueue
	}
	r := e.rx[q]
	got, bytes := 0, 0
	r.mu.Lock()
	for r.n > 0 && !batch.Full() {
		b := r.slots[r.head]
		r.slots[r.head] = nil
		r.head++
		if r.head == len(r.slots) {
			r.head = 0
		}
		r.n--
		batch.Add(b)
		got++
		bytes += b.Len()
	}
	r.mu.Unlock()
	if got > 0 {
		e.stats.RxFrames.Add(uint64(got))
		e.stats.RxBytes.Add(uint64(bytes))
	}
	return got, nil
}

// pending reports whether frames wait on receive queue q.
func (e *End) pending(q int) bool {
	r := e.rx[q]
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	return n > 0
}

// Wait blocks until frames wait on queue q, Wake(q) is called, the end is closed,
// or timeout passes (timeout < 0: no limit; 0: just poll). It returns at once when
// frames are already queued. It allocates nothing.
func (e *End) Wait(q int, timeout time.Duration) error {
	if e.closed.Load() {
		return link.ErrClosed
	}
	if !e.validQueue(q) {
		return ErrQueue
	}
	ch := e.notify[q]
	if e.pending(q) {
		// Returning satisfies any pending wake-up too; consuming it spares the
		// next Wait a spurious return.
		select {
		case <-ch:
		default:
		}
		return nil
	}
	switch {
	case timeout == 0:
		select {
		case <-ch:
		default:
		}
		return nil
	case timeout < 0:
		select {
		case <-ch:
		case <-e.done:
			return link.ErrClosed
		}
		return nil
	}
	t := e.timers[q]
	t.Reset(timeout)
	select {
	case <-ch:
	case <-t.C:
	case <-e.done:
		t.Stop()
		return link.ErrClosed
	}
	// Since Go 1.23 a stopped timer's channel never delivers a stale tick, so the
	// timer is clean for the next Reset.
	t.Stop()
	return nil
}

// Wake makes the current or next Wait(q) return. Safe from any goroutine;
// out-of-range queues are ignored.
func (e *End) Wake(q int) {
	if q < 0 || q >= len(e.notify) {
		return
	}
	select {
	case e.notify[q] <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Close shuts this end: blocked and future Waits return link.ErrClosed, Send and
// Recv fail, frames queued towards this end are released (counted as RxDropped),
// and the peer's later sends are dropped. Frames this end already sent stay
// queued for the peer. Close is idempotent.
func (e *End) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		dropped := 0
		for _, r := range e.rx {
			r.mu.Lock()
			r.closed = true
			for r.n > 0 {
				r.slots[r.head].Release()
				r.slots[r.head] = nil
				r.head = (r.head + 1) % len(r.slots)
				r.n--
				dropped++
			}
			r.mu.Unlock()
		}
		e.stats.RxDropped.Add(uint64(dropped))
		// The timers need no stopping: every Wait stops its own before returning.
	})
	return nil
}

// String names the end, for logs.
func (e *End) String() string { return fmt.Sprintf("pipe end %s", e.caps.Name) }

var _ link.Device = (*End)(nil)
