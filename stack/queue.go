package stack

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"offload/clock"
	"offload/gro"
	"offload/gso"
	"offload/iface"
	"offload/pkt"
	"offload/tcp"
	"offload/wire"
)

// queue is one device queue and its owner goroutine: it receives on the queue,
// runs every frame to completion, services the connections whose home it is,
// keeps their timers, and transmits on the queue. Fields below "owner only"
// are touched by the owner alone.
type queue struct {
	n  *nic
	id int

	// Connections that application goroutines (or other queues) touched and
	// that this owner must service. Each appears at most once (Conn.dirty).
	dirtyMu   sync.Mutex
	dirty     []*Conn
	flushReq  bool
	flushDone chan struct{}

	// owner only
	rx    *pkt.Batch
	tx    *pkt.Batch
	wheel *wheel
	seg   tcp.Segment
	emit  emitter
	work  []*Conn // the dirty list taken over by the owner
	woke  bool    // the round woke an application goroutine (run yields)
	left  bool    // frames left on the device: the poll budget ended the round

	// sleeping: the owner is in (or about to enter) Device.Wait, so work
	// listed for it needs a wake-up; while it is awake it finds the work
	// itself before it sleeps (run).
	sleeping atomic.Bool

	// Receive aggregation (nil when off on this NIC): frames go through gro,
	// which hands back aggregates (Deliver) during InputBatch and FlushAll.
	gro   *gro.Table
	rxNow clock.Instant // the round's time, for Deliver
	more  [][]byte      // payload slices of the aggregate being delivered

	// Software segmentation (nil when the device segments or it is off):
	// SendFrame cuts TCP super-segments into frames (gsostats.go).
	gso    *gso.Segmenter
	gsoBig *pkt.Batch // for a super-segment of more frames than tx holds
	gsoSt  gsoCounters
}

func newQueue(n *nic, id int) (*queue, error) {
	s := n.s
	q := &queue{
		n:         n,
		id:        id,
		rx:        pkt.NewBatch(s.opts.Batch),
		tx:        pkt.NewBatch(s.opts.Batch),
		wheel:     newWheel(wheelTick, wheelSlots, s.clock.Now()),
		dirty:     make([]*Conn, 0, 256),
		work:      make([]*Conn, 0, 256),
		flushDone: make(chan struct{}, 1),
	}
	q.emit.q = q
	var err error
	if q.gso, q.gsoBig, err = newSegmenter(n); err != nil {
		return nil, err
	}
	if n.gro {
		t, err := gro.New(gro.Config{L2: n.caps.L2, RxChecksumTrusted: n.caps.RxChecksumTrusted}, q)
		if err != nil {
			return nil, err
		}
		q.gro = t
		q.more = make([][]byte, 0, gro.MaxSegmentsLimit)
	}
	return q, nil
}

// SendFrame implements iface.Sender: frames are batched and sent when the batch
// fills or the owner finishes a round.
func (q *queue) SendFrame(b *pkt.Buffer) {
	if b.Meta.GSO != pkt.GSONone {
		if q.gso != nil {
			q.sendSuper(b)
			return
		}
		q.gsoSt.bypassed.Add(1) // the device's TSO cuts it
	}
	if !q.tx.Add(b) {
		q.flushTx()
		q.tx.Add(b)
	}
}

func (q *queue) flushTx() {
	if q.tx.Len() > 0 {
		q.n.dev.Send(q.id, q.tx) // errors are counted by the device; frames are its own now
	}
}

// markDirty asks the owner to service c soon. Called with c.mu held.
func (q *queue) markDirty(c *Conn) {
	q.dirtyMu.Lock()
	if !c.dirty {
		c.dirty = true
		q.dirty = append(q.dirty, c)
	}
	q.dirtyMu.Unlock()
	q.n.dev.Wake(q.id)
}

// flushRequest waits (briefly) until the owner has run one more round, so that
// segments queued by Abort or Close go out before the stack stops.
func (q *queue) flushRequest() {
	q.dirtyMu.Lock()
	q.flushReq = true
	q.dirtyMu.Unlock()
	q.n.dev.Wake(q.id)
	select {
	case <-q.flushDone:
	case <-time.After(100 * time.Millisecond):
	}
}

