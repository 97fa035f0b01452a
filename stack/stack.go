package stack

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"offload/clock"
	"offload/gro"
	"offload/iface"
	"offload/tcp"
)

// Errors returned by the stack. They are syscall errnos where one fits, so
// callers can use errors.Is with the values the kernel's sockets would give.
var (
	ErrClosed        = errors.New("stack: closed")
	ErrWouldBlock    = syscall.EAGAIN
	ErrAddrInUse     = syscall.EADDRINUSE
	ErrAddrNotAvail  = syscall.EADDRNOTAVAIL
	ErrNoRoute       = syscall.ENETUNREACH
	ErrTooManyConns  = errors.New("stack: connection table full (raise Options.MaxConns)")
	ErrNoPorts       = errors.New("stack: no free ephemeral port for that destination")
	ErrInvalidListen = errors.New("stack: listen address must have a port")
)

type flowKey struct {
	local, remote netip.AddrPort
}

// Stack is a TCP/IP stack over one or more devices.
type Stack struct {
	opts  Options
	clock clock.Clock
	nics  []*nic
	isn   *tcp.ISNGenerator
	// dialMu serialises ephemeral port choice and the table insert that claims
	// the port: the allocator keeps state and is not safe for concurrent use,
	// and without it two dials could pick the same port for one destination.
	dialMu sync.Mutex
	ports  *tcp.PortAllocator
	// cookies answers SYNs beyond a listener's backlog statelessly (RFC 4987);
	// nil when Options.NoSYNCookies.
	cookies *tcp.SYNCookies

	mu        sync.RWMutex // guards conns, listeners, closed
	conns     map[flowKey]*Conn
	listeners map[netip.AddrPort]*Listener
	closed    bool
	// timeWait lists connections in the order they entered TIME-WAIT, from
	// timeWaitHead on (guarded by mu): when the table is full, the oldest
	// gives up its slot for a new connection (insert). Entries that left the
	// table already are skipped then.
	timeWait     []*Conn
	timeWaitHead int

	wg   sync.WaitGroup
	stop atomic.Bool

	stats Stats

	udp udpState // UDP endpoints and transmit hand-off (udp.go)
}

// Stats are the stack's own counters (devices and interfaces keep theirs).
type Stats struct {
	TCPSegmentsIn      atomic.Uint64 // TCP segments run; a gro aggregate counts once
	TCPBadHeader       atomic.Uint64
	TCPNoConn          atomic.Uint64 // segments for no connection (answered with RST, or dropped at a listener: RFC 9293 §3.10.7.2)
	TCPBacklogDrops    atomic.Uint64 // SYNs dropped: listen backlog full
	TCPConnTableFull   atomic.Uint64 // SYNs dropped: MaxConns reached
	TCPAcceptFailed    atomic.Uint64 // SYNs tcp.Accept refused
	TxNoBuffer         atomic.Uint64 // segments dropped: transmit pool empty
	TxOutputErrors     atomic.Uint64 // iface.Output errors (no route, too big)
	SYNCookiesSent     atomic.Uint64 // SYN-ACKs with a cookie: a listener's backlog was full
	SYNCookiesAccepted atomic.Uint64 // connections made from a returning cookie
	SYNCookiesRejected atomic.Uint64 // ACKs to a listener with a bad or stale cookie (answered with RST)
	AcceptQueueDrops   atomic.Uint64 // valid cookie ACKs dropped: the accept queue was full
	ICMPIgnored        atomic.Uint64 // ICMP errors for no connection or data not in flight (RFC 5927)
	PMTUUpdates        atomic.Uint64 // frag-needed / packet-too-big that lowered a connection's MSS
	ConnsOpened        atomic.Uint64
	ConnsClosed        atomic.Uint64
	TimeWaitEvicted    atomic.Uint64 // TIME-WAIT connections dropped early for a new one: the table was full
	TimeWaitReopened   atomic.Uint64 // TIME-WAIT connections ended by a new SYN for the same 4-tuple (RFC 6191)
	UDPDatagramsIn     atomic.Uint64 // datagrams iface delivered (checksum already verified)
	UDPBadHeader       atomic.Uint64
	UDPNoPort          atomic.Uint64 // datagrams for no endpoint (answered with port unreachable, rate limited)
	UDPRecvQueueDrops  atomic.Uint64 // datagrams dropped: the endpoint's receive queue was full
	UDPDatagramsOut    atomic.Uint64 // datagrams handed to iface.Output
	UDPTxDrops         atomic.Uint64 // WriteTo refused: the NIC's transmit hand-off list was full
}

