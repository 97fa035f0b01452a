// Package fault wraps a link.Device and injects the faults of a bad network into
// the frames passing through it: loss, duplication, reordering, bit corruption,
// delay with jitter, and a rate-limited bottleneck. It is our own netem.
//
// Faults are drawn from a seeded PCG, one stream per queue and direction, so the
// same Config.Seed and the same traffic give the same faults every run, however
// the goroutines of different queues interleave.
//
// Each frame meets the faults in this order: loss; corruption; duplication (the
// copy follows the original through the rest); reordering (the frame is held back
// until ReorderGap later frames passed, or ReorderTimeout); delay and jitter; the
// rate limiter. Delayed frames leave in the order they entered: jitter varies the
// delay but never reorders (reordering is Reorder's job alone).
//
// Held frames are released by whatever the queue's owner calls next (Send, Recv,
// Wait); Wait shortens its timeout to the next release, so a stack that waits
// on the wrapper releases them on time.
package fault

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"offload/clock"
	"offload/link"
	"offload/pkt"
)

// Defaults for zero Faults and Config fields.
const (
	DefaultLimit          = 1000
	DefaultReorderGap     = 2
	DefaultReorderTimeout = 5 * time.Millisecond
	DefaultDupBuffers     = 256
)

// maxHeld bounds the frames one lane holds back for reordering; a frame drawn
// for reordering while it is full passes in order.
const maxHeld = 64

// pullBatch is how many frames one inner Recv may bring in.
const pullBatch = 64

// Faults are the faults applied to one direction. The zero value injects none
// and costs nothing: frames pass straight through.
type Faults struct {
	Loss      float64 // probability a frame is dropped
	Duplicate float64 // probability a frame is followed by a copy of itself
	Reorder   float64 // probability a frame is held back and overtaken
	// Corrupt is the probability one random bit of the frame is flipped. The
	// frame's Meta.Checksum becomes ChecksumUnknown and the wrapper stops
	// advertising RxChecksumTrusted (Rx) or TxChecksumOffload (Tx). Transmit
	// corruption is only caught if the receiving peer verifies checksums: a
	// pipe peer configured with RxChecksumTrusted would not.
	Corrupt float64

	// ReorderGap is how many later frames overtake a held-back frame (default 2);
	// ReorderTimeout releases it anyway when traffic stops (default 5ms).
	ReorderGap     int
	ReorderTimeout time.Duration

	// Delay holds every frame this long; Jitter varies that uniformly within
	// ±Jitter (never below zero, never reordering).
	Delay, Jitter time.Duration

	// Rate is a bottleneck in bits per second (of frame bytes): frames queue
	// behind each other and leave one serialization time apart. 0: unlimited.
	Rate uint64

	// Limit bounds the frames held for delay, rate and reordering (default 1000);
	// frames arriving to a full queue are dropped and counted.
	Limit int
}

func (f Faults) any() bool {
	return f.Loss > 0 || f.Duplicate > 0 || f.Reorder > 0 || f.Corrupt > 0 ||
		f.Delay > 0 || f.Jitter > 0 || f.Rate > 0
}

// queued reports whether frames wait in time, which turns Limit into a drop point.
func (f Faults) queued() bool { return f.Delay > 0 || f.Jitter > 0 || f.Rate > 0 }

// Config configures a fault wrapper.
type Config struct {
	Rx, Tx Faults // frames received from, and sent to, the inner device
	Seed   uint64
	// Clock times delays; default clock.NewMonotonic().
	Clock clock.Clock
	// DupBuffers is the size of the wrapper's pool for duplicates (default 256).
	// A duplicate that finds it empty is skipped and counted in DupSkipped.
	DupBuffers int
}

// Counts are the faults injected so far.
type Counts struct {
	Dropped     uint64 // lost to Loss
	Duplicated  uint64 // copies made
	DupSkipped  uint64 // copies wanted but the duplicate pool was empty (or the frame too big)
	Reordered   uint64 // frames held back to be overtaken
	Corrupted   uint64 // frames with a flipped bit
	Delayed     uint64 // frames held for Delay/Jitter
	RateDropped uint64 // dropped at a full queue while a Rate is set
	Overflow    uint64 // dropped at a full queue with no Rate (delay backlog past Limit)
}

