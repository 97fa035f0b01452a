package iface

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/pkt"
	"offload/wire"
)

func TestTCPForUsIsDeliveredWithPayloadAliasingFrame(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	raw := tcpFrame([]byte("hello"))
	// Ethernet padding after the IP packet must not reach the transport.
	raw = append(raw, 0, 0, 0, 0)
	f := frameOf(raw)
	in, ok := i.Input(t0, f, &c)
	if !ok {
		t.Fatalf("not delivered; stats %+v", i.Stats())
	}
	if in.Proto != wire.ProtoTCP || in.Src != peerIP || in.Dst != ourIP || in.TTL != 64 || in.Broadcast {
		t.Fatalf("inbound %+v", in)
	}
	if len(in.Payload) != 25 || !bytes.Equal(in.Payload[20:], []byte("hello")) {
		t.Fatalf("payload %x", in.Payload)
	}
	if &f.Bytes()[in.PayloadOffset] != &in.Payload[0] {
		t.Fatal("payload does not alias the frame at PayloadOffset")
	}
	if in.PayloadOffset != wire.EthernetHeaderSize+wire.IPv4HeaderSize {
		t.Fatalf("offset %d", in.PayloadOffset)
	}
	checkCounters(t, i)
}

func TestTCPWithBadChecksumIsDroppedUnlessTrusted(t *testing.T) {
	raw := tcpFrame([]byte("hello"))
	raw[len(raw)-1] ^= 0xff // corrupt the data, not the IP header
	i := newIface(t, nil)
	var c capture
	if _, ok := i.Input(t0, frameOf(raw), &c); ok {
		t.Fatal("bad TCP checksum delivered")
	}
	if s := i.Stats(); s.RxBadTransport != 1 {
		t.Fatalf("bad transport %d", s.RxBadTransport)
	}
	for _, st := range []pkt.ChecksumState{pkt.ChecksumVerified, pkt.ChecksumPartial} {
		f := frameOf(raw)
		f.Meta.Checksum = st
		if _, ok := i.Input(t0, f, &c); !ok {
			t.Fatalf("frame with Meta.Checksum %d re-verified", st)
		}
	}
	trusted := newIface(t, func(c *Config) { c.RxChecksumTrusted = true })
	if _, ok := trusted.Input(t0, frameOf(raw), &c); !ok {
		t.Fatal("RxChecksumTrusted interface verified the checksum")
	}
}

func TestUDPIsVerifiedAndZeroChecksumAccepted_RFC768(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	dg := udpDatagram(peerIP, ourIP, 5353, 53, []byte("q"))
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, dg)
	if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, ip)), &c); !ok {
		t.Fatal("valid UDP dropped")
	}
	nocsum := bytes.Clone(dg)
	nocsum[6], nocsum[7] = 0, 0
	ip = ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, nocsum)
	if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, ip)), &c); !ok {
		t.Fatal("UDP without checksum dropped (legal over IPv4)")
	}
	bad := bytes.Clone(dg)
	bad[8] ^= 1
	ip = ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, bad)
	if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, ip)), &c); ok {
		t.Fatal("corrupt UDP delivered")
	}
	short := bytes.Clone(dg)
	binary.BigEndian.PutUint16(short[4:], 200) // length beyond the datagram
	ip = ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, short)
	if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, ip)), &c); ok {
		t.Fatal("UDP with length past the packet delivered")
	}
	if s := i.Stats(); s.RxBadTransport != 2 || s.Delivered != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUDPToBroadcastIsDeliveredTCPIsNot_RFC1122_4_2_3_10(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	for _, dst := range []netip.Addr{bcastIP, netip.MustParseAddr("255.255.255.255")} {
		dg := udpDatagram(peerIP, dst, 68, 67, []byte("x"))
		ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: dst}, dg)
		in, ok := i.Input(t0, frameOf(ethIP(wire.BroadcastMAC, ip)), &c)
		if !ok || !in.Broadcast {
			t.Fatalf("UDP to %v: ok=%v broadcast=%v", dst, ok, in.Broadcast)
		}
		seg := tcpSegment(peerIP, dst, 1, 80, nil)
		ip = ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: dst}, seg)
		if _, ok := i.Input(t0, frameOf(ethIP(wire.BroadcastMAC, ip)), &c); ok {
			t.Fatalf("TCP to broadcast %v delivered", dst)
		}
	}
	if s := i.Stats(); s.RxBroadcast != 2 {
		t.Fatalf("broadcast drops %d", s.RxBroadcast)
	}
}

