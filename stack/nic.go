package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"offload/clock"
	"offload/iface"
	"offload/link"
	"offload/pkt"
	"offload/tcp"
	"offload/wire"
)

// nic is one device and the state its owner goroutine keeps. Everything below
// the "owner only" line is touched by the owner goroutine alone.
type nic struct {
	s     *Stack
	index int
	dev   link.Device
	caps  link.Capabilities
	addrs []netip.Prefix

	tcpCfg tcp.Config // the stack's TCP config with this NIC's MSS

	// Connections that application goroutines touched (wrote, read, closed) and
	// that the owner must service. Each appears at most once (Conn.dirty).
	dirtyMu   sync.Mutex
	dirty     []*Conn
	flushReq  bool
	flushDone chan struct{}

	// owner only
	ifc     *iface.Interface
	pool    *pkt.Pool // MTU-sized transmit buffers
	gsoPool *pkt.Pool // 64 KiB buffers for TCP super-segments; nil without TSO
	rx      *pkt.Batch
	tx      *pkt.Batch
	wheel   *wheel
	seg     tcp.Segment
	emit    emitter
	work    []*Conn // the dirty list taken over by the owner
	headlen int     // bytes in front of the TCP header: link headroom + Ethernet + IPv4
}

func newNIC(s *Stack, index int, nc NIC) (*nic, error) {
	if nc.Device == nil {
		return nil, fmt.Errorf("stack: NIC %d has no Device", index)
	}
	caps := nc.Device.Caps()
	if caps.MTU < 576 {
		return nil, fmt.Errorf("stack: NIC %d (%s): MTU %d is below the IPv4 minimum of 576", index, caps.Name, caps.MTU)
	}
	for _, a := range nc.Addrs {
		if !a.Addr().Is4() {
			return nil, fmt.Errorf("stack: NIC %d (%s): address %v: %w", index, caps.Name, a, ErrNotIPv4)
		}
	}
	ifc, err := iface.New(iface.Config{
		L2:                 caps.L2,
		HardwareAddr:       wire.MAC(caps.HardwareAddr),
		MTU:                caps.MTU,
		Addrs:              nc.Addrs,
		Gateway:            nc.Gateway,
		NeighborCacheSize:  s.opts.ARPCacheSize,
		PendingPerNeighbor: s.opts.ARPQueuePerNeighbor,
		RxChecksumTrusted:  caps.RxChecksumTrusted,
		DeviceHeadroom:     caps.Headroom,
	})
	if err != nil {
		return nil, fmt.Errorf("stack: NIC %d (%s): %w", index, caps.Name, err)
	}
	n := &nic{
		s:         s,
		index:     index,
		dev:       nc.Device,
		caps:      caps,
		addrs:     append([]netip.Prefix(nil), nc.Addrs...),
		ifc:       ifc,
		rx:        pkt.NewBatch(s.opts.Batch),
		tx:        pkt.NewBatch(s.opts.Batch),
		wheel:     newWheel(wheelTick, wheelSlots, s.clock.Now()),
		dirty:     make([]*Conn, 0, 256),
		work:      make([]*Conn, 0, 256),
		flushDone: make(chan struct{}, 1),
	}
	n.headlen = ifc.Headroom()
	// A transmit buffer holds one MTU-sized IP packet plus everything in front.
	n.pool = pkt.NewPool(s.opts.TxBuffers, n.headlen+caps.MTU, n.headlen)
	n.tcpCfg = *s.opts.TCP
	if mss := caps.MTU - ipv4TCPHeaderSize; n.tcpCfg.MSS == 0 || n.tcpCfg.MSS > mss {
		n.tcpCfg.MSS = mss
	}
	if caps.TSO && n.tcpCfg.GSOMaxSize == 0 {
		// The device cuts super-segments at the MSS itself: let TCP hand it up
		// to 64 KiB at a time (less the largest IPv4 and TCP headers).
		n.tcpCfg.GSOMaxSize = min(caps.MaxGSOSize, maxIPv4Packet) - wire.IPv4HeaderSize - wire.TCPHeaderSize - wire.TCPMaxOptionsLen
	}
	if n.tcpCfg.GSOMaxSize > n.tcpCfg.MSS {
		n.gsoPool = pkt.NewPool(s.opts.GSOBuffers, n.headlen+maxIPv4Packet, n.headlen)
	}
	n.emit.n = n
	return n, nil
}

func (n *nic) close() error { return n.dev.Close() }

