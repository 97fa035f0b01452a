package wire

import (
	"errors"
	"testing"
)

func TestParseIPv6QuoteOfLinuxPortUnreachable_RFC4443_3_1(t *testing.T) {
	p, err := ParseIPv6(mustHex(t, cap6PortUnreachable)[EthernetHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseICMPv6(p.Payload(), p.Src(), p.Dst())
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseIPv6Quote(m.Body())
	if err != nil {
		t.Fatal(err)
	}
	if q.Protocol() != ProtoUDP || q.Src() != cap6ClientIP || q.Dst() != cap6ServerIP ||
		q.SrcPort() != 59651 || q.DstPort() != 9999 || q.HeaderLen() != IPv6HeaderSize || len(q.Transport()) != 12 {
		t.Fatalf("quote proto %d %v->%v ports %d->%d", q.Protocol(), q.Src(), q.Dst(), q.SrcPort(), q.DstPort())
	}
}

func TestParseIPv6QuoteWalksExtensionHeadersToTCPSeq(t *testing.T) {
	syn, err := ParseIPv6(mustHex(t, cap6SYN)[EthernetHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	// Put a destination-options header and an atomic fragment header between
	// the fixed header and TCP, then cut the quote 8 bytes into TCP.
	q := append([]byte{}, syn.Bytes()[:IPv6HeaderSize]...)
	q[6] = IPv6DestOptions
	q = append(q, IPv6Fragment, 0, 1, 4, 0, 0, 0, 0)
	q = append(q, ProtoTCP, 0, 0, 0, 0, 0, 0, 0)
	q = append(q, syn.Payload()[:8]...)
	q[4], q[5] = 0, byte(len(q)-IPv6HeaderSize+32) // the original was longer
	quote, err := ParseIPv6Quote(q)
	if err != nil {
		t.Fatal(err)
	}
	if quote.Protocol() != ProtoTCP || quote.HeaderLen() != 56 || quote.SrcPort() != 42862 || quote.DstPort() != 8080 ||
		quote.TCPSeq() != 0x74ac52f3 {
		t.Fatalf("proto %d hlen %d ports %d->%d seq %#x", quote.Protocol(), quote.HeaderLen(), quote.SrcPort(), quote.DstPort(), quote.TCPSeq())
	}
}

func TestParseIPv6QuoteRejectsShortOddAndNonFirstFragments(t *testing.T) {
	syn, err := ParseIPv6(mustHex(t, cap6SYN)[EthernetHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	b := syn.Bytes()
	if _, err := ParseIPv6Quote(b[:IPv6HeaderSize+7]); !errors.Is(err, ErrTruncated) {
		t.Errorf("7 bytes of TCP: %v", err)
	}
	if _, err := ParseIPv6Quote(b[:39]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short header: %v", err)
	}
	v4 := append([]byte{}, b...)
	v4[0] = 0x45
	if _, err := ParseIPv6Quote(v4); !errors.Is(err, ErrMalformed) {
		t.Errorf("version 4: %v", err)
	}
	frag := append([]byte{}, b[:IPv6HeaderSize]...)
	frag[6] = IPv6Fragment
	frag = append(frag, ProtoTCP, 0, 0, 8, 0, 0, 0, 1)
	frag = append(frag, b[IPv6HeaderSize:IPv6HeaderSize+8]...)
	if _, err := ParseIPv6Quote(frag); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-first fragment: %v", err)
	}
	// A long chain of destination options is cut off at 8 headers.
	long := append([]byte{}, b[:IPv6HeaderSize]...)
	long[6] = IPv6DestOptions
	for range 9 {
		long = append(long, IPv6DestOptions, 0, 1, 4, 0, 0, 0, 0)
	}
	long = append(long, make([]byte, 8)...)
	long[4], long[5] = 0, byte(len(long)-IPv6HeaderSize)
	if _, err := ParseIPv6Quote(long); !errors.Is(err, ErrMalformed) {
		t.Errorf("9 extension headers: %v", err)
	}
}

func TestIPv6FragmentHeaderRoundTripAndAtomic_RFC8200_4_5_RFC6946(t *testing.T) {
	f := IPv6FragmentFields{NextHeader: ProtoUDP, Offset: 1448, More: true, ID: 0xdeadbeef}
	b := make([]byte, IPv6FragmentHeaderSize)
	EmitIPv6Fragment(b, &f)
	want := []byte{ProtoUDP, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef}
	if string(b) != string(want) {
		t.Fatalf("emitted % x, want % x", b, want)
	}
	g, err := ParseIPv6Fragment(b)
	if err != nil || g != f || g.IsAtomic() {
		t.Fatalf("parsed %+v, %v", g, err)
	}
	// Reserved bits are ignored on receipt.
	b[1], b[3] = 0xff, b[3]|6
	if g, _ := ParseIPv6Fragment(b); g != f {
		t.Fatalf("reserved bits changed the parse: %+v", g)
	}
	if a, _ := ParseIPv6Fragment([]byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 1}); !a.IsAtomic() {
		t.Fatal("offset 0, M=0 is an atomic fragment")
	}
	if _, err := ParseIPv6Fragment(b[:7]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("7 bytes: %v", err)
	}
}

func FuzzIPv6Quote(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseIPv6Quote(b)
		if err != nil {
			return
		}
		if len(q.Transport()) < ICMPv6QuoteMinData || q.HeaderLen()+len(q.Transport()) > len(b) {
			t.Fatalf("transport %d bytes at %d of %d", len(q.Transport()), q.HeaderLen(), len(b))
		}
		_, _, _, _, _ = q.Src(), q.Dst(), q.SrcPort(), q.DstPort(), q.TCPSeq()
	})
}

func FuzzIPv6Fragment(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseIPv6Fragment(b)
		if err != nil {
			return
		}
		out := make([]byte, IPv6FragmentHeaderSize)
		EmitIPv6Fragment(out, &g)
		if g2, _ := ParseIPv6Fragment(out); g2 != g || g.Offset%8 != 0 {
			t.Fatalf("round trip %+v -> %+v", g, g2)
		}
	})
}
