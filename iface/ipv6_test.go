package iface

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/pkt"
	"offload/wire"
)

func TestLinkLocalAddressDerivedFromMACWithModifiedEUI64_RFC4291_AppA(t *testing.T) {
	i := newIface(t, dual)
	if !i.HasAddr(ourLL) || !i.HasAddr(our6) || !i.HasAddr(ourIP) {
		t.Fatalf("addresses: %v", i.Addrs())
	}
	if got := linkLocalFromMAC(wire.MAC{0x7e, 0x67, 0x2f, 0xd5, 0xc1, 0xe8}); got != netip.MustParseAddr("fe80::7c67:2fff:fed5:c1e8") {
		t.Fatalf("EUI-64 of Linux's capture MAC: %v", got)
	}
	a := i.Addrs()
	if len(a) != 3 || a[2] != netip.MustParsePrefix("fe80::ff:fe00:1/64") {
		t.Fatalf("Addrs %v", a)
	}
	// A configured link-local address replaces the derived one; an IPv4-only
	// interface gets none, and its headroom stays that of IPv4.
	j := newIface(t, func(c *Config) { c.Addrs = append(c.Addrs, netip.MustParsePrefix("fe80::9/64")) })
	if j.HasAddr(ourLL) || !j.HasAddr(netip.MustParseAddr("fe80::9")) || len(j.Addrs()) != 2 {
		t.Fatalf("configured link-local: %v", j.Addrs())
	}
	k := newIface(t, nil)
	if k.HasAddr(ourLL) || k.Headroom() != wire.EthernetHeaderSize+wire.IPv4HeaderSize || i.Headroom() != wire.EthernetHeaderSize+wire.IPv6HeaderSize {
		t.Fatalf("headroom v4 %d dual %d", k.Headroom(), i.Headroom())
	}
}

func TestIPv6TCPIsDeliveredAfterPseudoHeaderChecksum_RFC8200_8_1(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	f := frameOf(tcp6Frame([]byte("hello")))
	in, ok := i.Input(t0, f, &c)
	if !ok || in.Proto != wire.ProtoTCP || in.Src != peer6 || in.Dst != our6 || in.TTL != 64 || in.Broadcast {
		t.Fatalf("ok=%v in=%+v", ok, in)
	}
	if in.IPOffset != 14 || in.PayloadOffset != 54 || &f.Bytes()[54] != &in.Payload[0] || string(in.Payload[20:]) != "hello" {
		t.Fatalf("offsets %d %d", in.IPOffset, in.PayloadOffset)
	}
	bad := tcp6Frame([]byte("hello"))
	bad[len(bad)-1] ^= 1
	if _, ok := i.Input(t0, frameOf(bad), &c); ok {
		t.Fatal("bad checksum delivered")
	}
	if i.Stats().RxBadTransport != 1 {
		t.Fatalf("%+v", i.Stats())
	}
	trusted := frameOf(bad)
	trusted.Meta.Checksum = pkt.ChecksumVerified
	if _, ok := i.Input(t0, trusted, &c); !ok {
		t.Fatal("device-verified checksum not trusted")
	}
	// UDP with a zero checksum is invalid over IPv6, unlike IPv4.
	dg := udpDatagram(peer6, our6, 5353, 53, []byte("q"))
	if _, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoUDP, 64, dg))), &c); !ok {
		t.Fatal("good UDP not delivered")
	}
	dg[6], dg[7] = 0, 0
	if _, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoUDP, 64, dg))), &c); ok {
		t.Fatal("zero-checksum UDP over IPv6 delivered")
	}
	if len(c.frames) != 0 {
		t.Fatal("sent something")
	}
	checkCounters(t, i)
}

