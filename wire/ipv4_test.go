package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestParseIPv4CapturedSYN(t *testing.T) {
	frame := mustHex(t, capSYN)
	p, err := ParseIPv4(frame[14:])
	if err != nil {
		t.Fatal(err)
	}
	want := IPv4Fields{TotalLen: 60, ID: 0xff50, DontFragment: true, TTL: 64, Protocol: ProtoTCP,
		Src: capClientIP, Dst: capServerIP, PayloadLen: 40}
	if f := p.Fields(); f != want {
		t.Fatalf("fields %+v, want %+v", f, want)
	}
	if p.IsFragment() || p.HeaderLen() != 20 || len(p.Options()) != 0 || p.Checksum() != 0xaf43 {
		t.Fatalf("frag %v hlen %d opts %d csum %#x", p.IsFragment(), p.HeaderLen(), len(p.Options()), p.Checksum())
	}
	// Re-emitting the decoded fields reproduces Linux's header, checksum included.
	f := p.Fields()
	f.TotalLen = 0 // let Emit compute it from PayloadLen
	out := make([]byte, IPv4HeaderSize)
	if n := EmitIPv4(out, &f); n != 20 || !bytes.Equal(out, frame[14:34]) {
		t.Fatalf("emit % x\nwant % x", out, frame[14:34])
	}
}

func TestParseIPv4TrimsEthernetPadding_RFC791(t *testing.T) {
	// A 40-byte IPv4/TCP packet in a 60-byte minimum frame carries 6 bytes of pad.
	pkt := mustHex(t, capSACK1)[14:]
	padded := append(append([]byte{}, pkt...), 0xde, 0xad, 0xbe, 0xef, 0, 0)
	p, err := ParseIPv4(padded)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bytes()) != len(pkt) || len(p.Payload()) != len(pkt)-20 {
		t.Fatalf("view %d payload %d, want %d and %d", len(p.Bytes()), len(p.Payload()), len(pkt), len(pkt)-20)
	}
}

// setIHL rewrites byte 0 and fixes the checksum, so only the intended check fires.
func fixIPv4Checksum(b []byte, hlen int) {
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], FoldChecksum(Checksum(b[:hlen], 0)))
}

func TestParseIPv4DropsBadLengths_Hostile10(t *testing.T) {
	good := mustHex(t, capDataHello)[14:] // 57 bytes, IHL 5
	cases := []struct {
		name string
		mut  func(b []byte) []byte
		want error
	}{
		{"shorter than 20", func(b []byte) []byte { return b[:19] }, ErrTruncated},
		{"empty", func(b []byte) []byte { return b[:0] }, ErrTruncated},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; fixIPv4Checksum(b, 20); return b }, ErrMalformed},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, ErrMalformed},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, ErrMalformed},
		{"IHL 15 beyond 24-byte buffer", func(b []byte) []byte { b[0] = 0x4f; return b[:24] }, ErrTruncated},
		{"total length below IHL", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], 19)
			fixIPv4Checksum(b, 20)
			return b
		}, ErrMalformed},
		{"total length beyond frame", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+1))
			fixIPv4Checksum(b, 20)
			return b
		}, ErrTruncated},
		{"total length 65535 in a short frame", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], 65535)
			fixIPv4Checksum(b, 20)
			return b
		}, ErrTruncated},
		{"frame cut before total length", func(b []byte) []byte { return b[:len(b)-1] }, ErrTruncated},
		{"header checksum off by one", func(b []byte) []byte { b[11]++; return b }, ErrChecksum},
		{"TTL changed, checksum stale", func(b []byte) []byte { b[8]--; return b }, ErrChecksum},
	}
	for _, c := range cases {
		b := c.mut(append([]byte{}, good...))
		if _, err := ParseIPv4(b); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseIPv4WithOptionsExposesThemAndSkipsToPayload(t *testing.T) {
	// IHL 6: one Router Alert option (RFC 2113), then 4 payload bytes.
	b := []byte{0x46, 0, 0, 28, 0, 1, 0, 0, 1, ProtoUDP, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
		0x94, 0x04, 0, 0, 1, 2, 3, 4}
	fixIPv4Checksum(b, 24)
	p, err := ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.HeaderLen() != 24 || !bytes.Equal(p.Options(), []byte{0x94, 4, 0, 0}) || !bytes.Equal(p.Payload(), []byte{1, 2, 3, 4}) {
		t.Fatalf("hlen %d opts % x payload % x", p.HeaderLen(), p.Options(), p.Payload())
	}
	if p.Fields().PayloadLen != 4 {
		t.Fatalf("PayloadLen %d", p.Fields().PayloadLen)
	}
}

func TestIPv4FragmentFields_RFC791(t *testing.T) {
	f := IPv4Fields{ID: 7, MoreFragments: true, FragOffset: 1480 * 3, TTL: 1, Protocol: ProtoUDP,
		Src: capClientIP, Dst: capServerIP, PayloadLen: 1480}
	b := make([]byte, 1500)
	EmitIPv4(b, &f)
	p, err := ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsFragment() || !p.MoreFragments() || p.DontFragment() || p.FragOffset() != 4440 {
		t.Fatalf("frag %v MF %v DF %v off %d", p.IsFragment(), p.MoreFragments(), p.DontFragment(), p.FragOffset())
	}
	// The last fragment: MF clear, offset nonzero, is still a fragment.
	f.MoreFragments = false
	EmitIPv4(b, &f)
	if p, _ := ParseIPv4(b); !p.IsFragment() {
		t.Fatal("last fragment not reported as fragment")
	}
	// The 13-bit offset field in units of 8 bytes (RFC 791 §3.1) tops out at 65528.
	f.FragOffset = 65528
	EmitIPv4(b, &f)
	if p, _ := ParseIPv4(b); p.FragOffset() != 65528 {
		t.Fatalf("max offset %d", p.FragOffset())
	}
}

func TestIPv4EmitParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	buf := make([]byte, 2000)
	for i := 0; i < 2000; i++ {
		f := IPv4Fields{
			TOS: uint8(r.Uint32()), ID: uint16(r.Uint32()),
			DontFragment: r.IntN(2) == 0, MoreFragments: r.IntN(2) == 0,
			FragOffset: uint16(r.IntN(8192)) * 8, TTL: uint8(r.Uint32()), Protocol: uint8(r.Uint32()),
			Src:        netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}),
			Dst:        netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}),
			PayloadLen: r.IntN(len(buf) - IPv4HeaderSize),
		}
		EmitIPv4(buf, &f)
		p, err := ParseIPv4(buf)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		want := f
		want.TotalLen = uint16(IPv4HeaderSize + f.PayloadLen)
		if got := p.Fields(); got != want {
			t.Fatalf("round trip %+v -> %+v", want, got)
		}
		if len(p.Payload()) != f.PayloadLen {
			t.Fatalf("payload %d want %d", len(p.Payload()), f.PayloadLen)
		}
	}
}

func TestEmitIPv4ExplicitTotalLenWins(t *testing.T) {
	f := IPv4Fields{TotalLen: 40, PayloadLen: 999, TTL: 64, Protocol: ProtoTCP, Src: capClientIP, Dst: capServerIP}
	b := make([]byte, 40)
	EmitIPv4(b, &f)
	if binary.BigEndian.Uint16(b[2:4]) != 40 {
		t.Fatalf("total length %d", binary.BigEndian.Uint16(b[2:4]))
	}
}