// SendFrame implements iface.Sender: frames are batched and sent when the batch
// fills or the owner finishes a round.
func (n *nic) SendFrame(b *pkt.Buffer) {
	if !n.tx.Add(b) {
		n.flushTx()
		n.tx.Add(b)
	}
}

func (n *nic) flushTx() {
	if n.tx.Len() > 0 {
		n.dev.Send(0, n.tx) // errors are counted by the device; frames are its own now
	}
}

// markDirty asks the owner to service c soon. Called with c.mu held.
func (n *nic) markDirty(c *Conn) {
	n.dirtyMu.Lock()
	if !c.dirty {
		c.dirty = true
		n.dirty = append(n.dirty, c)
	}
	n.dirtyMu.Unlock()
	n.dev.Wake(0)
}

// flushRequest waits (briefly) until the owner has run one more round, so that
// segments queued by Abort or Close go out before the stack stops.
func (n *nic) flushRequest() {
	n.dirtyMu.Lock()
	n.flushReq = true
	n.dirtyMu.Unlock()
	n.dev.Wake(0)
	select {
	case <-n.flushDone:
	case <-time.After(100 * time.Millisecond):
	}
}

// run is the owner goroutine: receive, process, service, send, sleep.
func (n *nic) run() {
	defer n.s.wg.Done()
	s := n.s
	var lastWork time.Time // real time of the last round that found work (BusyPoll)
	for !s.stop.Load() {
		if n.round(s.clock.Now()) {
			if s.opts.BusyPoll > 0 {
				lastWork = time.Now()
			}
			continue
		}
		if s.opts.BusyPoll > 0 && time.Since(lastWork) < s.opts.BusyPoll {
			// Spin instead of sleeping: a reply usually comes within tens of
			// microseconds, and a sleeping thread costs that much to wake.
			runtime.Gosched()
			continue
		}
		next := n.next()
		wait := time.Duration(-1)
		if next != clock.Never {
			wait = next.Sub(s.clock.Now())
			if wait <= 0 {
				continue
			}
		}
		if err := n.dev.Wait(0, wait); err != nil {
			return
		}
	}
}

// round does one pass of the owner's work without blocking and reports whether
// it found any (so the caller polls again before sleeping).
func (n *nic) round(now clock.Instant) bool {
	got := 0
	for got < n.s.opts.PollBudget {
		k, err := n.dev.Recv(0, n.rx)
		if err != nil || k == 0 {
			break
		}
		for _, b := range n.rx.Buffers() {
			n.input(now, b)
			b.Release()
		}
		n.rx.Clear()
		got += k
	}
	busy := n.serviceDirty(now)
	n.wheel.advance(now, n.fireTimer)
	n.ifc.Poll(now, n)
	n.flushTx()
	return got > 0 || busy
}

// next returns when the owner must run again if no frame or wake-up comes.
func (n *nic) next() clock.Instant { return clock.Min(n.wheel.next(), n.ifc.Deadline()) }

// serviceDirty runs every connection applications touched since the last round.
func (n *nic) serviceDirty(now clock.Instant) bool {
	n.dirtyMu.Lock()
	n.work, n.dirty = n.dirty, n.work[:0]
	flush := n.flushReq
	n.flushReq = false
	n.dirtyMu.Unlock()
	for i, c := range n.work {
		c.mu.Lock()
		n.dirtyMu.Lock()
		c.dirty = false
		n.dirtyMu.Unlock()
		n.service(c, now)
		c.mu.Unlock()
		n.work[i] = nil
		n.reap(c)
	}
	busy := len(n.work) > 0
	if flush {
		n.flushTx()
		select {
		case n.flushDone <- struct{}{}:
		default:
		}
	}
	return busy
}

// fireTimer runs a connection whose deadline came.
func (n *nic) fireTimer(t *timer) {
	c := t.ep
	c.mu.Lock()
	n.service(c, n.s.clock.Now())
	c.mu.Unlock()
	n.reap(c)
}

// service lets the connection emit what is due, re-arms its timer and wakes
// application goroutines waiting on it. Called by the owner with c.mu held.
func (n *nic) service(c *Conn, now clock.Instant) {
	n.emit.c = c
	n.emit.now = now
	c.tc.Poll(now, &n.emit)
	n.emit.c = nil
	n.wheel.schedule(&c.timer, c.tc.Deadline())
	c.notify()
}

// reap removes a finished connection from the table. Called without c.mu.
func (n *nic) reap(c *Conn) {
	c.mu.Lock()
	done := c.tc.Done()
	c.mu.Unlock()
	if done {
		n.wheel.cancel(&c.timer)
		n.s.remove(c)
		c.finish(nil)
	}
}

