package iface

import (
	"bytes"
	"testing"
	"time"

	"offload/wire"
)

func TestEchoRequestGetsByteExactReply_RFC792_RFC1122_3_2_2_6(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	data := []byte("abcdefghijklmnopqrstuvwxyz0123456789!")
	req := ipPacket(wire.IPv4Fields{TOS: 0x28, ID: 77, TTL: 9, Protocol: wire.ProtoICMP, Src: farIP, Dst: ourIP}, echoRequest(0x1234, 0x0102, data))
	// The request comes through the gateway: the reply must go back to its MAC
	// without an ARP round trip.
	frame := append(ethHdr(ourMAC, gwMAC, wire.EtherTypeIPv4), req...)
	if _, ok := i.Input(t0, frameOf(frame), &c); ok {
		t.Fatal("echo request delivered to a transport")
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames, want one reply", len(fr))
	}
	got := fr[0].Bytes()
	e := mustEth(t, got)
	if e.Dst() != gwMAC || e.Src() != ourMAC || e.EtherType() != wire.EtherTypeIPv4 {
		t.Fatalf("eth %+v", e.Fields())
	}
	p := mustIPv4(t, e.Payload())
	// Build the expected reply byte for byte, taking only the ID (which is ours to
	// choose, RFC 6864) from what was sent.
	want := ethHdr(gwMAC, ourMAC, wire.EtherTypeIPv4)
	icmp := make([]byte, wire.ICMPv4HeaderSize+len(data))
	wire.EmitICMPv4(icmp, &wire.ICMPv4Fields{Type: wire.ICMPv4EchoReply, ID: 0x1234, Seq: 0x0102}, data)
	want = append(want, ipPacket(wire.IPv4Fields{TOS: 0x28, ID: p.ID(), TTL: DefaultTTL, Protocol: wire.ProtoICMP, Src: ourIP, Dst: farIP}, icmp)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("reply\n got %x\nwant %x", got, want)
	}
	if _, err := wire.ParseICMPv4(p.Payload()); err != nil {
		t.Fatalf("reply ICMP checksum: %v", err)
	}
	if fr[0].Headroom() != 0 {
		t.Fatalf("reply headroom %d, want the device headroom 0", fr[0].Headroom())
	}
	fr[0].Release()
	s := i.Stats()
	if s.ICMPEchoRequests != 1 || s.ICMPEchoReplies != 1 || s.TxFrames != 1 {
		t.Fatalf("stats %+v", s)
	}
	checkCounters(t, i)
}

func TestEchoRequestWithBadChecksumIsIgnored(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	icmp := echoRequest(1, 1, []byte("ping"))
	icmp[len(icmp)-1] ^= 0x40
	i.Input(t0, frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, icmp))), &c)
	if len(c.frames) != 0 {
		t.Fatal("answered a corrupt echo request")
	}
	if s := i.Stats(); s.RxBadTransport != 1 || s.ICMPEchoReplies != 0 {
		t.Fatalf("stats %+v", s)
	}
	checkCounters(t, i)
}

func TestEchoRequestToBroadcastIsIgnored_RFC1122_3_2_2_6(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: bcastIP}, echoRequest(1, 1, nil))
	i.Input(t0, frameOf(ethIP(wire.BroadcastMAC, ip)), &c)
	if len(c.frames) != 0 {
		t.Fatal("answered a broadcast echo (smurf amplifier)")
	}
	if s := i.Stats(); s.RxBroadcast != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOtherICMPIsDeliveredToTheStack(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	// A port unreachable quoting one of our UDP datagrams: TCP/UDP need these.
	quoted := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: ourIP, Dst: peerIP}, make([]byte, 8))
	msg := make([]byte, wire.ICMPv4HeaderSize+len(quoted))
	wire.EmitICMPv4(msg, &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4PortUnreachable}, quoted)
	in, ok := i.Input(t0, frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, msg))), &c)
	if !ok || in.Proto != wire.ProtoICMP || !bytes.Equal(in.Payload, msg) {
		t.Fatalf("ok=%v in=%+v", ok, in)
	}
	if len(c.frames) != 0 {
		t.Fatal("answered an ICMP error")
	}
}

func TestEchoReplyNotSentWhenControlPoolIsEmpty(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ControlBuffers = 2 })
	var c capture
	req := frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, echoRequest(1, 1, nil))))
	for range 3 {
		i.Input(t0, req, &c)
	}
	if len(c.frames) != 2 {
		t.Fatalf("sent %d replies from a pool of 2", len(c.frames))
	}
	if s := i.Stats(); s.TxNoBuffer != 1 || s.ICMPEchoRequests != 3 {
		t.Fatalf("stats %+v", s)
	}
	c.releaseAll()
	i.Input(t0, req, &c)
	if len(c.frames) != 1 {
		t.Fatal("pool not refilled by releases")
	}
}

func TestEchoRequestLargerThanMTUIsNotAnswered(t *testing.T) {
	i := newIface(t, func(c *Config) { c.MTU = 576 })
	var c capture
	ip := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, echoRequest(1, 1, make([]byte, 1000)))
	i.Input(t0, frameOf(ethIP(ourMAC, ip)), &c)
	if len(c.frames) != 0 || i.Stats().TxTooBig != 1 {
		t.Fatalf("frames %d stats %+v", len(c.frames), i.Stats())
	}
}

