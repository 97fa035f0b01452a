package sys

import (
	"encoding/binary"
	"errors"
	"testing"

	"offload/pkt"
)

// tcpFrame returns an Ethernet/IPv4/TCP frame with payload bytes of payload
// (headers are zero except the TCP data offset, which is all the codec reads).
func tcpFrame(payload int) []byte {
	f := make([]byte, 14+20+20+payload)
	f[14+20+12] = 5 << 4
	return f
}

func hdr(flags, gsoType byte, hdrLen, gsoSize, csumStart, csumOff uint16) []byte {
	h := make([]byte, VnetHdrLen)
	h[0], h[1] = flags, gsoType
	binary.LittleEndian.PutUint16(h[2:], hdrLen)
	binary.LittleEndian.PutUint16(h[4:], gsoSize)
	binary.LittleEndian.PutUint16(h[6:], csumStart)
	binary.LittleEndian.PutUint16(h[8:], csumOff)
	return h
}

func TestVnetHdrDecodesKernelTCPSuperFrame(t *testing.T) {
	f := tcpFrame(30000)
	var m pkt.Meta
	if err := VnetHdrToMeta(hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 54, 1448, 34, 16), f, &m); err != nil {
		t.Fatal(err)
	}
	want := pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16, GSO: pkt.GSOTCPv4, GSOSize: 1448, Segs: 21}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
}

func TestVnetHdrECNBitStillMeansTCP(t *testing.T) {
	var m pkt.Meta
	f := make([]byte, 14+40+20+5000)
	f[14+40+12] = 5 << 4
	if err := VnetHdrToMeta(hdr(vnetFlagNeedsCsum, vnetGSOTCPv6|vnetGSOECN, 0, 1000, 54, 16), f, &m); err != nil {
		t.Fatal(err)
	}
	if m.GSO != pkt.GSOTCPv6 || m.Segs != 5 {
		t.Fatalf("%+v", m)
	}
}

func TestVnetHdrDataValidMeansVerified(t *testing.T) {
	var m pkt.Meta
	m.Segs = 9 // stale values must be cleared
	if err := VnetHdrToMeta(hdr(vnetFlagDataValid, 0, 0, 0, 0, 0), tcpFrame(10), &m); err != nil {
		t.Fatal(err)
	}
	if m != (pkt.Meta{Checksum: pkt.ChecksumVerified}) {
		t.Fatalf("%+v", m)
	}
}

func TestVnetHdrRefusesWhatDoesNotFitTheFrame(t *testing.T) {
	f := tcpFrame(100)
	for _, c := range []struct {
		name string
		h    []byte
		frm  []byte
		want error
	}{
		{"short header", make([]byte, 9), f, ErrVnetShort},
		{"checksum field past the end", hdr(vnetFlagNeedsCsum, 0, 0, 0, uint16(len(f)-1), 0), f, ErrVnetCsumRange},
		{"checksum offset past the end", hdr(vnetFlagNeedsCsum, 0, 0, 0, 34, 0xffff), f, ErrVnetCsumRange},
		{"UDP fragmentation offload", hdr(vnetFlagNeedsCsum, vnetGSOUDP, 0, 1400, 34, 6), f, ErrVnetGSOType},
		{"USO", hdr(vnetFlagNeedsCsum, 5, 0, 1400, 34, 6), f, ErrVnetGSOType},
		{"GSO size zero", hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 0, 0, 34, 16), f, ErrVnetGSOSize},
		{"GSO without partial checksum", hdr(0, vnetGSOTCPv4, 0, 1400, 34, 16), f, ErrVnetGSONoCsum},
		{"TCP header cut", hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 0, 1400, 34, 16), func() []byte { g := tcpFrame(100); g[46] = 8 << 4; return g[:60] }(), ErrVnetGSOTCPRange},
		{"TCP data offset below 5", hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 0, 1400, 34, 16), func() []byte { g := tcpFrame(10); g[46] = 4 << 4; return g }(), ErrVnetGSOTCPRange},
		{"TCP data offset past the end", hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 0, 1400, 34, 16), func() []byte { g := tcpFrame(0); g[46] = 15 << 4; return g }(), ErrVnetGSOTCPRange},
	} {
		var m pkt.Meta
		if err := VnetHdrToMeta(c.h, c.frm, &m); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestMetaToVnetHdrSetsHdrLenForGSO(t *testing.T) {
	f := tcpFrame(5000)
	f[46] = 8 << 4 // 32-byte TCP header (timestamps)
	m := pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16, GSO: pkt.GSOTCPv4, GSOSize: 1448}
	h := make([]byte, VnetHdrLen)
	if err := MetaToVnetHdr(&m, f, h); err != nil {
		t.Fatal(err)
	}
	if want := hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 34+32, 1448, 34, 16); string(h) != string(want) {
		t.Fatalf("got % x, want % x", h, want)
	}
	if err := MetaToVnetHdr(&pkt.Meta{GSO: pkt.GSOTCPv4, GSOSize: 1448}, f, h); !errors.Is(err, ErrVnetGSONoCsum) {
		t.Fatalf("GSO without partial checksum: %v", err)
	}
	if err := MetaToVnetHdr(&pkt.Meta{}, f, h); err != nil || string(h) != string(make([]byte, 10)) {
		t.Fatalf("plain frame: % x, %v", h, err)
	}
}

func TestVnetHdrCodecAllocatesNothing(t *testing.T) {
	f := tcpFrame(3000)
	h := hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 54, 1448, 34, 16)
	bad := hdr(vnetFlagNeedsCsum, vnetGSOUDP, 54, 1448, 34, 16)
	var m pkt.Meta
	out := make([]byte, VnetHdrLen)
	if n := testing.AllocsPerRun(100, func() {
		VnetHdrToMeta(h, f, &m)
		VnetHdrToMeta(bad, f, &m)
		MetaToVnetHdr(&m, f, out)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzVnetHdrToMeta: any header and frame decode without panicking; what
// decodes stays inside the frame and survives an encode/decode round trip.
func FuzzVnetHdrToMeta(f *testing.F) {
	f.Add(hdr(vnetFlagNeedsCsum, vnetGSOTCPv4, 54, 1448, 34, 16), tcpFrame(3000))
	f.Add(hdr(vnetFlagDataValid, 0, 0, 0, 0, 0), tcpFrame(0))
	f.Add(hdr(vnetFlagNeedsCsum, 0, 0, 0, 34, 6), make([]byte, 60))
	f.Fuzz(func(t *testing.T, h, frame []byte) {
		var m pkt.Meta
		if err := VnetHdrToMeta(h, frame, &m); err != nil {
			return
		}
		if m.Checksum == pkt.ChecksumPartial && int(m.CsumStart)+int(m.CsumOffset)+2 > len(frame) {
			t.Fatalf("checksum location outside the frame: %+v len %d", m, len(frame))
		}
		if m.GSO != pkt.GSONone && (m.GSOSize == 0 || m.Segs == 0 || m.Checksum != pkt.ChecksumPartial) {
			t.Fatalf("inconsistent GSO meta %+v", m)
		}
		out := make([]byte, VnetHdrLen)
		if err := MetaToVnetHdr(&m, frame, out); err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		var m2 pkt.Meta
		if err := VnetHdrToMeta(out, frame, &m2); err != nil || m2 != m {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, m2, err)
		}
	})
}