func (c Counts) add(o Counts) Counts {
	return Counts{
		c.Dropped + o.Dropped, c.Duplicated + o.Duplicated, c.DupSkipped + o.DupSkipped,
		c.Reordered + o.Reordered, c.Corrupted + o.Corrupted, c.Delayed + o.Delayed,
		c.RateDropped + o.RateDropped, c.Overflow + o.Overflow,
	}
}

type counters struct {
	dropped, duplicated, dupSkipped, reordered atomic.Uint64
	corrupted, delayed, rateDropped, overflow  atomic.Uint64
}

func (c *counters) snapshot() Counts {
	return Counts{
		c.dropped.Load(), c.duplicated.Load(), c.dupSkipped.Load(), c.reordered.Load(),
		c.corrupted.Load(), c.delayed.Load(), c.rateDropped.Load(), c.overflow.Load(),
	}
}

// Device is a link.Device that injects faults into an inner device's traffic.
type Device struct {
	inner  link.Device
	caps   link.Capabilities
	clk    clock.Clock
	dup    *pkt.Pool // nil when no duplication is configured
	queues []*queue
	rxc    counters
	txc    counters
}

// queue is the wrapper's state for one device queue: both directions, guarded
// by one mutex that only the queue's owner and Close ever take.
type queue struct {
	mu     sync.Mutex
	closed bool
	rx, tx lane
	stage  *pkt.Batch // frames between the inner device and a lane
}

// lane is one direction of one queue.
type lane struct {
	f      Faults
	active bool
	rng    *rand.Rand
	c      *counters
	dev    *Device

	fifo    []entry // frames waiting for their release time, in release order
	head, n int
	lastAt  clock.Instant // release time of the newest frame in fifo
	free    clock.Instant // when the rate-limited link is free again

	held []heldFrame // frames held back for reordering, oldest first
}

type entry struct {
	buf *pkt.Buffer
	at  clock.Instant
}

type heldFrame struct {
	buf      *pkt.Buffer
	left     int // later frames still to overtake it
	deadline clock.Instant
}

// New wraps inner. Probabilities are clamped to [0, 1].
func New(inner link.Device, cfg Config) *Device {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewMonotonic()
	}
	if cfg.DupBuffers <= 0 {
		cfg.DupBuffers = DefaultDupBuffers
	}
	cfg.Rx, cfg.Tx = normalize(cfg.Rx), normalize(cfg.Tx)
	d := &Device{inner: inner, clk: cfg.Clock}
	d.caps = inner.Caps()
	d.caps.Name = d.caps.Name + "+fault"
	// Corruption must reach the stack's checksum verification: nothing may
	// vouch for a frame the wrapper damaged, nor fill a checksum over damage.
	if cfg.Rx.Corrupt > 0 {
		d.caps.RxChecksumTrusted = false
	}
	if cfg.Tx.Corrupt > 0 {
		d.caps.TxChecksumOffload = false
	}
	if cfg.Rx.Duplicate > 0 || cfg.Tx.Duplicate > 0 {
		c := inner.Caps()
		// Copies of plain frames only; super-frames are too big to copy cheaply.
		size := max(c.MTU+18, 64) + c.Headroom
		d.dup = pkt.NewPool(cfg.DupBuffers, size, c.Headroom)
	}
	nq := max(d.caps.Queues, 1)
	d.queues = make([]*queue, nq)
	for q := range nq {
		// A lane that queues in time pulls whole batches and drops at its Limit;
		// one that does not pulls only what surely fits (see Recv).
		stage := pullBatch
		if !cfg.Rx.queued() {
			stage = max(1, min(pullBatch, cfg.Rx.Limit/4))
		}
		qs := &queue{stage: pkt.NewBatch(stage)}
		qs.rx.init(d, cfg.Rx, &d.rxc, cfg.Seed, uint64(q)<<1)
		qs.tx.init(d, cfg.Tx, &d.txc, cfg.Seed, uint64(q)<<1|1)
		d.queues[q] = qs
	}
	return d
}

