package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParseARPCapturedRequestAndReply_RFC826(t *testing.T) {
	req, err := ParseARP(mustHex(t, capARPRequest)[14:])
	if err != nil {
		t.Fatal(err)
	}
	want := ARPFields{Op: ARPRequest, SenderMAC: capClientMAC, SenderIP: capClientIP, TargetIP: capServerIP}
	if req != want {
		t.Fatalf("request %+v, want %+v", req, want)
	}
	rep, err := ParseARP(mustHex(t, capARPReply)[14:])
	if err != nil {
		t.Fatal(err)
	}
	want = ARPFields{Op: ARPReply, SenderMAC: capServerMAC, SenderIP: capServerIP, TargetMAC: capClientMAC, TargetIP: capClientIP}
	if rep != want {
		t.Fatalf("reply %+v, want %+v", rep, want)
	}
	// Emitting the decoded reply reproduces the captured bytes.
	out := make([]byte, ARPSize)
	if n := EmitARP(out, &rep); n != ARPSize || !bytes.Equal(out, mustHex(t, capARPReply)[14:]) {
		t.Fatalf("emit % x", out)
	}
}

func TestParseARPIgnoresEthernetPadding(t *testing.T) {
	b := append(mustHex(t, capARPRequest)[14:], make([]byte, 18)...)
	if _, err := ParseARP(b); err != nil {
		t.Fatal(err)
	}
}

func TestParseARPRejectsTruncatedAndNonEthernetIPv4(t *testing.T) {
	good := mustHex(t, capARPRequest)[14:]
	for n := 0; n < ARPSize; n++ {
		if _, err := ParseARP(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	for _, c := range []struct {
		name string
		off  int
		val  byte
	}{
		{"hardware type 6 (IEEE 802)", 1, 6},
		{"protocol type IPv6", 2, 0x86},
		{"hardware length 8", 4, 8},
		{"protocol length 16", 5, 16},
	} {
		b := append([]byte{}, good...)
		b[c.off] = c.val
		if _, err := ParseARP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestEmitARPProbeHasZeroSenderIP_RFC5227_2_1_1(t *testing.T) {
	f := ARPFields{Op: ARPRequest, SenderMAC: capClientMAC, TargetIP: netip.MustParseAddr("198.18.0.7")}
	b := bytes.Repeat([]byte{0xAA}, ARPSize)
	EmitARP(b, &f)
	got, err := ParseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.SenderIP != netip.IPv4Unspecified() || got.TargetIP != f.TargetIP || got.TargetMAC != (MAC{}) {
		t.Fatalf("%+v", got)
	}
}
