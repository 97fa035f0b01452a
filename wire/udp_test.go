package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestParseUDPCapturedDatagram_RFC768(t *testing.T) {
	ip := capturedIPv4(t, capUDP)
	u, err := ParseUDP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if u.Fields() != (UDPFields{SrcPort: 60759, DstPort: 9999, Length: 19}) || string(u.Payload()) != "udp-payload" {
		t.Fatalf("%+v %q", u.Fields(), u.Payload())
	}
	if !u.ChecksumValid(ip.Src(), ip.Dst()) || u.Checksum() != 0xbc77 {
		t.Fatalf("checksum %#x not valid", u.Checksum())
	}
	if u.ChecksumValid(ip.Dst(), capSACKPeer) {
		t.Fatal("checksum valid with the wrong pseudo-header")
	}
	// Rebuilding the datagram gives Linux's checksum.
	out := make([]byte, u.Length())
	f := u.Fields()
	EmitUDP(out, &f)
	copy(out[8:], u.Payload())
	SetUDPChecksum(out, ip.Src(), ip.Dst())
	if !bytes.Equal(out, u.Bytes()) {
		t.Fatalf("rebuilt % x\nwant    % x", out, u.Bytes())
	}
}

func TestParseUDPLengthField(t *testing.T) {
	good := capturedIPv4(t, capUDP).Payload()
	for n := 0; n < UDPHeaderSize; n++ {
		if _, err := ParseUDP(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	b := append([]byte{}, good...)
	for _, l := range []uint16{0, 1, 7} {
		b[4], b[5] = byte(l>>8), byte(l)
		if _, err := ParseUDP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("length %d: %v", l, err)
		}
	}
	b[4], b[5] = 0, byte(len(good)+1)
	if _, err := ParseUDP(b); !errors.Is(err, ErrTruncated) {
		t.Errorf("length past buffer: %v", err)
	}
	// Length shorter than the buffer: the view is trimmed to it.
	b[4], b[5] = 0, 10
	u, err := ParseUDP(b)
	if err != nil || len(u.Payload()) != 2 || len(u.Bytes()) != 10 {
		t.Fatalf("trimmed: %v %d", err, len(u.Payload()))
	}
}

func TestUDPZeroChecksumMeansNoneOnlyOverIPv4_RFC768_RFC8200_8_1(t *testing.T) {
	b := make([]byte, 12)
	f := UDPFields{SrcPort: 1, DstPort: 2, Length: 12}
	EmitUDP(b, &f)
	if !UDPChecksumValid(b, capClientIP, capServerIP) {
		t.Error("zero checksum over IPv4 must be accepted")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if UDPChecksumValid(b, v6a, v6b) {
		t.Error("zero checksum over IPv6 must be rejected")
	}
	if UDPChecksumValid(b[:7], capClientIP, capServerIP) {
		t.Error("short datagram accepted")
	}
}

func TestSetUDPChecksumSendsZeroAsAllOnes_RFC768(t *testing.T) {
	// Search a payload word that makes the computed checksum 0; it must go out as
	// 0xFFFF and still verify.
	b := make([]byte, 10)
	f := UDPFields{SrcPort: 1000, DstPort: 2000, Length: 10}
	EmitUDP(b, &f)
	for w := 0; w < 0x10000; w++ {
		b[8], b[9] = byte(w>>8), byte(w)
		b[6], b[7] = 0, 0
		if FoldChecksum(Checksum(b, PseudoHeaderSum(ProtoUDP, capClientIP, capServerIP, 10))) != 0 {
			continue
		}
		SetUDPChecksum(b, capClientIP, capServerIP)
		if b[6] != 0xFF || b[7] != 0xFF {
			t.Fatalf("computed zero stored as %#x%02x", b[6], b[7])
		}
		if !UDPChecksumValid(b, capClientIP, capServerIP) {
			t.Fatal("0xFFFF checksum does not verify")
		}
		return
	}
	t.Fatal("no payload yields a zero checksum")
}

func TestUDPEmitParseRoundTripIPv4AndIPv6(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::2")
	for i := 0; i < 1000; i++ {
		n := UDPHeaderSize + r.IntN(1500)
		b := make([]byte, n+r.IntN(4))
		f := UDPFields{SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Length: uint16(n)}
		EmitUDP(b, &f)
		for j := 8; j < n; j++ {
			b[j] = byte(r.Uint32())
		}
		src, dst := capClientIP, capServerIP
		if i%2 == 1 {
			src, dst = v6a, v6b
		}
		SetUDPChecksum(b[:n], src, dst)
		u, err := ParseUDP(b)
		if err != nil || u.Fields() != f || !u.ChecksumValid(src, dst) {
			t.Fatalf("%v %+v valid=%v", err, u.Fields(), u.ChecksumValid(src, dst))
		}
		// Any single-bit flip changes the one's-complement sum; skip the
		// checksum field itself, where 0x0001->0x0000 would mean "none".
		idx := r.IntN(n)
		if idx == 6 || idx == 7 {
			idx = 0
		}
		b[idx] ^= 1
		if u.ChecksumValid(src, dst) {
			t.Fatal("corruption not detected")
		}
	}
}
