package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func capturedIPv6(t testing.TB, frame string) IPv6 {
	t.Helper()
	e, err := ParseEthernet(mustHex(t, frame))
	if err != nil || e.EtherType() != EtherTypeIPv6 {
		t.Fatalf("%v %#x", err, e.EtherType())
	}
	p, err := ParseIPv6(e.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseIPv6CapturedSYNAndReEmit_RFC8200_3(t *testing.T) {
	p := capturedIPv6(t, cap6SYN)
	want := IPv6Fields{FlowLabel: 0xd6f2b, PayloadLen: 40, NextHeader: ProtoTCP, HopLimit: 64,
		Src: cap6ClientIP, Dst: cap6ServerIP}
	if f := p.Fields(); f != want {
		t.Fatalf("%+v, want %+v", f, want)
	}
	if p.HeaderLen() != IPv6HeaderSize || p.PayloadLen() != 40 {
		t.Fatalf("hlen %d payload %d", p.HeaderLen(), p.PayloadLen())
	}
	out := make([]byte, IPv6HeaderSize)
	f := p.Fields()
	if EmitIPv6(out, &f); !bytes.Equal(out, p.Bytes()[:40]) {
		t.Fatalf("re-emit % x", out)
	}
	proto, l4, err := p.UpperLayer()
	if err != nil || proto != ProtoTCP || len(l4) != 40 {
		t.Fatalf("upper layer %d %d %v", proto, len(l4), err)
	}
	seg, err := ParseTCP(l4)
	if err != nil || !seg.ChecksumValid(p.Src(), p.Dst()) {
		t.Fatalf("TCP over IPv6: %v, checksum valid %v", err, seg.ChecksumValid(p.Src(), p.Dst()))
	}
	if o := seg.Fields().Options; o.MSS != 1440 || !o.SACKPermitted || !o.HasTimestamp || o.WScale != 10 {
		t.Fatalf("options %+v", o)
	}
}

func TestIPv6UpperLayerSkipsHopByHop_RFC8200_4_3(t *testing.T) {
	p := capturedIPv6(t, cap6MLDReport)
	if p.NextHeader() != IPv6HopByHop {
		t.Fatalf("next header %d", p.NextHeader())
	}
	proto, l4, err := p.UpperLayer()
	if err != nil || proto != ProtoICMPv6 || len(l4) != len(p.Payload())-8 {
		t.Fatalf("%d %d %v", proto, len(l4), err)
	}
	m, err := ParseICMPv6(l4, p.Src(), p.Dst())
	if err != nil || m.Type() != 143 { // MLDv2 report, RFC 9777
		t.Fatalf("%v type %d", err, m.Type())
	}
}

func ipv6WithExt(next uint8, ext []byte) []byte {
	f := IPv6Fields{PayloadLen: uint16(len(ext)), NextHeader: next, HopLimit: 1, Src: cap6ClientIP, Dst: cap6ServerIP}
	b := make([]byte, 40+len(ext))
	EmitIPv6(b, &f)
	copy(b[40:], ext)
	return b
}

func TestIPv6UpperLayerRejectsBadExtensionChains(t *testing.T) {
	dest := func(next uint8) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} } // PadN
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name  string
		next  uint8
		ext   []byte
		proto uint8
		err   error
	}{
		{"dest opts then UDP", IPv6DestOptions, cat(dest(ProtoUDP), make([]byte, 8)), ProtoUDP, nil},
		{"routing then fragment returned as fragment", IPv6Routing, cat(dest(IPv6Fragment), make([]byte, 8)), IPv6Fragment, nil},
		{"no next header", IPv6NoNextHeader, nil, IPv6NoNextHeader, nil},
		{"extension header cut", IPv6DestOptions, []byte{ProtoUDP, 0, 1, 4}, 0, ErrTruncated},
		{"extension length past payload", IPv6DestOptions, []byte{ProtoUDP, 1, 1, 4, 0, 0, 0, 0}, 0, ErrTruncated},
		{"hop-by-hop not first", IPv6DestOptions, cat(dest(IPv6HopByHop), dest(ProtoUDP)), 0, ErrMalformed},
		{"nine extension headers", IPv6DestOptions, bytes.Repeat(dest(IPv6DestOptions), 9), 0, ErrMalformed},
		{"thousand extension headers", IPv6DestOptions, bytes.Repeat(dest(IPv6DestOptions), 1000), 0, ErrMalformed},
	}
	for _, c := range cases {
		p, err := ParseIPv6(ipv6WithExt(c.next, c.ext))
		if err != nil {
			t.Fatal(err)
		}
		proto, _, err := p.UpperLayer()
		if !errors.Is(err, c.err) || (c.err == nil && proto != c.proto) {
			t.Errorf("%s: %d %v, want %d %v", c.name, proto, err, c.proto, c.err)
		}
	}
}

func TestParseIPv6RejectsBadHeaders(t *testing.T) {
	good := capturedIPv6(t, cap6UDP).Bytes()
	for n := 0; n < IPv6HeaderSize; n++ {
		if _, err := ParseIPv6(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	b := append([]byte{}, good...)
	b[0] = 0x45
	if _, err := ParseIPv6(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("version 4: %v", err)
	}
	if _, err := ParseIPv6(good[:len(good)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("payload length past frame: %v", err)
	}
	padded := append(append([]byte{}, good...), 0, 0, 0)
	if p, err := ParseIPv6(padded); err != nil || len(p.Bytes()) != len(good) {
		t.Errorf("padding not trimmed: %v", err)
	}
}

func TestIPv6EmitParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for i := 0; i < 1000; i++ {
		var a, b [16]byte
		for j := range a {
			a[j], b[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		f := IPv6Fields{TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xFFFFF, PayloadLen: uint16(r.IntN(100)),
			NextHeader: uint8(r.Uint32()), HopLimit: uint8(r.Uint32()), Src: netip.AddrFrom16(a), Dst: netip.AddrFrom16(b)}
		buf := make([]byte, 40+int(f.PayloadLen))
		EmitIPv6(buf, &f)
		p, err := ParseIPv6(buf)
		if err != nil || p.Fields() != f {
			t.Fatalf("%v %+v -> %+v", err, f, p.Fields())
		}
	}
}
