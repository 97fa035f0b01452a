package stack_test

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
	"offload/wire"
)

// ipv4Sent counts, per destination address, the IPv4 packets a device sends:
// which NIC a packet left by, seen from the wire.
type ipv4Sent struct {
	link.Device
	to map[netip.Addr]*atomic.Int64
}

func newIPv4Sent(d link.Device) *ipv4Sent {
	return &ipv4Sent{Device: d, to: map[netip.Addr]*atomic.Int64{}}
}

// watch must be called before traffic flows: the map is read by Send.
func (d *ipv4Sent) watch(a netip.Addr) { d.to[a] = new(atomic.Int64) }

func (d *ipv4Sent) count(a netip.Addr) int64 { return d.to[a].Load() }

func (d *ipv4Sent) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		eth, err := wire.ParseEthernet(f.Bytes())
		if err != nil || eth.EtherType() != wire.EtherTypeIPv4 {
			continue
		}
		ip, err := wire.ParseIPv4(eth.Payload())
		if err != nil {
			continue
		}
		if c := d.to[ip.Dst()]; c != nil {
			c.Add(1)
		}
	}
	return d.Device.Send(q, b)
}

// multiNIC is host A with two NICs on a fake clock, each joined by a pipe to
// one peer: NIC "gw" (198.18.0.1/24, default gateway 198.18.0.254) to host B,
// which owns the gateway address and also 198.19.5.5/32, an address off every
// subnet of A's, so a connection to it only works through the default route;
// NIC "lan" (198.18.1.1/24, no gateway) to host C at 198.18.1.2.
type multiNIC struct {
	t       *testing.T
	clk     *clock.Fake
	a, b, c *stack.Stack
	gw, lan *ipv4Sent // A's devices
}

var (
	mnGW      = netip.MustParsePrefix("198.18.0.1/24")
	mnRouter  = netip.MustParsePrefix("198.18.0.254/24")
	mnOffLink = netip.MustParsePrefix("198.19.5.5/32")
	mnLAN     = netip.MustParsePrefix("198.18.1.1/24")
	mnC       = netip.MustParsePrefix("198.18.1.2/24")
)

func newMultiNIC(t *testing.T, gatewayFirst bool) *multiNIC {
	m := &multiNIC{t: t, clk: clock.NewFake(1 << 40)}
	ga, gb := pipe.New(pipe.Config{})
	la, lb := pipe.New(pipe.Config{})
	m.gw, m.lan = newIPv4Sent(ga), newIPv4Sent(la)
	for _, d := range []*ipv4Sent{m.gw, m.lan} {
		d.watch(mnOffLink.Addr())
		d.watch(mnC.Addr())
	}
	gwNIC := stack.NIC{Device: m.gw, Addrs: []netip.Prefix{mnGW}, Gateway: mnRouter.Addr()}
	lanNIC := stack.NIC{Device: m.lan, Addrs: []netip.Prefix{mnLAN}}
	nics := []stack.NIC{gwNIC, lanNIC}
	if !gatewayFirst {
		nics = []stack.NIC{lanNIC, gwNIC}
	}
	mk := func(secret byte, nics ...stack.NIC) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: nics, Manual: true, Clock: m.clk, Secret: [16]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	m.a = mk(1, nics...)
	m.b = mk(2, stack.NIC{Device: gb, Addrs: []netip.Prefix{mnRouter, mnOffLink}})
	m.c = mk(3, stack.NIC{Device: lb, Addrs: []netip.Prefix{mnC}})
	return m
}

func (m *multiNIC) step() {
	busy, next := false, clock.Never
	for _, st := range []*stack.Stack{m.a, m.b, m.c} {
		b, n := st.Poll()
		busy = busy || b
		next = clock.Min(next, n)
	}
	if busy {
		return
	}
	now := m.clk.Now()
	m.clk.Set(clock.Min(next, now.Add(time.Millisecond)))
	if m.clk.Now() <= now {
		m.clk.Set(now.Add(time.Microsecond))
	}
}

// dial connects A from local to the listener at peer's remote and returns
// A's end, failing the test unless the handshake completes within a
// simulated 10 s (ARP included).
func (m *multiNIC) dial(peer *stack.Stack, local, remote netip.AddrPort) *stack.Conn {
	m.t.Helper()
	ln, err := peer.ListenTCP(remote)
	if err != nil {
		m.t.Fatal(err)
	}
	defer ln.Close()
	c, err := m.a.DialTCP(local, remote)
	if err != nil {
		m.t.Fatalf("dial %v from %v: %v", remote, local, err)
	}
	start := m.clk.Now()
	for m.clk.Now().Sub(start) < 10*time.Second {
		m.step()
		select {
		case <-c.Connected():
			if err := c.Err(); err != nil {
				m.t.Fatalf("dial %v from %v: %v", remote, local, err)
			}
			if _, err := ln.Accept(); err != nil {
				m.t.Fatalf("dial %v: A connected but the peer accepted nothing: %v", remote, err)
			}
			return c
		default:
		}
	}
	m.t.Fatalf("dial %v from %v: no handshake within 10 s of simulated time", remote, local)
	return nil
}

