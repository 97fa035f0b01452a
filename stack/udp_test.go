package stack_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"offload/link/pipe"
	"offload/stack"
	"offload/udp"
)

// udpPair builds two dual-stack stacks over a pipe with owner goroutines.
func udpPair(t *testing.T) (a, b *stack.Stack) {
	t.Helper()
	da, db := pipe.New(pipe.Config{})
	mk := func(d *pipe.End, v4, v6 string) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{netip.MustParsePrefix(v4), netip.MustParsePrefix(v6)}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return mk(da, "198.18.0.1/24", "2001:db8::1/64"), mk(db, "198.18.0.2/24", "2001:db8::2/64")
}

// recvWithin reads one datagram from c, waiting on Readable up to d.
func recvWithin(t *testing.T, c *stack.UDPConn, p []byte, d time.Duration) (int, netip.AddrPort) {
	t.Helper()
	deadline := time.After(d)
	for {
		n, from, err := c.ReadFrom(p)
		if err == nil {
			return n, from
		}
		if !errors.Is(err, stack.ErrWouldBlock) {
			t.Fatalf("ReadFrom: %v", err)
		}
		select {
		case <-c.Readable():
		case <-deadline:
			t.Fatal("no datagram arrived")
		}
	}
}

// Datagrams cross both ways over IPv4 and IPv6 intact, each with the
// sender's address and port as its source (RFC 768; RFC 8200 §8.1 with the
// mandatory IPv6 checksum, which iface verifies on receipt).
func TestUDPDatagramsBothWaysIPv4AndIPv6_RFC768_RFC8200_8_1(t *testing.T) {
	a, b := udpPair(t)
	for _, fam := range []struct{ a, b string }{{"198.18.0.1", "198.18.0.2"}, {"2001:db8::1", "2001:db8::2"}} {
		ca, err := a.ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(fam.a), 0))
		if err != nil {
			t.Fatal(err)
		}
		cb, err := b.ListenUDP(netip.MustParseAddrPort("[::]:7000")) // dual-stack wildcard
		if err != nil {
			t.Fatal(err)
		}
		to := netip.AddrPortFrom(netip.MustParseAddr(fam.b), 7000)
		p := make([]byte, 2000)
		for i, size := range []int{0, 1, 100, 1200} {
			msg := bytes.Repeat([]byte{byte(i + 1)}, size)
			if n, err := ca.WriteTo(msg, to); err != nil || n != size {
				t.Fatalf("%s: WriteTo %d: n=%d err=%v", fam.a, size, n, err)
			}
			n, from := recvWithin(t, cb, p, 5*time.Second)
			if !bytes.Equal(p[:n], msg) || from != ca.LocalAddr() {
				t.Fatalf("%s: got %d bytes from %v, want %d from %v", fam.a, n, from, size, ca.LocalAddr())
			}
			// The reply goes back to the source the datagram carried.
			if _, err := cb.WriteTo(msg, from); err != nil {
				t.Fatal(err)
			}
			n, from2 := recvWithin(t, ca, p, 5*time.Second)
			if !bytes.Equal(p[:n], msg) || from2 != to {
				t.Fatalf("%s: reply %d bytes from %v, want %d from %v", fam.a, n, from2, size, to)
			}
		}
		ca.Close()
		cb.Close()
	}
	// Every datagram found its endpoint: nobody answered with an ICMP error.
	if ea, eb := a.NICStats(0).ICMPErrorsOut, b.NICStats(0).ICMPErrorsOut; ea != 0 || eb != 0 {
		t.Fatalf("ICMP errors sent: %d and %d, want none", ea, eb)
	}
}