func TestIPv6AddressFilteringAndMartians_RFC4291(t *testing.T) {
	seg := func(src, dst netip.Addr) []byte { return tcpSegment(src, dst, 1, 80, nil) }
	cases := []struct {
		name  string
		frame []byte
		field func(Stats) uint64
	}{
		{"not our address", ethIP6(ourMAC, ip6Packet(peer6, far6, wire.ProtoTCP, 64, seg(peer6, far6))), func(s Stats) uint64 { return s.RxNotForUs }},
		{"group not joined", ethIP6(ourMAC, ip6Packet(peer6, netip.MustParseAddr("ff02::2"), wire.ProtoUDP, 64, nil)), func(s Stats) uint64 { return s.RxNotForUs }},
		{"multicast source", ethIP6(ourMAC, ip6Packet(netip.MustParseAddr("ff02::1"), our6, wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.RxMartian }},
		{"loopback source", ethIP6(ourMAC, ip6Packet(netip.IPv6Loopback(), our6, wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.RxMartian }},
		{"our own source", ethIP6(ourMAC, ip6Packet(ourLL, our6, wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.RxMartian }},
		{"IPv4-mapped source", ethIP6(ourMAC, ip6Packet(netip.MustParseAddr("::ffff:198.18.0.2"), our6, wire.ProtoTCP, 64, nil)), func(s Stats) uint64 { return s.RxMartian }},
		{"unspecified source TCP", ethIP6(ourMAC, ip6Packet(netip.IPv6Unspecified(), our6, wire.ProtoTCP, 64, seg(netip.IPv6Unspecified(), our6))), func(s Stats) uint64 { return s.RxMartian }},
		{"TCP to all-nodes", ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.ProtoTCP, 64, seg(peer6, allNodes))), func(s Stats) uint64 { return s.RxBroadcast }},
		{"unicast in link multicast", ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, our6, wire.ProtoTCP, 64, seg(peer6, our6))), func(s Stats) uint64 { return s.RxBroadcast }},
		{"IPv6 in link broadcast", ethIP6(wire.BroadcastMAC, ip6Packet(peer6, our6, wire.ProtoTCP, 64, seg(peer6, our6))), func(s Stats) uint64 { return s.RxNotOurMAC }},
		{"payload length past frame", ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoTCP, 64, seg(peer6, our6))[:50]), func(s Stats) uint64 { return s.RxBadIP }},
		{"echo to all-nodes", ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.ProtoICMPv6, 64, icmp6Msg(wire.ICMPv6EchoRequest, 0, 1, nil, peer6, allNodes))), func(s Stats) uint64 { return s.RxBroadcast }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := newIface(t, dual)
			var c capture
			if _, ok := i.Input(t0, frameOf(tc.frame), &c); ok {
				t.Fatal("delivered")
			}
			if s := i.Stats(); tc.field(s) != 1 || s.RxDropped() != 1 {
				t.Fatalf("wrong counter: %+v", s)
			}
			if len(c.frames) != 0 {
				t.Fatal("sent something")
			}
		})
	}
	// An IPv4-only interface does not take IPv6 at all.
	i := newIface(t, nil)
	if _, ok := i.Input(t0, frameOf(tcp6Frame(nil)), &discard{}); ok || i.Stats().RxUnsupported != 1 {
		t.Fatalf("IPv6 on an IPv4-only interface: %+v", i.Stats())
	}
}

