package stack_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"offload/stack"
	"offload/tcp"
)

// With SYN cookies off, a listener whose backlog is full drops further SYNs
// (counted) instead of growing; once the application accepts, new clients get
// in on their SYN retries. (RFC 9293 §3.10.1: the backlog bounds pending
// connections.)
func TestListenBacklogBoundsPendingConnectionsAndDropsExtraSYNs(t *testing.T) {
	s := newSimOpts(t, simConfig{noFault: true}, func(o *stack.Options) { o.ListenBacklog = 2; o.NoSYNCookies = true })
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80)); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		s.step()
	}
	if drops := s.b.Stats().TCPBacklogDrops.Load(); drops == 0 {
		t.Fatalf("4 SYNs to a listener with backlog 2: no SYN was dropped")
	}
	accepted := 0
	deadline := s.clk.Now().Add(10 * time.Minute)
	for accepted < 4 && s.clk.Now() < deadline {
		if c, err := ln.Accept(); err == nil {
			accepted++
			c.Close()
			continue
		}
		s.step()
	}
	if accepted != 4 {
		t.Fatalf("accepted %d of 4 clients; the dropped SYNs were never retried in", accepted)
	}
}

// Connections leave the table when they are done: after both sides close and
// TIME-WAIT passes, the table is empty and nothing is left to time out.
func TestClosedConnectionsAreReapedAfterTimeWait_RFC9293_3_6(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.TimeWait = 2 * time.Second
	s := newSim(t, simConfig{noFault: true, tcp: &cfg})
	for i := range 20 {
		a, b := s.connect(uint16(1000 + i))
		a.Close()
		b.Close()
	}
	start := s.clk.Now()
	for s.a.NumConns()+s.b.NumConns() > 0 {
		s.step()
		if s.elapsed(start) > 10*time.Second {
			t.Fatalf("after 10 s (TIME-WAIT is 2 s): %d and %d connections still in the tables", s.a.NumConns(), s.b.NumConns())
		}
	}
	if got := s.elapsed(start); got < cfg.TimeWait {
		t.Fatalf("tables emptied after %v, before TIME-WAIT (%v) ended", got, cfg.TimeWait)
	}
}

// Closing the stack ends every connection: pending reads and writes wake up
// and Finished is closed.
func TestStackCloseFinishesEveryConnection(t *testing.T) {
	s := newSim(t, simConfig{noFault: true})
	a, _ := s.connect(80)
	s.a.Close()
	select {
	case <-a.Finished():
	default:
		t.Fatal("connection not finished after its stack closed")
	}
	if _, err := a.Read(make([]byte, 10)); err == nil || errors.Is(err, stack.ErrWouldBlock) {
		t.Fatalf("read on a closed stack's connection: %v, want an error", err)
	}
	if _, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80)); !errors.Is(err, stack.ErrClosed) {
		t.Fatalf("dial on a closed stack: %v, want ErrClosed", err)
	}
}

// A segment for no connection is answered with a RST (RFC 9293 §3.10.7.1) and
// counted, and creates no state.
func TestSegmentForNoConnectionGetsRSTAndNoState(t *testing.T) {
	s := newSim(t, simConfig{noFault: true})
	c, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 4444)) // nobody listens
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		s.step()
	}
	<-c.Connected()
	if err := c.Err(); !errors.Is(err, tcp.ErrConnectionRefused) {
		t.Fatalf("SYN to a closed port: %v, want connection refused", err)
	}
	if s.b.Stats().TCPNoConn.Load() == 0 || s.b.NumConns() != 0 {
		t.Fatalf("no-connection segments %d, connections %d", s.b.Stats().TCPNoConn.Load(), s.b.NumConns())
	}
}

// A new SYN from the same client port reaches the server while the server's
// old connection on that 4-tuple sits in TIME-WAIT: its sequence number and
// timestamp are newer, so the old connection gives way and the new one is
// accepted (RFC 9293 §3.10.7.4, RFC 6191) instead of waiting out 2×MSL.
func TestNewerSYNReopensTimeWaitConnection_RFC6191(t *testing.T) {
	s := newSim(t, simConfig{noFault: true})
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ca, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	var cb *stack.Conn
	for cb == nil {
		s.step()
		cb, _ = ln.Accept()
	}
	cb.Close() // the server closes first, so the server ends in TIME-WAIT
	for cb.Info().State != tcp.StateCloseWait && ca.Info().State != tcp.StateCloseWait {
		s.step()
	}
	ca.Close()
	for s.a.NumConns() > 0 || cb.Info().State != tcp.StateTimeWait {
		s.step()
	}
	s.clk.Advance(time.Second) // a newer ISN and timestamp
	again, err := s.a.DialTCP(ca.LocalAddr(), ca.RemoteAddr())
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		s.step()
		select {
		case <-again.Connected():
		default:
			continue
		}
		break
	}
	if err := again.Err(); err != nil || again.Info().State != tcp.StateEstablished {
		t.Fatalf("redial of the TIME-WAIT 4-tuple: state %v, err %v", again.Info().State, err)
	}
	if c, err := ln.Accept(); err != nil || c.RemoteAddr() != ca.LocalAddr() {
		t.Fatalf("the new connection was not accepted: %v", err)
	}
	select {
	case <-cb.Finished():
	default:
		t.Fatal("the TIME-WAIT connection was not replaced")
	}
	if n := s.b.Stats().TimeWaitReopened.Load(); n != 1 {
		t.Fatalf("TimeWaitReopened = %d, want 1", n)
	}
}
