package stack

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"offload/tcp"
)

// Conn is one TCP connection as application code sees it. Its methods never
// block: Read and Write return ErrWouldBlock and arm a notification channel
// (Readable, Writable) that the owner signals when waiting may be over.
// Package netconn builds the blocking net.Conn on top.
type Conn struct {
	s             *Stack
	q             *queue // home: the queue whose owner keeps this connection's timer (guarded by mu)
	local, remote netip.AddrPort
	listener      *Listener // set while a passive connection is not yet accepted

	mu         sync.Mutex // guards tc and the fields below
	tc         *tcp.Conn
	timer      timer
	dirty      bool // in q.dirty; guarded by q.dirtyMu
	wantRead   bool
	wantWrite  bool
	connected  bool // handshake ended (either way) and connDone closed
	finished   bool
	inTimeWait bool // noted in the stack's TIME-WAIT list
	// homed: the home queue is the one the device delivers the flow on.
	// A connection we open starts on a queue picked by port hash; the
	// queue its first segment from the peer arrives on becomes its home
	// (rehome asks the old home's owner to hand the timer over, service).
	homed        bool
	rehome       *queue
	evicted      atomic.Bool // taken out of a full table while in TIME-WAIT
	readReady    chan struct{}
	writeReady   chan struct{}
	connDone     chan struct{} // closed when the handshake completes or fails
	finishedDone chan struct{} // closed when the connection has left the table
}

func newConn(s *Stack, q *queue, local, remote netip.AddrPort, tc *tcp.Conn) *Conn {
	c := &Conn{
		s: s, q: q, local: local, remote: remote, tc: tc,
		readReady:    make(chan struct{}, 1),
		writeReady:   make(chan struct{}, 1),
		connDone:     make(chan struct{}),
		finishedDone: make(chan struct{}),
	}
	c.timer.ep = c
	return c
}

// DialTCP starts an active open from local (its address and port may be left
// unspecified) to remote and returns the connection in SYN-SENT. Wait on
// Connected to learn how the handshake ended.
func (s *Stack) DialTCP(local, remote netip.AddrPort) (*Conn, error) {
	n, src, err := s.nicFor(local.Addr(), remote.Addr())
	if err != nil {
		return nil, err
	}
	s.dialMu.Lock()
	defer s.dialMu.Unlock()
	port := local.Port()
	if port == 0 {
		p, ok := s.ports.Pick(src, remote, func(p uint16) bool {
			return s.portBusy(netip.AddrPortFrom(src, p), remote)
		})
		if !ok {
			return nil, ErrNoPorts
		}
		port = p
	}
	lap := netip.AddrPortFrom(src, port)
	now := s.clock.Now()
	tc := tcp.Dial(n.tcpConfig(remote.Addr()), now, s.isn.ISN(now, lap, remote))
	tc.SetTimestampOffset(s.isn.TSOffset(lap, remote)) // RFC 7323 §5.4
	c := newConn(s, n.queueFor(lap, remote), lap, remote, tc)
	if err := s.insert(c); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.q.markDirty(c)
	c.mu.Unlock()
	return c, nil
}

// portBusy reports whether local is taken for remote: by a connection to the
// same remote, or by a listener on the port.
func (s *Stack) portBusy(local, remote netip.AddrPort) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.conns[flowKey{local, remote}] != nil {
		return true
	}
	for _, k := range listenerKeys(local) {
		if s.listeners[k] != nil {
			return true
		}
	}
	return false
}

// Dial opens a connection and waits for the handshake, honouring ctx.
func (s *Stack) Dial(ctx context.Context, local, remote netip.AddrPort) (*Conn, error) {
	c, err := s.DialTCP(local, remote)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.Connected():
	case <-ctx.Done():
		c.Abort()
		return nil, ctx.Err()
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// LocalAddr returns the local address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Connected is closed when the handshake has completed or failed (see Err).
func (c *Conn) Connected() <-chan struct{} { return c.connDone }

// Finished is closed when the connection has ended and left the table.
func (c *Conn) Finished() <-chan struct{} { return c.finishedDone }

// Err returns the connection's terminal error, if any.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.tc.Err(); err != nil {
		return err
	}
	if !c.tc.Established() && c.finished {
		return ErrClosed
	}
	return nil
}

// Read copies received bytes into p. With nothing to read it returns
// ErrWouldBlock and arms Readable; after the peer's FIN it returns io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	n, err := c.tc.Read(p)
	if n == 0 && err == nil && len(p) > 0 {
		c.wantRead = true
		c.mu.Unlock()
		return 0, ErrWouldBlock
	}
	wake := false
	if n > 0 && c.tc.Deadline() <= c.s.clock.Now() {
		// Reading opened the receive window enough that TCP wants a window
		// update sent (RFC 9293 §3.8.6.2.2): only then is there work for the
		// owner. Waking it after every read would cost a hand-off per
		// request/response round trip for nothing; a smaller window gain
		// rides on the next segment we send.
		wake = c.q.enqueue(c)
	}
	q := c.q
	c.mu.Unlock()
	if wake {
		q.wakeIfSleeping()
	}
	return n, err
}