// With two NICs, one with a default gateway, a destination on the other NIC's
// connected subnet is reached directly through that NIC whatever the order
// of the NICs (a connected route is more specific than the default route),
// and a destination off every subnet goes to the gateway.
func TestConnectedSubnetBeatsDefaultGatewayOnAnotherNIC(t *testing.T) {
	for _, tc := range []struct {
		name         string
		gatewayFirst bool
	}{{"gateway-NIC-first", true}, {"gateway-NIC-second", false}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMultiNIC(t, tc.gatewayFirst)

			c := m.dial(m.c, netip.AddrPort{}, netip.AddrPortFrom(mnC.Addr(), 80))
			if got := c.LocalAddr().Addr(); got != mnLAN.Addr() {
				t.Errorf("connection to the LAN peer has source %v, want the LAN NIC's %v", got, mnLAN.Addr())
			}
			if n := m.gw.count(mnC.Addr()); n != 0 {
				t.Errorf("%d packets to the LAN peer left by the gateway NIC", n)
			}
			if m.lan.count(mnC.Addr()) == 0 {
				t.Errorf("no packet to the LAN peer left by the LAN NIC")
			}

			o := m.dial(m.b, netip.AddrPort{}, netip.AddrPortFrom(mnOffLink.Addr(), 80))
			if got := o.LocalAddr().Addr(); got != mnGW.Addr() {
				t.Errorf("connection off-link has source %v, want the gateway NIC's %v", got, mnGW.Addr())
			}
			if n := m.lan.count(mnOffLink.Addr()); n != 0 {
				t.Errorf("%d packets to the off-link host left by the LAN NIC, which has no route", n)
			}
			if m.gw.count(mnOffLink.Addr()) == 0 {
				t.Errorf("no packet to the off-link host left by the gateway NIC")
			}
		})
	}
}

// A dial bound to a local address leaves by the NIC that owns the address,
// even where another NIC has the more specific route; and one bound to an
// address whose NIC has no route fails with ErrNoRoute instead of leaving by
// another NIC with a source address that NIC does not own; one bound to an
// address of the other family fails with EAFNOSUPPORT.
func TestDialBoundToLocalAddressLeavesByItsNIC(t *testing.T) {
	for _, gatewayFirst := range []bool{true, false} {
		m := newMultiNIC(t, gatewayFirst)
		// The LAN peer through the gateway NIC: the SYN goes to the router
		// (which does not forward), never out of the LAN NIC.
		c, err := m.a.DialTCP(netip.AddrPortFrom(mnGW.Addr(), 0), netip.AddrPortFrom(mnC.Addr(), 80))
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			m.step()
		}
		if got := c.LocalAddr().Addr(); got != mnGW.Addr() {
			t.Errorf("gatewayFirst=%v: bound dial has source %v, want %v", gatewayFirst, got, mnGW.Addr())
		}
		if n := m.gw.count(mnC.Addr()); n == 0 {
			t.Errorf("gatewayFirst=%v: the dial bound to %v sent nothing by its NIC", gatewayFirst, mnGW.Addr())
		}
		if n := m.lan.count(mnC.Addr()); n != 0 {
			t.Errorf("gatewayFirst=%v: the dial bound to %v sent %d packets by the LAN NIC", gatewayFirst, mnGW.Addr(), n)
		}
		c.Abort()

		// Bound to the LAN address, the LAN peer is reached as usual.
		l := m.dial(m.c, netip.AddrPortFrom(mnLAN.Addr(), 0), netip.AddrPortFrom(mnC.Addr(), 81))
		if got := l.LocalAddr().Addr(); got != mnLAN.Addr() {
			t.Errorf("gatewayFirst=%v: source %v, want %v", gatewayFirst, got, mnLAN.Addr())
		}

		// A source of the other family cannot reach the destination.
		if _, err := m.a.DialTCP(netip.AddrPortFrom(mnLAN.Addr(), 0), netip.MustParseAddrPort("[2001:db8::1]:80")); err != stack.ErrAFNoSupport {
			t.Errorf("gatewayFirst=%v: IPv6 dial bound to an IPv4 address: %v, want ErrAFNoSupport", gatewayFirst, err)
		}

		// The LAN NIC has no route off-link.
		if _, err := m.a.DialTCP(netip.AddrPortFrom(mnLAN.Addr(), 0), netip.AddrPortFrom(mnOffLink.Addr(), 80)); err != stack.ErrNoRoute {
			t.Errorf("gatewayFirst=%v: dial off-link bound to the LAN address: %v, want ErrNoRoute", gatewayFirst, err)
		}
	}
}