// input handles one received frame. The caller releases it afterwards.
func (n *nic) input(now clock.Instant, b *pkt.Buffer) {
	in, ok := n.ifc.Input(now, b, n)
	if !ok {
		return
	}
	if in.Proto == wire.ProtoTCP {
		n.inputTCP(now, &in)
	}
}

func (n *nic) inputTCP(now clock.Instant, in *iface.Inbound) {
	s := n.s
	t, err := wire.ParseTCP(in.Payload)
	if err != nil {
		s.stats.TCPBadHeader.Add(1)
		return
	}
	s.stats.TCPSegmentsIn.Add(1)
	seg := &n.seg
	seg.TCPFields = t.Fields()
	seg.Payload = t.Payload()
	k := flowKey{
		local:  netip.AddrPortFrom(in.Dst, seg.DstPort),
		remote: netip.AddrPortFrom(in.Src, seg.SrcPort),
	}
	if c := s.lookup(k); c != nil {
		c.mu.Lock()
		if n.reopenTimeWait(c, seg) {
			c.mu.Unlock()
			n.wheel.cancel(&c.timer)
			s.remove(c)
			c.finish(nil)
			if l := s.lookupListener(k.local); l != nil {
				n.accept(now, l, k, seg)
			}
			seg.Payload = nil
			return
		}
		c.tc.OnSegment(now, seg)
		n.service(c, now)
		c.mu.Unlock()
		n.reap(c)
		seg.Payload = nil
		return
	}
	if seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN {
		if l := s.lookupListener(k.local); l != nil {
			n.accept(now, l, k, seg)
			seg.Payload = nil
			return
		}
	}
	s.stats.TCPNoConn.Add(1)
	n.sendReset(now, k, seg)
	seg.Payload = nil
}

// reopenTimeWait reports whether seg is a new SYN that may take over c's
// 4-tuple while c is in TIME-WAIT (RFC 9293 §3.10.7.4, RFC 6191), and if so
// drops c without a RST. Called with c.mu held.
func (n *nic) reopenTimeWait(c *Conn, seg *tcp.Segment) bool {
	if seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) != wire.FlagSYN || c.tc.State() != tcp.StateTimeWait {
		return false
	}
	if !c.tc.TimeWaitReusable(seg) {
		return false // OnSegment answers with a challenge ACK (RFC 5961 §4)
	}
	c.tc.Abort()
	return true
}

// accept creates a connection in SYN-RECEIVED for a SYN that reached listener l.
func (n *nic) accept(now clock.Instant, l *Listener, k flowKey, syn *tcp.Segment) {
	s := n.s
	if !l.reserve() {
		s.stats.TCPBacklogDrops.Add(1)
		return
	}
	tc, err := tcp.Accept(&n.tcpCfg, now, syn, s.isn.ISN(now, k.local, k.remote))
	if err != nil {
		l.unreserve()
		s.stats.TCPAcceptFailed.Add(1)
		return
	}
	tc.SetTimestampOffset(s.isn.TSOffset(k.local, k.remote)) // RFC 7323 §5.4
	c := newConn(s, n, k.local, k.remote, tc)
	c.listener = l
	if err := s.insert(c); err != nil {
		l.unreserve()
		s.stats.TCPConnTableFull.Add(1)
		return
	}
	c.mu.Lock()
	n.service(c, now)
	c.mu.Unlock()
	n.reap(c)
}

// sendReset answers a segment that reached no connection (RFC 9293 §3.10.7.1).
func (n *nic) sendReset(now clock.Instant, k flowKey, seg *tcp.Segment) {
	rst, ok := tcp.ResetFor(seg)
	if !ok {
		return
	}
	rst.SrcPort, rst.DstPort = k.local.Port(), k.remote.Port()
	n.emit.send(now, k.local.Addr(), k.remote.Addr(), &rst, nil, nil)
}

// emitter is the tcp.Output through which connections of this NIC send.
type emitter struct {
	n   *nic
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
	n := e.n
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
			buf.Meta.GSOSize = uint16(mss)
			buf.Meta.Segs = uint16((payload + mss - 1) / mss)
		}
	} else {
		wire.SetTCPChecksum(seg, src, dst)
	}
	e.out = iface.OutFields{Src: src, Dst: dst, Proto: wire.ProtoTCP, DontFragment: true}
	if err := n.ifc.Output(now, buf, &e.out, n); err != nil {
		n.s.stats.TxOutputErrors.Add(1)
	}
}