// New builds a stack over the given devices and starts one owner goroutine per NIC.
func New(o Options) (*Stack, error) {
	if len(o.NICs) == 0 {
		return nil, errors.New("stack: no NIC given: set Options.NICs (a device and its addresses)")
	}
	opts := o.withDefaults()
	if opts.Secret == ([16]byte{}) {
		if _, err := rand.Read(opts.Secret[:]); err != nil {
			return nil, fmt.Errorf("stack: reading a random secret: %w", err)
		}
	}
	s := &Stack{
		opts:      opts,
		clock:     opts.Clock,
		isn:       tcp.NewISNGenerator(opts.Secret),
		ports:     tcp.NewPortAllocator(opts.Secret, opts.EphemeralPortMin, opts.EphemeralPortMax),
		conns:     make(map[flowKey]*Conn),
		cookies:   syncookies(opts),
		listeners: make(map[netip.AddrPort]*Listener),
	}
	for i, nc := range opts.NICs {
		n, err := newNIC(s, i, nc)
		if err != nil {
			for _, m := range s.nics {
				m.close()
			}
			return nil, err
		}
		s.nics = append(s.nics, n)
	}
	if !opts.Manual {
		for _, n := range s.nics {
			for _, q := range n.queues {
				s.wg.Add(1)
				go q.run()
			}
		}
	}
	return s, nil
}

// Poll runs one round of every NIC's owner work on the calling goroutine and
// returns whether there was any, and when the stack next needs a round if
// nothing arrives. It is for Options.Manual stacks (simulations on a fake
// clock); on other stacks the owner goroutines do this.
func (s *Stack) Poll() (busy bool, next clock.Instant) {
	next = clock.Never
	now := s.clock.Now()
	for _, n := range s.nics {
		for _, q := range n.queues {
			if q.round(now) {
				busy = true
			}
			next = clock.Min(next, q.next())
		}
	}
	return busy, next
}

// syncookies keys the SYN cookies with a key derived from the stack's secret,
// so the cookie hash and the ISN hash never share a key.
func syncookies(o Options) *tcp.SYNCookies {
	if o.NoSYNCookies {
		return nil
	}
	sum := sha256.Sum256(append(o.Secret[:], "offload SYN cookies"...))
	return tcp.NewSYNCookies([16]byte(sum[:16]))
}

// Close aborts every connection, stops the owner goroutines and closes the devices.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	ls := make([]*Listener, 0, len(s.listeners))
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range conns {
		c.Abort()
	}
	// Give the owners a round to send the RSTs, then stop them.
	if s.opts.Manual {
		s.Poll()
	} else {
		for _, n := range s.nics {
			for _, q := range n.queues {
				q.flushRequest()
			}
		}
	}
	s.stop.Store(true)
	for _, n := range s.nics {
		for _, q := range n.queues {
			n.dev.Wake(q.id)
		}
	}
	s.wg.Wait()
	s.closeUDP()
	var first error
	for _, n := range s.nics {
		if err := n.close(); err != nil && first == nil {
			first = err
		}
	}
	for _, c := range conns {
		c.finish(ErrClosed)
	}
	return first
}

// Stats returns the stack's counters.
func (s *Stack) Stats() *Stats { return &s.stats }

// NICStats returns the interface counters of NIC i.
func (s *Stack) NICStats(i int) iface.Stats {
	n := s.nics[i]
	n.ifcMu.Lock()
	defer n.ifcMu.Unlock()
	return n.ifc.Stats()
}

// GROStats returns the receive aggregation counters of NIC i, summed over its
// queues, as of each queue's last receive round: segments in, aggregates out
// (AvgSegmentsPerAggregate), flushes by reason. All zero when aggregation is
// off on the NIC.
func (s *Stack) GROStats(i int) gro.Stats {
	var t gro.Stats
	for _, q := range s.nics[i].queues {
		if q.gro != nil {
			addGROStats(&t, q.gro.PublishedStats())
		}
	}
	return t
}

// addGROStats adds s to t, counter by counter.
func addGROStats(t *gro.Stats, s gro.Stats) {
	t.FramesIn += s.FramesIn
	t.FramesOut += s.FramesOut
	t.SegmentsIn += s.SegmentsIn
	t.Merged += s.Merged
	t.AggregatesOut += s.AggregatesOut
	t.SegmentsOut += s.SegmentsOut
	t.OtherOut += s.OtherOut
	t.PassNotTCP += s.PassNotTCP
	t.PassMalformed += s.PassMalformed
	t.PassFragment += s.PassFragment
	t.PassIPOptions += s.PassIPOptions
	t.PassIPv6Ext += s.PassIPv6Ext
	t.PassBadChecksum += s.PassBadChecksum
	t.PassGSO += s.PassGSO
	t.PassNoPayload += s.PassNoPayload
	t.PassFlags += s.PassFlags
	t.PassDisabled += s.PassDisabled
	for r := range t.Flushes {
		t.Flushes[r] += s.Flushes[r]
	}
	t.HandlerLeaks += s.HandlerLeaks
}

// Clock returns the clock the stack runs on.
func (s *Stack) Clock() clock.Clock { return s.clock }

// Addrs returns the addresses of every NIC.
func (s *Stack) Addrs() []netip.Prefix {
	var r []netip.Prefix
	for _, n := range s.nics {
		r = append(r, n.addrs...)
	}
	return r
}

