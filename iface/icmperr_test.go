package iface

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/wire"
)

// ourSYNQuote is the start of a TCP segment we sent (ourIP:80 -> peerIP:40000,
// seq 0x11223344), as a router quotes it: IP header and 8 bytes (RFC 792).
func ourSYNQuote() []byte {
	seg := tcpSegment(ourIP, peerIP, 80, 40000, make([]byte, 1400))
	binary.BigEndian.PutUint32(seg[4:], 0x11223344)
	return ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: ourIP, Dst: peerIP, DontFragment: true}, seg)[:28]
}

func icmp4Error(typ, code uint8, mtu uint16, quote []byte, from netip.Addr) []byte {
	msg := make([]byte, wire.ICMPv4HeaderSize+len(quote))
	wire.EmitICMPv4(msg, &wire.ICMPv4Fields{Type: typ, Code: code, MTU: mtu}, quote)
	return ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: from, Dst: ourIP}, msg))
}

func TestFragNeededIsDeliveredWithQuotedEndpointSeqAndMTUFloor_RFC1191_RFC5927(t *testing.T) {
	router := netip.MustParseAddr("198.18.0.77")
	cases := []struct {
		mtu     uint16
		want    uint32
		clamped bool
	}{
		{1400, 1400, false},
		{68, MinPMTU4, true}, // REFERENCES item 25: a forged MTU of 68
		{576, 576, false},
		{0, 0, false}, // a router from before RFC 1191: the transport guesses (RFC 1191 §5)
	}
	for _, tc := range cases {
		i := newIface(t, nil)
		in, ok := i.Input(t0, frameOf(icmp4Error(wire.ICMPv4DestUnreachable, wire.ICMPv4FragNeeded, tc.mtu, ourSYNQuote(), router)), &discard{})
		if !ok || in.Proto != wire.ProtoICMP || in.Error == nil || in.Src != router {
			t.Fatalf("MTU %d: ok=%v in=%+v", tc.mtu, ok, in)
		}
		want := ICMPError{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4FragNeeded, MTU: tc.want, Clamped: tc.clamped,
			Proto: wire.ProtoTCP, Local: netip.AddrPortFrom(ourIP, 80), Remote: netip.AddrPortFrom(peerIP, 40000), Seq: 0x11223344}
		if *in.Error != want {
			t.Fatalf("MTU %d: %+v, want %+v", tc.mtu, *in.Error, want)
		}
		if s := i.Stats(); s.ICMPErrorsIn != 1 || (s.PMTUClamped == 1) != tc.clamped {
			t.Fatalf("%+v", s)
		}
		checkCounters(t, i)
	}
	// Port unreachable about UDP: ports, no seq, no MTU.
	udp := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: ourIP, Dst: peerIP}, udpDatagram(ourIP, peerIP, 5353, 9, nil))
	i := newIface(t, nil)
	in, ok := i.Input(t0, frameOf(icmp4Error(wire.ICMPv4DestUnreachable, wire.ICMPv4PortUnreachable, 0, udp, peerIP)), &discard{})
	if !ok || in.Error == nil || in.Error.Proto != wire.ProtoUDP || in.Error.Local.Port() != 5353 || in.Error.Remote.Port() != 9 || in.Error.MTU != 0 {
		t.Fatalf("port unreachable: %+v", in.Error)
	}
	// Time exceeded is an error too (a soft one for TCP, RFC 5927 §4.1).
	in, ok = i.Input(t0, frameOf(icmp4Error(wire.ICMPv4TimeExceeded, 0, 0, ourSYNQuote(), router)), &discard{})
	if !ok || in.Error == nil || in.Error.Type != wire.ICMPv4TimeExceeded {
		t.Fatalf("time exceeded: %+v", in.Error)
	}
}

func TestICMPErrorWithUnusableQuoteIsDropped(t *testing.T) {
	spoofed := ourSYNQuote()
	copy(spoofed[12:16], peerIP.AsSlice()) // claims a packet from someone else
	frag := ourSYNQuote()
	frag[7] = 1 // a non-first fragment: no TCP header in it
	cases := map[string][]byte{
		"quote from another source": spoofed,
		"quote of a later fragment": frag,
		"quote too short":           ourSYNQuote()[:27],
		"quote not IPv4":            append([]byte{0x60}, ourSYNQuote()[1:]...),
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			i := newIface(t, nil)
			if _, ok := i.Input(t0, frameOf(icmp4Error(wire.ICMPv4DestUnreachable, wire.ICMPv4FragNeeded, 1000, q, peerIP)), &discard{}); ok {
				t.Fatal("delivered")
			}
			if s := i.Stats(); s.RxBadICMPError != 1 || s.RxDropped() != 1 {
				t.Fatalf("%+v", s)
			}
		})
	}
}

