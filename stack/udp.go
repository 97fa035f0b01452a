package stack

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"offload/clock"
	"offload/iface"
	"offload/pkt"
	"offload/udp"
	"offload/wire"
)

// UDP errors, as the kernel's sendto(2) gives them.
var (
	ErrMsgSize     = syscall.EMSGSIZE     // the datagram does not fit the link MTU (we never fragment on send)
	ErrNoBufs      = syscall.ENOBUFS      // no transmit buffer or the transmit list is full; retry
	ErrInvalidAddr = syscall.EINVAL       // destination without an address or with port 0
	ErrAFNoSupport = syscall.EAFNOSUPPORT // destination family differs from the bound address's
)

// udpTxLimit bounds the datagrams waiting for a NIC's owner to send them.
const udpTxLimit = 1024

// udpState is the stack's UDP side: the endpoint table and, per NIC, the
// datagrams application goroutines built and its queue 0 owner will send.
//
// Why a hand-off and not a send on the caller's goroutine: a device queue has
// exactly one goroutine that may call Send on it (package link), and the
// owner's transmit batch is its own. So WriteTo builds the whole datagram
// (header, payload, checksum) in a pool buffer on the caller's goroutine and
// appends it to a bounded list; the owner of the NIC's queue 0 takes the list
// each round, under the interface lock it holds anyway for Poll, and hands
// every datagram to iface.Output with itself as the Sender.
type udpState struct {
	once    sync.Once
	mu      sync.RWMutex // guards eps
	eps     map[netip.AddrPort]*UDPConn
	tx      []udpTxList // per NIC, indexed by nic.index
	pending atomic.Int64
}

type udpTxList struct {
	mu    sync.Mutex
	items []udpOut
	work  []udpOut // owner only: the list taken over
}

type udpOut struct {
	buf      *pkt.Buffer
	src, dst netip.Addr
}

func (s *Stack) udpInit() {
	s.udp.once.Do(func() {
		s.udp.eps = make(map[netip.AddrPort]*UDPConn)
		s.udp.tx = make([]udpTxList, len(s.nics))
	})
}

// UDPConn is a UDP endpoint bound to a local address and port. Its methods
// never block: ReadFrom returns ErrWouldBlock and arms Readable. Package
// netconn builds the blocking net.PacketConn on top.
type UDPConn struct {
	s     *Stack
	local netip.AddrPort // table key: address invalid = both families

	mu        sync.Mutex // guards the fields below
	ep        *udp.Endpoint
	wantRead  bool
	closed    bool
	readReady chan struct{}
	done      chan struct{} // closed by Close
}

// ListenUDP binds a UDP endpoint to local with the default receive queue
// bounds (udp.DefaultQueueDatagrams, udp.DefaultQueueBytes).
func (s *Stack) ListenUDP(local netip.AddrPort) (*UDPConn, error) {
	return s.ListenUDPConfig(local, udp.Config{})
}

// ListenUDPConfig binds a UDP endpoint to local. Port 0 picks a free port in
// the ephemeral range. The address follows ListenTCP's rule: the zero
// netip.Addr or :: binds every address of both families, 0.0.0.0 every IPv4
// address; any other must be one of the stack's. A wildcard and a specific
// address on one port conflict. The table holds at most Options.MaxConns
// endpoints.
func (s *Stack) ListenUDPConfig(local netip.AddrPort, cfg udp.Config) (*UDPConn, error) {
	s.udpInit()
	a := local.Addr().Unmap()
	if a == netip.IPv6Unspecified() {
		a = netip.Addr{}
	}
	if a.IsValid() && !a.IsUnspecified() {
		owned := false
		for _, n := range s.nics {
			owned = owned || n.hasAddr(a)
		}
		if !owned {
			return nil, ErrAddrNotAvail
		}
	}
	c := &UDPConn{s: s, ep: udp.New(cfg), readReady: make(chan struct{}, 1), done: make(chan struct{})}
	u := &s.udp
	u.mu.Lock()
	defer u.mu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if len(u.eps) >= s.opts.MaxConns {
		return nil, ErrTooManyConns
	}
	port := local.Port()
	if port == 0 {
		lo, hi := int(s.opts.EphemeralPortMin), int(s.opts.EphemeralPortMax)
		span := hi - lo + 1
		start := rand.IntN(span) // RFC 6056 §3.3.1: a random start in the range
		for i := range span {
			p := uint16(lo + (start+i)%span)
			if !u.conflict(netip.AddrPortFrom(a, p)) {
				port = p
				break
			}
		}
		if port == 0 {
			return nil, ErrNoPorts
		}
	} else if u.conflict(netip.AddrPortFrom(a, port)) {
		return nil, ErrAddrInUse
	}
	c.local = netip.AddrPortFrom(a, port)
	u.eps[c.local] = c
	return c, nil
}