// run is the owner goroutine: receive, process, service, send, sleep.
func (q *queue) run() {
	defer q.n.s.wg.Done()
	s := q.n.s
	var lastWork time.Time // real time of the last round that found work (BusyPoll)
	for !s.stop.Load() {
		if q.round(s.clock.Now()) {
			if s.opts.BusyPoll > 0 {
				lastWork = time.Now()
			}
			if q.woke {
				// An application goroutine waits for what this round
				// delivered, most likely on this P's run queue, where it
				// would run only once the owner sleeps: let it run now.
				// What it writes back is then found by the next round
				// without a wake-up.
				q.woke = false
				runtime.Gosched()
			}
			if q.left || s.opts.BusyPoll > 0 {
				continue
			}
			// Otherwise go to sleep without another round: Wait returns at
			// once if frames came meanwhile or a wake-up is pending, so the
			// round would only cost a receive that finds nothing.
		} else if s.opts.BusyPoll > 0 && time.Since(lastWork) < s.opts.BusyPoll {
			// Spin instead of sleeping: a reply usually comes within tens of
			// microseconds, and a sleeping thread costs that much to wake.
			runtime.Gosched()
			continue
		}
		next := q.next()
		wait := time.Duration(-1)
		if next != clock.Never {
			wait = next.Sub(s.clock.Now())
			if wait <= 0 {
				continue
			}
		}
		// Announce the sleep before the last look at the dirty list: an
		// application goroutine that lists a connection after that look
		// sees the flag and wakes the device (Conn.Read, Conn.Write); one
		// that saw the owner awake skipped the wake-up.
		q.sleeping.Store(true)
		if q.hasDirty() {
			q.sleeping.Store(false)
			continue
		}
		err := q.n.dev.Wait(q.id, wait)
		q.sleeping.Store(false)
		if err != nil {
			return
		}
	}
}

// hasDirty reports whether connections or a flush wait for the owner.
func (q *queue) hasDirty() bool {
	q.dirtyMu.Lock()
	defer q.dirtyMu.Unlock()
	return len(q.dirty) > 0 || q.flushReq
}

// round does one pass of the owner's work without blocking and reports whether
// it found any (so the caller polls again before sleeping).
func (q *queue) round(now clock.Instant) bool {
	n := q.n
	got := 0
	rxLeft := false
	for got < n.s.opts.PollBudget {
		k, err := n.dev.Recv(q.id, q.rx)
		if err != nil || k == 0 {
			break
		}
		// A batch the device did not fill means it had no more: asking
		// again would cost a system call on some devices (TAP: a read that
		// fails with EAGAIN) and delay the readers this round woke. Frames
		// that arrive meanwhile are the next round's.
		drained := !q.rx.Full()
		if q.gro != nil {
			q.rxNow = now
			q.gro.InputBatch(now, q.rx) // delivers through Deliver; empties rx
		} else {
			for _, b := range q.rx.Buffers() {
				q.input(now, b)
				b.Release()
			}
			q.rx.Clear()
		}
		got += k
		if drained {
			break
		}
		rxLeft = got >= n.s.opts.PollBudget
	}
	q.left = rxLeft
	if q.gro != nil {
		// Nothing is held past the round: aggregates go to TCP before its
		// timers run and before this round's ACKs are sent.
		q.rxNow = now
		q.gro.FlushAll()
	}
	busy := q.serviceDirty(now)
	q.wheel.advance(now, q.fireTimer)
	if q.id == 0 { // one queue runs the interface's timers
		n.ifcMu.Lock()
		q.udpOutput(now) // datagrams applications built (udp.go)
		n.ifc.Poll(now, q)
		n.ifcMu.Unlock()
	}
	q.flushTx()
	return got > 0 || busy
}

// next returns when the owner must run again if no frame or wake-up comes.
func (q *queue) next() clock.Instant {
	next := q.wheel.next()
	if q.id == 0 {
		next = clock.Min(next, q.n.ifcDeadline())
	}
	return next
}

