package stack_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/iface"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
	"offload/tcp"
	"offload/wire"
)

// icmpForger sits between one stack and its device. It keeps a copy of the
// last TCP data frame the stack sent, and can answer it with a crafted ICMP or
// ICMPv6 error (as a router, or a blind attacker that guessed the 4-tuple,
// would) that the stack receives at its next Poll.
type icmpForger struct {
	link.Device
	last     []byte // Ethernet frame of the last TCP segment carrying data
	injected []*pkt.Buffer
}

func (f *icmpForger) Send(q int, b *pkt.Batch) (int, error) {
	for _, fr := range b.Buffers() {
		if tcpPayloadLen(fr.Bytes()) > 0 {
			f.last = append(f.last[:0], fr.Bytes()...)
		}
	}
	return f.Device.Send(q, b)
}

func (f *icmpForger) Recv(q int, b *pkt.Batch) (int, error) {
	n := 0
	for len(f.injected) > 0 && !b.Full() {
		b.Add(f.injected[0])
		f.injected = f.injected[1:]
		n++
	}
	m, err := f.Device.Recv(q, b)
	return n + m, err
}

// tcpPayloadLen is the TCP payload length of an Ethernet frame, 0 if it is
// not TCP over IPv4 or IPv6.
func tcpPayloadLen(frame []byte) int {
	eth, err := wire.ParseEthernet(frame)
	if err != nil {
		return 0
	}
	var l4 []byte
	switch eth.EtherType() {
	case wire.EtherTypeIPv4:
		ip, err := wire.ParseIPv4(eth.Payload())
		if err != nil || ip.Protocol() != wire.ProtoTCP {
			return 0
		}
		l4 = ip.Payload()
	case wire.EtherTypeIPv6:
		ip, err := wire.ParseIPv6(eth.Payload())
		if err != nil || ip.NextHeader() != wire.ProtoTCP {
			return 0
		}
		l4 = ip.Payload()
	default:
		return 0
	}
	t, err := wire.ParseTCP(l4)
	if err != nil {
		return 0
	}
	return len(t.Payload())
}

// forge queues an ICMP error of the given type, code and MTU quoting the last
// data frame with seqDelta added to its quoted sequence number. It returns
// false if no data frame was seen yet.
func (f *icmpForger) forge(typ, code uint8, mtu uint32, seqDelta uint32) bool {
	if f.last == nil {
		return false
	}
	eth, _ := wire.ParseEthernet(f.last)
	ipb := eth.Payload()
	v6 := eth.EtherType() == wire.EtherTypeIPv6
	hl := wire.IPv4HeaderSize
	if v6 {
		hl = wire.IPv6HeaderSize
	} else {
		hl = int(ipb[0]&0xf) * 4
	}
	// Quote the IP header and the first 8 bytes of TCP, which holds the
	// sequence number (RFC 792; an ICMPv6 error quotes more, RFC 4443 §2.4,
	// but these are the bytes the check reads).
	quote := append([]byte(nil), ipb[:hl+8]...)
	seq := binary.BigEndian.Uint32(quote[hl+4:])
	binary.BigEndian.PutUint32(quote[hl+4:], seq+seqDelta)
	var b *pkt.Buffer
	if v6 {
		ip, _ := wire.ParseIPv6(ipb)
		n := wire.ICMPv6HeaderSize + len(quote)
		b = pkt.NewBuffer(14+wire.IPv6HeaderSize+n, 0)
		out := b.Append(14 + wire.IPv6HeaderSize + n)
		wire.EmitEthernet(out, &wire.EthernetFields{Dst: eth.Src(), Src: eth.Dst(), EtherType: wire.EtherTypeIPv6})
		wire.EmitIPv6(out[14:], &wire.IPv6Fields{PayloadLen: uint16(n), NextHeader: wire.ProtoICMPv6, HopLimit: 64, Src: ip.Dst(), Dst: ip.Src()})
		wire.EmitICMPv6(out[14+wire.IPv6HeaderSize:], &wire.ICMPv6Fields{Type: typ, Code: code, MTU: mtu}, quote, ip.Dst(), ip.Src())
	} else {
		ip, _ := wire.ParseIPv4(ipb)
		n := wire.ICMPv4HeaderSize + len(quote)
		b = pkt.NewBuffer(14+wire.IPv4HeaderSize+n, 0)
		out := b.Append(14 + wire.IPv4HeaderSize + n)
		wire.EmitEthernet(out, &wire.EthernetFields{Dst: eth.Src(), Src: eth.Dst(), EtherType: wire.EtherTypeIPv4})
		wire.EmitIPv4(out[14:], &wire.IPv4Fields{TTL: 64, Protocol: wire.ProtoICMP, Src: ip.Dst(), Dst: ip.Src(), PayloadLen: n})
		wire.EmitICMPv4(out[14+wire.IPv4HeaderSize:], &wire.ICMPv4Fields{Type: typ, Code: code, MTU: uint16(mtu)}, quote)
	}
	f.injected = append(f.injected, b)
	return true
}

// forgerSim is two Manual stacks over a pipe, with a's device behind an
// icmpForger; IPv4 or IPv6 addresses.
func forgerSim(t *testing.T, v6 bool) (*sim, *icmpForger, netip.Addr) {
	t.Helper()
	var f *icmpForger
	s, _, dst := gsoPair(t, pipe.Config{}, v6, func(o *stack.Options) {
		if f == nil { // the first stack built is a
			f = &icmpForger{Device: o.NICs[0].Device}
			o.NICs[0].Device = f
		}
	})
	return s, f, dst
}