// quote6 is the start of a TCP segment we sent over IPv6 (our6:443 ->
// peer6:50000, seq 0xa0b0c0d0).
func quote6() []byte {
	seg := tcpSegment(our6, peer6, 443, 50000, make([]byte, 1400))
	binary.BigEndian.PutUint32(seg[4:], 0xa0b0c0d0)
	return ip6Packet(our6, peer6, wire.ProtoTCP, 64, seg)[:1232]
}

func TestPacketTooBigIsDeliveredWithMTUFloor1280_RFC8201_4_RFC5927(t *testing.T) {
	router := netip.MustParseAddr("2001:db8::fe")
	for _, tc := range []struct{ mtu, want uint32 }{{1400, 1400}, {1000, MinPMTU6}, {68, MinPMTU6}, {1280, 1280}} {
		i := newIface(t, dual)
		msg := icmp6Msg(wire.ICMPv6PacketTooBig, 0, tc.mtu, quote6(), router, our6)
		in, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(router, our6, wire.ProtoICMPv6, 64, msg))), &discard{})
		if !ok || in.Proto != wire.ProtoICMPv6 || in.Error == nil {
			t.Fatalf("MTU %d: ok=%v in=%+v", tc.mtu, ok, in)
		}
		want := ICMPError{Type: wire.ICMPv6PacketTooBig, MTU: tc.want, Clamped: tc.mtu < 1280, Proto: wire.ProtoTCP,
			Local: netip.AddrPortFrom(our6, 443), Remote: netip.AddrPortFrom(peer6, 50000), Seq: 0xa0b0c0d0}
		if *in.Error != want {
			t.Fatalf("MTU %d: %+v want %+v", tc.mtu, *in.Error, want)
		}
		checkCounters(t, i)
	}
	// Errors to a multicast address, and quotes of someone else's packet, are dropped.
	i := newIface(t, dual)
	msg := icmp6Msg(wire.ICMPv6PacketTooBig, 0, 1400, quote6(), router, allNodes)
	if _, ok := i.Input(t0, frameOf(ethIP6(multicastMAC6(allNodesKey), ip6Packet(router, allNodes, wire.ProtoICMPv6, 64, msg))), &discard{}); ok {
		t.Fatal("error to all-nodes delivered")
	}
	q := quote6()
	copy(q[8:24], peer6.AsSlice())
	msg = icmp6Msg(wire.ICMPv6PacketTooBig, 0, 1400, q, router, our6)
	if _, ok := i.Input(t0, frameOf(ethIP6(ourMAC, ip6Packet(router, our6, wire.ProtoICMPv6, 64, msg))), &discard{}); ok {
		t.Fatal("quote from another source delivered")
	}
	if s := i.Stats(); s.RxBroadcast != 1 || s.RxBadICMPError != 1 {
		t.Fatalf("%+v", s)
	}
}

// Linux's port unreachable for a UDP datagram from 2001:db8::1 (wire/capture6_test.go).
const cap6PortUnreachable = "7e672fd5c1e84e28b9cafc3586dd600e0148003c3a4020010db800000000000000000000000220010db80000000000000000000000010104045500000000600e2d7e000c114020010db800000000000000000000000120010db8000000000000000000000002e903270f000caeb375647036"

func TestLinuxPortUnreachableOverIPv6IsDeliveredWithQuote_RFC4443_3_1(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.HardwareAddr = wire.MAC{0x7e, 0x67, 0x2f, 0xd5, 0xc1, 0xe8}
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}
		c.Gateway = netip.Addr{}
	})
	in, ok := i.Input(t0, frameOf(mustHexT(t, cap6PortUnreachable)), &discard{})
	if !ok || in.Error == nil {
		t.Fatalf("ok=%v in=%+v", ok, in)
	}
	want := ICMPError{Type: wire.ICMPv6DestUnreachable, Code: wire.ICMPv6PortUnreachable, Proto: wire.ProtoUDP,
		Local: netip.MustParseAddrPort("[2001:db8::1]:59651"), Remote: netip.MustParseAddrPort("[2001:db8::2]:9999")}
	if *in.Error != want {
		t.Fatalf("%+v", *in.Error)
	}
}