func normalize(f Faults) Faults {
	clamp := func(p float64) float64 {
		if !(p > 0) { // also NaN
			return 0
		}
		return min(p, 1)
	}
	f.Loss, f.Duplicate, f.Reorder, f.Corrupt = clamp(f.Loss), clamp(f.Duplicate), clamp(f.Reorder), clamp(f.Corrupt)
	// An hour bounds the jitter draw well inside int64 and any sane test.
	f.Delay, f.Jitter = max(f.Delay, 0), min(max(f.Jitter, 0), time.Hour)
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	if f.ReorderGap <= 0 {
		f.ReorderGap = DefaultReorderGap
	}
	if f.ReorderTimeout <= 0 {
		f.ReorderTimeout = DefaultReorderTimeout
	}
	return f
}

func (l *lane) init(d *Device, f Faults, c *counters, seed, stream uint64) {
	l.f, l.active, l.c, l.dev = f, f.any(), c, d
	// The stream constant keeps lanes independent under one seed.
	l.rng = rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
	if l.active {
		l.fifo = make([]entry, f.Limit)
		l.held = make([]heldFrame, 0, max(1, min(maxHeld, f.Limit/2)))
	}
}

// Caps returns the inner device's capabilities, except that corruption withdraws
// the checksum promises (see New) and the name gains "+fault".
func (d *Device) Caps() link.Capabilities { return d.caps }

// Stats returns the inner device's counters.
func (d *Device) Stats() link.Stats { return d.inner.Stats() }

// Counts returns the faults injected in both directions together.
func (d *Device) Counts() Counts { return d.rxc.snapshot().add(d.txc.snapshot()) }

// DirCounts returns the faults injected on receive and on transmit.
func (d *Device) DirCounts() (rx, tx Counts) { return d.rxc.snapshot(), d.txc.snapshot() }

// Inner returns the wrapped device.
func (d *Device) Inner() link.Device { return d.inner }

func (d *Device) queue(q int) *queue {
	if q < 0 || q >= len(d.queues) {
		return nil
	}
	return d.queues[q]
}