// conflict reports whether binding k would clash with an endpoint: the same
// key, or a wildcard and anything of its family on the same port. Called
// with u.mu held. It walks the table, as ListenTCP does; binds are rare.
func (u *udpState) conflict(k netip.AddrPort) bool {
	if u.eps[k] != nil {
		return true
	}
	a := k.Addr()
	for o := range u.eps {
		if o.Port() != k.Port() {
			continue
		}
		b := o.Addr()
		if !a.IsValid() || !b.IsValid() ||
			(a.IsUnspecified() && a.Is4() == b.Is4()) ||
			(b.IsUnspecified() && a.Is4() == b.Is4()) {
			return true
		}
	}
	return false
}

// lookupUDP finds the endpoint for a datagram to local: the exact address,
// then the family's wildcard, then the dual-stack wildcard.
func (s *Stack) lookupUDP(local netip.AddrPort) *UDPConn {
	u := &s.udp
	u.mu.RLock()
	defer u.mu.RUnlock()
	for _, k := range listenerKeys(local) {
		if c := u.eps[k]; c != nil {
			return c
		}
	}
	return nil
}

// inputUDP delivers a datagram iface accepted (length and checksum checked
// there) to its endpoint, or answers with a port unreachable (RFC 1122
// §4.1.3.1; iface applies the rate limit and the no-error-about-broadcast
// rules of RFC 1122 §3.2.2 and RFC 4443 §2.4).
func (q *queue) inputUDP(now clock.Instant, b *pkt.Buffer, in *iface.Inbound) {
	s := q.n.s
	u, err := wire.ParseUDP(in.Payload)
	if err != nil {
		s.stats.UDPBadHeader.Add(1)
		return
	}
	s.stats.UDPDatagramsIn.Add(1)
	s.udpInit()
	c := s.lookupUDP(netip.AddrPortFrom(in.Dst, u.DstPort()))
	if c == nil {
		s.stats.UDPNoPort.Add(1)
		// A reassembled datagram lives in in.Frame, which the interface
		// reuses on its next Input; with several queues another owner may
		// have called Input since, so only a single-queue NIC quotes it.
		if in.Frame != nil && len(q.n.queues) > 1 {
			return
		}
		q.n.ifcMu.Lock()
		q.n.ifc.Unreachable(now, b, in, wire.ICMPv4PortUnreachable, q)
		q.n.ifcMu.Unlock()
		return
	}
	c.deliver(netip.AddrPortFrom(in.Src, u.SrcPort()), u.Payload())
}

func (c *UDPConn) deliver(from netip.AddrPort, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if !c.ep.Push(from, payload) {
		c.s.stats.UDPRecvQueueDrops.Add(1)
		return
	}
	if c.wantRead {
		c.wantRead = false
		signal(c.readReady)
	}
}

// udpOutput sends the datagrams application goroutines queued for q's NIC.
// Called by the owner of the NIC's queue 0 with the interface lock held.
func (q *queue) udpOutput(now clock.Instant) {
	s := q.n.s
	if s.udp.pending.Load() == 0 {
		return
	}
	l := &s.udp.tx[q.n.index]
	l.mu.Lock()
	l.work, l.items = l.items, l.work[:0]
	l.mu.Unlock()
	s.udp.pending.Add(-int64(len(l.work)))
	for i := range l.work {
		o := &l.work[i]
		out := iface.OutFields{Src: o.src, Dst: o.dst, Proto: wire.ProtoUDP}
		if err := q.n.ifc.Output(now, o.buf, &out, q); err != nil {
			s.stats.TxOutputErrors.Add(1)
		} else {
			s.stats.UDPDatagramsOut.Add(1)
		}
		*o = udpOut{}
	}
	l.work = l.work[:0]
}

// LocalAddr returns the bound address and port; the address is invalid for
// an endpoint bound to every address of both families.
func (c *UDPConn) LocalAddr() netip.AddrPort { return c.local }

// ReadFrom takes the oldest queued datagram: n bytes copied into p (the rest
// of a longer datagram is discarded, as recvfrom(2)) and its source. With
// nothing queued it returns ErrWouldBlock and Readable will be signalled.
func (c *UDPConn) ReadFrom(p []byte) (n int, from netip.AddrPort, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, netip.AddrPort{}, ErrClosed
	}
	n, from, _, ok := c.ep.Recv(p)
	if !ok {
		c.wantRead = true
		return 0, netip.AddrPort{}, ErrWouldBlock
	}
	return n, from, nil
}

