package iface

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// frag4 is an Ethernet frame holding the IPv4 fragment of datagram id at
// offset off (bytes) carrying data.
func frag4(id uint16, proto uint8, off int, more bool, data []byte) []byte {
	return ethIP(ourMAC, ipPacket(wire.IPv4Fields{ID: id, Protocol: proto, Src: peerIP, Dst: ourIP, FragOffset: uint16(off), MoreFragments: more}, data))
}

// frag6 is an Ethernet frame holding an IPv6 fragment (RFC 8200 §4.5).
func frag6(id uint32, nh uint8, off int, more bool, data []byte) []byte {
	fh := make([]byte, wire.IPv6FragmentHeaderSize)
	wire.EmitIPv6Fragment(fh, &wire.IPv6FragmentFields{NextHeader: nh, Offset: uint16(off), More: more, ID: id})
	return ethIP6(ourMAC, ip6Packet(peer6, our6, wire.IPv6Fragment, 64, append(fh, data...)))
}

// split cuts b into pieces of size n (the last shorter), with their offsets.
func split(b []byte, n int) (offs []int, parts [][]byte) {
	for o := 0; o < len(b); o += n {
		offs = append(offs, o)
		parts = append(parts, b[o:min(o+n, len(b))])
	}
	return offs, parts
}

func bigUDP(n int) []byte {
	data := make([]byte, n)
	for k := range data {
		data[k] = byte(k * 7)
	}
	return udpDatagram(peerIP, ourIP, 5000, 53, data)
}

func TestIPv4FragmentsAreReassembledInAnyOrder_RFC791_3_2_RFC815(t *testing.T) {
	dg := bigUDP(4000)
	offs, parts := split(dg, 1480)
	orders := map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "middle first": {1, 2, 0}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			i := newIface(t, nil)
			var c capture
			var in Inbound
			var ok bool
			for n, k := range order {
				in, ok = i.Input(t0, frameOf(frag4(77, wire.ProtoUDP, offs[k], k != len(parts)-1, parts[k])), &c)
				if ok != (n == len(order)-1) {
					t.Fatalf("fragment %d: ok=%v", k, ok)
				}
			}
			if in.Proto != wire.ProtoUDP || !bytes.Equal(in.Payload, dg) || in.Frame == nil || in.Src != peerIP {
				t.Fatalf("in=%+v", in)
			}
			fb := in.Frame.Bytes()
			if in.IPOffset != 14 || in.PayloadOffset != 34 || &fb[34] != &in.Payload[0] {
				t.Fatalf("offsets %d %d", in.IPOffset, in.PayloadOffset)
			}
			p := mustIPv4(t, fb[14:])
			if p.TotalLen() != uint16(20+len(dg)) || p.IsFragment() || p.ID() != 77 || mustEth(t, fb).Src() != peerMAC {
				t.Fatalf("rebuilt header %+v", p.Fields())
			}
			s := i.Stats()
			if s.FragmentsHeld != 2 || s.ReasmDone != 1 || s.ReasmDelivered != 1 || s.Delivered != 1 || s.RxFragments != 3 {
				t.Fatalf("%+v", s)
			}
			checkCounters(t, i)
			// The slot is the interface's until the next call; then it is free.
			if !i.reasm.slots[i.reasm.lent].inUse {
				t.Fatal("slot freed while lent")
			}
			i.Input(t0, frameOf(tcpFrame(nil)), &c)
			if n, b := i.ReassemblyInUse(); n != 0 || b != 0 || i.reasm.lent != nilIdx {
				t.Fatalf("after the next Input: %d datagrams, %d bytes", n, b)
			}
		})
	}
}

func TestCorruptReassembledDatagramFailsTransportChecksumEvenIfDeviceVerified(t *testing.T) {
	i := newIface(t, func(c *Config) { c.RxChecksumTrusted = true })
	dg := bigUDP(2000)
	dg[100] ^= 0xff
	offs, parts := split(dg, 1480)
	var c capture
	for k := range parts {
		if _, ok := i.Input(t0, frameOf(frag4(5, wire.ProtoUDP, offs[k], k == 0, parts[k])), &c); ok {
			t.Fatal("corrupt datagram delivered")
		}
	}
	if s := i.Stats(); s.RxBadTransport != 1 || s.ReasmDone != 1 {
		t.Fatalf("%+v", s)
	}
	checkCounters(t, i)
}

