package wire

import (
	"bytes"
	"errors"
	"testing"
)

func capturedIPv4(t testing.TB, frame string) IPv4 {
	t.Helper()
	p, err := ParseIPv4(mustHex(t, frame)[14:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseICMPv4CapturedEchoAndLinuxReply_RFC792(t *testing.T) {
	req := capturedIPv4(t, capEchoRequest)
	m, err := ParseICMPv4(req.Payload())
	if err != nil {
		t.Fatal(err)
	}
	want := ICMPv4Fields{Type: ICMPv4EchoRequest, ID: 0x1234, Seq: 1}
	if m.Fields() != want || string(m.Body()) != "abcdefghijklmnopqrstuvwabcdefghi" {
		t.Fatalf("%+v body %q", m.Fields(), m.Body())
	}
	// Build the reply the way a stack does: echo the body, type 0. It must equal
	// what Linux sent.
	rep := want
	rep.Type = ICMPv4EchoReply
	out := make([]byte, ICMPv4HeaderSize+len(m.Body()))
	n := EmitICMPv4(out, &rep, m.Body())
	if linux := capturedIPv4(t, capEchoReply).Payload(); !bytes.Equal(out[:n], linux) {
		t.Fatalf("reply % x\nlinux % x", out[:n], linux)
	}
}

func TestParseICMPv4CapturedPortUnreachableQuotesDatagram(t *testing.T) {
	m, err := ParseICMPv4(capturedIPv4(t, capICMPPortUnreach).Payload())
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPv4DestUnreachable || m.Code() != ICMPv4PortUnreachable {
		t.Fatalf("type %d code %d", m.Type(), m.Code())
	}
	if f := m.Fields(); f.ID != 0 || f.Seq != 0 || f.MTU != 0 {
		t.Fatalf("non-echo, non-frag-needed message decoded ID/Seq/MTU: %+v", f)
	}
	// The body is the offending IPv4 datagram, which parses.
	inner, err := ParseIPv4(m.Body())
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUDP(inner.Payload())
	if err != nil || u.DstPort() != 9999 {
		t.Fatalf("quoted UDP %v %d", err, u.DstPort())
	}
}

func TestICMPv4FragNeededCarriesNextHopMTU_RFC1191_4(t *testing.T) {
	quoted := capturedIPv4(t, capSYN).Bytes()[:28]
	f := ICMPv4Fields{Type: ICMPv4DestUnreachable, Code: ICMPv4FragNeeded, MTU: 1400, ID: 0xAAAA, Seq: 0xBBBB}
	b := make([]byte, 8+len(quoted))
	EmitICMPv4(b, &f, quoted)
	if !bytes.Equal(b[4:8], []byte{0, 0, 0x05, 0x78}) {
		t.Fatalf("rest of header % x, want unused 0 and MTU 1400", b[4:8])
	}
	m, err := ParseICMPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	want := ICMPv4Fields{Type: ICMPv4DestUnreachable, Code: ICMPv4FragNeeded, MTU: 1400}
	if m.Fields() != want || m.MTU() != 1400 || !bytes.Equal(m.Body(), quoted) {
		t.Fatalf("%+v", m.Fields())
	}
}

func TestParseICMPv4RejectsShortAndCorrupt(t *testing.T) {
	good := capturedIPv4(t, capEchoRequest).Payload()
	for n := 0; n < ICMPv4HeaderSize; n++ {
		if _, err := ParseICMPv4(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	for i := range good {
		b := append([]byte{}, good...)
		b[i] ^= 0x10
		if _, err := ParseICMPv4(b); !errors.Is(err, ErrChecksum) {
			t.Fatalf("flip in byte %d: %v", i, err)
		}
	}
	// A body cut short no longer matches the checksum.
	if _, err := ParseICMPv4(good[:len(good)-2]); !errors.Is(err, ErrChecksum) {
		t.Fatalf("cut body: %v", err)
	}
}

func TestEmitICMPv4InPlaceBody(t *testing.T) {
	b := make([]byte, 8+5)
	copy(b[8:], "hello")
	f := ICMPv4Fields{Type: ICMPv4EchoRequest, ID: 1, Seq: 2}
	n := EmitICMPv4(b, &f, b[8:])
	m, err := ParseICMPv4(b[:n])
	if err != nil || string(m.Body()) != "hello" || m.Fields() != f {
		t.Fatalf("%v %q %+v", err, m.Body(), m.Fields())
	}
}

func TestEmitICMPv4TimeExceededZeroesRestOfHeader(t *testing.T) {
	b := bytes.Repeat([]byte{0xEE}, 8)
	f := ICMPv4Fields{Type: ICMPv4TimeExceeded, Code: ICMPv4TTLExceeded, ID: 9, Seq: 9, MTU: 9}
	EmitICMPv4(b, &f, nil)
	if !bytes.Equal(b[4:8], []byte{0, 0, 0, 0}) {
		t.Fatalf("unused field % x (RFC 792: must be zero)", b[4:8])
	}
	if _, err := ParseICMPv4(b); err != nil {
		t.Fatal(err)
	}
}
