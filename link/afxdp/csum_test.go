package afxdp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/internal/netns/peer"
	"offload/pkt"
)

var (
	macA = [6]byte{2, 0, 0, 0, 0, 1}
	macB = [6]byte{2, 0, 0, 0, 0, 2}
	ipA  = netip.MustParseAddr("198.18.6.1")
	ipB  = netip.MustParseAddr("198.18.6.2")
)

func tcpFrame(partial bool, payload string) []byte {
	return peer.TCP(macA, macB, ipA, ipB, peer.Segment{SrcPort: 1, DstPort: 2, Seq: 3, Flags: peer.ACK,
		Window: 100, Payload: []byte(payload), PartialChecksum: partial})
}

func udpPartial(payload string) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 53)
	binary.BigEndian.PutUint16(u[2:], 54)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	var ph [12]byte
	a, b := ipA.As4(), ipB.As4()
	copy(ph[:], a[:])
	copy(ph[4:], b[:])
	ph[9] = 17
	binary.BigEndian.PutUint16(ph[10:], uint16(len(u)))
	binary.BigEndian.PutUint16(u[6:], fold(sum16(ph[:], 0)))
	return peer.IPv4(macA, macB, ipA, ipB, 17, u)
}

func tcp6Partial(payload string) []byte {
	src, dst := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	t := make([]byte, 20+len(payload))
	t[12] = 5 << 4
	copy(t[20:], payload)
	f := make([]byte, 14+40, 14+40+len(t))
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], uint16(len(t)))
	f[20] = 6
	copy(f[22:], src[:])
	copy(f[38:], dst[:])
	s := sum16(f[22:54], 0) + 6 + uint32(len(t))
	binary.BigEndian.PutUint16(t[16:], fold(s))
	return append(f, t...)
}

func TestPseudoHeaderOnlyChecksumIsMarkedPartial(t *testing.T) {
	cases := []struct {
		name       string
		frame      []byte
		start, off uint16
	}{
		{"TCPv4", tcpFrame(true, "hello, world"), 34, 16},
		{"UDPv4", udpPartial("query"), 34, 6},
		{"TCPv6", tcp6Partial("hello"), 54, 16},
	}
	for _, c := range cases {
		var m pkt.Meta
		classifyChecksum(c.frame, &m)
		if m.Checksum != pkt.ChecksumPartial || m.CsumStart != c.start || m.CsumOffset != c.off {
			t.Errorf("%s: meta %+v, want partial at %d+%d", c.name, m, c.start, c.off)
		}
		// Finishing it in software gives a checksum that verifies (RFC 1071).
		if !finishChecksum(c.frame, &m) {
			t.Fatalf("%s: finish refused", c.name)
		}
		var again pkt.Meta
		classifyChecksum(c.frame, &again)
		if again.Checksum != pkt.ChecksumUnknown {
			t.Errorf("%s: a finished checksum still looks partial", c.name)
		}
	}
	// A short frame carries Ethernet padding after the segment: zeros that do
	// not change the sum.
	f := tcpFrame(true, "x")
	m := pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16}
	finishChecksum(f, &m)
	ip, _, _ := peer.ParseTCP(f)
	if len(f) != 60 || peer.TCPChecksum(ip.Src, ip.Dst, ip.Payload) != 0 {
		t.Fatal("finished TCP checksum does not verify")
	}
}

func TestFullOrBadChecksumIsLeftForTheStackToVerify(t *testing.T) {
	full := tcpFrame(false, "hello")
	bad := tcpFrame(true, "hello")
	bad[50]++ // neither the full sum nor the pseudo-header sum
	frag := tcpFrame(true, "hello")
	frag[14+6] = 0x20 // MF: the transport header is not all there
	short := tcpFrame(true, "hello")[:14+20+10]
	for name, f := range map[string][]byte{"full": full, "bad": bad, "fragment": frag, "truncated": short} {
		var m pkt.Meta
		classifyChecksum(f, &m)
		if m.Checksum != pkt.ChecksumUnknown {
			t.Errorf("%s: meta %+v, want unknown", name, m)
		}
	}
}

func FuzzClassifyChecksum(f *testing.F) {
	f.Add(tcpFrame(true, "hello"))
	f.Add(tcpFrame(false, "hello"))
	f.Add(udpPartial("q"))
	f.Add(tcp6Partial("v6"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pkt.Meta
		classifyChecksum(b, &m)
		if m.Checksum == pkt.ChecksumUnknown {
			return
		}
		if int(m.CsumStart)+int(m.CsumOffset)+2 > len(b) {
			t.Fatalf("partial checksum at %d+%d outside %d bytes", m.CsumStart, m.CsumOffset, len(b))
		}
		if !finishChecksum(b, &m) {
			t.Fatal("a frame classified partial cannot be finished")
		}
	})
}

func TestFinishChecksumRefusesMetaOutsideTheFrame(t *testing.T) {
	f := make([]byte, 40)
	for _, m := range []pkt.Meta{{CsumStart: 40, CsumOffset: 0}, {CsumStart: 30, CsumOffset: 9}, {CsumStart: 65535, CsumOffset: 65535}} {
		m.Checksum = pkt.ChecksumPartial
		if finishChecksum(f, &m) {
			t.Errorf("meta %+v accepted for a %d-byte frame", m, len(f))
		}
	}
}
