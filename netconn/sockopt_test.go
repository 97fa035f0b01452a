package netconn_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"offload/clock"
	"offload/link/pipe"
	"offload/netconn"
	"offload/stack"
)

// manual is two Manual stacks over a pipe on a fake clock, driven by the
// test: what each side sends, and when, is decided by which stack polls, so
// the options' effect on the wire is seen without timing.
type manual struct {
	t    *testing.T
	clk  *clock.Fake
	a, b *stack.Stack
}

func newManual(t *testing.T) *manual {
	m := &manual{t: t, clk: clock.NewFake(1 << 40)}
	pa, pb := pipe.New(pipe.Config{})
	mk := func(d *pipe.End, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{
			NICs:   []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}},
			Manual: true, Clock: m.clk, Secret: [16]byte{secret},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	m.a, m.b = mk(pa, clientAddr, 1), mk(pb, serverAddr, 2)
	return m
}

// run polls both stacks, moving the fake clock on when neither has work,
// until d of simulated time has passed.
func (m *manual) run(d time.Duration) {
	end := m.clk.Now().Add(d)
	for m.clk.Now() < end {
		busyA, nextA := m.a.Poll()
		busyB, nextB := m.b.Poll()
		if busyA || busyB {
			continue
		}
		m.clk.Set(clock.Min(clock.Min(nextA, nextB), end))
	}
}

// connect returns both ends of an established connection, as net.Conns over
// the stack connections (netconn.NewConn), with nothing left in flight.
func (m *manual) connect(port uint16) (ca, cb *stack.Conn, na, nb *netconn.Conn) {
	m.t.Helper()
	ln, err := m.b.ListenTCP(netip.AddrPortFrom(serverAddr.Addr(), port))
	if err != nil {
		m.t.Fatal(err)
	}
	defer ln.Close()
	ca, err = m.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(serverAddr.Addr(), port))
	if err != nil {
		m.t.Fatal(err)
	}
	m.run(100 * time.Millisecond)
	if cb, err = ln.Accept(); err != nil || ca.Err() != nil {
		m.t.Fatalf("handshake: accept %v, dial %v", err, ca.Err())
	}
	return ca, cb, netconn.NewConn(ca), netconn.NewConn(cb)
}

// SetNoDelay reaches TCP: with unacknowledged data outstanding, a small
// write waits for the ACK under Nagle's algorithm (RFC 1122 §4.2.3.4) and
// goes out at once with no-delay; either way the peer gets every byte.
func TestSetNoDelaySendsSmallWriteDespiteUnackedData_RFC1122_4_2_3_4(t *testing.T) {
	for _, noDelay := range []bool{false, true} {
		m := newManual(t)
		ca, _, na, nb := m.connect(80)
		if err := na.SetNoDelay(noDelay); err != nil {
			t.Fatal(err)
		}
		if _, err := na.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		m.a.Poll() // only A runs: the first byte leaves, its ACK cannot come back
		if got := ca.Info().BytesInFlight; got != 1 {
			t.Fatalf("noDelay=%v: %d bytes in flight after the first 1-byte write, want 1", noDelay, got)
		}
		if _, err := na.Write([]byte("b")); err != nil {
			t.Fatal(err)
		}
		m.a.Poll()
		want := 1 // Nagle: held until the outstanding byte is acknowledged
		if noDelay {
			want = 2
		}
		if got := ca.Info().BytesInFlight; got != want {
			t.Errorf("noDelay=%v: %d bytes in flight after a second 1-byte write, want %d", noDelay, got, want)
		}
		m.run(time.Second)
		buf := make([]byte, 4)
		nb.SetReadDeadline(time.Now().Add(time.Second))
		n, err := nb.Read(buf)
		if err != nil || string(buf[:n]) != "ab" {
			t.Errorf("noDelay=%v: the peer read %q, %v; want \"ab\"", noDelay, buf[:n], err)
		}
	}
}