// Send applies the transmit faults to the batch's frames and hands the inner
// device whatever is due now, including frames held from earlier calls. It
// empties the batch and returns how many of its frames survived the faults
// (sent now or held for later; the inner device may still drop and count).
func (d *Device) Send(q int, batch *pkt.Batch) (int, error) {
	qs := d.queue(q)
	if qs == nil {
		return d.inner.Send(q, batch) // the inner device refuses the bad queue
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.closed {
		batch.ReleaseAll()
		return 0, link.ErrClosed
	}
	if !qs.tx.active {
		return d.inner.Send(q, batch)
	}
	now := d.clk.Now()
	kept := 0
	for _, b := range batch.Buffers() {
		if qs.tx.admit(now, b) {
			kept++
		}
	}
	batch.Clear()
	return kept, d.flushTx(q, qs, now)
}

// flushTx sends every transmit frame due at now to the inner device.
func (d *Device) flushTx(q int, qs *queue, now clock.Instant) error {
	l := &qs.tx
	if !l.active {
		return nil
	}
	l.advance(now)
	out := qs.stage
	var err error
	for l.n > 0 && l.fifo[l.head].at <= now {
		out.Add(l.pop())
		if out.Full() {
			if _, e := d.inner.Send(q, out); e != nil {
				err = e
			}
		}
	}
	if out.Len() > 0 {
		if _, e := d.inner.Send(q, out); e != nil {
			err = e
		}
	}
	out.ReleaseAll() // an inner Send that failed before taking them
	return err
}

// Recv brings in frames from the inner device, applies the receive faults and
// adds the frames due now to batch.
func (d *Device) Recv(q int, batch *pkt.Batch) (int, error) {
	qs := d.queue(q)
	if qs == nil {
		return d.inner.Recv(q, batch)
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.closed {
		return 0, link.ErrClosed
	}
	now := d.clk.Now()
	d.flushTx(q, qs, now) // an inner device that fails says so again below
	l := &qs.rx
	if !l.active {
		return d.inner.Recv(q, batch)
	}
	l.advance(now)
	// A queued lane (delay, rate) takes in all the inner device offers and
	// drops at its own Limit, as a bottleneck does; otherwise it takes in only
	// what it has room for and leaves the rest queued in the inner device.
	for range 4 {
		// Room for the pulled frames, their duplicates and every held frame; an
		// empty queue always pulls, so a tiny Limit cannot stall the lane.
		if !l.f.queued() && l.n > 0 && len(l.fifo)-l.n < 2*qs.stage.Cap()+len(l.held) {
			break
		}
		n, err := d.inner.Recv(q, qs.stage)
		for _, b := range qs.stage.Buffers() {
			l.admit(now, b)
		}
		qs.stage.Clear()
		if err != nil {
			return 0, err
		}
		if n < qs.stage.Cap() {
			break
		}
	}
	got := 0
	for l.n > 0 && l.fifo[l.head].at <= now && !batch.Full() {
		batch.Add(l.pop())
		got++
	}
	return got, nil
}

// Wait waits on the inner device, but no longer than until the next held frame
// is due. It first sends the transmit frames already due, and returns at once
// if received frames are due.
func (d *Device) Wait(q int, timeout time.Duration) error {
	qs := d.queue(q)
	if qs == nil {
		return d.inner.Wait(q, timeout)
	}
	qs.mu.Lock()
	if qs.closed {
		qs.mu.Unlock()
		return link.ErrClosed
	}
	now := d.clk.Now()
	d.flushTx(q, qs, now)
	qs.rx.advance(now)
	if qs.rx.n > 0 && qs.rx.fifo[qs.rx.head].at <= now {
		qs.mu.Unlock()
		return nil
	}
	next := clock.Min(qs.rx.next(), qs.tx.next())
	qs.mu.Unlock()
	if next != clock.Never {
		until := max(next.Sub(now), 0)
		if until == 0 {
			return nil // something is due: the owner's next call releases it
		}
		if timeout < 0 || until < timeout {
			timeout = until
		}
	}
	if err := d.inner.Wait(q, timeout); err != nil {
		return err
	}
	if next != clock.Never {
		// Transmit frames that fell due while waiting leave now, not at the
		// owner's next call.
		qs.mu.Lock()
		if !qs.closed {
			d.flushTx(q, qs, d.clk.Now())
		}
		qs.mu.Unlock()
	}
	return nil
}

// Wake wakes a Wait on the inner device.
func (d *Device) Wake(q int) { d.inner.Wake(q) }

// Close closes the inner device and releases every frame the wrapper holds.
func (d *Device) Close() error {
	err := d.inner.Close()
	for _, qs := range d.queues {
		qs.mu.Lock()
		if !qs.closed {
			qs.closed = true
			qs.rx.drain()
			qs.tx.drain()
		}
		qs.mu.Unlock()
	}
	return err
}

// String names the device, for logs.
func (d *Device) String() string { return fmt.Sprintf("fault wrapper %s", d.caps.Name) }

// admit runs one frame through the lane's faults; false if it was dropped.
func (l *lane) admit(now clock.Instant, b *pkt.Buffer) bool {
	f := &l.f
	if f.Loss > 0 && l.rng.Float64() < f.Loss {
		b.Release()
		l.c.dropped.Add(1)
		return false
	}
	if f.Corrupt > 0 && l.rng.Float64() < f.Corrupt && b.Len() > 0 {
		p := b.Bytes()
		bit := l.rng.IntN(len(p) * 8)
		p[bit>>3] ^= 1 << (bit & 7)
		// Whatever was known about the checksum no longer holds.
		b.Meta.Checksum = pkt.ChecksumUnknown
		l.c.corrupted.Add(1)
	}
	var dup *pkt.Buffer
	if f.Duplicate > 0 && l.rng.Float64() < f.Duplicate {
		dup = l.dev.copyOf(b)
		if dup == nil {
			l.c.dupSkipped.Add(1)
		} else {
			l.c.duplicated.Add(1)
		}
	}
	l.route(now, b)
	if dup != nil {
		l.route(now, dup)
	}
	return true
}

// copyOf returns a copy of b from the duplicate pool, or nil.
func (d *Device) copyOf(b *pkt.Buffer) *pkt.Buffer {
	c := d.dup.Get()
	if c == nil {
		return nil
	}
	if b.Len() > c.Tailroom() {
		c.Release()
		return nil
	}
	copy(c.Append(b.Len()), b.Bytes())
	c.Meta = b.Meta
	return c
}

// route holds a frame back for reordering or queues it for release, and lets
// it overtake the frames held back.
func (l *lane) route(now clock.Instant, b *pkt.Buffer) {
	if l.f.Reorder > 0 && len(l.held) < cap(l.held) && l.rng.Float64() < l.f.Reorder {
		l.held = append(l.held, heldFrame{b, l.f.ReorderGap, now.Add(l.f.ReorderTimeout)})
		l.c.reordered.Add(1)
		return
	}
	l.enqueue(now, b)
	if len(l.held) == 0 {
		return
	}
	k := 0
	for _, h := range l.held {
		h.left--
		if h.left <= 0 {
			l.enqueue(now, h.buf)
			continue
		}
		l.held[k] = h
		k++
	}
	clear(l.held[k:])
	l.held = l.held[:k]
}

// advance releases held-back frames whose timeout passed.
func (l *lane) advance(now clock.Instant) {
	if len(l.held) == 0 || l.held[0].deadline > now {
		return // deadlines are set in order, so the oldest expires first
	}
	k := 0
	for _, h := range l.held {
		if h.deadline <= now {
			l.enqueue(now, h.buf)
			continue
		}
		l.held[k] = h
		k++
	}
	clear(l.held[k:])
	l.held = l.held[:k]
}

// enqueue gives the frame its release time (delay, jitter, rate) and queues it.
func (l *lane) enqueue(now clock.Instant, b *pkt.Buffer) {
	if l.n == len(l.fifo) {
		b.Release()
		if l.f.Rate > 0 {
			l.c.rateDropped.Add(1)
		} else {
			l.c.overflow.Add(1)
		}
		return
	}
	at := now
	if l.f.Delay > 0 || l.f.Jitter > 0 {
		d := l.f.Delay
		if j := l.f.Jitter; j > 0 {
			d += time.Duration(l.rng.Int64N(2*int64(j)+1)) - j
		}
		if d > 0 {
			at = now.Add(d)
			l.c.delayed.Add(1)
		}
	}
	if l.f.Rate > 0 {
		// The frame starts onto the bottleneck when it is free and leaves one
		// serialization time later.
		start := max(at, l.free)
		bits := uint64(b.Len()) * 8
		at = start.Add(time.Duration(bits * uint64(time.Second) / l.f.Rate))
		l.free = at
	}
	at = max(at, l.lastAt)
	l.lastAt = at
	i := l.head + l.n
	if i >= len(l.fifo) {
		i -= len(l.fifo)
	}
	l.fifo[i] = entry{b, at}
	l.n++
}

func (l *lane) pop() *pkt.Buffer {
	e := l.fifo[l.head]
	l.fifo[l.head] = entry{}
	l.head++
	if l.head == len(l.fifo) {
		l.head = 0
	}
	l.n--
	return e.buf
}

// next returns when the lane next has something to do.
func (l *lane) next() clock.Instant {
	t := clock.Never
	if l.n > 0 {
		t = l.fifo[l.head].at
	}
	if len(l.held) > 0 {
		t = clock.Min(t, l.held[0].deadline)
	}
	return t
}

// drain releases everything the lane holds.
func (l *lane) drain() {
	for l.n > 0 {
		l.pop().Release()
	}
	for _, h := range l.held {
		h.buf.Release()
	}
	clear(l.held)
	l.held = l.held[:0]
}

var _ link.Device = (*Device)(nil)