func TestIPv6OutputBuildsExactHeaderAndStableFlowLabel_RFC8200_3_RFC6437(t *testing.T) {
	i := newIface(t, dual)
	learn6(t, i, t0)
	var c capture
	seg := tcpSegment(our6, peer6, 80, 40000, []byte("payload"))
	if err := i.Output(t0, transportBuf(i, seg), &OutFields{Dst: peer6, Proto: wire.ProtoTCP, TOS: 0xb8}, &c); err != nil {
		t.Fatal(err)
	}
	if err := i.Output(t0, transportBuf(i, seg), &OutFields{Dst: peer6, Proto: wire.ProtoTCP, TTL: 9}, &c); err != nil {
		t.Fatal(err)
	}
	other := tcpSegment(our6, peer6, 81, 40000, nil)
	if err := i.Output(t0, transportBuf(i, other), &OutFields{Dst: peer6, Proto: wire.ProtoTCP}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	if len(fr) != 3 {
		t.Fatalf("%d frames", len(fr))
	}
	e, p := sent6(t, fr[0].Bytes())
	label := p.FlowLabel()
	want := append(ethHdr(peerMAC, ourMAC, wire.EtherTypeIPv6), make([]byte, 40)...)
	wire.EmitIPv6(want[14:], &wire.IPv6Fields{TrafficClass: 0xb8, FlowLabel: label, PayloadLen: uint16(len(seg)), NextHeader: wire.ProtoTCP, HopLimit: 64, Src: our6, Dst: peer6})
	want = append(want, seg...)
	if !bytes.Equal(fr[0].Bytes(), want) || e.Dst() != peerMAC {
		t.Fatalf("frame\n%x\nwant\n%x", fr[0].Bytes(), want)
	}
	_, p2 := sent6(t, fr[1].Bytes())
	_, p3 := sent6(t, fr[2].Bytes())
	if label == 0 || p2.FlowLabel() != label || p2.HopLimit() != 9 || p3.FlowLabel() == label {
		t.Fatalf("flow labels %#x %#x %#x, hop %d", label, p2.FlowLabel(), p3.FlowLabel(), p2.HopLimit())
	}
}

func TestIPv6RouteSelection(t *testing.T) {
	i := newIface(t, dual)
	cases := []struct {
		dst, src, nh string // src "" means no route
	}{
		{"2001:db8::2", "2001:db8::1", "2001:db8::2"},
		{"fe80::5", "fe80::ff:fe00:1", "fe80::5"},
		{"2001:db8:1::7", "2001:db8::1", "fe80::fe"},
		{"ff02::1", "fe80::ff:fe00:1", "ff02::1"},
		{"ff0e::1", "2001:db8::1", "ff0e::1"},
		{"ff01::1", "", ""},
		{"::1", "", ""},
		{"::", "", ""},
		{"2001:db8::1", "", ""},
		{"::ffff:198.18.0.2", "198.18.0.1", "198.18.0.2"}, // IPv4-mapped is IPv4
	}
	for _, tc := range cases {
		src, nh, ok := i.Route(netip.MustParseAddr(tc.dst))
		if tc.src == "" {
			if ok {
				t.Errorf("%s: route via %v from %v", tc.dst, nh, src)
			}
			continue
		}
		if !ok || src != netip.MustParseAddr(tc.src) || nh != netip.MustParseAddr(tc.nh) {
			t.Errorf("%s: %v via %v (%v), want %s via %s", tc.dst, src, nh, ok, tc.src, tc.nh)
		}
	}
	// Without Gateway6 off-link IPv6 has no route; a longer prefix wins.
	j := newIface(t, func(c *Config) {
		c.Addrs = append(c.Addrs, netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::9:1/112"))
	})
	if _, _, ok := j.Route(far6); ok {
		t.Error("off-link route without a gateway")
	}
	if src, _, _ := j.Route(netip.MustParseAddr("2001:db8::9:5")); src != netip.MustParseAddr("2001:db8::9:1") {
		t.Errorf("longest prefix: %v", src)
	}
	var c capture
	if err := j.Output(t0, transportBuf(j, []byte("x")), &OutFields{Dst: far6, Proto: wire.ProtoUDP}, &c); err != ErrNoRoute {
		t.Errorf("Output off-link: %v", err)
	}
	if err := j.Output(t0, transportBuf(j, []byte("x")), &OutFields{Dst: peer6, Src: ourIP, Proto: wire.ProtoUDP}, &c); err != ErrBadSource {
		t.Errorf("IPv4 source for IPv6: %v", err)
	}
	c.releaseAll()
}

func TestNeighborSolicitationForOurAddressIsAnsweredAndSolicitorLearned_RFC4861_7_2_4(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	if _, ok := i.Input(t0, frameOf(nsFrame(our6)), &c); ok {
		t.Fatal("NS delivered")
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames", len(fr))
	}
	want := append(ethHdr(peerMAC, ourMAC, wire.EtherTypeIPv6),
		ip6Packet(our6, peer6, wire.ProtoICMPv6, 255, ndpMsg(wire.NDPFields{
			Type: wire.ICMPv6NeighborAdvertisement, Solicited: true, Override: true, Target: our6, HasLinkAddr: true, LinkAddr: ourMAC,
		}, our6, peer6))...)
	if !bytes.Equal(fr[0].Bytes(), want) {
		t.Fatalf("NA\n%x\nwant\n%x", fr[0].Bytes(), want)
	}
	if k := i.neigh.find(key6(peer6)); k == nilIdx || i.neigh.ents[k].mac != peerMAC {
		t.Fatal("solicitor not learned from its source link-layer option")
	}
	// Unicast solicitation for our link-local address: answered from it.
	m := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: ourLL, HasLinkAddr: true, LinkAddr: peerMAC}, peer6, ourLL)
	i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, ourLL, wire.ProtoICMPv6, 255, m))), &c)
	fr = c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames to unicast NS", len(fr))
	}
	if _, p, _ := sentICMP6(t, fr[0].Bytes()); p.Src() != ourLL || p.Dst() != peer6 {
		t.Fatalf("NA %v -> %v", p.Src(), p.Dst())
	}
	// A solicitation for someone else's address is ignored.
	other := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: far6, HasLinkAddr: true, LinkAddr: peerMAC}, peer6, our6)
	i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoICMPv6, 255, other))), &c)
	if len(c.frames) != 0 {
		t.Fatal("answered for another address")
	}
	// Duplicate address detection probe: answered to all-nodes, unsolicited,
	// and the prober (no address yet) is not learned.
	dad := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: our6}, netip.IPv6Unspecified(), snmOf(our6))
	i.Input(t0, frameOf(ethIP6(multicastMAC6(solicitedNode(key6(our6))), ip6Packet(netip.IPv6Unspecified(), snmOf(our6), wire.ProtoICMPv6, 255, dad))), &c)
	fr = c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames to DAD", len(fr))
	}
	e, p, na := sentICMP6(t, fr[0].Bytes())
	nd, err := wire.ParseNDP(na)
	if err != nil || e.Dst() != (wire.MAC{0x33, 0x33, 0, 0, 0, 1}) || p.Dst() != allNodes || nd.Solicited || !nd.Override || nd.Target != our6 {
		t.Fatalf("DAD answer %v %v %+v %v", e.Dst(), p.Dst(), nd, err)
	}
	checkCounters(t, i)
	if s := i.Stats(); s.NDPSolicitsIn != 4 || s.NDPAdvertsOut != 3 {
		t.Fatalf("%+v", s)
	}
}