func TestUnreachableQuotesDatagramAndGoesBackToSender_RFC792_RFC1122_4_1_3_1(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	dg := udpDatagram(peerIP, ourIP, 5000, 9, []byte("nobody listens"))
	orig := ipPacket(wire.IPv4Fields{ID: 5, Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, dg)
	frame := frameOf(ethIP(ourMAC, orig))
	in, ok := i.Input(t0, frame, &c)
	if !ok {
		t.Fatal("UDP not delivered")
	}
	if !i.Unreachable(t0, frame, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("not sent")
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d", len(fr))
	}
	p := mustIPv4(t, mustEth(t, fr[0].Bytes()).Payload())
	icmp := make([]byte, wire.ICMPv4HeaderSize+len(orig))
	wire.EmitICMPv4(icmp, &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4PortUnreachable}, orig)
	want := append(ethHdr(peerMAC, ourMAC, wire.EtherTypeIPv4),
		ipPacket(wire.IPv4Fields{ID: p.ID(), TTL: DefaultTTL, Protocol: wire.ProtoICMP, Src: ourIP, Dst: peerIP}, icmp)...)
	if !bytes.Equal(fr[0].Bytes(), want) {
		t.Fatalf("error\n got %x\nwant %x", fr[0].Bytes(), want)
	}
	if s := i.Stats(); s.ICMPErrorsOut != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUnreachableQuoteIsCappedAt576ByteError_RFC1812_4_3_2_3(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	dg := udpDatagram(peerIP, ourIP, 5000, 9, make([]byte, 1200))
	frame := frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, dg)))
	in, _ := i.Input(t0, frame, &c)
	i.Unreachable(t0, frame, &in, wire.ICMPv4PortUnreachable, &c)
	if p := mustIPv4(t, mustEth(t, c.take()[0].Bytes()).Payload()); p.TotalLen() != 576 {
		t.Fatalf("error of %d bytes", p.TotalLen())
	}
}

func TestNoUnreachableAboutBroadcastOrICMP_RFC1122_3_2_2(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	dg := udpDatagram(peerIP, bcastIP, 68, 67, []byte("x"))
	frame := frameOf(ethIP(wire.BroadcastMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: bcastIP}, dg)))
	in, ok := i.Input(t0, frame, &c)
	if !ok || i.Unreachable(t0, frame, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("error sent about a broadcast")
	}
	quoted := ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: ourIP, Dst: peerIP}, make([]byte, 8))
	msg := make([]byte, wire.ICMPv4HeaderSize+len(quoted))
	wire.EmitICMPv4(msg, &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: 3}, quoted)
	frame = frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, msg)))
	in, ok = i.Input(t0, frame, &c)
	if !ok || i.Unreachable(t0, frame, &in, wire.ICMPv4PortUnreachable, &c) {
		t.Fatal("error sent about an ICMP message")
	}
	if len(c.frames) != 0 {
		t.Fatal("sent something")
	}
}

func TestUnreachableIsRateLimited_RFC1812_4_3_2_8(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ICMPErrorRate = 50; c.ControlBuffers = 100 }) // burst 5, one per 20 ms
	var d discard
	dg := udpDatagram(peerIP, ourIP, 5000, 9, nil)
	frame := frameOf(ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoUDP, Src: peerIP, Dst: ourIP}, dg)))
	in, _ := i.Input(t0, frame, &d)
	sent := 0
	for range 20 {
		if i.Unreachable(t0, frame, &in, wire.ICMPv4PortUnreachable, &d) {
			sent++
		}
	}
	if sent != 5 {
		t.Fatalf("burst sent %d, want 5", sent)
	}
	if i.Unreachable(t0.Add(10*time.Millisecond), frame, &in, 3, &d) {
		t.Fatal("sent before a token was earned")
	}
	if !i.Unreachable(t0.Add(20*time.Millisecond), frame, &in, 3, &d) {
		t.Fatal("not sent after one interval")
	}
	if s := i.Stats(); s.ICMPRateLimited != 16 || s.ICMPErrorsOut != 6 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUnknownProtocolGetsRateLimitedProtocolUnreachable_RFC1122_3_2_2_1(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ICMPErrorRate = 10 }) // burst 1
	var c capture
	orig := ipPacket(wire.IPv4Fields{Protocol: 132, Src: peerIP, Dst: ourIP}, []byte("sctp?"))
	for range 3 {
		if _, ok := i.Input(t0, frameOf(ethIP(ourMAC, orig)), &c); ok {
			t.Fatal("delivered")
		}
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d errors, want 1 (rate limit)", len(fr))
	}
	p := mustIPv4(t, mustEth(t, fr[0].Bytes()).Payload())
	m, err := wire.ParseICMPv4(p.Payload())
	if err != nil || m.Type() != wire.ICMPv4DestUnreachable || m.Code() != wire.ICMPv4ProtoUnreachable || !bytes.Equal(m.Body(), orig) {
		t.Fatalf("err %v, icmp %+v", err, m.Fields())
	}
	if s := i.Stats(); s.RxUnknownProto != 3 || s.ICMPRateLimited != 2 {
		t.Fatalf("stats %+v", s)
	}
	// None about a broadcast.
	b := ipPacket(wire.IPv4Fields{Protocol: 132, Src: peerIP, Dst: bcastIP}, []byte("x"))
	i.Input(t0.Add(sec), frameOf(ethIP(wire.BroadcastMAC, b)), &c)
	if len(c.frames) != 0 {
		t.Fatal("protocol unreachable about a broadcast")
	}
}
