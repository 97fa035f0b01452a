package stack_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
	"offload/wire"
)

// injector hands frames of the test's making to the stack ahead of what the
// device received, and counts the TCP resets the stack sends.
type injector struct {
	link.Device
	in   []*pkt.Buffer
	rsts int
}

func (d *injector) Recv(q int, b *pkt.Batch) (int, error) {
	n := 0
	for len(d.in) > 0 && !b.Full() {
		b.Add(d.in[0])
		d.in = d.in[1:]
		n++
	}
	m, err := d.Device.Recv(q, b)
	return n + m, err
}

func (d *injector) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		if eth, err := wire.ParseEthernet(f.Bytes()); err == nil {
			if ip, err := wire.ParseIPv4(eth.Payload()); err == nil && ip.Protocol() == wire.ProtoTCP {
				if t, err := wire.ParseTCP(ip.Payload()); err == nil && t.Flags().Has(wire.FlagRST) {
					d.rsts++
				}
			}
		}
	}
	return d.Device.Send(q, b)
}

// segmentFrame builds an Ethernet+IPv4+TCP frame from src to dst.
func segmentFrame(dstMAC [6]byte, src, dst netip.AddrPort, h wire.TCPFields) *pkt.Buffer {
	h.SrcPort, h.DstPort = src.Port(), dst.Port()
	tl := wire.TCPHeaderLen(&h)
	b := pkt.NewBuffer(14+20+tl, 0)
	f := b.Append(14 + 20 + tl)
	wire.EmitEthernet(f, &wire.EthernetFields{Dst: dstMAC, Src: wire.MAC{2, 0, 0, 0, 0, 0x99}, EtherType: wire.EtherTypeIPv4})
	wire.EmitIPv4(f[14:], &wire.IPv4Fields{TTL: 64, Protocol: wire.ProtoTCP, Src: src.Addr(), Dst: dst.Addr(), PayloadLen: tl})
	wire.EmitTCP(f[34:], &h)
	wire.SetTCPChecksum(f[34:], src.Addr(), dst.Addr())
	return b
}

func cookieSim(t *testing.T, backlog int) (*sim, *injector) {
	clk := clock.NewFake(1 << 40)
	pa, pb := pipe.New(pipe.Config{})
	inj := &injector{Device: pb}
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: clk, Secret: [16]byte{secret}, ListenBacklog: backlog})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return &sim{t: t, clk: clk, a: mk(pa, simA, 1), b: mk(inj, simB, 2), limit: time.Minute}, inj
}