// serviceDirty runs every connection touched since the last round.
func (q *queue) serviceDirty(now clock.Instant) bool {
	q.dirtyMu.Lock()
	q.work, q.dirty = q.dirty, q.work[:0]
	flush := q.flushReq
	q.flushReq = false
	q.dirtyMu.Unlock()
	for i, c := range q.work {
		c.mu.Lock()
		q.dirtyMu.Lock()
		c.dirty = false
		q.dirtyMu.Unlock()
		q.service(c, now)
		c.mu.Unlock()
		q.work[i] = nil
		q.reap(c)
	}
	busy := len(q.work) > 0
	if flush {
		q.flushTx()
		select {
		case q.flushDone <- struct{}{}:
		default:
		}
	}
	return busy
}

// fireTimer runs a connection whose deadline came.
func (q *queue) fireTimer(t *timer) {
	c := t.ep
	c.mu.Lock()
	q.service(c, q.n.s.clock.Now())
	c.mu.Unlock()
	q.reap(c)
}

// service lets the connection emit what is due, re-arms its timer and wakes
// application goroutines waiting on it. Called by an owner with c.mu held. A
// connection's timer lives in its home queue's wheel, which only that owner
// touches: another queue that handled a segment for it asks the home to
// re-arm instead.
func (q *queue) service(c *Conn, now clock.Instant) {
	if c.rehome != nil && c.q == q {
		// Hand the connection to the queue its segments arrive on: its
		// timer leaves this wheel here and is armed in the new home's
		// when that owner services it (asked below, as c.q != q).
		q.wheel.cancel(&c.timer)
		c.q, c.rehome = c.rehome, nil
	}
	if c.evicted.Load() && c.tc.State() == tcp.StateTimeWait {
		c.tc.Abort() // TIME-WAIT ends without a RST (RFC 9293 §3.10.7.4 has none to send)
	}
	q.emit.c = c
	q.emit.now = now
	c.tc.Poll(now, &q.emit)
	q.emit.c = nil
	if !c.inTimeWait && c.tc.State() == tcp.StateTimeWait {
		c.inTimeWait = true
		q.n.s.noteTimeWait(c)
	}
	if c.q == q {
		q.wheel.schedule(&c.timer, c.tc.Deadline())
	} else {
		c.q.markDirty(c)
	}
	if c.notify() {
		q.woke = true
	}
}

// reap removes a finished connection from the table. Called without c.mu by
// an owner that ran c; only the home owner reaps (the timer is in its wheel).
func (q *queue) reap(c *Conn) {
	c.mu.Lock()
	// c.q under the lock: a connection may move home (service) meanwhile.
	done := c.q == q && c.tc.Done()
	c.mu.Unlock()
	if done {
		q.wheel.cancel(&c.timer)
		q.n.s.remove(c)
		c.finish(nil)
	}
}

// input handles one received frame. The caller releases it afterwards.
func (q *queue) input(now clock.Instant, b *pkt.Buffer) {
	n := q.n
	n.ifcMu.Lock()
	in, ok := n.ifc.Input(now, b, q)
	n.ifcMu.Unlock()
	if !ok {
		return
	}
	if in.Error != nil {
		q.icmpError(now, in.Error)
		return
	}
	switch in.Proto {
	case wire.ProtoTCP:
		q.inputTCP(now, &in)
	case wire.ProtoUDP:
		q.inputUDP(now, b, &in)
	}
}

// Deliver implements gro.Handler: one aggregate of merged TCP segments, one
// TCP segment alone, or one frame gro left alone (KindOther). iface still
// judges every delivery by its head frame (our MAC and address, martians,
// counters); every frame of an aggregate shares the head's headers, so the
// verdict holds for all. The aggregate's frames go back to the device after.
func (q *queue) Deliver(a *gro.Aggregate) {
	defer a.Release()
	now := q.rxNow
	if a.Kind != gro.KindTCP {
		q.input(now, a.Frame(0))
		return
	}
	// The payload slices are located by the frames' current ranges: take
	// them before iface sees the head frame.
	q.more = a.Payloads(q.more[:0])
	defer func() {
		clear(q.more) // keep no frame referenced once it is released
		q.more = q.more[:0]
	}()
	n := q.n
	n.ifcMu.Lock()
	in, ok := n.ifc.Input(now, a.Frame(0), q)
	n.ifcMu.Unlock()
	if !ok || in.Error != nil || in.Proto != wire.ProtoTCP || len(q.more) == 0 {
		return
	}
	// The TCP header was decoded (and, unless trusted, the checksum of every
	// frame verified) by gro: use it, not in.Payload, which covers only the
	// head frame's bytes.
	seg := &q.seg
	seg.TCPFields = a.TCP
	seg.Payload, seg.More, seg.Segs = q.more[0], q.more[1:], a.Segs
	if len(seg.More) == 0 {
		seg.More = nil
	}
	q.segmentTCP(now, in.Src, in.Dst)
	seg.More, seg.Segs = nil, 0
}