func TestOverlappingFragmentsDropTheWholeDatagram_RFC5722(t *testing.T) {
	dg := bigUDP(3000)
	i := newIface(t, nil)
	var c capture
	i.Input(t0, frameOf(frag4(9, wire.ProtoUDP, 0, true, dg[:1480])), &c)
	// Same bytes range shifted by 8: overlaps the first fragment.
	if _, ok := i.Input(t0, frameOf(frag4(9, wire.ProtoUDP, 1472, true, dg[1472:2952])), &c); ok {
		t.Fatal("delivered")
	}
	if n, _ := i.ReassemblyInUse(); n != 0 || i.Stats().ReasmOverlaps != 1 {
		t.Fatalf("datagram kept after overlap: %+v", i.Stats())
	}
	// The rest arrives: it cannot complete anything.
	i.Input(t0, frameOf(frag4(9, wire.ProtoUDP, 1480, true, dg[1480:2960])), &c)
	if _, ok := i.Input(t0, frameOf(frag4(9, wire.ProtoUDP, 2960, false, dg[2960:])), &c); ok {
		t.Fatal("completed from the remains of a dropped datagram")
	}
	// IPv6 does the same.
	j := newIface(t, dual)
	j.Input(t0, frameOf(frag6(1, wire.ProtoUDP, 0, true, make([]byte, 64))), &c)
	j.Input(t0, frameOf(frag6(1, wire.ProtoUDP, 56, false, make([]byte, 64))), &c)
	if n, _ := j.ReassemblyInUse(); n != 0 || j.Stats().ReasmOverlaps != 1 {
		t.Fatalf("IPv6 overlap: %+v", j.Stats())
	}
	checkCounters(t, i)
	checkCounters(t, j)
}

func TestExactDuplicateFragmentIsDroppedAloneAndDatagramCompletes(t *testing.T) {
	dg := bigUDP(2000)
	offs, parts := split(dg, 1480)
	i := newIface(t, nil)
	var c capture
	i.Input(t0, frameOf(frag4(3, wire.ProtoUDP, offs[0], true, parts[0])), &c)
	i.Input(t0, frameOf(frag4(3, wire.ProtoUDP, offs[0], true, parts[0])), &c)
	in, ok := i.Input(t0, frameOf(frag4(3, wire.ProtoUDP, offs[1], false, parts[1])), &c)
	if !ok || !bytes.Equal(in.Payload, dg) {
		t.Fatal("not delivered after a duplicate")
	}
	if s := i.Stats(); s.ReasmDuplicates != 1 || s.RxFragDrops != 1 {
		t.Fatalf("%+v", s)
	}
	checkCounters(t, i)
}

func TestReassemblyPast65535BytesIsDropped_RFC791_RFC8200_4_5(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	i.Input(t0, frameOf(frag4(1, wire.ProtoUDP, 0, true, make([]byte, 1480))), &c)
	// 65528 + 16 > 65535 - 20.
	i.Input(t0, frameOf(frag4(1, wire.ProtoUDP, 65528, false, make([]byte, 16))), &c)
	if n, _ := i.ReassemblyInUse(); n != 0 || i.Stats().ReasmTooBig != 1 {
		t.Fatalf("IPv4: %+v", i.Stats())
	}
	// IPv6: the payload length (fragmentable part) may reach 65535, not pass it.
	i.Input(t0, frameOf(frag6(2, wire.ProtoUDP, 0, true, make([]byte, 1232))), &c)
	i.Input(t0, frameOf(frag6(2, wire.ProtoUDP, 65528, false, make([]byte, 8))), &c)
	if n, _ := i.ReassemblyInUse(); n != 0 || i.Stats().ReasmTooBig != 2 {
		t.Fatalf("IPv6: %+v", i.Stats())
	}
	checkCounters(t, i)
}

func TestFragmentBoundsPerDatagramAndInconsistentEnds(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ReassemblyFragments = 4 })
	var c capture
	for k := range 5 {
		i.Input(t0, frameOf(frag4(1, wire.ProtoUDP, 8*k, true, make([]byte, 8))), &c)
	}
	if s := i.Stats(); s.ReasmTooManyFragments != 1 {
		t.Fatalf("%+v", s)
	}
	// Two different ends.
	i.Input(t0, frameOf(frag4(2, wire.ProtoUDP, 16, false, make([]byte, 8))), &c)
	i.Input(t0, frameOf(frag4(2, wire.ProtoUDP, 40, false, make([]byte, 8))), &c)
	// Data past a known end.
	i.Input(t0, frameOf(frag4(3, wire.ProtoUDP, 16, false, make([]byte, 8))), &c)
	i.Input(t0, frameOf(frag4(3, wire.ProtoUDP, 32, true, make([]byte, 8))), &c)
	if s := i.Stats(); s.ReasmBadFragment != 2 {
		t.Fatalf("%+v", s)
	}
	if n, _ := i.ReassemblyInUse(); n != 0 {
		t.Fatalf("%d datagrams left", n)
	}
	checkCounters(t, i)
}