// inFlight writes to a and runs only a's stack, so data leaves a and stays
// unacknowledged (b does not run): an ICMP error quoting it is about data in
// flight, SND.UNA ≤ seq < SND.MAX (RFC 5927 §4.1).
func (s *sim) inFlight(t *testing.T, f *icmpForger, st *stream) {
	t.Helper()
	st.pump(t)
	for range 4 {
		s.a.Poll()
	}
	if f.last == nil || st.src.Info().BytesInFlight == 0 {
		t.Fatalf("no data in flight to quote (in flight %d)", st.src.Info().BytesInFlight)
	}
}

// Forged and genuine ICMP errors are checked against the connection they
// name before anything changes (REFERENCES item 25): a port unreachable
// quoting a sequence number outside the send window is ignored and counted,
// one quoting data in flight is a soft error that leaves the connection alone
// (RFC 1122 §4.2.3.9, RFC 5927 §4.1); an in-window frag-needed reporting MTU
// 68 (RFC 5927 §7's attack) or a packet-too-big below IPv6's 1280 (RFC 8201
// §4) lowers the send MSS only to the floor, and the transfer completes; a
// forged out-of-window packet-too-big changes nothing.
func TestForgedICMPValidatedAgainstConnectionPMTUFloorKept_RFC5927_Item25(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			s, f, dst := forgerSim(t, v6)
			a, b := s.dial(dst, 80)
			if !a.Info().Timestamps {
				t.Fatal("timestamps not negotiated; the floor below assumes their 12 bytes")
			}
			unreachT, unreachC := uint8(wire.ICMPv4DestUnreachable), uint8(wire.ICMPv4PortUnreachable)
			ptbT, ptbC, tinyMTU := uint8(wire.ICMPv4DestUnreachable), uint8(wire.ICMPv4FragNeeded), uint32(68)
			hdr, floor := 40, iface.MinPMTU4
			if v6 {
				unreachT, unreachC = wire.ICMPv6DestUnreachable, wire.ICMPv6PortUnreachable
				ptbT, ptbC, tinyMTU = wire.ICMPv6PacketTooBig, 0, 1000
				hdr, floor = 60, iface.MinPMTU6
			}
			wantMSS := floor - hdr - 12 // timestamps ride in every segment
			mss0 := a.Info().SndMSS
			stats := s.a.Stats()
			ignored := func() uint64 { return stats.ICMPIgnored.Load() }
			errorsIn := func() uint64 { return s.a.NICStats(0).ICMPErrorsIn }

			st := newStream(a, b, 4<<20, 25)
			s.inFlight(t, f, st)

			// Port unreachable quoting a sequence number half the space away.
			ig, in := ignored(), errorsIn()
			f.forge(unreachT, unreachC, 0, 1<<31)
			s.a.Poll()
			if errorsIn() != in+1 {
				t.Fatalf("the forged port unreachable did not reach TCP (ICMP errors in %d → %d)", in, errorsIn())
			}
			if ignored() != ig+1 {
				t.Fatalf("out-of-window port unreachable: ICMPIgnored %d → %d, want +1", ig, ignored())
			}
			if i := a.Info(); i.State != tcp.StateEstablished || a.Err() != nil {
				t.Fatalf("out-of-window port unreachable: state %v, err %v", i.State, a.Err())
			}

			// Port unreachable quoting data in flight: believed, but soft.
			ig, in = ignored(), errorsIn()
			f.forge(unreachT, unreachC, 0, 0)
			s.a.Poll()
			if errorsIn() != in+1 || ignored() != ig {
				t.Fatalf("in-window port unreachable: errors in %d → %d, ignored %d → %d; want +1 and +0", in, errorsIn(), ig, ignored())
			}
			if i := a.Info(); i.State != tcp.StateEstablished || a.Err() != nil || i.SndMSS != mss0 {
				t.Fatalf("in-window port unreachable: state %v, err %v, MSS %d → %d", i.State, a.Err(), mss0, i.SndMSS)
			}

			// A forged packet-too-big outside the window: nothing changes.
			ig = ignored()
			f.forge(ptbT, ptbC, tinyMTU, 1<<31)
			s.a.Poll()
			if ignored() != ig+1 || a.Info().SndMSS != mss0 || stats.PMTUUpdates.Load() != 0 {
				t.Fatalf("out-of-window too-big: ignored %d → %d, MSS %d → %d, %d PMTU updates", ig, ignored(), mss0, a.Info().SndMSS, stats.PMTUUpdates.Load())
			}

			// The same in the window: the MSS falls, but only to the floor.
			f.forge(ptbT, ptbC, tinyMTU, 0)
			s.a.Poll()
			if got := a.Info().SndMSS; got != wantMSS || stats.PMTUUpdates.Load() != 1 {
				t.Fatalf("in-window too-big with MTU %d: MSS %d → %d, want the floor's %d (%d-byte path, %d PMTU updates)", tinyMTU, mss0, got, wantMSS, floor, stats.PMTUUpdates.Load())
			}
			if s.a.NICStats(0).PMTUClamped == 0 {
				t.Fatal("the MTU below the floor was not counted as clamped")
			}

			s.transfer(st)
			st.check(t, "a→b after forged and genuine ICMP errors")
			if i := a.Info(); i.State != tcp.StateFinWait2 && i.State != tcp.StateFinWait1 && i.State != tcp.StateTimeWait {
				t.Fatalf("after the transfer the sender is in %v", i.State)
			}
		})
	}
}
