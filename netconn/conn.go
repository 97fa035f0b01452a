// Package netconn gives Go programs the standard net interfaces over an
// offload stack: net.Conn and net.Listener, with deadlines, half-close,
// and errors shaped like the net package's (*net.OpError; timeouts satisfy
// os.ErrDeadlineExceeded and net.Error.Timeout).
package netconn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"offload/stack"
	"offload/tcp"
)

// Conn is a TCP connection over an offload stack. It implements net.Conn.
type Conn struct {
	c *stack.Conn

	readMu, writeMu sync.Mutex // one reader and one writer at a time, as net.TCPConn

	rd, wd    *deadline
	closeOnce sync.Once
	closed    chan struct{}
}

var _ net.Conn = (*Conn)(nil)

// NewConn wraps an established stack connection.
func NewConn(c *stack.Conn) *Conn {
	return &Conn{c: c, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
}

// Stack returns the underlying stack connection (for Info and tests).
func (c *Conn) Stack() *stack.Conn { return c.c }

// Read reads data, blocking until some arrives, the peer closes (io.EOF), the
// read deadline passes, or the connection is closed.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if isClosed(c.closed) {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if isClosed(c.rd.wait()) {
		return 0, c.opErr("read", os.ErrDeadlineExceeded)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := c.c.Read(p)
		if n > 0 {
			return n, nil
		}
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
			return 0, c.opErr("read", err)
		}
		if isClosed(c.rd.wait()) {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.c.Readable():
		case <-c.c.Finished():
			// Drain whatever is left, then report the end.
			if n, err := c.c.Read(p); n > 0 {
				return n, nil
			} else if err == io.EOF {
				return 0, io.EOF
			} else if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
				return 0, c.opErr("read", err)
			}
			return 0, io.EOF
		case <-c.rd.wait():
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case <-c.closed:
			return 0, c.opErr("read", net.ErrClosed)
		}
	}
}

// Write writes all of p, blocking while the send buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if isClosed(c.closed) {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if isClosed(c.wd.wait()) {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	done := 0
	for done < len(p) {
		n, err := c.c.Write(p[done:])
		done += n
		if n > 0 {
			continue
		}
		if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
			return done, c.opErr("write", err)
		}
		if isClosed(c.wd.wait()) {
			return done, c.opErr("write", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.c.Writable():
		case <-c.c.Finished():
			if err := c.c.Err(); err != nil {
				return done, c.opErr("write", err)
			}
			return done, c.opErr("write", syscall.EPIPE)
		case <-c.wd.wait():
			return done, c.opErr("write", os.ErrDeadlineExceeded)
		case <-c.closed:
			return done, c.opErr("write", net.ErrClosed)
		}
	}
	return done, nil
}

// Close closes the connection and unblocks pending Read and Write calls.
func (c *Conn) Close() error {
	err := error(nil)
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		c.c.Close()
	})
	if !first {
		err = c.opErr("close", net.ErrClosed)
	}
	return err
}

// CloseWrite shuts down the sending side (sends FIN after buffered data).
func (c *Conn) CloseWrite() error {
	if isClosed(c.closed) {
		return c.opErr("close", net.ErrClosed)
	}
	if err := c.c.CloseWrite(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// SetNoDelay controls Nagle's algorithm (true: send small segments at once).
func (c *Conn) SetNoDelay(noDelay bool) error {
	c.c.SetNoDelay(noDelay)
	return nil
}

// SetUserTimeout sets how long written data may stay unacknowledged (or wait
// on the peer's closed window) before the connection fails with a timeout
// error, ETIMEDOUT (RFC 5482; Linux's TCP_USER_TIMEOUT socket option). Zero
// switches the bound off; a negative d is refused with EINVAL, as Linux
// refuses it.
func (c *Conn) SetUserTimeout(d time.Duration) error {
	if d < 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	c.c.SetUserTimeout(d)
	return nil
}

// SetKeepAlive switches keepalive probes on or off.
func (c *Conn) SetKeepAlive(on bool) error {
	c.c.SetKeepAlive(on, 0, 0, 0)
	return nil
}

// SetKeepAlivePeriod sets the idle time before, and interval between, probes.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	c.c.SetKeepAlive(true, d, d, 0)
	return nil
}

// SetKeepAliveConfig applies a net.KeepAliveConfig with net.TCPConn's
// meaning: a zero Idle or Interval is 15 s and a zero Count is 9 (Go's
// defaults, not the stack's two hours), and a negative one leaves the
// current value as it is.
func (c *Conn) SetKeepAliveConfig(kc net.KeepAliveConfig) error {
	idle, interval, count := kc.Idle, kc.Interval, kc.Count
	if idle == 0 {
		idle = goKeepAlivePeriod
	}
	if interval == 0 {
		interval = goKeepAlivePeriod
	}
	if count == 0 {
		count = goKeepAliveCount
	}
	c.c.SetKeepAlive(kc.Enable, idle, interval, count)
	return nil
}

// Go's net package defaults for a KeepAliveConfig's zero fields.
const (
	goKeepAlivePeriod = 15 * time.Second
	goKeepAliveCount  = 9
)

// Info returns TCP state and counters (like TCP_INFO).
func (c *Conn) Info() tcp.Info { return c.c.Info() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.c.LocalAddr()) }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.c.RemoteAddr()) }

// SetDeadline sets both the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: wrapErrno(op, err)}
}

// wrapErrno presents errnos the way the net package does (an *os.SyscallError),
// so errors.Is(err, syscall.ECONNRESET) and friends work.
func wrapErrno(op string, err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return os.NewSyscallError(op, en)
	}
	return err
}

// Dialer opens connections over a stack.
type Dialer struct {
	Stack *stack.Stack
	// LocalAddr, if valid, fixes the local address (and port, if non-zero).
	LocalAddr netip.AddrPort
}

// DialContext connects to address ("198.18.0.2:80") over the stack.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Err: wrapErrno("connect", err)}
	}
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if (network == "tcp4" && !ap.Addr().Is4()) || (network == "tcp6" && !ap.Addr().Is6()) {
		return nil, opErr(&net.AddrError{Err: "address family does not match the network", Addr: address})
	}
	sc, err := d.Stack.Dial(ctx, d.LocalAddr, ap)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = os.ErrDeadlineExceeded
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: wrapErrno("connect", err)}
	}
	return NewConn(sc), nil
}

// Listener accepts connections over a stack. It implements net.Listener.
type Listener struct {
	l         *stack.Listener
	closeOnce sync.Once
}

var _ net.Listener = (*Listener)(nil)

// Listen listens on address ("198.18.0.2:80" or ":80") over the stack.
func Listen(s *stack.Stack, network, address string) (*Listener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ap, err := parseListenAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := s.ListenTCP(ap)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: wrapErrno("bind", err)}
	}
	return &Listener{l: l}, nil
}

func parseListenAddr(network, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a := netip.Addr{} // every address of both families, as net.Listen(":80")
	if network == "tcp4" {
		a = netip.IPv4Unspecified()
	}
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, err
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.l.Accept()
		if err == nil {
			return NewConn(c), nil
		}
		if !errors.Is(err, stack.ErrWouldBlock) {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
		select {
		case <-l.l.Ready():
		case <-l.l.Done():
		}
	}
}

// Close stops listening; a blocked Accept returns an error.
func (l *Listener) Close() error {
	err := error(nil)
	first := false
	l.closeOnce.Do(func() { first = true; err = l.l.Close() })
	if !first {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	return err
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.l.Addr()) }
