package stack_test

import (
	"encoding/binary"
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

// router stands for a hop with a smaller MTU in front of one stack: IPv4
// packets larger than mtu are dropped and answered with an ICMP
// "fragmentation needed" quoting them (RFC 1191). With forge set it lets
// everything through instead and, for each data segment, injects a
// frag-needed whose quoted sequence number is not in flight (a blind attack).
type router struct {
	link.Device
	mtu      int
	forge    bool
	injected []*pkt.Buffer
	sent     int
}

func (r *router) Send(q int, b *pkt.Batch) (int, error) {
	keep := pkt.NewBatch(b.Cap())
	for _, f := range b.Buffers() {
		frame := f.Bytes()
		eth, err := wire.ParseEthernet(frame)
		if err != nil || eth.EtherType() != wire.EtherTypeIPv4 {
			keep.Add(f)
			continue
		}
		ip, err := wire.ParseIPv4(eth.Payload())
		tooBig := err == nil && int(ip.TotalLen()) > r.mtu
		isData := err == nil && ip.Protocol() == wire.ProtoTCP && int(ip.TotalLen()) > 100
		switch {
		case tooBig && !r.forge:
			r.injected = append(r.injected, fragNeeded(eth, ip, r.mtu, 0))
			f.Release()
		case isData && r.forge && r.sent < 20:
			r.sent++
			r.injected = append(r.injected, fragNeeded(eth, ip, 600, 1<<31))
			keep.Add(f)
		default:
			keep.Add(f)
		}
	}
	b.Clear()
	return r.Device.Send(q, keep)
}

func (r *router) Recv(q int, b *pkt.Batch) (int, error) {
	n := 0
	for len(r.injected) > 0 && !b.Full() {
		b.Add(r.injected[0])
		r.injected = r.injected[1:]
		n++
	}
	m, err := r.Device.Recv(q, b)
	return n + m, err
}

// fragNeeded builds the ICMP error a router would send back to the packet's
// source, quoting its IP header and the first 8 bytes of TCP (with seqDelta
// added to the quoted sequence number).
func fragNeeded(eth wire.Ethernet, ip wire.IPv4, mtu int, seqDelta uint32) *pkt.Buffer {
	quote := append([]byte(nil), ip.Bytes()[:ip.HeaderLen()+8]...)
	seq := binary.BigEndian.Uint32(quote[ip.HeaderLen()+4:])
	binary.BigEndian.PutUint32(quote[ip.HeaderLen()+4:], seq+seqDelta)
	b := pkt.NewBuffer(14+20+8+len(quote), 0)
	out := b.Append(14 + 20 + 8 + len(quote))
	wire.EmitEthernet(out, &wire.EthernetFields{Dst: eth.Src(), Src: eth.Dst(), EtherType: wire.EtherTypeIPv4})
	wire.EmitIPv4(out[14:], &wire.IPv4Fields{TTL: 64, Protocol: wire.ProtoICMP, Src: ip.Dst(), Dst: ip.Src(), PayloadLen: 8 + len(quote)})
	wire.EmitICMPv4(out[34:], &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4FragNeeded, MTU: uint16(mtu)}, quote)
	return b
}

func routedSim(t *testing.T, r *router, pb link.Device) *sim {
	clk := clock.NewFake(1 << 40)
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: clk, Secret: [16]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return &sim{t: t, clk: clk, a: mk(r, simA, 1), b: mk(pb, simB, 2), limit: time.Minute}
}

// A router with a 1200-byte MTU drops our 1500-byte packets and says so; the
// connection lowers its MSS to fit (RFC 1191 §6.3) and the transfer completes.
func TestFragNeededLowersMSSAndTransferCompletes_RFC1191(t *testing.T) {
	pa, pb := pipe.New(pipe.Config{})
	r := &router{Device: pa, mtu: 1200}
	s := routedSim(t, r, pb)
	a, b := s.connect(80)
	st := newStream(a, b, 2<<20, 6)
	s.transfer(st)
	st.check(t, "a→b through a 1200-byte hop")
	info := a.Info()
	if max := 1200 - 40; info.SndMSS > max {
		t.Fatalf("MSS %d after frag-needed with MTU 1200; want at most %d", info.SndMSS, max)
	}
	if s.a.Stats().PMTUUpdates.Load() == 0 {
		t.Fatal("no path MTU update counted")
	}
}

// A forged frag-needed whose quoted sequence number is not of data in flight
// is ignored: the MSS does not shrink (RFC 5927 §4.1; REFERENCES item 25).
func TestForgedFragNeededOutsideWindowIsIgnored_RFC5927_4_1(t *testing.T) {
	pa, pb := pipe.New(pipe.Config{})
	r := &router{Device: pa, mtu: 1 << 16, forge: true}
	s := routedSim(t, r, pb)
	a, b := s.connect(80)
	before := a.Info().SndMSS
	st := newStream(a, b, 1<<20, 7)
	s.transfer(st)
	st.check(t, "a→b under forged ICMP")
	if got := a.Info().SndMSS; got != before {
		t.Fatalf("MSS went from %d to %d on forged frag-needed errors", before, got)
	}
	if r.sent == 0 || s.a.Stats().ICMPIgnored.Load() == 0 {
		t.Fatalf("forged %d errors, %d ignored: the test did not exercise the check", r.sent, s.a.Stats().ICMPIgnored.Load())
	}
}