// icmpError applies an ICMP error about one of our TCP segments. iface has
// checked that the quote is ours; here it must also be about data in flight
// on a live connection (RFC 5927 §4.1), else it is a blind attack or stale.
// Only "fragmentation needed" / "packet too big" act (path MTU discovery,
// RFC 1191, RFC 8201): other errors are soft (RFC 1122 §4.2.3.9) and TCP's own
// timers decide the connection's fate.
func (q *queue) icmpError(now clock.Instant, e *iface.ICMPError) {
	s := q.n.s
	if e.Proto != wire.ProtoTCP {
		return
	}
	c := s.lookup(flowKey{e.Local, e.Remote})
	if c == nil {
		s.stats.ICMPIgnored.Add(1)
		return
	}
	ptb := (e.Local.Addr().Is4() && e.Type == wire.ICMPv4DestUnreachable && e.Code == wire.ICMPv4FragNeeded) ||
		(e.Local.Addr().Is6() && e.Type == wire.ICMPv6PacketTooBig)
	c.mu.Lock()
	if !c.tc.QuoteInFlight(e.Seq) {
		c.mu.Unlock()
		s.stats.ICMPIgnored.Add(1)
		return
	}
	if ptb && e.MTU > 0 {
		hdr := ipv4TCPHeaderSize
		if e.Local.Addr().Is6() {
			hdr = ipv6TCPHeaderSize
		}
		c.tc.SetPathMSS(int(e.MTU) - hdr)
		s.stats.PMTUUpdates.Add(1)
		q.service(c, now)
	}
	c.mu.Unlock()
	q.reap(c)
}

func (q *queue) inputTCP(now clock.Instant, in *iface.Inbound) {
	t, err := wire.ParseTCP(in.Payload)
	if err != nil {
		q.n.s.stats.TCPBadHeader.Add(1)
		return
	}
	seg := &q.seg
	seg.TCPFields = t.Fields()
	seg.Payload = t.Payload()
	q.segmentTCP(now, in.Src, in.Dst)
}

// segmentTCP runs the segment in q.seg (one wire segment, or an aggregate
// from gro) from src to dst: to its connection, a listener, or a reset. It
// clears q.seg's payload after, so no frame stays referenced.
func (q *queue) segmentTCP(now clock.Instant, src, dst netip.Addr) {
	s := q.n.s
	s.stats.TCPSegmentsIn.Add(1)
	seg := &q.seg
	defer func() { seg.Payload = nil }()
	k := flowKey{
		local:  netip.AddrPortFrom(dst, seg.DstPort),
		remote: netip.AddrPortFrom(src, seg.SrcPort),
	}
	if c := s.lookup(k); c != nil {
		c.mu.Lock()
		if c.q == q && q.reopenTimeWait(c, seg) {
			c.mu.Unlock()
			s.stats.TimeWaitReopened.Add(1)
			q.wheel.cancel(&c.timer)
			s.remove(c)
			c.finish(nil)
			if l := s.lookupListener(k.local); l != nil {
				q.accept(now, l, k, seg)
			}
			return
		}
		c.tc.OnSegment(now, seg)
		if !c.homed {
			// The peer's first segment: the device delivers this flow
			// here, so this queue becomes its home (see Conn.homed).
			c.homed = true
			if c.q != q {
				c.rehome = q
			}
		}
		q.service(c, now)
		c.mu.Unlock()
		q.reap(c)
		return
	}
	switch seg.Flags & (wire.FlagSYN | wire.FlagACK | wire.FlagRST) {
	case wire.FlagSYN:
		if l := s.lookupListener(k.local); l != nil {
			q.accept(now, l, k, seg)
			return
		}
	case wire.FlagACK:
		if l := s.lookupListener(k.local); l != nil && s.cookies != nil {
			if q.acceptCookie(now, l, k, seg) {
				return
			}
		}
	case 0:
		// No SYN, ACK or RST (a FIN alone, data alone, no flags at all): in
		// LISTEN this is RFC 9293 §3.10.7.2's fourth check, "drop the segment
		// and return", as Linux does. A closed port still answers with a RST.
		if s.lookupListener(k.local) != nil {
			s.stats.TCPNoConn.Add(1)
			return
		}
	}
	s.stats.TCPNoConn.Add(1)
	q.sendReset(now, k, seg)
}