func TestIPv4DropsAreCountedByReason(t *testing.T) {
	seg := tcpSegment(peerIP, ourIP, 1, 80, []byte("data"))
	good := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)
	mod := func(f func([]byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	// fixSum recomputes the header checksum after a deliberate field change, so
	// the drop is for the field and not the checksum.
	fixSum := func(b []byte) {
		hl := int(b[0]&0xf) * 4
		if hl > len(b) || hl < 20 {
			hl = 20
		}
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], wire.FoldChecksum(wire.Checksum(b[:hl], 0)))
	}
	cases := []struct {
		name  string
		pkt   []byte
		field func(Stats) uint64
	}{
		{"IHL 4", mod(func(b []byte) { b[0] = 0x44; fixSum(b) }), func(s Stats) uint64 { return s.RxBadIP }},
		{"IHL past packet", mod(func(b []byte) { b[0] = 0x4f; fixSum(b) }), func(s Stats) uint64 { return s.RxBadIP }},
		{"version 5", mod(func(b []byte) { b[0] = 0x55; fixSum(b) }), func(s Stats) uint64 { return s.RxBadIP }},
		{"total length beyond frame", mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 1400); fixSum(b) }), func(s Stats) uint64 { return s.RxBadIP }},
		{"total length below header", mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 19); fixSum(b) }), func(s Stats) uint64 { return s.RxBadIP }},
		{"truncated header", good[:19], func(s Stats) uint64 { return s.RxBadIP }},
		{"bad header checksum", mod(func(b []byte) { b[10] ^= 0x55 }), func(s Stats) uint64 { return s.RxBadIPChecksum }},
		{"not for us", mod(func(b []byte) { copy(b[16:], []byte{198, 18, 0, 3}); fixSum(b) }), func(s Stats) uint64 { return s.RxNotForUs }},
		{"multicast dst", mod(func(b []byte) { copy(b[16:], []byte{224, 0, 0, 1}); fixSum(b) }), func(s Stats) uint64 { return s.RxNotForUs }},
		{"broadcast src", mod(func(b []byte) { copy(b[12:], []byte{255, 255, 255, 255}); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"subnet broadcast src", mod(func(b []byte) { copy(b[12:], []byte{198, 18, 0, 255}); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"multicast src", mod(func(b []byte) { copy(b[12:], []byte{239, 1, 1, 1}); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"loopback src", mod(func(b []byte) { copy(b[12:], []byte{127, 0, 0, 1}); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"our own src", mod(func(b []byte) { copy(b[12:], ourIP.AsSlice()); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"this-network src", mod(func(b []byte) { copy(b[12:], []byte{0, 1, 2, 3}); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"zero src TCP", mod(func(b []byte) { clear(b[12:16]); fixSum(b) }), func(s Stats) uint64 { return s.RxMartian }},
		{"non-last fragment not a multiple of 8", ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP, MoreFragments: true}, seg[:23]), func(s Stats) uint64 { return s.ReasmBadFragment }},
		{"fragment past 65535", mod(func(b []byte) { b[6], b[7] = 0x1f, 0xff; fixSum(b) }), func(s Stats) uint64 { return s.ReasmTooBig }},
		{"unknown protocol", mod(func(b []byte) { b[9] = 132; fixSum(b) }), func(s Stats) uint64 { return s.RxUnknownProto }},
		{"TCP shorter than a header", ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg[:12]), func(s Stats) uint64 { return s.RxBadTransport }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := newIface(t, nil)
			var c capture
			if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, tc.pkt)), &c); ok {
				t.Fatal("delivered")
			}
			s := i.Stats()
			if tc.field(s) != 1 || s.RxDropped() != 1 {
				t.Fatalf("wrong counter: %+v", s)
			}
			if len(c.frames) != 0 && tc.name != "unknown protocol" {
				t.Fatal("sent something in response")
			}
			checkCounters(t, i)
		})
	}
}

func TestEthernetFilteringByMACAndEtherType(t *testing.T) {
	seg := tcpSegment(peerIP, ourIP, 1, 80, nil)
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)
	other := wire.MAC{0x02, 9, 9, 9, 9, 9}
	cases := []struct {
		name  string
		frame []byte
		field func(Stats) uint64
	}{
		{"short", make([]byte, 13), func(s Stats) uint64 { return s.RxBadEthernet }},
		{"other host", append(ethHdr(other, peerMAC, wire.EtherTypeIPv4), ip...), func(s Stats) uint64 { return s.RxNotOurMAC }},
		{"multicast dst", append(ethHdr(wire.MAC{1, 0, 0x5e, 0, 0, 1}, peerMAC, wire.EtherTypeIPv4), ip...), func(s Stats) uint64 { return s.RxNotOurMAC }},
		{"multicast src", append(ethHdr(ourMAC, wire.MAC{1, 2, 3, 4, 5, 6}, wire.EtherTypeIPv4), ip...), func(s Stats) uint64 { return s.RxBadEthernet }},
		{"IPv6", append(ethHdr(ourMAC, peerMAC, wire.EtherTypeIPv6), ip...), func(s Stats) uint64 { return s.RxUnsupported }},
		{"tagged on untagged interface", vlanFrame(ourMAC, 7, ip), func(s Stats) uint64 { return s.RxVLAN }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := newIface(t, nil)
			var c capture
			if _, ok := i.Input(t0, frameOf(tc.frame), &c); ok {
				t.Fatal("delivered")
			}
			if s := i.Stats(); tc.field(s) != 1 || s.RxDropped() != 1 {
				t.Fatalf("wrong counter: %+v", s)
			}
		})
	}
}

func vlanFrame(dst wire.MAC, vid uint16, payload []byte) []byte {
	h := make([]byte, wire.EthernetHeaderSize+wire.VLANTagSize)
	wire.EmitEthernet(h, &wire.EthernetFields{Dst: dst, Src: peerMAC, EtherType: wire.EtherTypeIPv4, HasVLAN: true, VLAN: vid})
	return append(h, payload...)
}

func TestVLANInterfaceAcceptsOnlyItsTagAndTagsWhatItSends_IEEE8021Q(t *testing.T) {
	i := newIface(t, func(c *Config) { c.VLAN = 7 })
	if i.Headroom() != 18+20 {
		t.Fatalf("headroom %d", i.Headroom())
	}
	var c capture
	seg := tcpSegment(peerIP, ourIP, 1, 80, nil)
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)
	// Priority bits in the TCI do not matter, only the VID.
	in, ok := i.Input(t0, frameOf(vlanFrame(ourMAC, 0xA007, ip)), &c)
	if !ok || in.PayloadOffset != 18+20 {
		t.Fatalf("tagged frame: ok=%v offset %d", ok, in.PayloadOffset)
	}
	for _, f := range [][]byte{vlanFrame(ourMAC, 8, ip), ethIP(ourMAC, ip)} {
		if _, ok := i.Input(t0, frameOf(f), &c); ok {
			t.Fatal("frame for another VLAN or untagged delivered")
		}
	}
	if s := i.Stats(); s.RxVLAN != 2 {
		t.Fatalf("vlan drops %d", s.RxVLAN)
	}
	// An ARP reply must be tagged too; what we send then carries our tag.
	arp := arpFrame(wire.ARPReply, ourMAC, peerMAC, peerIP, ourMAC, ourIP)
	tagged := make([]byte, 18)
	wire.EmitEthernet(tagged, &wire.EthernetFields{Dst: ourMAC, Src: peerMAC, EtherType: wire.EtherTypeARP, HasVLAN: true, VLAN: 7})
	tagged = append(tagged, arp[14:]...)
	i.Input(t0, frameOf(tagged), &c)
	if err := i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames, want the packet to a tagged-ARP-learned neighbour", len(fr))
	}
	e := mustEth(t, fr[0].Bytes())
	if tci, ok := e.VLAN(); !ok || tci != 7 || e.Dst() != peerMAC || e.EtherType() != wire.EtherTypeIPv4 {
		t.Fatalf("sent %+v", e.Fields())
	}
}