// Readable is signalled when a datagram arrives after ReadFrom returned
// ErrWouldBlock, and on Close.
func (c *UDPConn) Readable() <-chan struct{} { return c.readReady }

// Done is closed by Close.
func (c *UDPConn) Done() <-chan struct{} { return c.done }

// WriteTo sends p as one datagram to to. The datagram is built here and sent
// by the NIC's owner soon after; the call does not wait for it. Errors:
// ErrInvalidAddr (no address or port 0), ErrAFNoSupport (to's family is not
// the bound address's), ErrNoRoute, ErrMsgSize (IP packet larger than the
// MTU: we never fragment on send), ErrNoBufs (transmit buffers or list
// exhausted: retry), ErrClosed.
func (c *UDPConn) WriteTo(p []byte, to netip.AddrPort) (int, error) {
	s := c.s
	dst := to.Addr().Unmap()
	if !dst.IsValid() || dst.IsUnspecified() || to.Port() == 0 {
		return 0, ErrInvalidAddr
	}
	la := c.local.Addr()
	if la.IsValid() && la.Is4() != dst.Is4() {
		return 0, ErrAFNoSupport
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed || s.stop.Load() {
		return 0, ErrClosed
	}
	n, src, err := s.nicFor(la, dst)
	if err != nil {
		return 0, err
	}
	ipHdr := wire.IPv4HeaderSize
	if dst.Is6() {
		ipHdr = wire.IPv6HeaderSize
	}
	total := wire.UDPHeaderSize + len(p)
	if ipHdr+total > n.caps.MTU {
		return 0, ErrMsgSize
	}
	buf := n.pool.Get()
	if buf == nil {
		s.stats.TxNoBuffer.Add(1)
		return 0, ErrNoBufs
	}
	if total > buf.Tailroom() {
		buf.Release()
		return 0, ErrMsgSize
	}
	d := buf.Append(total)
	wire.EmitUDP(d, &wire.UDPFields{SrcPort: c.local.Port(), DstPort: to.Port(), Length: uint16(total)})
	copy(d[wire.UDPHeaderSize:], p)
	wire.SetUDPChecksum(d, src, dst)
	buf.Meta.Queue = 0
	l := &s.udp.tx[n.index]
	l.mu.Lock()
	if len(l.items) >= udpTxLimit {
		l.mu.Unlock()
		buf.Release()
		s.stats.UDPTxDrops.Add(1)
		return 0, ErrNoBufs
	}
	l.items = append(l.items, udpOut{buf: buf, src: src, dst: dst})
	s.udp.pending.Add(1)
	l.mu.Unlock()
	n.dev.Wake(0)
	return len(p), nil
}

// Close unbinds the endpoint and discards what it queued; a waiting reader
// is woken. Closing twice returns ErrClosed.
func (c *UDPConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	close(c.done)
	signal(c.readReady)
	c.mu.Unlock()
	u := &c.s.udp
	u.mu.Lock()
	if u.eps[c.local] == c {
		delete(u.eps, c.local)
	}
	u.mu.Unlock()
	return nil
}

// Stats returns the endpoint's receive queue counters.
func (c *UDPConn) Stats() udp.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ep.Stats()
}

// NumUDP returns the number of bound UDP endpoints.
func (s *Stack) NumUDP() int {
	s.udpInit()
	s.udp.mu.RLock()
	defer s.udp.mu.RUnlock()
	return len(s.udp.eps)
}

// closeUDP closes every UDP endpoint, waking their readers, and releases the
// datagrams still waiting to be sent. Stack.Close calls it once the owner
// goroutines have stopped, so nothing else touches the send lists.
func (s *Stack) closeUDP() {
	u := &s.udp
	u.mu.RLock()
	eps := make([]*UDPConn, 0, len(u.eps))
	for _, c := range u.eps {
		eps = append(eps, c)
	}
	u.mu.RUnlock()
	for _, c := range eps {
		c.Close()
	}
	for i := range u.tx {
		l := &u.tx[i]
		l.mu.Lock()
		for _, o := range l.items {
			o.buf.Release()
		}
		l.items = l.items[:0]
		l.mu.Unlock()
		for _, o := range l.work {
			if o.buf != nil {
				o.buf.Release()
			}
		}
		l.work = l.work[:0]
	}
	u.pending.Store(0)
}