func TestIncompleteDatagramsTimeOut_RFC1122_3_3_2_RFC8200_4_5(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	i.Input(t0, frameOf(frag4(1, wire.ProtoUDP, 0, true, make([]byte, 8))), &c)
	i.Input(t0, frameOf(frag6(1, wire.ProtoUDP, 0, true, make([]byte, 8))), &c)
	if d := i.Deadline(); d != t0.Add(DefaultReassemblyTimeout) {
		t.Fatalf("deadline %v", d)
	}
	i.Poll(t0.Add(DefaultReassemblyTimeout-time.Millisecond), &c)
	if n, _ := i.ReassemblyInUse(); n != 2 {
		t.Fatal("expired early")
	}
	i.Poll(t0.Add(DefaultReassemblyTimeout), &c)
	if n, _ := i.ReassemblyInUse(); n != 1 || i.Deadline() != t0.Add(DefaultReassemblyTimeout6) {
		t.Fatalf("after the IPv4 timeout: %d datagrams, deadline %v", n, i.Deadline())
	}
	i.Poll(t0.Add(DefaultReassemblyTimeout6), &c)
	if n, b := i.ReassemblyInUse(); n != 0 || b != 0 || i.Deadline() != clock.Never || i.Stats().ReasmTimeouts != 2 {
		t.Fatalf("after the IPv6 timeout: %d datagrams, %d bytes, %+v", n, b, i.Stats())
	}
	if len(c.frames) != 0 {
		t.Fatal("sent something")
	}
}

// A flood of random fragments from many sources must keep reassembly state
// within its bounds, and a real datagram must still get through afterwards.
func TestFragmentFloodKeepsMemoryBounded_RFC8200_4_5(t *testing.T) {
	i := newIface(t, func(c *Config) {
		dual(c)
		c.Addrs[0] = netip.MustParsePrefix("198.18.0.1/16")
	})
	rng := rand.New(rand.NewPCG(1, 2))
	var d discard
	buf := make([]byte, 1500)
	for n := range 100_000 {
		ln := 8 * (1 + rng.IntN(180))
		off := 8 * rng.IntN(8000)
		var f []byte
		if n%2 == 0 {
			src := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(256)), byte(2 + rng.IntN(250))})
			f = ethIP(ourMAC, ipPacket(wire.IPv4Fields{ID: uint16(rng.Uint32()), Protocol: wire.ProtoUDP, Src: src, Dst: ourIP,
				FragOffset: uint16(off), MoreFragments: rng.IntN(4) != 0}, buf[:ln]))
		} else {
			f = frag6(rng.Uint32()%512, wire.ProtoUDP, off, rng.IntN(4) != 0, buf[:ln])
		}
		i.Input(t0.Add(time.Duration(n)*time.Microsecond), frameOf(f), &d)
		if dg, b := i.ReassemblyInUse(); dg > DefaultReassemblyDatagrams || b > DefaultReassemblyBytes {
			t.Fatalf("after %d fragments: %d datagrams, %d bytes", n, dg, b)
		}
	}
	allocated := 0
	for k := range i.reasm.slots {
		if i.reasm.slots[k].buf != nil {
			allocated++
		}
	}
	s := i.Stats()
	if allocated > DefaultReassemblyDatagrams || s.ReasmEvicted == 0 {
		t.Fatalf("%d buffers allocated, %+v", allocated, s)
	}
	checkCounters(t, i)
	dg := bigUDP(3000)
	offs, parts := split(dg, 1480)
	var in Inbound
	var ok bool
	for k := range parts {
		in, ok = i.Input(t0.Add(time.Second), frameOf(frag4(4242, wire.ProtoUDP, offs[k], k != len(parts)-1, parts[k])), &d)
	}
	if !ok || !bytes.Equal(in.Payload, dg) {
		t.Fatal("a real datagram did not get through after the flood")
	}
}