// sendCookie answers a SYN that found the listener's backlog full with a SYN
// cookie (RFC 4987 §3.6) and keeps no state.
func (q *queue) sendCookie(now clock.Instant, k flowKey, syn *tcp.Segment) {
	s := q.n.s
	h, err := s.cookies.SYNACK(q.n.tcpConfig(k.local.Addr()), now, syn, k.local, k.remote, s.isn.TSOffset(k.local, k.remote))
	if err != nil {
		return
	}
	h.SrcPort, h.DstPort = k.local.Port(), k.remote.Port()
	s.stats.SYNCookiesSent.Add(1)
	q.emit.send(now, k.local.Addr(), k.remote.Addr(), &h, nil, nil)
}

// acceptCookie tries a bare ACK to a listener as the end of a handshake whose
// SYN-ACK carried a cookie. It reports whether the segment was dealt with; a
// bad cookie is not, and the caller answers with a RST (REFERENCES item 8).
func (q *queue) acceptCookie(now clock.Instant, l *Listener, k flowKey, ack *tcp.Segment) bool {
	s := q.n.s
	tc, err := s.cookies.Accept(q.n.tcpConfig(k.local.Addr()), now, ack, k.local, k.remote, s.isn.TSOffset(k.local, k.remote))
	if err != nil {
		s.stats.SYNCookiesRejected.Add(1)
		return false
	}
	c := newConn(s, q, k.local, k.remote, tc)
	c.homed = true // its SYN arrived here
	if err := s.insert(c); err != nil {
		s.stats.TCPConnTableFull.Add(1)
		return true // dropped: the client retransmits and the cookie still holds
	}
	if !l.enqueueCookie(c) {
		// As Linux without tcp_abort_on_overflow: forget it quietly; the
		// client's next segment carries the same cookie once there is room.
		s.remove(c)
		s.stats.AcceptQueueDrops.Add(1)
		return true
	}
	s.stats.SYNCookiesAccepted.Add(1)
	c.mu.Lock()
	q.service(c, now)
	c.mu.Unlock()
	q.reap(c)
	return true
}

// reopenTimeWait reports whether seg is a new SYN that may take over c's
// 4-tuple while c is in TIME-WAIT (RFC 9293 §3.10.7.4, RFC 6191), and if so
// drops c without a RST. Called with c.mu held.
func (q *queue) reopenTimeWait(c *Conn, seg *tcp.Segment) bool {
	if seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) != wire.FlagSYN || c.tc.State() != tcp.StateTimeWait {
		return false
	}
	if !c.tc.TimeWaitReusable(seg) {
		return false // OnSegment answers with a challenge ACK (RFC 5961 §4)
	}
	c.tc.Abort()
	return true
}