func TestOutputResolvesViaSolicitedNodeNSAndFlushesQueueOnNA_RFC4861_7_2_2(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	for n := range 3 {
		if err := i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: peer6, Proto: wire.ProtoUDP}, &c); err != nil {
			t.Fatal(err)
		}
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames while resolving", len(fr))
	}
	e, p, m := sentICMP6(t, fr[0].Bytes())
	nd, err := wire.ParseNDP(m)
	snm := netip.MustParseAddr("ff02::1:ff00:2")
	if err != nil || e.Dst() != (wire.MAC{0x33, 0x33, 0xff, 0, 0, 2}) || p.Dst() != snm || p.Src() != our6 || p.HopLimit() != 255 ||
		nd.Type != wire.ICMPv6NeighborSolicitation || nd.Target != peer6 || !nd.HasLinkAddr || nd.LinkAddr != ourMAC {
		t.Fatalf("NS %v %v->%v hop %d %+v %v", e.Dst(), p.Src(), p.Dst(), p.HopLimit(), nd, err)
	}
	// An unsolicited advertisement from a stranger creates nothing.
	i.Input(t0, frameOf(naFrame(netip.MustParseAddr("2001:db8::77"), gwMAC, false, true)), &c)
	if i.neigh.find(key6(netip.MustParseAddr("2001:db8::77"))) != nilIdx {
		t.Fatal("unsolicited NA created an entry (RFC 4861 §7.2.5)")
	}
	i.Input(t0, frameOf(naFrame(peer6, peerMAC, true, true)), &c)
	fr = c.take()
	if len(fr) != 3 {
		t.Fatalf("%d frames flushed", len(fr))
	}
	for n, f := range fr {
		e, p := sent6(t, f.Bytes())
		if e.Dst() != peerMAC || p.Dst() != peer6 || p.Payload()[0] != byte(n) {
			t.Fatalf("flushed frame %d: %v %v %x", n, e.Dst(), p.Dst(), p.Payload())
		}
	}
	// An advertisement without Override may not change a known address;
	// with Override it does.
	i.Input(t0, frameOf(naFrame(peer6, gwMAC, true, false)), &c)
	if i.neigh.ents[i.neigh.find(key6(peer6))].mac != peerMAC {
		t.Fatal("address changed without Override")
	}
	i.Input(t0, frameOf(naFrame(peer6, gwMAC, false, true)), &c)
	if i.neigh.ents[i.neigh.find(key6(peer6))].mac != gwMAC {
		t.Fatal("address not changed with Override")
	}
	// Off-link goes to the router's MAC once it is resolved.
	if err := i.Output(t0, transportBuf(i, []byte("far")), &OutFields{Dst: far6, Proto: wire.ProtoUDP}, &c); err != nil {
		t.Fatal(err)
	}
	_, p, m = sentICMP6(t, c.take()[0].Bytes())
	// RFC 4861 §7.2.2: the solicitation comes from the prompting packet's source.
	if nd, _ := wire.ParseNDP(m); nd.Target != gw6 || p.Src() != our6 {
		t.Fatalf("router solicitation for %v from %v", nd.Target, p.Src())
	}
	gwNA := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborAdvertisement, Target: gw6, Solicited: true, Override: true, HasLinkAddr: true, LinkAddr: gwMAC}, gw6, ourLL)
	i.Input(t0, frameOf(append(ethHdr(ourMAC, gwMAC, wire.EtherTypeIPv6), ip6Packet(gw6, ourLL, wire.ProtoICMPv6, 255, gwNA)...)), &c)
	fr = c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames after router NA", len(fr))
	}
	if e, p := sent6(t, fr[0].Bytes()); e.Dst() != gwMAC || p.Dst() != far6 || p.Src() != our6 {
		t.Fatalf("off-link frame %v %v %v", e.Dst(), p.Src(), p.Dst())
	}
	checkCounters(t, i)
}