// Write copies as much of p as fits into the send buffer. With no room it
// returns (0, ErrWouldBlock) and arms Writable.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	n, err := c.tc.Write(p)
	wake := false
	if n > 0 {
		wake = c.q.enqueue(c)
	} else if err == nil && len(p) > 0 {
		c.wantWrite = true
		c.mu.Unlock()
		return 0, ErrWouldBlock
	}
	q := c.q
	c.mu.Unlock()
	// Woken after the unlock, the owner does not find c.mu still taken.
	if wake {
		q.wakeIfSleeping()
	}
	return n, err
}

// wakeIfSleeping wakes the owner after enqueue listed a connection, unless
// the owner is awake: it then looks at its dirty list before it sleeps
// (queue.run), so the wake-up would only cost it an empty round.
func (q *queue) wakeIfSleeping() {
	if q.sleeping.Load() {
		q.n.dev.Wake(q.id)
	}
}

// enqueue puts c on its home queue's dirty list and reports whether the
// owner must be woken for it: not if c was already listed, since whoever
// listed it wakes the owner, which services c under c.mu after this caller's
// change. Called with c.mu held; the caller wakes the owner after unlocking.
func (q *queue) enqueue(c *Conn) bool {
	q.dirtyMu.Lock()
	defer q.dirtyMu.Unlock()
	if c.dirty {
		return false
	}
	c.dirty = true
	q.dirty = append(q.dirty, c)
	return true
}

// Readable is signalled when a Read that returned ErrWouldBlock may succeed.
func (c *Conn) Readable() <-chan struct{} { return c.readReady }

// Writable is signalled when a Write that returned ErrWouldBlock may succeed.
func (c *Conn) Writable() <-chan struct{} { return c.writeReady }

// CloseWrite sends FIN after the buffered data (half-close).
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.tc.CloseWrite()
	c.q.markDirty(c)
	return err
}

// Close closes the connection: FIN after buffered data, or RST if received
// data was left unread (RFC 9293 §3.10.4).
func (c *Conn) Close() {
	c.mu.Lock()
	c.tc.Close()
	c.q.markDirty(c)
	c.mu.Unlock()
}

// Abort resets the connection at once.
func (c *Conn) Abort() {
	c.mu.Lock()
	c.tc.Abort()
	c.q.markDirty(c)
	c.mu.Unlock()
}

// SetNoDelay switches Nagle's algorithm off (true) or on.
func (c *Conn) SetNoDelay(on bool) {
	c.mu.Lock()
	c.tc.SetNoDelay(on)
	c.q.markDirty(c)
	c.mu.Unlock()
}

// SetUserTimeout bounds how long sent data may stay unacknowledged before the
// connection fails with tcp.ErrTimedOut (tcp.Conn.SetUserTimeout); zero
// switches the bound off.
func (c *Conn) SetUserTimeout(d time.Duration) {
	c.mu.Lock()
	c.tc.SetUserTimeout(d)
	c.q.markDirty(c) // the owner re-arms its timer for the new deadline
	c.mu.Unlock()
}

// SetKeepAlive switches keepalive probes on or off; a zero or negative
// duration or count keeps the connection's current value (at first the
// stack's configured one, tcp.Config.KeepAlive*).
func (c *Conn) SetKeepAlive(on bool, idle, interval time.Duration, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tc.SetKeepAlive(on, idle, interval, count)
	c.q.markDirty(c)
}

// Info returns the connection's TCP state and counters.
func (c *Conn) Info() tcp.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tc.Info()
}

// notify wakes application goroutines whose wait may be over and completes
// the handshake's signalling, and reports whether it woke a reader or a
// writer. Called by the owner with c.mu held.
func (c *Conn) notify() (woke bool) {
	tc := c.tc
	failed := tc.Err() != nil || tc.State() == tcp.StateClosed
	if !c.connected && (tc.Established() || failed) {
		c.connected = true
		close(c.connDone)
		if l := c.listener; l != nil {
			c.listener = nil
			if tc.Established() && !failed {
				l.enqueue(c)
			} else {
				l.unreserve()
			}
		}
	}
	if c.wantRead && (tc.Readable() || failed) {
		c.wantRead = false
		signal(c.readReady)
		woke = true
	}
	if c.wantWrite && (tc.Writable() > 0 || failed || tc.Err() != nil) {
		c.wantWrite = false
		signal(c.writeReady)
		woke = true
	}
	return woke
}

// finish marks the connection as gone and releases every waiter.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.finished = true
	if !c.connected {
		c.connected = true
		close(c.connDone)
		if l := c.listener; l != nil {
			c.listener = nil
			l.unreserve()
		}
	}
	close(c.finishedDone)
	signal(c.readReady)
	signal(c.writeReady)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
