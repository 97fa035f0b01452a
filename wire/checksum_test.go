package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refSum is the textbook RFC 1071 sum: 16-bit big-endian words, an odd last byte
// padded with zero, carries folded at the end.
func refSum(b []byte) uint32 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xFFFF {
		s = s>>16 + s&0xFFFF
	}
	return uint32(s)
}

func TestChecksumKnownAnswer_RFC1071_3(t *testing.T) {
	// RFC 1071 §3 works this example: the sum of these bytes is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("sum = %#x, want 0xddf2", got)
	}
	if got := FoldChecksum(Checksum(b, 0)); got != 0x220d {
		t.Fatalf("checksum = %#x, want 0x220d", got)
	}
}

func TestChecksumMatchesReferenceOnRandomInputsAndOddLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := 0; i < 3000; i++ {
		var n int
		switch i % 3 {
		case 0:
			n = r.IntN(130) // every tail path, odd and even
		case 1:
			n = r.IntN(2000)
		default:
			n = r.IntN(len(buf))
		}
		b := buf[:n]
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		// Start at an odd offset too, so unaligned loads are covered.
		off := r.IntN(2)
		b = b[min(off, len(b)):]
		initial := uint32(0)
		if i%2 == 0 {
			initial = r.Uint32()
		}
		want := refSum(b) + initial
		for want > 0xFFFF {
			want = want>>16 + want&0xFFFF
		}
		got := Checksum(b, initial)
		if FoldChecksum(got) != FoldChecksum(want) {
			t.Fatalf("len %d initial %#x: Checksum %#x, reference %#x", len(b), initial, got, want)
		}
		if got > 0xFFFF {
			t.Fatalf("partial sum %#x not folded", got)
		}
	}
}

func TestChecksumAllOnesCarriesCorrectly(t *testing.T) {
	// All-0xFF input makes every 64-bit add carry; the end-around carry must not
	// be lost.
	for _, n := range []int{8, 32, 40, 64, 1500, 65536, 65535} {
		b := bytes.Repeat([]byte{0xFF}, n)
		if got, want := FoldChecksum(Checksum(b, 0)), FoldChecksum(refSum(b)); got != want {
			t.Fatalf("len %d: %#x want %#x", n, got, want)
		}
		if got, want := FoldChecksum(Checksum(b, 0xFFFFFFFF)), FoldChecksum(refSum(b)+0xFFFF+0xFFFF); got != want {
			t.Fatalf("len %d with max initial: %#x want %#x", n, got, want)
		}
	}
}

func TestChecksumAllZeroIsZero(t *testing.T) {
	if got := Checksum(make([]byte, 100), 0); got != 0 {
		t.Fatalf("sum of zeros = %#x", got)
	}
	if got := FoldChecksum(0); got != 0xFFFF {
		t.Fatalf("FoldChecksum(0) = %#x", got)
	}
}

func TestChecksumChainsOverEvenSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 3001) // odd: only the last piece is odd
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	whole := Checksum(b, 0)
	for i := 0; i < 200; i++ {
		cut1 := r.IntN(len(b)/2) &^ 1
		cut2 := cut1 + r.IntN(len(b)-cut1)&^1
		s := Checksum(b[:cut1], 0)
		s = Checksum(b[cut1:cut2], s)
		s = Checksum(b[cut2:], s)
		if FoldChecksum(s) != FoldChecksum(whole) {
			t.Fatalf("cuts %d,%d: chained %#x, whole %#x", cut1, cut2, s, whole)
		}
	}
}

func TestFoldChecksumVerifiesStoredChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 500; i++ {
		b := make([]byte, 2+2*r.IntN(200))
		for j := 2; j < len(b); j++ {
			b[j] = byte(r.Uint32())
		}
		binary.BigEndian.PutUint16(b, FoldChecksum(Checksum(b, 0)))
		if FoldChecksum(Checksum(b, 0)) != 0 {
			t.Fatalf("stored checksum does not verify: % x", b)
		}
	}
}