// Demultiplexing prefers the exact local address, then the family's
// wildcard: an IPv4 wildcard and a specific IPv6 address share a port, and
// each family's datagrams reach their own endpoint.
func TestUDPDemuxExactThenFamilyWildcard(t *testing.T) {
	a, b := udpPair(t)
	w4, err := b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:6000"))
	if err != nil {
		t.Fatal(err)
	}
	e6, err := b.ListenUDP(netip.MustParseAddrPort("[2001:db8::2]:6000"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := a.ListenUDP(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 64)
	for _, tc := range []struct {
		to   string
		want *stack.UDPConn
	}{{"198.18.0.2:6000", w4}, {"[2001:db8::2]:6000", e6}} {
		if _, err := tx.WriteTo([]byte(tc.to), netip.MustParseAddrPort(tc.to)); err != nil {
			t.Fatal(err)
		}
		n, _ := recvWithin(t, tc.want, p, 5*time.Second)
		if string(p[:n]) != tc.to {
			t.Fatalf("endpoint for %s got %q", tc.to, p[:n])
		}
	}
	if w4.Stats().Received != 1 || e6.Stats().Received != 1 {
		t.Fatalf("received %d and %d, want 1 each", w4.Stats().Received, e6.Stats().Received)
	}
}

// Close wakes a reader waiting on Readable, and ReadFrom then says ErrClosed.
func TestUDPCloseWakesReader(t *testing.T) {
	a, _ := udpPair(t)
	c, err := a.ListenUDP(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 8)); !errors.Is(err, stack.ErrWouldBlock) {
		t.Fatalf("empty: %v", err)
	}
	c.Close()
	select {
	case <-c.Readable():
	case <-time.After(time.Second):
		t.Fatal("Readable not signalled by Close")
	}
	if _, _, err := c.ReadFrom(make([]byte, 8)); !errors.Is(err, stack.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := c.WriteTo([]byte("x"), netip.MustParseAddrPort("198.18.0.2:9")); !errors.Is(err, stack.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
}

// A datagram to a port nobody listens on is answered with an ICMP port
// unreachable (RFC 1122 §4.1.3.1, RFC 792; ICMPv6 code 4, RFC 4443 §3.1),
// which reaches the sender's interface as an error about its own datagram.
func TestUDPToClosedPortGetsPortUnreachable_RFC1122_4_1_3_1(t *testing.T) {
	a, b := udpPair(t)
	c, err := a.ListenUDP(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	for i, dst := range []string{"198.18.0.2:9", "[2001:db8::2]:9"} {
		if _, err := c.WriteTo([]byte("anyone?"), netip.MustParseAddrPort(dst)); err != nil {
			t.Fatal(err)
		}
		want := uint64(i + 1)
		deadline := time.Now().Add(5 * time.Second)
		for a.NICStats(0).ICMPErrorsIn < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := b.NICStats(0).ICMPErrorsOut; got != want {
			t.Fatalf("%s: receiver sent %d ICMP errors, want %d", dst, got, want)
		}
		if got := a.NICStats(0).ICMPErrorsIn; got != want {
			t.Fatalf("%s: sender received %d ICMP errors, want %d", dst, got, want)
		}
		if got := b.Stats().UDPNoPort.Load(); got != want {
			t.Fatalf("UDPNoPort = %d, want %d", got, want)
		}
	}
}

// A flood beyond an endpoint's receive queue is dropped and counted; the
// queue never holds more than its bounds, and what it kept reads back intact.
func TestUDPReceiveQueueBoundDropsFlood(t *testing.T) {
	a, b := udpPair(t)
	const keep = 8
	rx, err := b.ListenUDPConfig(netip.MustParseAddrPort("198.18.0.2:7001"), udp.Config{QueueDatagrams: keep, QueueBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := a.ListenUDP(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	// Resolve the neighbour first: datagrams sent while ARP is pending wait
	// in iface's small per-neighbour queue, and that bound is not this test's.
	if _, err := tx.WriteTo([]byte("warm"), rx.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 2000)
	recvWithin(t, rx, p, 5*time.Second)
	const flood = 200
	msg := make([]byte, 1000)
	for i := 0; i < flood; {
		if _, err := tx.WriteTo(msg, rx.LocalAddr()); err != nil {
			if errors.Is(err, stack.ErrNoBufs) {
				time.Sleep(time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
		i++
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := rx.Stats()
		if st.Received+st.Dropped == flood+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %+v of %d datagrams arrived", st, flood)
		}
		time.Sleep(time.Millisecond)
	}
	st := rx.Stats()
	if st.Received != keep+1 || st.Dropped != flood-keep {
		t.Fatalf("stats %+v, want %d received, %d dropped", st, keep+1, flood-keep)
	}
	if got := b.Stats().UDPRecvQueueDrops.Load(); got != flood-keep {
		t.Fatalf("stack UDPRecvQueueDrops = %d, want %d", got, flood-keep)
	}
	for range keep {
		if n, _, err := rx.ReadFrom(p); err != nil || n != len(msg) {
			t.Fatalf("n=%d err=%v", n, err)
		}
	}
	if _, _, err := rx.ReadFrom(p); !errors.Is(err, stack.ErrWouldBlock) {
		t.Fatalf("after draining: %v, want ErrWouldBlock", err)
	}
}

// We never fragment on send: a datagram whose IP packet exceeds the MTU is
// refused with EMSGSIZE, as a Linux socket with IP_PMTUDISC_DO does; one that
// just fits goes.
func TestUDPDatagramLargerThanMTUIsEMSGSIZE(t *testing.T) {
	a, _ := udpPair(t)
	c, err := a.ListenUDP(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	const mtu = 1500
	for _, tc := range []struct {
		dst string
		hdr int
	}{{"198.18.0.2:9", 20 + 8}, {"[2001:db8::2]:9", 40 + 8}} {
		to := netip.MustParseAddrPort(tc.dst)
		if _, err := c.WriteTo(make([]byte, mtu-tc.hdr+1), to); !errors.Is(err, stack.ErrMsgSize) {
			t.Fatalf("%s: one byte over the MTU: %v, want EMSGSIZE", tc.dst, err)
		}
		if _, err := c.WriteTo(make([]byte, mtu-tc.hdr), to); err != nil {
			t.Fatalf("%s: exactly the MTU: %v", tc.dst, err)
		}
	}
}

// Binding follows the listeners' rules: a wildcard and a specific address on
// one port conflict, an address we do not own is refused, port 0 picks an
// ephemeral port, and a closed endpoint frees its port.
func TestUDPBindRules(t *testing.T) {
	a, _ := udpPair(t)
	c, err := a.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ListenUDP(netip.MustParseAddrPort("198.18.0.1:5000")); !errors.Is(err, stack.ErrAddrInUse) {
		t.Fatalf("specific under an IPv4 wildcard: %v", err)
	}
	if _, err := a.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 5000)); !errors.Is(err, stack.ErrAddrInUse) {
		t.Fatalf("dual wildcard over an IPv4 wildcard: %v", err)
	}
	c6, err := a.ListenUDP(netip.MustParseAddrPort("[2001:db8::1]:5000"))
	if err != nil {
		t.Fatalf("IPv6 address beside an IPv4 wildcard: %v", err)
	}
	if _, err := a.ListenUDP(netip.MustParseAddrPort("198.18.0.9:5001")); !errors.Is(err, stack.ErrAddrNotAvail) {
		t.Fatalf("foreign address: %v", err)
	}
	e, err := a.ListenUDP(netip.AddrPort{})
	if err != nil || e.LocalAddr().Port() < 32768 {
		t.Fatalf("ephemeral: %v %v", e.LocalAddr(), err)
	}
	c.Close()
	c6.Close()
	if err := c.Close(); !errors.Is(err, stack.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 5000)); err != nil {
		t.Fatalf("port not freed by Close: %v", err)
	}
	if _, err := e.WriteTo([]byte("x"), netip.MustParseAddrPort("198.18.0.2:0")); !errors.Is(err, stack.ErrInvalidAddr) {
		t.Fatalf("port 0 destination: %v", err)
	}
}

// Steady-state UDP send and receive allocate nothing: WriteTo's build and
// hand-off, the owner's output, iface, demux, the receive queue and ReadFrom
// (the DESIGN rule "the hot path allocates nothing"). It also runs the UDP
// path in Manual mode, driven by Poll on the test's goroutine.
func TestUDPSteadyStateSendAndReceiveAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSim(t, simConfig{noFault: true})
	ca, err := s.a.ListenUDP(netip.AddrPortFrom(simA.Addr(), 4000))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := s.b.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 4001))
	if err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(simB.Addr(), 4001)
	out := make([]byte, 1200)
	in := make([]byte, 2000)
	move := func() {
		if _, err := ca.WriteTo(out, to); err != nil {
			t.Fatal(err)
		}
		for range 1000 {
			s.step()
			if n, from, err := cb.ReadFrom(in); err == nil {
				if n != len(out) || from != ca.LocalAddr() {
					t.Fatalf("got %d bytes from %v", n, from)
				}
				return
			}
		}
		t.Fatal("datagram never arrived")
	}
	for range 20 {
		move()
	}
	if allocs := testing.AllocsPerRun(200, move); allocs != 0 {
		t.Fatalf("one datagram allocated %v times; want 0", allocs)
	}
}

// Closing the stack closes its UDP endpoints: a reader waiting on one wakes.
func TestStackCloseClosesUDPEndpoints(t *testing.T) {
	s := newSim(t, simConfig{noFault: true})
	c, err := s.b.ListenUDP(netip.AddrPortFrom(simB.Addr(), 53))
	if err != nil {
		t.Fatal(err)
	}
	s.b.Close()
	select {
	case <-c.Done():
	default:
		t.Fatal("UDP endpoint still open after its stack closed")
	}
	if _, _, err := c.ReadFrom(make([]byte, 10)); err == nil || errors.Is(err, stack.ErrWouldBlock) {
		t.Fatalf("read on a closed stack's endpoint: %v", err)
	}
}
