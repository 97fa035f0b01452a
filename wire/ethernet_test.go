package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestParseEthernetCapturedARPRequest(t *testing.T) {
	e, err := ParseEthernet(mustHex(t, capARPRequest))
	if err != nil {
		t.Fatal(err)
	}
	if e.Dst() != BroadcastMAC || !e.Dst().IsBroadcast() || !e.Dst().IsMulticast() {
		t.Errorf("dst %v", e.Dst())
	}
	if e.Src() != capClientMAC || e.Src().IsMulticast() {
		t.Errorf("src %v", e.Src())
	}
	if e.EtherType() != EtherTypeARP || e.HeaderLen() != 14 || len(e.Payload()) != ARPSize {
		t.Errorf("type %#x hlen %d payload %d", e.EtherType(), e.HeaderLen(), len(e.Payload()))
	}
	if _, ok := e.VLAN(); ok {
		t.Error("untagged frame reports a VLAN")
	}
}

func TestParseEthernet8021QTagReportsInnerEtherTypeAndTCI(t *testing.T) {
	plain := mustHex(t, capSYN)
	// Insert a tag: PCP 5, DEI 1, VID 100.
	tagged := append(append(append([]byte{}, plain[:12]...), 0x81, 0x00, 0xb0, 0x64), plain[12:]...)
	e, err := ParseEthernet(tagged)
	if err != nil {
		t.Fatal(err)
	}
	tci, ok := e.VLAN()
	if !ok || tci != 0xb064 || tci&0xfff != 100 {
		t.Fatalf("VLAN() = %#x, %v", tci, ok)
	}
	if e.EtherType() != EtherTypeIPv4 || e.HeaderLen() != 18 {
		t.Fatalf("type %#x hlen %d", e.EtherType(), e.HeaderLen())
	}
	if !bytes.Equal(e.Payload(), plain[14:]) {
		t.Fatal("payload differs from the untagged frame's")
	}
	f := e.Fields()
	out := make([]byte, EthernetHeaderLen(&f))
	if n := EmitEthernet(out, &f); n != 18 || !bytes.Equal(out, tagged[:18]) {
		t.Fatalf("re-emitted tagged header % x, want % x", out[:n], tagged[:18])
	}
}

func TestParseEthernetRejectsShortFrames(t *testing.T) {
	frame := mustHex(t, capSYN)
	for n := 0; n < EthernetHeaderSize; n++ {
		if _, err := ParseEthernet(frame[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: err %v", n, err)
		}
	}
	// A VLAN TPID with the tag cut off.
	tagged := append(append([]byte{}, frame[:12]...), 0x81, 0x00, 0x00, 0x64, 0x08, 0x00)
	for n := 14; n < 18; n++ {
		if _, err := ParseEthernet(tagged[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("tagged len %d: err %v", n, err)
		}
	}
	if _, err := ParseEthernet(tagged); err != nil {
		t.Fatalf("header-only tagged frame: %v", err)
	}
}

func TestEthernetEmitParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 1000; i++ {
		var f EthernetFields
		for j := range f.Dst {
			f.Dst[j], f.Src[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		f.EtherType = uint16(r.Uint32())
		if f.EtherType == EtherTypeVLAN {
			f.EtherType = EtherTypeIPv6
		}
		f.HasVLAN = r.IntN(2) == 0
		if f.HasVLAN {
			f.VLAN = uint16(r.Uint32())
		}
		b := make([]byte, EthernetHeaderLen(&f)+r.IntN(3))
		n := EmitEthernet(b, &f)
		if n != EthernetHeaderLen(&f) {
			t.Fatalf("emit wrote %d", n)
		}
		e, err := ParseEthernet(b)
		if err != nil {
			t.Fatal(err)
		}
		if e.Fields() != f || e.HeaderLen() != n || len(e.Payload()) != len(b)-n {
			t.Fatalf("round trip: %+v -> %+v", f, e.Fields())
		}
	}
}

func TestMACStringAndGroupBits(t *testing.T) {
	if s := (MAC{0x02, 0xe5, 0xb3, 0x9b, 0x30, 0xde}).String(); s != "02:e5:b3:9b:30:de" {
		t.Errorf("String = %q", s)
	}
	if s := BroadcastMAC.String(); s != "ff:ff:ff:ff:ff:ff" {
		t.Errorf("String = %q", s)
	}
	ipv6mc := MAC{0x33, 0x33, 0, 0, 0, 1}
	if !ipv6mc.IsMulticast() || ipv6mc.IsBroadcast() {
		t.Error("33:33:00:00:00:01 is multicast, not broadcast")
	}
	if (MAC{}).IsMulticast() || (MAC{}).IsBroadcast() {
		t.Error("zero MAC is unicast")
	}
}

func TestParseMAC(t *testing.T) {
	for _, s := range []string{"02:e5:b3:9b:30:de", "02-E5-B3-9B-30-DE"} {
		m, err := ParseMAC(s)
		if err != nil || m != capClientMAC {
			t.Errorf("%q: %v %v", s, m, err)
		}
	}
	for _, s := range []string{"", "02:e5:b3:9b:30", "02:e5:b3:9b:30:de:00", "02:e5-b3:9b:30:de",
		"zz:e5:b3:9b:30:de", "02:e5:b3:9b:30:dg", "02.e5.b3.9b.30.de", "02:e5:b3:9b:30:de "} {
		if _, err := ParseMAC(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q accepted (%v)", s, err)
		}
	}
	if m, _ := ParseMAC(BroadcastMAC.String()); m != BroadcastMAC {
		t.Error("String/ParseMAC round trip")
	}
}