// accept creates a connection in SYN-RECEIVED for a SYN that reached listener
// l. Its home is the queue the SYN arrived on, where the device will most
// likely deliver the rest of the flow.
func (q *queue) accept(now clock.Instant, l *Listener, k flowKey, syn *tcp.Segment) {
	n := q.n
	s := n.s
	if !l.reserve() {
		if s.cookies != nil {
			q.sendCookie(now, k, syn)
			return
		}
		s.stats.TCPBacklogDrops.Add(1)
		return
	}
	tc, err := tcp.Accept(n.tcpConfig(k.local.Addr()), now, syn, s.isn.ISN(now, k.local, k.remote))
	if err != nil {
		l.unreserve()
		s.stats.TCPAcceptFailed.Add(1)
		return
	}
	tc.SetTimestampOffset(s.isn.TSOffset(k.local, k.remote)) // RFC 7323 §5.4
	c := newConn(s, q, k.local, k.remote, tc)
	c.homed = true // its SYN arrived here
	c.listener = l
	if err := s.insert(c); err != nil {
		l.unreserve()
		s.stats.TCPConnTableFull.Add(1)
		return
	}
	c.mu.Lock()
	q.service(c, now)
	c.mu.Unlock()
	q.reap(c)
}

// sendReset answers a segment that reached no connection (RFC 9293 §3.10.7.1).
func (q *queue) sendReset(now clock.Instant, k flowKey, seg *tcp.Segment) {
	rst, ok := tcp.ResetFor(seg)
	if !ok {
		return
	}
	rst.SrcPort, rst.DstPort = k.local.Port(), k.remote.Port()
	q.emit.send(now, k.local.Addr(), k.remote.Addr(), &rst, nil, nil)
}

// emitter is the tcp.Output through which connections send on a queue.
type emitter struct {
	q   *queue
	c   *Conn
	now clock.Instant
	out iface.OutFields
}

// Emit builds one segment in a transmit buffer and hands it to the interface.
func (e *emitter) Emit(h *wire.TCPFields, a, b []byte) {
	c := e.c
	h.SrcPort, h.DstPort = c.local.Port(), c.remote.Port()
	e.send(e.now, c.local.Addr(), c.remote.Addr(), h, a, b)
}

func (e *emitter) send(now clock.Instant, src, dst netip.Addr, h *wire.TCPFields, a, b []byte) {
	n := e.q.n
	payload := len(a) + len(b)
	mss := 0
	if e.c != nil {
		mss = e.c.tc.SendMSS()
	}
	super := mss > 0 && payload > mss
	pool := n.pool
	if super {
		pool = n.gsoPool
	}
	buf := pool.Get()
	if buf == nil {
		n.s.stats.TxNoBuffer.Add(1) // TCP's retransmission timer recovers
		return
	}
	hl := wire.TCPHeaderLen(h)
	total := hl + payload
	if total > buf.Tailroom() {
		buf.Release()
		n.s.stats.TxOutputErrors.Add(1)
		return
	}
	seg := buf.Append(total)
	wire.EmitTCP(seg, h)
	copy(seg[hl:], a)
	copy(seg[hl+len(a):], b)
	if super || n.caps.TxChecksumOffload {
		// The device finishes the checksum (and, for a super-segment, cuts it at
		// the MSS): leave the folded pseudo-header sum over the whole TCP length
		// in the field, as virtio-net's NEEDS_CSUM wants. iface shifts
		// CsumStart by the headers it prepends.
		sum := wire.PseudoHeaderSum(wire.ProtoTCP, src, dst, total)
		binary.BigEndian.PutUint16(seg[16:], ^wire.FoldChecksum(sum))
		buf.Meta.Checksum = pkt.ChecksumPartial
		buf.Meta.CsumStart = 0
		buf.Meta.CsumOffset = 16
		if super {
			buf.Meta.GSO = pkt.GSOTCPv4
			if dst.Is6() {
				buf.Meta.GSO = pkt.GSOTCPv6
			}
			buf.Meta.GSOSize = uint16(mss)
			buf.Meta.Segs = uint16((payload + mss - 1) / mss)
		}
	} else {
		wire.SetTCPChecksum(seg, src, dst)
	}
	buf.Meta.Queue = uint16(e.q.id)
	e.out = iface.OutFields{Src: src, Dst: dst, Proto: wire.ProtoTCP, DontFragment: true}
	n.ifcMu.Lock()
	err := n.ifc.Output(now, buf, &e.out, e.q)
	n.ifcMu.Unlock()
	if err != nil {
		n.s.stats.TxOutputErrors.Add(1)
	}
}