func TestUnicastIPInLinkBroadcastIsDropped_RFC1122_3_3_6(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	seg := tcpSegment(peerIP, ourIP, 1, 80, nil)
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)
	if _, ok := i.Input(t0, frameOf(ethIP(wire.BroadcastMAC, ip)), &c); ok {
		t.Fatal("delivered")
	}
	if s := i.Stats(); s.RxBroadcast != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestICMPErrorToBroadcastIsDropped_RFC1122_3_2_2(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	msg := make([]byte, wire.ICMPv4HeaderSize+28)
	wire.EmitICMPv4(msg, &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4PortUnreachable}, msg[8:])
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: bcastIP}, msg)
	if _, ok := i.Input(t0, frameOf(ethIP(wire.BroadcastMAC, ip)), &c); ok {
		t.Fatal("delivered")
	}
	if s := i.Stats(); s.RxBroadcast != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Options are skipped (RFC 791 §3.1: IHL counts them); the transport sees
// only its own header and data.
func TestIPv4OptionsAreSkippedToReachTransport_RFC791(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	seg := tcpSegment(peerIP, ourIP, 1, 80, []byte("opt"))
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)
	withOpts := make([]byte, 0, len(ip)+4)
	withOpts = append(withOpts, ip[:20]...)
	withOpts = append(withOpts, 1, 1, 1, 0) // NOP NOP NOP EOL
	withOpts = append(withOpts, seg...)
	withOpts[0] = 0x46
	binary.BigEndian.PutUint16(withOpts[2:], uint16(len(withOpts)))
	withOpts[10], withOpts[11] = 0, 0
	binary.BigEndian.PutUint16(withOpts[10:], wire.FoldChecksum(wire.Checksum(withOpts[:24], 0)))
	in, ok := i.Input(t0, frameOf(ethIP(ourMAC, withOpts)), &c)
	if !ok || in.PayloadOffset != 14+24 || in.IPOffset != 14 || !bytes.Equal(in.Payload, seg) {
		t.Fatalf("ok=%v offset %d payload %x", ok, in.PayloadOffset, in.Payload)
	}
}
