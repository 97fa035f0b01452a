package peer

import (
	"net/netip"
	"testing"
)

var (
	macA = [6]byte{2, 0, 0, 0, 0, 1}
	macB = [6]byte{2, 0, 0, 0, 0, 2}
	ipA  = netip.MustParseAddr("198.18.9.1")
	ipB  = netip.MustParseAddr("198.18.9.2")
)

func TestBuiltFramesParseBack(t *testing.T) {
	a, ok := ParseARP(ARP(1, macA, ipA, [6]byte{}, ipB))
	if !ok || a.Op != 1 || a.SenderMAC != macA || a.SenderIP != ipA || a.TargetIP != ipB {
		t.Fatalf("ARP: %+v %v", a, ok)
	}
	f := TCP(macA, macB, ipA, ipB, Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: ACK | PSH, Window: 5,
		Options: []byte{1, 1, 1, 1}, Payload: []byte("hello")})
	ip, s, ok := ParseTCP(f)
	if !ok || ip.Src != ipA || ip.Dst != ipB || s.Seq != 3 || s.Ack != 4 || string(s.Payload) != "hello" || len(s.Options) != 4 {
		t.Fatalf("TCP: %+v %+v %v", ip, s, ok)
	}
	if TCPChecksum(ipA, ipB, ip.Payload) != 0 {
		t.Fatal("built TCP segment has a bad checksum")
	}
	f[14+8]-- // TTL: the IPv4 header checksum no longer holds
	if _, _, ok := ParseTCP(f); ok {
		t.Fatal("IPv4 header with a bad checksum parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(ARP(2, macA, ipA, macB, ipB))
	f.Add(TCP(macA, macB, ipA, ipB, Segment{SrcPort: 1, DstPort: 2, Flags: SYN, Payload: []byte("x")}))
	f.Add(IPv4(macA, macB, ipA, ipB, ProtoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseARP(b)
		if ip, s, ok := ParseTCP(b); ok {
			if len(s.Payload) > len(ip.Payload) || len(ip.Payload) > len(b) {
				t.Fatalf("slices outside the frame")
			}
		}
		p := &Peer{IP: ipB}
		p.answer(b)
	})
}
