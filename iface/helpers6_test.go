package iface

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/clock"
	"offload/wire"
)

var (
	our6  = netip.MustParseAddr("2001:db8::1")
	peer6 = netip.MustParseAddr("2001:db8::2")
	far6  = netip.MustParseAddr("2001:db8:1::7")
	gw6   = netip.MustParseAddr("fe80::fe")
	ourLL = netip.MustParseAddr("fe80::ff:fe00:1") // modified EUI-64 of ourMAC
)

// dual makes the interface dual-stack: 198.18.0.1/24 and 2001:db8::1/64, with
// fe80::fe as the IPv6 default router.
func dual(c *Config) {
	c.Addrs = append(c.Addrs, netip.MustParsePrefix("2001:db8::1/64"))
	c.Gateway6 = gw6
}

func ip6Packet(src, dst netip.Addr, nh, hop uint8, payload []byte) []byte {
	b := make([]byte, wire.IPv6HeaderSize+len(payload))
	wire.EmitIPv6(b, &wire.IPv6Fields{PayloadLen: uint16(len(payload)), NextHeader: nh, HopLimit: hop, Src: src, Dst: dst})
	copy(b[wire.IPv6HeaderSize:], payload)
	return b
}

func ethIP6(dst wire.MAC, ip []byte) []byte {
	return append(ethHdr(dst, peerMAC, wire.EtherTypeIPv6), ip...)
}

// tcp6Frame is an Ethernet frame with a valid TCP segment from peer6 to our6.
func tcp6Frame(data []byte) []byte {
	return ethIP6(ourMAC, ip6Packet(peer6, our6, wire.ProtoTCP, 64, tcpSegment(peer6, our6, 40000, 80, data)))
}

func icmp6Msg(typ, code uint8, rest uint32, body []byte, src, dst netip.Addr) []byte {
	m := make([]byte, wire.ICMPv6HeaderSize+len(body))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[8:], body)
	binary.BigEndian.PutUint16(m[2:], wire.FoldChecksum(wire.Checksum(m, wire.PseudoHeaderSum(wire.ProtoICMPv6, src, dst, len(m)))))
	return m
}

func ndpMsg(nd wire.NDPFields, src, dst netip.Addr) []byte {
	m := make([]byte, wire.NDPSize(&nd))
	wire.EmitNDP(m, &nd, src, dst)
	return m
}

func snmOf(a netip.Addr) netip.Addr { return netip.AddrFrom16(solicitedNode(key6(a))) }

// nsFrame is a neighbor solicitation from peer6 (with its MAC) for target, to
// target's solicited-node group.
func nsFrame(target netip.Addr) []byte {
	dst := snmOf(target)
	m := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: target, HasLinkAddr: true, LinkAddr: peerMAC}, peer6, dst)
	return ethIP6(multicastMAC6(key6(dst)), ip6Packet(peer6, dst, wire.ProtoICMPv6, 255, m))
}

// naFrame is an advertisement from ip (MAC mac) for itself, to our6.
func naFrame(ip netip.Addr, mac wire.MAC, solicited, override bool) []byte {
	m := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborAdvertisement, Target: ip, Solicited: solicited, Override: override, HasLinkAddr: true, LinkAddr: mac}, ip, our6)
	return append(ethHdr(ourMAC, mac, wire.EtherTypeIPv6), ip6Packet(ip, our6, wire.ProtoICMPv6, 255, m)...)
}

// learn6 makes peer6→peerMAC reachable through a solicitation from it.
func learn6(t testing.TB, i *Interface, now clock.Instant) {
	t.Helper()
	var c capture
	i.Input(now, frameOf(nsFrame(our6)), &c)
	c.releaseAll()
	if k := i.neigh.find(key6(peer6)); k == nilIdx || i.neigh.ents[k].state != neighReachable {
		t.Fatalf("neighbour %v not learned", peer6)
	}
}

// sent6 parses a frame we sent as Ethernet + IPv6.
func sent6(t testing.TB, b []byte) (wire.Ethernet, wire.IPv6) {
	t.Helper()
	e := mustEth(t, b)
	if e.EtherType() != wire.EtherTypeIPv6 {
		t.Fatalf("EtherType %#x", e.EtherType())
	}
	p, err := wire.ParseIPv6(e.Payload())
	if err != nil {
		t.Fatalf("ParseIPv6: %v", err)
	}
	return e, p
}

// sentICMP6 parses a frame we sent as an ICMPv6 message (checksum verified).
func sentICMP6(t testing.TB, b []byte) (wire.Ethernet, wire.IPv6, wire.ICMPv6) {
	t.Helper()
	e, p := sent6(t, b)
	if p.NextHeader() != wire.ProtoICMPv6 {
		t.Fatalf("next header %d", p.NextHeader())
	}
	m, err := wire.ParseICMPv6(p.Payload(), p.Src(), p.Dst())
	if err != nil {
		t.Fatalf("ParseICMPv6: %v", err)
	}
	return e, p, m
}

func mustHexT(t testing.TB, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for k := range b {
		var v byte
		for _, c := range s[2*k : 2*k+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				v |= byte(c-'a') + 10
			default:
				t.Fatalf("bad hex %q", c)
			}
		}
		b[k] = v
	}
	return b
}
