package netconn

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"offload/stack"
)

// PacketConn is a UDP endpoint over an offload stack. It implements
// net.PacketConn: ReadFrom blocks until a datagram arrives, the read deadline
// passes or the endpoint is closed; WriteTo sends one datagram and blocks
// only while the stack's transmit buffers are exhausted.
type PacketConn struct {
	c       *stack.UDPConn
	network string // "udp", "udp4" or "udp6"

	readMu    sync.Mutex
	rd, wd    *deadline
	closeOnce sync.Once
	closed    chan struct{}
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenPacket binds a UDP endpoint ("udp", "udp4" or "udp6") to address
// ("198.18.0.2:53", ":0", "[::]:53"). As net.ListenPacket, "udp" with no host
// binds every address of both families; "udp4" and "udp6" see only their own
// family (a "udp6" endpoint bound to :: drops IPv4 datagrams and refuses IPv4
// destinations).
func ListenPacket(st *stack.Stack, network, address string) (net.PacketConn, error) {
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ap, err := parseListenAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	a := ap.Addr().Unmap()
	if a.IsValid() && ((network == "udp4" && !a.Is4()) || (network == "udp6" && !a.Is6())) {
		return nil, &net.OpError{Op: "listen", Net: network, Err: &net.AddrError{Err: "address family does not match the network", Addr: address}}
	}
	c, err := st.ListenUDP(ap)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: wrapErrno("bind", err)}
	}
	return &PacketConn{c: c, network: network, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}, nil
}

// Stack returns the underlying stack endpoint (for Stats and tests).
func (c *PacketConn) Stack() *stack.UDPConn { return c.c }

// wants reports whether a datagram from or to a belongs to this endpoint's family.
func (c *PacketConn) wants(a netip.Addr) bool {
	switch c.network {
	case "udp4":
		return a.Is4()
	case "udp6":
		return a.Is6()
	}
	return true
}

// ReadFrom reads one datagram into p; bytes beyond len(p) are discarded.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if isClosed(c.closed) {
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
		if isClosed(c.rd.wait()) {
			return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
		}
		n, from, err := c.c.ReadFrom(p)
		if err == nil {
			if !c.wants(from.Addr()) {
				continue
			}
			return n, net.UDPAddrFromAddrPort(from), nil
		}
		if !errors.Is(err, stack.ErrWouldBlock) {
			if errors.Is(err, stack.ErrClosed) {
				err = net.ErrClosed
			}
			return 0, nil, c.opErr("read", nil, err)
		}
		select {
		case <-c.c.Readable():
		case <-c.c.Done():
		case <-c.rd.wait():
		case <-c.closed:
		}
	}
}

// WriteTo sends p as one datagram to addr, a *net.UDPAddr.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opErr("write", addr, &net.AddrError{Err: "not a *net.UDPAddr", Addr: addrString(addr)})
	}
	to := ua.AddrPort()
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if !c.wants(to.Addr()) {
		return 0, c.opErr("write", addr, &net.AddrError{Err: "address family does not match the network", Addr: ua.String()})
	}
	// A full transmit hand-off clears within an owner round; back off briefly
	// rather than fail, as a blocking socket waits for send buffer space.
	backoff := 10 * time.Microsecond
	for {
		if isClosed(c.closed) {
			return 0, c.opErr("write", addr, net.ErrClosed)
		}
		if isClosed(c.wd.wait()) {
			return 0, c.opErr("write", addr, os.ErrDeadlineExceeded)
		}
		n, err := c.c.WriteTo(p, to)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, stack.ErrNoBufs) {
			if errors.Is(err, stack.ErrClosed) {
				err = net.ErrClosed
			}
			return 0, c.opErr("write", addr, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.wd.wait():
		case <-c.closed:
		}
		t.Stop()
		backoff = min(2*backoff, time.Millisecond)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "<nil>"
	}
	return a.String()
}

// Close unbinds the endpoint and unblocks pending ReadFrom and WriteTo calls.
func (c *PacketConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		c.c.Close()
	})
	if !first {
		return c.opErr("close", nil, net.ErrClosed)
	}
	return nil
}

// LocalAddr returns the bound address (IPv6 unspecified for an endpoint on
// every address of both families, as the net package reports it).
func (c *PacketConn) LocalAddr() net.Addr {
	ap := c.c.LocalAddr()
	if !ap.Addr().IsValid() {
		ap = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
	}
	return net.UDPAddrFromAddrPort(ap)
}

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for ReadFrom.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for WriteTo.
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}

func (c *PacketConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.LocalAddr(), Addr: addr, Err: wrapErrno(op, err)}
}