func TestReassemblyBytesBoundEvictsOldest(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ReassemblyBytes = 4000 })
	var c capture
	i.Input(t0, frameOf(frag4(1, wire.ProtoUDP, 0, true, make([]byte, 1480))), &c)
	i.Input(t0+1, frameOf(frag4(2, wire.ProtoUDP, 0, true, make([]byte, 1480))), &c)
	i.Input(t0+2, frameOf(frag4(3, wire.ProtoUDP, 0, true, make([]byte, 1480))), &c)
	if n, b := i.ReassemblyInUse(); n != 2 || b != 2960 || i.Stats().ReasmEvicted != 1 {
		t.Fatalf("%d datagrams, %d bytes, %+v", n, b, i.Stats())
	}
	if _, ok := i.reasm.idx[fragKey{src: keyOf(peerIP), dst: keyOf(ourIP), id: 1, proto: wire.ProtoUDP}]; ok {
		t.Fatal("the oldest datagram survived")
	}
	// A later fragment of a datagram in progress also makes room by dropping
	// the oldest other datagram, not itself.
	i.Input(t0+3, frameOf(frag4(3, wire.ProtoUDP, 1480, true, make([]byte, 1480))), &c)
	if n, b := i.ReassemblyInUse(); n != 1 || b != 2960 || i.Stats().ReasmEvicted != 2 {
		t.Fatalf("%d datagrams, %d bytes, %+v", n, b, i.Stats())
	}
	if _, ok := i.reasm.idx[fragKey{src: keyOf(peerIP), dst: keyOf(ourIP), id: 3, proto: wire.ProtoUDP}]; !ok {
		t.Fatal("the growing datagram was dropped")
	}
	checkCounters(t, i)
}

func TestIPv6FragmentsReassembledAndAtomicFragmentPassedWhole_RFC8200_4_5_RFC6946(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	seg := tcpSegment(peer6, our6, 40000, 80, bytes.Repeat([]byte("v6"), 1500))
	offs, parts := split(seg, 1448)
	var in Inbound
	var ok bool
	for k := len(parts) - 1; k >= 0; k-- {
		in, ok = i.Input(t0, frameOf(frag6(0xabcdef, wire.ProtoTCP, offs[k], k != len(parts)-1, parts[k])), &c)
	}
	if !ok || in.Proto != wire.ProtoTCP || !bytes.Equal(in.Payload, seg) || in.Frame == nil || in.PayloadOffset != 54 {
		t.Fatalf("ok=%v in=%+v", ok, in)
	}
	_, p := sent6(t, in.Frame.Bytes())
	if int(p.PayloadLen()) != len(seg) || p.NextHeader() != wire.ProtoTCP || p.Src() != peer6 {
		t.Fatalf("rebuilt header %+v", p.Fields())
	}
	// An atomic fragment is a whole packet: no reassembly state, no Frame.
	in, ok = i.Input(t0, frameOf(frag6(7, wire.ProtoTCP, 0, false, tcpSegment(peer6, our6, 40000, 80, []byte("atomic")))), &c)
	if !ok || in.Frame != nil || string(in.Payload[20:]) != "atomic" || in.PayloadOffset != 14+40+8 {
		t.Fatalf("atomic: ok=%v in=%+v", ok, in)
	}
	if s := i.Stats(); s.FragAtomic != 1 || s.ReasmDone != 1 {
		t.Fatalf("%+v", s)
	}
	if n, _ := i.ReassemblyInUse(); n != 0 {
		t.Fatal("state left behind")
	}
	checkCounters(t, i)
}

func TestUnreachableAboutReassembledDatagramQuotesTheWhole(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	dg := bigUDP(2000)
	offs, parts := split(dg, 1480)
	var in Inbound
	var last = frameOf(frag4(8, wire.ProtoUDP, offs[1], false, parts[1]))
	i.Input(t0, frameOf(frag4(8, wire.ProtoUDP, offs[0], true, parts[0])), &c)
	in, ok := i.Input(t0, last, &c)
	if !ok || !i.Unreachable(t0, last, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("no error")
	}
	fr := c.take()
	p := mustIPv4(t, mustEth(t, fr[0].Bytes()).Payload())
	q, err := wire.ParseIPv4Quote(p.Payload()[8:])
	if err != nil || q.FragOffset() != 0 || q.SrcPort() != 5000 || q.TotalLen() != uint16(20+len(dg)) {
		t.Fatalf("quote %v", err)
	}
}