func TestNSRetriedThenResolutionFailsAndQueueDropped_RFC4861_7_3_3(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	i.Output(t0, transportBuf(i, []byte("x")), &OutFields{Dst: peer6, Proto: wire.ProtoUDP}, &c)
	now := t0
	for range 5 {
		now = now.Add(sec)
		i.Poll(now, &c)
	}
	fr := c.take()
	if len(fr) != DefaultARPRetries {
		t.Fatalf("%d solicitations, want %d", len(fr), DefaultARPRetries)
	}
	if s := i.Stats(); s.ARPFailures != 1 || s.ARPFailedDrops != 1 || s.NDPSolicitsOut != 3 {
		t.Fatalf("%+v", s)
	}
	if i.neigh.find(key6(peer6)) != nilIdx {
		t.Fatal("failed entry kept")
	}
}

func TestNDPValidationDropsMalformedMessages_RFC4861_7_1_1_7_1_2(t *testing.T) {
	ns := func(hop uint8, src, dst netip.Addr, nd wire.NDPFields, fix func([]byte)) []byte {
		m := ndpMsg(nd, src, dst)
		if fix != nil {
			fix(m)
			m[2], m[3] = 0, 0
			binary.BigEndian.PutUint16(m[2:], wire.FoldChecksum(wire.Checksum(m, wire.PseudoHeaderSum(wire.ProtoICMPv6, src, dst, len(m)))))
		}
		return ethIP6(ourMAC, ip6Packet(src, dst, wire.ProtoICMPv6, hop, m))
	}
	sol := wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: our6, HasLinkAddr: true, LinkAddr: peerMAC}
	adv := wire.NDPFields{Type: wire.ICMPv6NeighborAdvertisement, Target: peer6, Solicited: true, HasLinkAddr: true, LinkAddr: peerMAC}
	unspec := netip.IPv6Unspecified()
	cases := []struct {
		name  string
		frame []byte
	}{
		{"NS hop limit 254", ns(254, peer6, our6, sol, nil)},
		{"NA hop limit 64", ns(64, peer6, our6, adv, nil)},
		{"NS code 1", ns(255, peer6, our6, sol, func(m []byte) { m[1] = 1 })},
		{"NS multicast target", ns(255, peer6, our6, wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: allNodes}, nil)},
		{"NS shorter than 24 bytes", ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoICMPv6, 255, icmp6Msg(wire.ICMPv6NeighborSolicitation, 0, 0, make([]byte, 8), peer6, our6)))},
		{"NS option of length 0", ns(255, peer6, our6, sol, func(m []byte) { m[25] = 0 })},
		{"NS option past the end", ns(255, peer6, our6, sol, func(m []byte) { m[25] = 2 })},
		{"DAD NS to a unicast address", ns(255, unspec, our6, wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: our6}, nil)},
		{"DAD NS with a source link-layer address", ethIP6(multicastMAC6(solicitedNode(key6(our6))), ip6Packet(unspec, snmOf(our6), wire.ProtoICMPv6, 255, ndpMsg(sol, unspec, snmOf(our6))))},
		{"solicited NA to all-nodes", ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.ProtoICMPv6, 255, ndpMsg(adv, peer6, allNodes)))},
		{"NA with a multicast link-layer address", ns(255, peer6, our6, wire.NDPFields{Type: wire.ICMPv6NeighborAdvertisement, Target: peer6, Solicited: true, HasLinkAddr: true, LinkAddr: wire.BroadcastMAC}, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := newIface(t, dual)
			var c capture
			i.Output(t0, transportBuf(i, []byte("x")), &OutFields{Dst: peer6, Proto: wire.ProtoUDP}, &c)
			c.releaseAll()
			if _, ok := i.Input(t0, frameOf(tc.frame), &c); ok {
				t.Fatal("delivered")
			}
			if s := i.Stats(); s.RxBadNDP != 1 || s.RxDropped() != 1 {
				t.Fatalf("wrong counter: %+v", s)
			}
			if len(c.frames) != 0 {
				t.Fatal("answered")
			}
			if e := i.neigh.ents[i.neigh.find(key6(peer6))]; e.state != neighIncomplete {
				t.Fatal("learned from an invalid message")
			}
		})
	}
	// On an L3 interface there is no NDP.
	i := newIface(t, func(c *Config) { c.L2 = false; c.HardwareAddr = wire.MAC{}; dual(c); c.Gateway6 = netip.Addr{} })
	if _, ok := i.Input(t0, frameOf(nsFrame(our6)[14:]), &discard{}); ok || i.Stats().RxBadNDP != 1 {
		t.Fatalf("NDP on L3: %+v", i.Stats())
	}
}

