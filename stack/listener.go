package stack

import (
	"net/netip"
	"sync"
)

// Listener accepts connections on a local address and port. Its backlog bounds
// the connections that are half-open or established but not yet accepted.
type Listener struct {
	s     *Stack
	addr  netip.AddrPort
	limit int

	mu       sync.Mutex
	reserved int     // half-open connections counted against the backlog
	queue    []*Conn // established, waiting for Accept; len ≤ limit
	closed   bool
	ready    chan struct{} // signalled when queue becomes non-empty or on Close
	done     chan struct{} // closed by Close
}

// ListenTCP starts listening on addr. An address that is not valid (the zero
// netip.Addr) or the IPv6 unspecified address (::) listens on every address
// of both families, as Go's net.Listen does for ":80" and "[::]:80"; 0.0.0.0
// listens on every IPv4 address only.
func (s *Stack) ListenTCP(addr netip.AddrPort) (*Listener, error) {
	if addr.Port() == 0 {
		return nil, ErrInvalidListen
	}
	a := addr.Addr()
	if a == netip.IPv6Unspecified() {
		a = netip.Addr{}
	}
	addr = netip.AddrPortFrom(a, addr.Port())
	if a.IsValid() && !a.IsUnspecified() {
		owned := false
		for _, n := range s.nics {
			owned = owned || n.hasAddr(a)
		}
		if !owned {
			return nil, ErrAddrNotAvail
		}
	}
	l := &Listener{
		s: s, addr: addr, limit: s.opts.ListenBacklog,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.listeners[addr] != nil {
		return nil, ErrAddrInUse
	}
	// A wildcard and a specific address on the same port conflict, as they do
	// for the kernel without SO_REUSEADDR tricks.
	for k := range s.listeners {
		if k.Port() != addr.Port() {
			continue
		}
		if !k.Addr().IsValid() || !a.IsValid() ||
			(k.Addr().IsUnspecified() && k.Addr().Is4() == a.Is4()) ||
			(a.IsUnspecified() && k.Addr().Is4() == a.Is4()) {
			return nil, ErrAddrInUse
		}
	}
	s.listeners[addr] = l
	return l, nil
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// reserve takes a backlog slot for a new half-open connection.
func (l *Listener) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.reserved+len(l.queue) >= l.limit {
		return false
	}
	l.reserved++
	return true
}

func (l *Listener) unreserve() {
	l.mu.Lock()
	if l.reserved > 0 {
		l.reserved--
	}
	l.mu.Unlock()
}

// enqueue moves an established connection from half-open to the accept queue.
func (l *Listener) enqueue(c *Conn) {
	l.mu.Lock()
	if l.reserved > 0 {
		l.reserved--
	}
	if l.closed {
		l.mu.Unlock()
		c.tc.Abort() // owner holds c.mu; the RST goes out on the next service
		c.q.markDirty(c)
		return
	}
	l.queue = append(l.queue, c)
	l.mu.Unlock()
	signal(l.ready)
}

// enqueueCookie adds a connection made from a SYN cookie to the accept queue
// if there is room. Half-open connections do not count here: under a SYN flood
// they fill the backlog, and cookies exist so real clients still get in.
func (l *Listener) enqueueCookie(c *Conn) bool {
	l.mu.Lock()
	if l.closed || len(l.queue) >= l.limit {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, c)
	l.mu.Unlock()
	signal(l.ready)
	return true
}

// Accept returns an established connection, or ErrWouldBlock (then wait on
// Ready), or ErrClosed once the listener is closed.
func (l *Listener) Accept() (*Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if len(l.queue) == 0 {
		return nil, ErrWouldBlock
	}
	c := l.queue[0]
	copy(l.queue, l.queue[1:])
	l.queue[len(l.queue)-1] = nil
	l.queue = l.queue[:len(l.queue)-1]
	if len(l.queue) > 0 {
		signal(l.ready)
	}
	return c, nil
}

// Ready is signalled when Accept may have a connection.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Done is closed when the listener is closed.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Close stops listening and resets connections that were never accepted.
func (l *Listener) Close() error {
	l.s.mu.Lock()
	if l.s.listeners[l.addr] == l {
		delete(l.s.listeners, l.addr)
	}
	l.s.mu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	close(l.done)
	for _, c := range q {
		c.Abort()
	}
	return nil
}
