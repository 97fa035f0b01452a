package wire

import (
	"testing"
)

var (
	sinkInt int
	sinkErr error
)

// TestParseAndEmitAllocateNothing pins the hot-path rule: parsing (including
// rejecting hostile input with an error) and emitting every header allocates
// nothing.
func TestParseAndEmitAllocateNothing(t *testing.T) {
	sack := mustHex(t, capSACK3)
	arp := mustHex(t, capARPReply)
	udp := mustHex(t, capUDP)
	echo := mustHex(t, capEchoRequest)
	badIHL := mustHex(t, capSYN)
	badIHL[14] = 0x44
	badCsum := mustHex(t, capSYN)
	badCsum[14+11]++
	out := make([]byte, 2048)
	src, dst := capClientIP, capServerIP
	syn6 := mustHex(t, cap6SYN)
	ns6 := mustHex(t, cap6NS)
	mld6 := mustHex(t, cap6MLDReport)

	cases := []struct {
		name string
		fn   func()
	}{
		{"parse Ethernet/IPv4/TCP with SACK options", func() {
			e, _ := ParseEthernet(sack)
			ip, _ := ParseIPv4(e.Payload())
			seg, _ := ParseTCP(ip.Payload())
			f := seg.Fields()
			ef := e.Fields()
			ipf := ip.Fields()
			sinkInt += int(f.Options.NumSACK) + int(ef.EtherType) + ipf.PayloadLen
			if seg.ChecksumValid(ip.Src(), ip.Dst()) {
				sinkInt++
			}
		}},
		{"parse ARP", func() {
			a, err := ParseARP(arp[14:])
			sinkInt += int(a.Op)
			sinkErr = err
		}},
		{"parse UDP and verify checksum", func() {
			ip, _ := ParseIPv4(udp[14:])
			u, _ := ParseUDP(ip.Payload())
			if u.ChecksumValid(ip.Src(), ip.Dst()) {
				sinkInt += int(u.Fields().Length)
			}
		}},
		{"parse ICMPv4", func() {
			m, err := ParseICMPv4(echo[34:])
			sinkInt += int(m.Fields().Seq)
			sinkErr = err
		}},
		{"reject IHL 4", func() { _, sinkErr = ParseIPv4(badIHL[14:]) }},
		{"reject bad IPv4 checksum", func() { _, sinkErr = ParseIPv4(badCsum[14:]) }},
		{"reject short TCP", func() { _, sinkErr = ParseTCP(sack[:10]) }},
		{"emit Ethernet/IPv4/TCP with options and checksum", func() {
			ef := EthernetFields{Dst: capServerMAC, Src: capClientMAC, EtherType: EtherTypeIPv4, HasVLAN: true, VLAN: 100}
			n := EmitEthernet(out, &ef)
			tf := TCPFields{SrcPort: 1, DstPort: 2, Seq: 3, Flags: FlagACK, Options: TCPOptions{
				HasTimestamp: true, TSVal: 1, NumSACK: 3}}
			ipf := IPv4Fields{TTL: 64, Protocol: ProtoTCP, Src: src, Dst: dst, PayloadLen: TCPHeaderLen(&tf) + 100}
			n += EmitIPv4(out[n:], &ipf)
			hl := EmitTCP(out[n:], &tf)
			SetTCPChecksum(out[n:n+hl+100], src, dst)
			sinkInt += n
		}},
		{"emit ARP", func() {
			f := ARPFields{Op: ARPRequest, SenderMAC: capClientMAC, SenderIP: src, TargetIP: dst}
			sinkInt += EmitARP(out, &f)
		}},
		{"emit UDP with checksum", func() {
			f := UDPFields{SrcPort: 1, DstPort: 2, Length: 108}
			EmitUDP(out, &f)
			SetUDPChecksum(out[:108], src, dst)
		}},
		{"emit ICMPv4", func() {
			f := ICMPv4Fields{Type: ICMPv4EchoReply, ID: 1, Seq: 2}
			sinkInt += EmitICMPv4(out, &f, echo[42:])
		}},
		{"parse IPv6/TCP with checksum", func() {
			p, _ := ParseIPv6(syn6[14:])
			_, l4, _ := p.UpperLayer()
			seg, _ := ParseTCP(l4)
			if seg.ChecksumValid(p.Src(), p.Dst()) {
				sinkInt += int(seg.Fields().Options.MSS)
			}
		}},
		{"parse IPv6 hop-by-hop/ICMPv6", func() {
			p, _ := ParseIPv6(mld6[14:])
			_, l4, _ := p.UpperLayer()
			m, err := ParseICMPv6(l4, p.Src(), p.Dst())
			sinkInt += int(m.Type())
			sinkErr = err
		}},
		{"parse and emit NDP", func() {
			p, _ := ParseIPv6(ns6[14:])
			m, _ := ParseICMPv6(p.Payload(), p.Src(), p.Dst())
			f, _ := ParseNDP(m)
			f6 := IPv6Fields{PayloadLen: uint16(NDPSize(&f)), NextHeader: ProtoICMPv6, HopLimit: 255, Src: p.Src(), Dst: p.Dst()}
			n := EmitIPv6(out, &f6)
			sinkInt += EmitNDP(out[n:], &f, p.Src(), p.Dst())
		}},
		{"parse ICMPv4 quote", func() {
			_, sinkErr = ParseIPv4Quote(sack[14:40])
			q, _ := ParseIPv4Quote(sack[14:48])
			sinkInt += int(q.TCPSeq())
		}},
		{"incremental checksum update", func() {
			sinkInt += int(UpdateChecksum(0x1234, 0x40, 0x3f))
		}},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per run", c.name, n)
		}
	}
}