func TestNAForOurOwnAddressIsCountedAsConflict(t *testing.T) {
	i := newIface(t, dual)
	m := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborAdvertisement, Target: our6, Override: true, HasLinkAddr: true, LinkAddr: peerMAC}, peer6, allNodes)
	i.Input(t0, frameOf(ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.ProtoICMPv6, 255, m))), &discard{})
	if s := i.Stats(); s.NDPConflicts != 1 || s.NDPAdvertsIn != 1 {
		t.Fatalf("%+v", s)
	}
}

// Linux's echo request and reply captured on a veth pair (wire/capture6_test.go).
const (
	cap6EchoRequest = "4e28b9cafc357e672fd5c1e886dd60088bc700123a4020010db800000000000000000000000120010db80000000000000000000000028000f3544321000770696e67362d64617461"
	cap6EchoReply   = "7e672fd5c1e84e28b9cafc3586dd600e50e500123a4020010db800000000000000000000000220010db80000000000000000000000018100f2544321000770696e67362d64617461"
)

func TestICMPv6EchoRequestGetsReplyLikeLinux_RFC4443_4_2(t *testing.T) {
	serverMAC := wire.MAC{0x4e, 0x28, 0xb9, 0xca, 0xfc, 0x35}
	i := newIface(t, func(c *Config) {
		c.HardwareAddr = serverMAC
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("2001:db8::2/64")}
		c.Gateway = netip.Addr{}
	})
	var c capture
	if _, ok := i.Input(t0, frameOf(mustHexT(t, cap6EchoRequest)), &c); ok {
		t.Fatal("echo request delivered")
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("%d replies", len(fr))
	}
	got, want := fr[0].Bytes(), mustHexT(t, cap6EchoReply)
	// Linux gives the reply a flow label of its own (RFC 6437 allows 0); the
	// rest must match byte for byte.
	got[14+1], got[14+2], got[14+3] = got[14+1]&0xf0, 0, 0
	want[14+1], want[14+2], want[14+3] = want[14+1]&0xf0, 0, 0
	if !bytes.Equal(got, want) {
		t.Fatalf("reply\n%x\nwant\n%x", got, want)
	}
	if s := i.Stats(); s.ICMPEchoRequests != 1 || s.ICMPEchoReplies != 1 {
		t.Fatalf("%+v", s)
	}
	checkCounters(t, i)
}