// SetKeepAliveConfig and SetKeepAlive reach TCP (RFC 1122 §4.2.3.6): probes
// are sent after the idle time and then every interval, a peer that answers
// keeps the connection up, switching keepalive off stops them, and a peer
// that stops answering has the connection dropped after Count probes with
// ETIMEDOUT.
func TestKeepAliveConfigSendsProbesAndDropsDeadPeer_RFC1122_4_2_3_6(t *testing.T) {
	m := newManual(t)
	ca, _, na, _ := m.connect(80)
	if got := ca.Info().KeepAlivesSent; got != 0 {
		t.Fatalf("%d keepalives before any were asked for", got)
	}
	if err := na.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: time.Second, Count: 3}); err != nil {
		t.Fatal(err)
	}
	m.run(4 * time.Second)
	if got := ca.Info().KeepAlivesSent; got != 0 {
		t.Fatalf("%d keepalives sent within the 5 s idle time", got)
	}
	m.run(5 * time.Second) // t = 9 s: the answered probe restarts the idle time
	if got := ca.Info().KeepAlivesSent; got != 1 {
		t.Fatalf("%d keepalives after 9 s idle with Idle 5 s and a peer that answers, want 1", got)
	}
	m.run(10 * time.Second)
	if got := ca.Info().KeepAlivesSent; got < 2 || ca.Err() != nil {
		t.Fatalf("after 19 s: %d keepalives (want 2 or more), error %v (want none: the peer answers)", got, ca.Err())
	}

	if err := na.SetKeepAlive(false); err != nil {
		t.Fatal(err)
	}
	sent := ca.Info().KeepAlivesSent
	m.run(30 * time.Second)
	if got := ca.Info().KeepAlivesSent; got != sent {
		t.Fatalf("%d keepalives sent after SetKeepAlive(false)", got-sent)
	}

	// A dead peer: only A polls, so no probe is answered.
	if err := na.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 3}); err != nil {
		t.Fatal(err)
	}
	sent = ca.Info().KeepAlivesSent
	end := m.clk.Now().Add(10 * time.Second)
	for m.clk.Now() < end && ca.Err() == nil {
		if busy, next := m.a.Poll(); !busy {
			m.clk.Set(clock.Min(next, end))
		}
	}
	if got := ca.Info().KeepAlivesSent - sent; got != 3 {
		t.Errorf("%d probes to a dead peer, want Count = 3", got)
	}
	if err := ca.Err(); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("connection to a dead peer ended with %v, want ETIMEDOUT", err)
	}
}

// A KeepAliveConfig's zero fields mean what they mean to net.TCPConn: 15 s
// idle and interval, 9 probes (not the stack's two hours); a negative field
// keeps the current value, and SetKeepAlive(true) keeps the values set.
func TestKeepAliveConfigZeroFieldsAreGoDefaultsNegativeKeeps(t *testing.T) {
	m := newManual(t)
	ca, _, na, _ := m.connect(81)
	if err := na.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}); err != nil {
		t.Fatal(err)
	}
	m.run(14 * time.Second)
	if got := ca.Info().KeepAlivesSent; got != 0 {
		t.Fatalf("%d keepalives within 14 s of idle: want the first at 15 s", got)
	}
	m.run(2 * time.Second)
	if got := ca.Info().KeepAlivesSent; got != 1 {
		t.Fatalf("%d keepalives after 16 s of idle with a zero Idle, want 1 (Go's 15 s)", got)
	}
	// Negative idle and interval keep 15 s; switching off and on keeps it too.
	if err := na.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}); err != nil {
		t.Fatal(err)
	}
	na.SetKeepAlive(false)
	na.SetKeepAlive(true)
	// The last segment heard was the answer to the probe at 15 s, so the
	// next probe is due at 30 s; it is now 16 s.
	sent := ca.Info().KeepAlivesSent
	m.run(13 * time.Second)
	if got := ca.Info().KeepAlivesSent - sent; got != 0 {
		t.Fatalf("%d keepalives by 29 s: the 15 s idle time was not kept", got)
	}
	m.run(2 * time.Second)
	if got := ca.Info().KeepAlivesSent - sent; got != 1 {
		t.Fatalf("%d keepalives by 31 s, want 1 (at 30 s)", got)
	}
}