// nicFor picks the NIC and source address to reach dst by the longest
// matching route over all NICs: a connected prefix beats a shorter one, and
// any connected route beats a default gateway, whatever the NICs' order (a
// NIC with a gateway reaches every destination, so taking the first NIC that
// reaches dst would send a neighbour on another NIC's subnet to the router).
// Among equally specific routes the first NIC wins. A local address given
// (bound) restricts the choice to the NICs that own it, and is the source:
// the connection leaves by its address's NIC, as a strong-host model wants
// (RFC 1122 §3.3.4.2), or not at all; one of the other family than dst is
// ErrAFNoSupport.
func (s *Stack) nicFor(local, dst netip.Addr) (*nic, netip.Addr, error) {
	bound := local.IsValid() && !local.IsUnspecified()
	if bound && local.Unmap().Is4() != dst.Unmap().Is4() {
		return nil, netip.Addr{}, ErrAFNoSupport
	}
	var (
		best     *nic
		bestSrc  netip.Addr
		bestRank = -1
	)
	for _, n := range s.nics {
		if bound && !n.hasAddr(local) {
			continue
		}
		src, rank, ok := n.route(dst)
		if !ok || rank <= bestRank {
			continue
		}
		best, bestSrc, bestRank = n, src, rank
	}
	if best == nil {
		return nil, netip.Addr{}, ErrNoRoute
	}
	if bound {
		bestSrc = local.Unmap() // as packets arriving for it name it
	}
	return best, bestSrc, nil
}

func (s *Stack) lookup(k flowKey) *Conn {
	s.mu.RLock()
	c := s.conns[k]
	s.mu.RUnlock()
	return c
}

func (s *Stack) lookupListener(local netip.AddrPort) *Listener {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range listenerKeys(local) {
		if l := s.listeners[k]; l != nil {
			return l
		}
	}
	return nil
}

// listenerKeys are the listener keys that may take a connection to local, most
// specific first: the exact address, the family's wildcard (0.0.0.0 or ::),
// and the dual-stack wildcard (no address: "listen on :80").
func listenerKeys(local netip.AddrPort) [3]netip.AddrPort {
	any := netip.IPv4Unspecified()
	if local.Addr().Is6() {
		any = netip.IPv6Unspecified()
	}
	return [3]netip.AddrPort{local, netip.AddrPortFrom(any, local.Port()), netip.AddrPortFrom(netip.Addr{}, local.Port())}
}

// insert adds c to the connection table. A full table makes room by
// dropping its oldest TIME-WAIT connection, as Linux does past
// tcp_max_tw_buckets: TIME-WAIT only guards against old duplicates
// (RFC 9293 §3.4.2), and a busy client closing thousands of connections a
// second would otherwise fill any table for a minute with them.
func (s *Stack) insert(c *Conn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var evicted *Conn
	if len(s.conns) >= s.opts.MaxConns {
		if evicted = s.evictTimeWait(); evicted == nil {
			s.mu.Unlock()
			return ErrTooManyConns
		}
	}
	k := flowKey{c.local, c.remote}
	if s.conns[k] != nil {
		s.mu.Unlock()
		if evicted != nil {
			evicted.q.markDirty(evicted)
		}
		return ErrAddrInUse
	}
	s.conns[k] = c
	s.stats.ConnsOpened.Add(1)
	s.mu.Unlock()
	if evicted != nil {
		// Its home owner ends it (service) and lets it go (reap).
		evicted.q.markDirty(evicted)
	}
	return nil
}

// noteTimeWait records that c entered TIME-WAIT. Called once per connection,
// by an owner holding c.mu.
func (s *Stack) noteTimeWait(c *Conn) {
	s.mu.Lock()
	if s.timeWaitHead > 1024 && s.timeWaitHead > len(s.timeWait)/2 {
		// Drop the consumed front so the list stays within the table's size.
		n := copy(s.timeWait, s.timeWait[s.timeWaitHead:])
		clear(s.timeWait[n:])
		s.timeWait, s.timeWaitHead = s.timeWait[:n], 0
	}
	s.timeWait = append(s.timeWait, c)
	s.mu.Unlock()
}

// evictTimeWait takes the oldest TIME-WAIT connection still in the table out
// of it and returns it, or nil if there is none. Called with s.mu held.
func (s *Stack) evictTimeWait() *Conn {
	for s.timeWaitHead < len(s.timeWait) {
		c := s.timeWait[s.timeWaitHead]
		s.timeWait[s.timeWaitHead] = nil
		s.timeWaitHead++
		k := flowKey{c.local, c.remote}
		if s.conns[k] != c {
			continue // it ended on its own already
		}
		delete(s.conns, k)
		c.evicted.Store(true)
		s.stats.ConnsClosed.Add(1)
		s.stats.TimeWaitEvicted.Add(1)
		return c
	}
	return nil
}

// remove drops c from the table if it is still there.
func (s *Stack) remove(c *Conn) {
	s.mu.Lock()
	k := flowKey{c.local, c.remote}
	if s.conns[k] == c {
		delete(s.conns, k)
		s.stats.ConnsClosed.Add(1)
	}
	s.mu.Unlock()
}

// NumConns returns the number of connections in the table (including TIME-WAIT).
func (s *Stack) NumConns() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}