func TestIPv6ExtensionHeadersAreWalkedToTransport_RFC8200_4(t *testing.T) {
	seg := tcpSegment(peer6, our6, 40000, 80, []byte("ext"))
	// hop-by-hop with router alert and PadN, then destination options with
	// an unknown skippable option (type 0x1e, action 00), then TCP.
	hbh := []byte{wire.IPv6DestOptions, 0, 5, 2, 0, 0, 1, 0}
	dst := []byte{wire.ProtoTCP, 0, 0x1e, 1, 0, 1, 1, 0}
	pl := append(append(append([]byte{}, hbh...), dst...), seg...)
	i := newIface(t, dual)
	var c capture
	in, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.IPv6HopByHop, 64, pl))), &c)
	if !ok || in.Proto != wire.ProtoTCP || in.PayloadOffset != 14+40+16 || !bytes.Equal(in.Payload, seg) {
		t.Fatalf("ok=%v in=%+v", ok, in)
	}
	// A routing header with segments left 0 is passed too.
	rt := []byte{wire.ProtoTCP, 0, 4, 0, 0, 0, 0, 0}
	if _, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.IPv6Routing, 64, append(append([]byte{}, rt...), seg...)))), &c); !ok {
		t.Fatal("routing header with no segments left not passed")
	}
	drops := []struct {
		name  string
		first uint8
		pl    []byte
		icmp  bool
	}{
		{"option action 01: discard", wire.IPv6DestOptions, append([]byte{wire.ProtoTCP, 0, 0x5e, 1, 0, 1, 1, 0}, seg...), false},
		{"option action 10: discard and report", wire.IPv6DestOptions, append([]byte{wire.ProtoTCP, 0, 0x9e, 1, 0, 1, 1, 0}, seg...), true},
		{"option action 11: discard and report (unicast)", wire.IPv6DestOptions, append([]byte{wire.ProtoTCP, 0, 0xde, 1, 0, 1, 1, 0}, seg...), true},
		{"option running past its header", wire.IPv6DestOptions, append([]byte{wire.ProtoTCP, 0, 1, 9, 0, 0, 0, 0}, seg...), false},
		{"routing header with segments left", wire.IPv6Routing, append([]byte{wire.ProtoTCP, 0, 0, 1, 0, 0, 0, 0}, seg...), false},
		{"hop-by-hop not first", wire.IPv6DestOptions, append([]byte{wire.IPv6HopByHop, 0, 1, 4, 0, 0, 0, 0, wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0}, seg...), false},
		{"header past the packet", wire.IPv6DestOptions, []byte{wire.ProtoTCP, 9, 1, 4, 0, 0, 0, 0}, false},
		{"nine headers", wire.IPv6DestOptions, append(bytes.Repeat([]byte{wire.IPv6DestOptions, 0, 1, 4, 0, 0, 0, 0}, 9), seg...), false},
	}
	for _, tc := range drops {
		t.Run(tc.name, func(t *testing.T) {
			i := newIface(t, dual)
			var c capture
			if _, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, tc.first, 64, tc.pl))), &c); ok {
				t.Fatal("delivered")
			}
			if s := i.Stats(); s.RxExtHeader != 1 || s.RxDropped() != 1 {
				t.Fatalf("%+v", s)
			}
			fr := c.take()
			if !tc.icmp {
				if len(fr) != 0 {
					t.Fatal("sent something")
				}
				return
			}
			if len(fr) != 1 {
				t.Fatalf("%d frames", len(fr))
			}
			_, p, m := sentICMP6(t, fr[0].Bytes())
			// Pointer: the option type, 2 bytes into the header after the
			// 40-byte fixed header (RFC 4443 §3.4).
			if m.Type() != wire.ICMPv6ParamProblem || m.Code() != 2 || binary.BigEndian.Uint32(m.Bytes()[4:]) != 42 || p.Dst() != peer6 {
				t.Fatalf("param problem %d/%d ptr %d", m.Type(), m.Code(), binary.BigEndian.Uint32(m.Bytes()[4:]))
			}
		})
	}
}

