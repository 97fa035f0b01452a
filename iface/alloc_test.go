package iface

import (
	"net/netip"
	"testing"

	"offload/pkt"
	"offload/wire"
)

func TestInputTCPDoesNotAllocate(t *testing.T) {
	inputAllocatesNothing(t, newIface(t, nil), frameOf(tcpFrame(make([]byte, 1400))))
}

// inputAllocatesNothing delivers f through i over and over and fails t if
// Input allocates.
func inputAllocatesNothing(t *testing.T, i *Interface, f *pkt.Buffer) {
	t.Helper()
	var d discard
	if a := testing.AllocsPerRun(1000, func() {
		if _, ok := i.Input(t0, f, &d); !ok {
			t.Fatal("not delivered")
		}
	}); a != 0 {
		t.Fatalf("%v allocations per Input", a)
	}
}

func TestInputDropsAndControlRepliesDoNotAllocate(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ICMPErrorRate = 1 << 20 })
	learn(t, i, t0, peerIP, peerMAC)
	frames := []*pkt.Buffer{
		frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, peerIP, wire.MAC{}, ourIP)),
		frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, echoRequest(1, 1, make([]byte, 56))))),
		frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: peerIP}, make([]byte, 20)))),
		frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: 132, Src: peerIP, Dst: ourIP}, make([]byte, 20)))),
		frameOf([]byte{1, 2, 3}),
	}
	var d discard
	if a := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			i.Input(t0, f, &d)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per round", a)
	}
}

func TestOutputToResolvedNeighborDoesNotAllocate(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, peerIP, peerMAC)
	pool := pkt.NewPool(4, 2048, i.Headroom())
	var d discard
	f := &OutFields{Dst: peerIP, Proto: wire.ProtoTCP, DontFragment: true}
	if a := testing.AllocsPerRun(1000, func() {
		buf := pool.Get()
		buf.Append(1000)
		if err := i.Output(t0, buf, f, &d); err != nil {
			t.Fatal(err)
		}
		i.Poll(t0, &d)
	}); a != 0 {
		t.Fatalf("%v allocations per Output and Poll", a)
	}
}

func BenchmarkInputTCP(b *testing.B) {
	i := newIface(b, nil)
	f := frameOf(tcpFrame(make([]byte, 1400)))
	var d discard
	b.ReportAllocs()
	b.SetBytes(int64(f.Len()))
	for b.Loop() {
		i.Input(t0, f, &d)
	}
}

func BenchmarkOutputResolved(b *testing.B) {
	i := newIface(b, nil)
	learn(b, i, t0, peerIP, peerMAC)
	pool := pkt.NewPool(4, 2048, i.Headroom())
	var d discard
	f := &OutFields{Dst: peerIP, Proto: wire.ProtoTCP, DontFragment: true}
	b.ReportAllocs()
	for b.Loop() {
		buf := pool.Get()
		buf.Append(1400)
		i.Output(t0, buf, f, &d)
	}
}

// A flood of ARP from ever new neighbours churns the cache (insert, evict) and
// sends a reply per request; none of it may allocate once warm.
func TestARPLearningChurnDoesNotAllocate(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.NeighborCacheSize = 64
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}
	})
	frames := make([]*pkt.Buffer, 4096)
	for n := range frames {
		frames[n] = frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{2, 1, 0, 0, byte(n >> 8), byte(n)}, hostIP(n+2), wire.MAC{}, ourIP))
	}
	var d discard
	for _, f := range frames[:1024] {
		i.Input(t0, f, &d)
	}
	n := 1024
	if a := testing.AllocsPerRun(3000, func() {
		i.Input(t0, frames[n%len(frames)], &d)
		n++
	}); a != 0 {
		t.Fatalf("%v allocations per learned neighbour", a)
	}
}

func TestIPv6InputTCPDoesNotAllocate(t *testing.T) {
	inputAllocatesNothing(t, newIface(t, dual), frameOf(tcp6Frame(make([]byte, 1400))))
}

func TestIPv6OutputToResolvedNeighborDoesNotAllocate(t *testing.T) {
	i := newIface(t, dual)
	learn6(t, i, t0)
	pool := pkt.NewPool(4, 2048, i.Headroom())
	var d discard
	f := &OutFields{Dst: peer6, Proto: wire.ProtoTCP}
	if a := testing.AllocsPerRun(1000, func() {
		buf := pool.Get()
		buf.Append(1000)
		if err := i.Output(t0, buf, f, &d); err != nil {
			t.Fatal(err)
		}
		i.Poll(t0, &d)
	}); a != 0 {
		t.Fatalf("%v allocations per Output and Poll", a)
	}
}

func TestNDPAndICMPv6ControlTrafficDoesNotAllocate(t *testing.T) {
	i := newIface(t, func(c *Config) { dual(c); c.ICMPErrorRate = 1 << 20 })
	frames := []*pkt.Buffer{
		frameOf(nsFrame(our6)),
		frameOf(naFrame(peer6, peerMAC, true, true)),
		frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoICMPv6, 64, icmp6Msg(wire.ICMPv6EchoRequest, 0, 1, make([]byte, 56), peer6, our6)))),
		frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, 132, 64, make([]byte, 20)))),
	}
	var d discard
	if a := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			i.Input(t0, f, &d)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per round", a)
	}
}

func BenchmarkInputTCPv6(b *testing.B) {
	i := newIface(b, dual)
	f := frameOf(tcp6Frame(make([]byte, 1400)))
	var d discard
	b.ReportAllocs()
	b.SetBytes(int64(f.Len()))
	for b.Loop() {
		i.Input(t0, f, &d)
	}
}