func TestPseudoHeaderSumMatchesExplicitPseudoHeader(t *testing.T) {
	cases := []struct {
		src, dst string
		proto    uint8
		length   int
	}{
		{"198.18.0.1", "198.18.0.2", ProtoTCP, 40},
		{"255.255.255.255", "255.255.255.255", ProtoUDP, 65535},
		{"2001:db8::1", "fe80::ffff:1", ProtoTCP, 1280},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", ProtoUDP, 70000}, // jumbo length
	}
	for _, c := range cases {
		src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
		var ph []byte
		if src.Is4() {
			// RFC 9293 §3.1: src, dst, zero, PTCL, TCP length.
			ph = append(src.AsSlice(), dst.AsSlice()...)
			ph = append(ph, 0, c.proto, byte(c.length>>8), byte(c.length))
		} else {
			// RFC 8200 §8.1: src, dst, 32-bit length, 3 zero bytes, next header.
			ph = append(src.AsSlice(), dst.AsSlice()...)
			ph = binary.BigEndian.AppendUint32(ph, uint32(c.length))
			ph = append(ph, 0, 0, 0, c.proto)
		}
		if got, want := FoldChecksum(PseudoHeaderSum(c.proto, src, dst, c.length)), FoldChecksum(refSum(ph)); got != want {
			t.Errorf("%v: %#x want %#x", c, got, want)
		}
	}
}

func TestUpdateChecksumRFC1624Example_4(t *testing.T) {
	// RFC 1624 §4: sum of the other header words 0xCD7A, m = 0x5555 -> m' = 0x3285.
	// HC = 0xDD2F; eqn. 3 gives 0x0000 (eqn. 2 would give the wrong 0xFFFF).
	if got := UpdateChecksum(0xDD2F, 0x5555, 0x3285); got != 0x0000 {
		t.Fatalf("HC' = %#x, want 0x0000", got)
	}
}

func TestUpdateChecksumMatchesRecomputation_RFC1624_3(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	check := func(hdr []byte, word int, newVal uint16) {
		t.Helper()
		old := FoldChecksum(Checksum(hdr, 0))
		oldVal := binary.BigEndian.Uint16(hdr[2*word:])
		binary.BigEndian.PutUint16(hdr[2*word:], newVal)
		want := FoldChecksum(Checksum(hdr, 0))
		if got := UpdateChecksum(old, oldVal, newVal); got != want {
			t.Fatalf("hdr % x word %d %#x->%#x: updated %#x, recomputed %#x", hdr, word, oldVal, newVal, got, want)
		}
	}
	for i := 0; i < 5000; i++ {
		hdr := make([]byte, 20)
		for j := range hdr {
			hdr[j] = byte(r.Uint32())
		}
		// Force the corners: words of 0x0000 and 0xFFFF, and a header whose
		// other words sum to the complement of the new value (result checksum 0).
		word := r.IntN(10)
		var newVal uint16
		switch i % 4 {
		case 0:
			newVal = uint16(r.Uint32())
		case 1:
			newVal = 0xFFFF
		case 2:
			newVal = 0x0000
		case 3:
			binary.BigEndian.PutUint16(hdr[2*word:], 0)
			rest := Checksum(hdr, 0)
			newVal = ^uint16(rest)
			if newVal == 0 {
				newVal = 0xFFFF
			}
		}
		check(hdr, word, newVal)
	}
	// A header where the changed word is the only nonzero one and becomes 0xFFFF,
	// and one where the sum before the change is 0xFFFF.
	hdr := make([]byte, 20)
	hdr[0] = 0x45
	check(hdr, 0, 0xFFFF)
	hdr = []byte{0xFF, 0xFF, 0x12, 0x34, 0xED, 0xCB}
	check(hdr, 1, 0x0000)
}

// An IPv6 packet whose source is IPv4-mapped (::ffff:a.b.c.d) and whose
// destination is plain IPv6 is summed with the 16-byte IPv6 pseudo-header
// (RFC 8200 §8.1) — and a hostile one must not panic (found by gso's fuzzer).
func TestPseudoHeaderSumIPv4MappedSourceUsesIPv6Form_RFC8200_8_1(t *testing.T) {
	src := netip.MustParseAddr("::ffff:198.18.0.1")
	dst := netip.MustParseAddr("2001:db8::2")
	got := PseudoHeaderSum(ProtoTCP, src, dst, 20)
	var ref uint32
	for _, a := range [][16]byte{src.As16(), dst.As16()} {
		for i := 0; i < 16; i += 2 {
			ref += uint32(a[i])<<8 | uint32(a[i+1])
		}
	}
	ref += ProtoTCP + 20
	for ref > 0xffff {
		ref = ref&0xffff + ref>>16
	}
	if got != ref {
		t.Fatalf("pseudo-header sum %#x, want %#x (the 16-byte form)", got, ref)
	}
	// Mixed families: no valid packet has them, but no panic either.
	PseudoHeaderSum(ProtoTCP, netip.MustParseAddr("198.18.0.1"), dst, 20)
	PseudoHeaderSum(ProtoTCP, dst, netip.MustParseAddr("198.18.0.1"), 20)
}