func TestReassemblyDoesNotAllocateOnceWarm(t *testing.T) {
	i := newIface(t, nil)
	dg := bigUDP(3000)
	offs, parts := split(dg, 1480)
	frames := make([][]byte, len(parts))
	for k := range parts {
		frames[k] = frag4(1, wire.ProtoUDP, offs[k], k != len(parts)-1, parts[k])
	}
	frs := make([]*frameT, len(frames))
	for k := range frames {
		frs[k] = &frameT{frameOf(frames[k])}
	}
	var d discard
	round := func() {
		for k := range frs {
			i.Input(t0, frs[k].b, &d)
		}
	}
	round()
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%v allocations per reassembled datagram", a)
	}
}

type frameT struct{ b *pkt.Buffer }

func TestReassemblyOnVLANWithDeviceHeadroomKeepsLinkHeaderForUnreachable(t *testing.T) {
	i := newIface(t, func(c *Config) { c.VLAN = 7; c.DeviceHeadroom = 10 })
	var c capture
	dg := bigUDP(2000)
	offs, parts := split(dg, 1480)
	var in Inbound
	var ok bool
	var last *pkt.Buffer
	for k := range parts {
		last = frameOf(vlanFrame(ourMAC, 7, ipPacket(wire.IPv4Fields{ID: 4, Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP,
			FragOffset: uint16(offs[k]), MoreFragments: k == 0}, parts[k])))
		in, ok = i.Input(t0, last, &c)
	}
	if !ok || !bytes.Equal(in.Payload, dg) || in.IPOffset != 18 || in.PayloadOffset != 38 {
		t.Fatalf("ok=%v offsets %d %d", ok, in.IPOffset, in.PayloadOffset)
	}
	if e := mustEth(t, in.Frame.Bytes()); e.Src() != peerMAC {
		t.Fatalf("link header %x", in.Frame.Bytes()[:18])
	}
	if !i.Unreachable(t0, last, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("no error")
	}
	fr := c.take()
	if e := mustEth(t, fr[0].Bytes()); e.Dst() != peerMAC {
		t.Fatalf("error to %v", e.Dst())
	}
}

func TestIPv6FirstFragmentWithoutWholeHeaderChainIsDropped_RFC7112_5(t *testing.T) {
	i := newIface(t, dual)
	var c capture
	// Destination options in the fragmentable part, then only 8 bytes of TCP.
	first := append([]byte{wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0}, make([]byte, 8)...)
	i.Input(t0, frameOf(frag6(1, wire.IPv6DestOptions, 0, true, first)), &c)
	if n, _ := i.ReassemblyInUse(); n != 0 || i.Stats().ReasmBadFragment != 1 || i.Stats().RxFragDrops != 1 {
		t.Fatalf("%+v", i.Stats())
	}
	// A first fragment that carries the whole TCP header is held.
	i.Input(t0, frameOf(frag6(2, wire.ProtoTCP, 0, true, make([]byte, 24))), &c)
	if n, _ := i.ReassemblyInUse(); n != 1 {
		t.Fatal("complete first fragment not held")
	}
	checkCounters(t, i)
}

// A first fragment with 40 bytes of options fixes the whole's header at 60
// bytes; a last fragment with a plain header must not stretch the payload past
// 65,535 - 60.
func TestReassemblyLimitFollowsFirstFragmentsHeaderLength_RFC791(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	first := ipPacket(wire.IPv4Fields{ID: 6, Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP, MoreFragments: true}, nil)
	opts := make([]byte, 40)
	for k := range opts {
		opts[k] = 1
	}
	hdr := append(append([]byte{}, first[:20]...), opts...)
	hdr[0] = 0x4f
	pl := make([]byte, 64)
	hdr = append(hdr, pl...)
	binary.BigEndian.PutUint16(hdr[2:], uint16(len(hdr)))
	hdr[10], hdr[11] = 0, 0
	binary.BigEndian.PutUint16(hdr[10:], wire.FoldChecksum(wire.Checksum(hdr[:60], 0)))
	i.Input(t0, frameOf(ethIP(ourMAC, hdr)), &c)
	if n, _ := i.ReassemblyInUse(); n != 1 {
		t.Fatal("first fragment with options not held")
	}
	// 65472 + 40 = 65512 > 65535 - 60.
	if _, ok := i.Input(t0, frameOf(frag4(6, wire.ProtoUDP, 65472, false, make([]byte, 40))), &c); ok {
		t.Fatal("delivered")
	}
	if n, _ := i.ReassemblyInUse(); n != 0 || i.Stats().ReasmTooBig != 1 {
		t.Fatalf("%+v", i.Stats())
	}
}
