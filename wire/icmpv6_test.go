package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParseICMPv6CapturedEchoAndLinuxReply_RFC4443_4(t *testing.T) {
	req := capturedIPv6(t, cap6EchoRequest)
	m, err := ParseICMPv6(req.Payload(), req.Src(), req.Dst())
	if err != nil {
		t.Fatal(err)
	}
	want := ICMPv6Fields{Type: ICMPv6EchoRequest, ID: 0x4321, Seq: 7}
	if m.Fields() != want || string(m.Body()) != "ping6-data" {
		t.Fatalf("%+v %q", m.Fields(), m.Body())
	}
	rep := want
	rep.Type = ICMPv6EchoReply
	out := make([]byte, ICMPv6HeaderSize+len(m.Body()))
	n := EmitICMPv6(out, &rep, m.Body(), req.Dst(), req.Src())
	if linux := capturedIPv6(t, cap6EchoReply).Payload(); !bytes.Equal(out[:n], linux) {
		t.Fatalf("reply % x\nlinux % x", out[:n], linux)
	}
}

func TestParseICMPv6ChecksumCoversPseudoHeader_RFC4443_2_3(t *testing.T) {
	p := capturedIPv6(t, cap6PortUnreachable)
	if _, err := ParseICMPv6(p.Payload(), p.Src(), p.Dst()); err != nil {
		t.Fatal(err)
	}
	// (Swapping src and dst would not do: the sum is commutative.)
	if _, err := ParseICMPv6(p.Payload(), p.Src(), netip.MustParseAddr("2001:db8::3")); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong addresses: %v", err)
	}
	for n := 0; n < ICMPv6HeaderSize; n++ {
		if _, err := ParseICMPv6(p.Payload()[:n], p.Src(), p.Dst()); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	m, _ := ParseICMPv6(p.Payload(), p.Src(), p.Dst())
	if m.Type() != ICMPv6DestUnreachable || m.Code() != ICMPv6PortUnreachable {
		t.Fatalf("type %d code %d", m.Type(), m.Code())
	}
	inner, err := ParseIPv6(m.Body())
	if err != nil || inner.Dst() != cap6ServerIP || inner.NextHeader() != ProtoUDP {
		t.Fatalf("invoking packet: %v", err)
	}
}

func TestICMPv6PacketTooBigCarries32BitMTU_RFC4443_3_2(t *testing.T) {
	f := ICMPv6Fields{Type: ICMPv6PacketTooBig, MTU: 1280, ID: 5}
	b := make([]byte, 8+48)
	EmitICMPv6(b, &f, capturedIPv6(t, cap6SYN).Bytes()[:48], cap6ServerIP, cap6ClientIP)
	m, err := ParseICMPv6(b, cap6ServerIP, cap6ClientIP)
	if err != nil || m.MTU() != 1280 || m.Fields() != (ICMPv6Fields{Type: ICMPv6PacketTooBig, MTU: 1280}) {
		t.Fatalf("%v %+v", err, m.Fields())
	}
}

func TestParseNDPCapturedSolicitationAndAdvertisement_RFC4861_4_3_4_4(t *testing.T) {
	ns := capturedIPv6(t, cap6NS)
	m, err := ParseICMPv6(ns.Payload(), ns.Src(), ns.Dst())
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseNDP(m)
	want := NDPFields{Type: ICMPv6NeighborSolicitation, Target: cap6ServerIP, HasLinkAddr: true, LinkAddr: cap6ClientMAC}
	if err != nil || f != want {
		t.Fatalf("NS %v %+v", err, f)
	}
	out := make([]byte, NDPSize(&f))
	if EmitNDP(out, &f, ns.Src(), ns.Dst()); !bytes.Equal(out, ns.Payload()) {
		t.Fatalf("NS re-emit % x\nwant % x", out, ns.Payload())
	}

	na := capturedIPv6(t, cap6NA)
	m, err = ParseICMPv6(na.Payload(), na.Src(), na.Dst())
	if err != nil {
		t.Fatal(err)
	}
	f, err = ParseNDP(m)
	want = NDPFields{Type: ICMPv6NeighborAdvertisement, Solicited: true, Override: true, Target: cap6ServerIP,
		HasLinkAddr: true, LinkAddr: cap6ServerMAC}
	if err != nil || f != want {
		t.Fatalf("NA %v %+v", err, f)
	}
	out = make([]byte, NDPSize(&f))
	if EmitNDP(out, &f, na.Src(), na.Dst()); !bytes.Equal(out, na.Payload()) {
		t.Fatalf("NA re-emit % x\nwant % x", out, na.Payload())
	}
}

func TestParseNDPDropsInvalidMessages_RFC4861_7_1(t *testing.T) {
	ns := capturedIPv6(t, cap6NS)
	src, dst := ns.Src(), ns.Dst()
	mk := func(mut func(b []byte) []byte) ICMPv6 {
		b := mut(append([]byte{}, ns.Payload()...))
		setICMPv6Checksum(b, src, dst)
		m, err := ParseICMPv6(b, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name string
		mut  func(b []byte) []byte
		want error
	}{
		{"code 1", func(b []byte) []byte { b[1] = 1; return b }, ErrMalformed},
		{"echo request", func(b []byte) []byte { b[0] = ICMPv6EchoRequest; return b }, ErrMalformed},
		{"shorter than 24", func(b []byte) []byte { return b[:23] }, ErrTruncated},
		{"multicast target", func(b []byte) []byte { b[8] = 0xff; return b }, ErrMalformed},
		{"option length 0", func(b []byte) []byte { b[25] = 0; return b }, ErrMalformed},
		{"option past end", func(b []byte) []byte { b[25] = 2; return b }, ErrTruncated},
		{"lone option type byte", func(b []byte) []byte { return b[:25] }, ErrTruncated},
	}
	for _, c := range cases {
		if _, err := ParseNDP(mk(c.mut)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Unknown options are skipped; a link-layer option of the wrong size is ignored.
	m := mk(func(b []byte) []byte {
		b = append(b[:24], 14, 1, 0, 0, 0, 0, 0, 0) // nonce option (RFC 3971), skipped
		return append(b, NDPOptSourceLinkAddr, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
	})
	if f, err := ParseNDP(m); err != nil || f.HasLinkAddr {
		t.Errorf("odd options: %v %+v", err, f)
	}
	// A router's unsolicited advertisement keeps its flags.
	ra := NDPFields{Type: ICMPv6NeighborAdvertisement, Router: true, Target: cap6ServerIP, HasLinkAddr: true, LinkAddr: cap6ServerMAC}
	rb := make([]byte, NDPSize(&ra))
	EmitNDP(rb, &ra, src, dst)
	if rb[4] != 0x80 || rb[24] != NDPOptTargetLinkAddr {
		t.Errorf("flags %#x option %d", rb[4], rb[24])
	}
	if m, err := ParseICMPv6(rb, src, dst); err != nil {
		t.Error(err)
	} else if got, err := ParseNDP(m); err != nil || got != ra {
		t.Errorf("router NA: %v %+v", err, got)
	}
	// Without options: a DAD probe from :: (RFC 4862 §5.4.2) has no source link-layer option.
	f := NDPFields{Type: ICMPv6NeighborSolicitation, Target: cap6ServerIP}
	b := make([]byte, NDPSize(&f))
	EmitNDP(b, &f, ns.Src(), ns.Dst())
	m2, err := ParseICMPv6(b, ns.Src(), ns.Dst())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseNDP(m2); err != nil || got != f {
		t.Errorf("no options: %v %+v", err, got)
	}
}