// Clients beyond a full backlog are answered with SYN cookies and connect at
// once, without waiting out a SYN retransmission (RFC 4987 §3.6); their data
// gets through once the application accepts.
func TestSYNsBeyondBacklogGetCookiesAndConnect_RFC4987_3_6(t *testing.T) {
	s, _ := cookieSim(t, 2)
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const clients = 6
	var cs []*stack.Conn
	for range clients {
		c, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	start := s.clk.Now()
	for _, c := range cs {
		for {
			select {
			case <-c.Connected():
			default:
				s.step()
				continue
			}
			break
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.elapsed(start); d >= time.Second {
		t.Fatalf("clients took %v to connect: a SYN was retransmitted instead of answered with a cookie", d)
	}
	if s.b.Stats().SYNCookiesSent.Load() == 0 {
		t.Fatal("no SYN cookie was sent with a backlog of 2 and 6 clients")
	}
	got := 0
	for got < clients {
		if s.elapsed(start) > time.Minute {
			t.Fatalf("accepted %d of %d clients' data within a simulated minute", got, clients)
		}
		c, err := ln.Accept()
		if err != nil {
			s.step()
			continue
		}
		buf := make([]byte, 2)
		for {
			n, err := c.Read(buf)
			if n == 2 {
				break
			}
			if err != nil && !errors.Is(err, stack.ErrWouldBlock) && err != io.EOF {
				t.Fatal(err)
			}
			s.step()
		}
		got++
	}
	if s.b.Stats().SYNCookiesAccepted.Load() == 0 {
		t.Fatal("no connection came from a cookie")
	}
}

// A flood of 10,000 spoofed SYNs leaves no state behind beyond the backlog:
// they are answered with cookies, and a real client still connects
// (REFERENCES item 7, RFC 4987).
func TestSYNFloodKeepsStateBoundedAndRealClientConnects_RFC4987(t *testing.T) {
	s, inj := cookieSim(t, 16)
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverMAC := inj.Caps().HardwareAddr
	rng := rand.New(rand.NewPCG(1, 2))
	dst := netip.AddrPortFrom(simB.Addr(), 80)
	for i := range 10000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + rng.IntN(200))}), uint16(1024+rng.IntN(60000)))
		inj.in = append(inj.in, segmentFrame(serverMAC, src, dst, wire.TCPFields{Seq: wire.Seq(rng.Uint32()), Flags: wire.FlagSYN, Window: 65535, Options: wire.TCPOptions{MSS: 1460}}))
		if i%64 == 63 {
			s.step()
		}
	}
	for len(inj.in) > 0 {
		s.step()
	}
	if n := s.b.NumConns(); n > 16 {
		t.Fatalf("%d connections after a SYN flood against a backlog of 16", n)
	}
	if sent := s.b.Stats().SYNCookiesSent.Load(); sent < 9000 {
		t.Fatalf("only %d SYN cookies for 10,000 spoofed SYNs", sent)
	}
	c, err := s.a.DialTCP(netip.AddrPort{}, dst)
	if err != nil {
		t.Fatal(err)
	}
	start := s.clk.Now()
	for {
		s.step()
		select {
		case <-c.Connected():
		default:
			if s.elapsed(start) > time.Minute {
				t.Fatal("a real client did not connect during the flood's aftermath")
			}
			continue
		}
		break
	}
	if err := c.Err(); err != nil {
		t.Fatalf("real client: %v", err)
	}
}

// A bare ACK to a listener whose "cookie" is forged gets a RST and creates no
// connection (REFERENCES item 8, RFC 4987 §3.6).
func TestForgedCookieACKGetsRSTAndNoState_RFC4987(t *testing.T) {
	s, inj := cookieSim(t, 16)
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// One real connection first, so the server knows the client's MAC: RSTs to
	// an unresolved neighbour wait in its bounded ARP queue (16 by default).
	real, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	for s.b.NumConns() == 0 || real.Err() != nil {
		s.step()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	dst := netip.AddrPortFrom(simB.Addr(), 80)
	for range 500 {
		src := netip.AddrPortFrom(simA.Addr(), uint16(1024+rng.IntN(60000)))
		inj.in = append(inj.in, segmentFrame(inj.Caps().HardwareAddr, src, dst, wire.TCPFields{Seq: wire.Seq(rng.Uint32()), Ack: wire.Seq(rng.Uint32()), Flags: wire.FlagACK, Window: 65535}))
	}
	for len(inj.in) > 0 {
		s.step()
	}
	for range 10 {
		s.step()
	}
	if n := s.b.NumConns(); n != 1 {
		t.Fatalf("%d connections besides the real one made from forged cookies", n-1)
	}
	if rej := s.b.Stats().SYNCookiesRejected.Load(); rej != 500 {
		t.Fatalf("%d of 500 forged cookies rejected", rej)
	}
	if inj.rsts < 500 {
		t.Fatalf("%d RSTs for 500 forged cookie ACKs", inj.rsts)
	}
	if c, err := ln.Accept(); err != nil || c.RemoteAddr() != real.LocalAddr() {
		t.Fatalf("accept: %v; want only the real client", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, stack.ErrWouldBlock) {
		t.Fatalf("second accept after forged cookies: %v", err)
	}
}