func TestUnknownNextHeaderGetsRateLimitedParameterProblem_RFC8200_4_RFC4443_3_4(t *testing.T) {
	i := newIface(t, func(c *Config) { dual(c); c.ICMPErrorRate = 10 })
	var c capture
	dst := []byte{132, 0, 1, 4, 0, 0, 0, 0} // destination options, then SCTP
	pkt6 := ip6Packet(peer6, our6, wire.IPv6DestOptions, 64, append(dst, make([]byte, 12)...))
	for range 5 {
		i.Input(t0, frameOf(ethIP6(ourMAC, pkt6)), &c)
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("%d errors in a burst of 1", len(fr))
	}
	e, p, m := sentICMP6(t, fr[0].Bytes())
	if e.Dst() != peerMAC || p.Src() != our6 || p.Dst() != peer6 || m.Type() != wire.ICMPv6ParamProblem || m.Code() != 1 ||
		binary.BigEndian.Uint32(m.Bytes()[4:]) != 40 || !bytes.Equal(m.Body(), pkt6) {
		t.Fatalf("param problem %d/%d ptr %d", m.Type(), m.Code(), binary.BigEndian.Uint32(m.Bytes()[4:]))
	}
	if s := i.Stats(); s.RxUnknownProto != 5 || s.ICMPRateLimited != 4 {
		t.Fatalf("%+v", s)
	}
	// No next header (59) is dropped quietly.
	i.Input(t0.Add(sec), frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.IPv6NoNextHeader, 64, nil))), &c)
	if len(c.frames) != 0 {
		t.Fatal("answered no-next-header")
	}
}

func TestUnreachableOverIPv6SendsPortUnreachable_RFC4443_3_1(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	dg := udpDatagram(peer6, our6, 5353, 9, []byte("nobody"))
	f := frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoUDP, 64, dg)))
	in, ok := i.Input(t0, f, &c)
	if !ok || !i.Unreachable(t0, f, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("no error sent")
	}
	_, p, m := sentICMP6(t, c.take()[0].Bytes())
	if m.Type() != wire.ICMPv6DestUnreachable || m.Code() != wire.ICMPv6PortUnreachable || p.Dst() != peer6 ||
		!bytes.Equal(m.Body(), f.Bytes()[14:]) {
		t.Fatalf("error %d/%d to %v", m.Type(), m.Code(), p.Dst())
	}
}

func TestIPv6MulticastOutputUsesMappedMACAndHopLimit1_RFC2464_7(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	grp := netip.MustParseAddr("ff02::1:2")
	if err := i.Output(t0, transportBuf(i, []byte("dhcp")), &OutFields{Dst: grp, Proto: wire.ProtoUDP}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("%d frames (no resolution needed)", len(fr))
	}
	e, p := sent6(t, fr[0].Bytes())
	if e.Dst() != (wire.MAC{0x33, 0x33, 0, 1, 0, 2}) || p.HopLimit() != 1 || p.Src() != ourLL || p.Dst() != grp {
		t.Fatalf("%v hop %d %v -> %v", e.Dst(), p.HopLimit(), p.Src(), p.Dst())
	}
}

func TestNoICMPv6ErrorAboutMulticastOrErrors_RFC4443_2_4_e(t *testing.T) {
	i := newIface(t, func(c *Config) { dual(c); c.ICMPErrorRate = 1 << 20 })
	var c capture
	// Unknown next header to all-nodes: dropped, no parameter problem.
	i.Input(t0, frameOf(ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, 132, 64, make([]byte, 8)))), &c)
	// Unknown option (action 11) to all-nodes: dropped, no parameter problem.
	opt := append([]byte{wire.ProtoUDP, 0, 0xde, 1, 0, 1, 1, 0}, make([]byte, 8)...)
	i.Input(t0, frameOf(ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.IPv6DestOptions, 64, opt))), &c)
	if len(c.frames) != 0 {
		t.Fatal("error sent about a multicast packet")
	}
	// Unreachable about an ICMPv6 error, or a UDP datagram to a group, sends nothing.
	msg := icmp6Msg(wire.ICMPv6PacketTooBig, 0, 1400, quote6(), peer6, our6)
	f := frameOf(ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoICMPv6, 64, msg)))
	in, ok := i.Input(t0, f, &c)
	if !ok || i.Unreachable(t0, f, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("error about an ICMPv6 error")
	}
	grp := udpDatagram(peer6, allNodes, 1, 2, []byte("g"))
	f = frameOf(ethIP6(multicastMAC6(allNodesKey), ip6Packet(peer6, allNodes, wire.ProtoUDP, 64, grp)))
	in, ok = i.Input(t0, f, &c)
	if !ok || !in.Broadcast || i.Unreachable(t0, f, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatalf("UDP to all-nodes: ok=%v in=%+v", ok, in)
	}
	if len(c.frames) != 0 || i.Stats().ICMPErrorsOut != 0 {
		t.Fatal("sent an error")
	}
	checkCounters(t, i)
}
