package gso

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"offload/pkt"
	"offload/wire"
)

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = netip.MustParseAddr("198.18.0.1")
	ip4B = netip.MustParseAddr("198.18.0.2")
	ip6A = netip.MustParseAddr("2001:db8::1")
	ip6B = netip.MustParseAddr("2001:db8::2")
)

// super describes a super-frame to build.
type super struct {
	l2      bool
	v6      bool
	vlan    uint16
	flags   wire.TCPFlags
	urgent  uint16
	opts    wire.TCPOptions
	payload []byte
	mss     uint16
	id      uint16
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func tsOpts() wire.TCPOptions {
	return wire.TCPOptions{HasTimestamp: true, TSVal: 0x01020304, TSEcr: 0x0a0b0c0d}
}

// frame builds the super-frame (as the stack's TCP + iface.Output would) into
// a fresh buffer with the GSO metadata set.
func (s super) frame() *pkt.Buffer {
	var b []byte
	if s.l2 {
		ef := wire.EthernetFields{Dst: macB, Src: macA, EtherType: wire.EtherTypeIPv4}
		if s.v6 {
			ef.EtherType = wire.EtherTypeIPv6
		}
		if s.vlan != 0 {
			ef.HasVLAN, ef.VLAN = true, s.vlan
		}
		b = make([]byte, wire.EthernetHeaderLen(&ef))
		wire.EmitEthernet(b, &ef)
	}
	src, dst := ip4A, ip4B
	if s.v6 {
		src, dst = ip6A, ip6B
	}
	tf := wire.TCPFields{SrcPort: 80, DstPort: 40000, Seq: 0xFFFFF000, Ack: 77, Flags: s.flags,
		Window: 512, Urgent: s.urgent, Options: s.opts}
	hl := wire.TCPHeaderLen(&tf)
	tcp := make([]byte, hl+len(s.payload))
	wire.EmitTCP(tcp, &tf)
	copy(tcp[hl:], s.payload)
	wire.SetTCPChecksum(tcp, src, dst)
	if s.v6 {
		ip := make([]byte, wire.IPv6HeaderSize)
		wire.EmitIPv6(ip, &wire.IPv6Fields{TrafficClass: 2, FlowLabel: 9, PayloadLen: uint16(len(tcp)),
			NextHeader: wire.ProtoTCP, HopLimit: 64, Src: src, Dst: dst})
		b = append(b, ip...)
	} else {
		ip := make([]byte, wire.IPv4HeaderSize)
		wire.EmitIPv4(ip, &wire.IPv4Fields{TOS: 2, ID: s.id, DontFragment: true, TTL: 64,
			Protocol: wire.ProtoTCP, Src: src, Dst: dst, PayloadLen: len(tcp)})
		b = append(b, ip...)
	}
	b = append(b, tcp...)
	buf := pkt.NewBuffer(len(b)+128, 64)
	copy(buf.Append(len(b)), b)
	buf.Meta.GSO, buf.Meta.GSOSize = pkt.GSOTCPv4, s.mss
	if s.v6 {
		buf.Meta.GSO = pkt.GSOTCPv6
	}
	buf.Meta.Queue = 3
	return buf
}

// parsed is one segment re-parsed with wire.
type parsed struct {
	eth wire.Ethernet
	v4  wire.IPv4
	v6  wire.IPv6
	tcp wire.TCP
}

func reparse(t *testing.T, b []byte, l2, v6 bool) parsed {
	t.Helper()
	var p parsed
	off := 0
	if l2 {
		e, err := wire.ParseEthernet(b)
		if err != nil {
			t.Fatalf("ethernet: %v", err)
		}
		p.eth, off = e, e.HeaderLen()
	}
	var l4 []byte
	var src, dst netip.Addr
	if v6 {
		ip, err := wire.ParseIPv6(b[off:])
		if err != nil || len(ip.Bytes()) != len(b)-off {
			t.Fatalf("ipv6: %v, payload length does not cover the frame", err)
		}
		p.v6, l4, src, dst = ip, ip.Payload(), ip.Src(), ip.Dst()
	} else {
		ip, err := wire.ParseIPv4(b[off:]) // verifies the header checksum
		if err != nil || len(ip.Bytes()) != len(b)-off {
			t.Fatalf("ipv4: %v, total length does not cover the frame", err)
		}
		p.v4, l4, src, dst = ip, ip.Payload(), ip.Src(), ip.Dst()
	}
	tcp, err := wire.ParseTCP(l4)
	if err != nil {
		t.Fatalf("tcp: %v", err)
	}
	if !tcp.ChecksumValid(src, dst) {
		t.Fatalf("segment TCP checksum invalid")
	}
	p.tcp = tcp
	return p
}

func newSeg(t testing.TB, cfg Config) *Segmenter {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool = pkt.NewPool(128, 2048, 64)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSegments segments sp and checks every output against the original.
func checkSegments(t *testing.T, sp super, cfg Config) []*pkt.Buffer {
	t.Helper()
	cfg.L2 = sp.l2
	s := newSeg(t, cfg)
	orig := sp.frame()
	op := reparse(t, orig.Bytes(), sp.l2, sp.v6)
	out := pkt.NewBatch(256)
	n, err := s.Segment(orig, out)
	if err != nil {
		t.Fatal(err)
	}
	want := max((len(sp.payload)+int(sp.mss)-1)/int(sp.mss), 1)
	if n != want || out.Len() != want {
		t.Fatalf("%d segments (batch %d), want %d", n, out.Len(), want)
	}
	var all []byte
	seq := op.tcp.Seq()
	for i, buf := range out.Buffers() {
		if buf.Meta.Checksum == pkt.ChecksumPartial {
			if err := FinishChecksum(buf); err != nil {
				t.Fatal(err)
			}
		}
		if buf.Headroom() != 64 {
			t.Fatalf("segment %d lost the pool's headroom", i)
		}
		if buf.Meta.Queue != 3 || buf.Meta.GSO != pkt.GSONone {
			t.Fatalf("segment %d meta %+v", i, buf.Meta)
		}
		p := reparse(t, buf.Bytes(), sp.l2, sp.v6)
		pay := p.tcp.Payload()
		if i < n-1 && len(pay) != int(sp.mss) {
			t.Fatalf("segment %d carries %d bytes, want the MSS %d", i, len(pay), sp.mss)
		}
		if p.tcp.Seq() != seq {
			t.Fatalf("segment %d seq %d, want %d", i, p.tcp.Seq(), seq)
		}
		seq = seq.Add(uint32(len(pay)))
		all = append(all, pay...)
		if !bytes.Equal(p.tcp.Options(), op.tcp.Options()) || p.tcp.Ack() != op.tcp.Ack() ||
			p.tcp.Window() != op.tcp.Window() || p.tcp.SrcPort() != 80 || p.tcp.DstPort() != 40000 {
			t.Fatalf("segment %d header differs from the original", i)
		}
		f := p.tcp.Flags()
		of := op.tcp.Flags()
		wantF := of
		if i > 0 {
			wantF &^= wire.FlagCWR
		}
		if i < n-1 {
			wantF &^= wire.FlagPSH | wire.FlagFIN
		}
		if of&wire.FlagURG == 0 && f != wantF {
			t.Fatalf("segment %d flags %08b, want %08b", i, f, wantF)
		}
		if sp.l2 && p.eth.Fields() != op.eth.Fields() {
			t.Fatalf("segment %d Ethernet header differs", i)
		}
		if sp.v6 {
			if p.v6.TrafficClass() != 2 || p.v6.FlowLabel() != 9 || p.v6.HopLimit() != 64 {
				t.Fatalf("segment %d IPv6 header differs", i)
			}
		} else {
			if p.v4.ID() != op.v4.ID()+uint16(i) || p.v4.TTL() != 64 || p.v4.TOS() != 2 || !p.v4.DontFragment() {
				t.Fatalf("segment %d IPv4 header: id %d (want %d)", i, p.v4.ID(), op.v4.ID()+uint16(i))
			}
		}
	}
	if !bytes.Equal(all, sp.payload) {
		t.Fatalf("segments concatenate to %d bytes differing from the original %d", len(all), len(sp.payload))
	}
	return out.Buffers()
}

func TestSegmentsReassembleToTheOriginalIPv4(t *testing.T) {
	checkSegments(t, super{l2: true, flags: wire.FlagACK | wire.FlagPSH, opts: tsOpts(), payload: payloadOf(65000), mss: 1448, id: 0xFFF0}, Config{})
}

func TestLastSegmentOfOneByte(t *testing.T) {
	segs := checkSegments(t, super{l2: true, flags: wire.FlagACK, payload: payloadOf(3*1000 + 1), mss: 1000}, Config{})
	if len(segs) != 4 || segs[3].Len() != 14+20+20+1 {
		t.Fatalf("last segment %d bytes", segs[3].Len())
	}
}

func TestMSSThatDoesNotDivideThePayload(t *testing.T) {
	checkSegments(t, super{l2: true, flags: wire.FlagACK, opts: tsOpts(), payload: payloadOf(10007), mss: 1337}, Config{})
}

func TestPayloadOfExactlyOneSegment(t *testing.T) {
	checkSegments(t, super{l2: true, flags: wire.FlagACK | wire.FlagFIN, payload: payloadOf(1448), mss: 1448}, Config{})
}

func TestSegmentsIPv6(t *testing.T) {
	checkSegments(t, super{l2: true, v6: true, flags: wire.FlagACK | wire.FlagPSH, opts: tsOpts(), payload: payloadOf(40000), mss: 1428}, Config{})
}

func TestSegmentsRawIPAndVLAN(t *testing.T) {
	checkSegments(t, super{flags: wire.FlagACK, payload: payloadOf(5000), mss: 1460}, Config{})
	checkSegments(t, super{v6: true, flags: wire.FlagACK, payload: payloadOf(5000), mss: 1440}, Config{})
	checkSegments(t, super{l2: true, vlan: 0x0123, flags: wire.FlagACK, payload: payloadOf(5000), mss: 1456}, Config{})
}

func TestCWROnlyOnFirstPSHFINOnlyOnLast_LinuxGSO(t *testing.T) {
	f := wire.FlagACK | wire.FlagCWR | wire.FlagECE | wire.FlagPSH | wire.FlagFIN
	segs := checkSegments(t, super{l2: true, flags: f, payload: payloadOf(3000), mss: 1000}, Config{})
	fl := func(i int) wire.TCPFlags { return wire.TCPFlags(segs[i].Bytes()[14+20+13]) }
	if fl(0) != wire.FlagACK|wire.FlagCWR|wire.FlagECE || fl(1) != wire.FlagACK|wire.FlagECE ||
		fl(2) != wire.FlagACK|wire.FlagECE|wire.FlagPSH|wire.FlagFIN {
		t.Fatalf("flags %08b %08b %08b", fl(0), fl(1), fl(2))
	}
}

func TestUrgentPointerIsRelativeToEachSegment_RFC9293_3_8_5(t *testing.T) {
	// Urgent data ends 2500 bytes in: segments starting at 0 and 1000 and 2000
	// point at it, the one starting at 3000 does not.
	segs := checkSegments(t, super{l2: true, flags: wire.FlagACK | wire.FlagURG, urgent: 2500, payload: payloadOf(3500), mss: 1000}, Config{})
	for i, want := range []uint16{2500, 1500, 500, 0} {
		tcp := segs[i].Bytes()[34:]
		urg := uint16(tcp[18])<<8 | uint16(tcp[19])
		has := wire.TCPFlags(tcp[13])&wire.FlagURG != 0
		if urg != want || has != (want != 0) {
			t.Fatalf("segment %d: URG %v pointer %d, want %d", i, has, urg, want)
		}
	}
}

func TestChecksumOffloadLeavesPartialChecksums(t *testing.T) {
	sp := super{l2: true, flags: wire.FlagACK, opts: tsOpts(), payload: payloadOf(4000), mss: 1448}
	s := newSeg(t, Config{L2: true, ChecksumOffload: true})
	out := pkt.NewBatch(8)
	if _, err := s.Segment(sp.frame(), out); err != nil {
		t.Fatal(err)
	}
	for i, buf := range out.Buffers() {
		m := buf.Meta
		if m.Checksum != pkt.ChecksumPartial || m.CsumStart != 34 || m.CsumOffset != 16 {
			t.Fatalf("segment %d meta %+v", i, m)
		}
		tcp := buf.Bytes()[34:]
		want := wire.PseudoHeaderSum(wire.ProtoTCP, ip4A, ip4B, len(tcp))
		if got := uint32(tcp[16])<<8 | uint32(tcp[17]); got != want {
			t.Fatalf("segment %d checksum field %#04x, want the pseudo-header sum %#04x", i, got, want)
		}
		if wire.TCPChecksumValid(tcp, ip4A, ip4B) {
			t.Fatalf("a partial checksum verifies: the test cannot tell partial from full")
		}
		if err := FinishChecksum(buf); err != nil || !wire.TCPChecksumValid(tcp, ip4A, ip4B) || buf.Meta.Checksum != pkt.ChecksumUnknown {
			t.Fatalf("segment %d: FinishChecksum %v, valid %v", i, err, wire.TCPChecksumValid(tcp, ip4A, ip4B))
		}
	}
}

func TestFinishChecksumRejectsOffsetsOutsideTheFrame(t *testing.T) {
	b := pkt.NewBuffer(100, 0)
	b.Append(40)
	b.Meta = pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 30, CsumOffset: 16}
	if err := FinishChecksum(b); !errors.Is(err, ErrBadChecksumOffsets) {
		t.Fatalf("err %v", err)
	}
	b.Meta = pkt.Meta{Checksum: pkt.ChecksumVerified}
	if err := FinishChecksum(b); err != nil || b.Meta.Checksum != pkt.ChecksumVerified {
		t.Fatalf("a complete frame was touched: %v", err)
	}
}

func TestPoolExhaustionReleasesWhatWasBuilt(t *testing.T) {
	pool := pkt.NewPool(5, 2048, 64)
	s := newSeg(t, Config{L2: true, Pool: pool})
	out := pkt.NewBatch(64)
	keep := pool.Get() // someone else holds one
	_, err := s.Segment(super{l2: true, flags: wire.FlagACK, payload: payloadOf(5 * 1000), mss: 1000}.frame(), out)
	if !errors.Is(err, ErrNoBuffers) || out.Len() != 0 || pool.Available() != 4 || s.Stats().PoolExhausted != 1 {
		t.Fatalf("err %v, batch %d, pool %d/5, PoolExhausted %d", err, out.Len(), pool.Available(), s.Stats().PoolExhausted)
	}
	keep.Release()
	if n, err := s.Segment(super{l2: true, flags: wire.FlagACK, payload: payloadOf(5 * 1000), mss: 1000}.frame(), out); err != nil || n != 5 {
		t.Fatalf("after the pool refilled: %d, %v", n, err)
	}
}

func TestBatchWithoutRoomIsRefusedWhole(t *testing.T) {
	pool := pkt.NewPool(16, 2048, 64)
	s := newSeg(t, Config{L2: true, Pool: pool})
	out := pkt.NewBatch(4)
	out.Add(pkt.NewBuffer(10, 0))
	_, err := s.Segment(super{l2: true, flags: wire.FlagACK, payload: payloadOf(4 * 1000), mss: 1000}.frame(), out)
	if !errors.Is(err, ErrNoRoom) || out.Len() != 1 || pool.Available() != 16 || s.Stats().NoRoom != 1 {
		t.Fatalf("err %v, batch %d, pool %d", err, out.Len(), pool.Available())
	}
}

func TestRefusesWhatIsNotASuperFrame(t *testing.T) {
	s := newSeg(t, Config{L2: true})
	out := pkt.NewBatch(64)
	sp := super{l2: true, flags: wire.FlagACK, payload: payloadOf(3000), mss: 1000}
	f := sp.frame()
	f.Meta.GSO = pkt.GSONone
	if _, err := s.Segment(f, out); !errors.Is(err, ErrNotGSO) {
		t.Fatalf("GSONone: %v", err)
	}
	f = sp.frame()
	f.Meta.GSO = pkt.GSOTCPv6
	if _, err := s.Segment(f, out); !errors.Is(err, ErrNotGSO) {
		t.Fatalf("v6 type on an IPv4 frame: %v", err)
	}
	f = sp.frame()
	f.Bytes()[14+9] = wire.ProtoUDP
	if _, err := s.Segment(f, out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("UDP (bad IP checksum too): %v", err)
	}
	f = sp.frame()
	f.Truncate(40)
	if _, err := s.Segment(f, out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	f = sp.frame()
	f.Meta.GSOSize = 1
	if _, err := s.Segment(f, out); !errors.Is(err, ErrTooManySegments) {
		t.Fatalf("MSS 1: %v", err)
	}
	small := newSeg(t, Config{L2: true, Pool: pkt.NewPool(4, 1024, 64)})
	if _, err := small.Segment(sp.frame(), out); !errors.Is(err, ErrTooBig) {
		t.Fatalf("segment larger than a buffer: %v", err)
	}
	if out.Len() != 0 || s.Stats().Refused != 5 {
		t.Fatalf("batch %d refused %d", out.Len(), s.Stats().Refused)
	}
}

func TestSegmentAllocatesNothing(t *testing.T) {
	pool := pkt.NewPool(64, 2048, 64)
	for _, off := range []bool{false, true} {
		s := newSeg(t, Config{L2: true, Pool: pool, ChecksumOffload: off})
		frame := super{l2: true, flags: wire.FlagACK, opts: tsOpts(), payload: payloadOf(60000), mss: 1448}.frame()
		out := pkt.NewBatch(64)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := s.Segment(frame, out); err != nil {
				t.Fatal(err)
			}
			for _, b := range out.Buffers() {
				_ = FinishChecksum(b)
			}
			out.ReleaseAll()
		})
		if allocs != 0 {
			t.Fatalf("offload=%v: %v allocations per super-frame", off, allocs)
		}
	}
}

func benchmarkSegment(b *testing.B, v6, offload bool) {
	pool := pkt.NewPool(64, 2048, 64)
	s := newSeg(b, Config{L2: true, Pool: pool, ChecksumOffload: offload})
	const size = 64000
	frame := super{l2: true, v6: v6, flags: wire.FlagACK, opts: tsOpts(), payload: payloadOf(size), mss: 1448}.frame()
	out := pkt.NewBatch(64)
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		if _, err := s.Segment(frame, out); err != nil {
			b.Fatal(err)
		}
		out.ReleaseAll()
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkSegmentFillChecksumIPv4(b *testing.B)    { benchmarkSegment(b, false, false) }
func BenchmarkSegmentChecksumOffloadIPv4(b *testing.B) { benchmarkSegment(b, false, true) }
func BenchmarkSegmentFillChecksumIPv6(b *testing.B)    { benchmarkSegment(b, true, false) }

// withIPHeaderExtras rebuilds a super-frame with 4 bytes of IPv4 options (NOPs)
// or an 8-byte IPv6 destination-options header between IP and TCP.
func withIPHeaderExtras(t *testing.T, sp super) *pkt.Buffer {
	t.Helper()
	f := sp.frame()
	b := f.Bytes()
	var nb []byte
	if sp.v6 {
		ext := []byte{wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0} // PadN
		nb = append(nb, b[:14+40]...)
		nb = append(nb, ext...)
		nb = append(nb, b[14+40:]...)
		nb[14+6] = wire.IPv6DestOptions
		pl := int(nb[14+4])<<8 | int(nb[14+5]) + len(ext)
		nb[14+4], nb[14+5] = byte(pl>>8), byte(pl)
	} else {
		nb = append(nb, b[:14+20]...)
		nb = append(nb, 1, 1, 1, 1)
		nb = append(nb, b[14+20:]...)
		ip := nb[14:38]
		ip[0] = 4<<4 | 6
		tl := int(ip[2])<<8 | int(ip[3]) + 4
		ip[2], ip[3] = byte(tl>>8), byte(tl)
		ip[10], ip[11] = 0, 0
		c := wire.FoldChecksum(wire.Checksum(ip, 0))
		ip[10], ip[11] = byte(c>>8), byte(c)
	}
	out := pkt.NewBuffer(len(nb)+64, 64)
	copy(out.Append(len(nb)), nb)
	out.Meta = f.Meta
	return out
}

func TestIPOptionsAndIPv6ExtensionHeadersAreCopiedToEverySegment(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		sp := super{l2: true, v6: v6, flags: wire.FlagACK | wire.FlagPSH, opts: tsOpts(), payload: payloadOf(3500), mss: 1000}
		frame := withIPHeaderExtras(t, sp)
		s := newSeg(t, Config{L2: true})
		out := pkt.NewBatch(8)
		n, err := s.Segment(frame, out)
		if err != nil || n != 4 {
			t.Fatalf("v6=%v: %d segments, %v", v6, n, err)
		}
		var all []byte
		for i, buf := range out.Buffers() {
			b := buf.Bytes()
			var l4 []byte
			if v6 {
				p, err := wire.ParseIPv6(b[14:])
				if err != nil || len(p.Bytes()) != len(b)-14 {
					t.Fatalf("segment %d: %v / IPv6 payload length wrong", i, err)
				}
				proto, up, err := p.UpperLayer()
				if err != nil || proto != wire.ProtoTCP || !bytes.Equal(p.Payload()[:8], []byte{wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0}) {
					t.Fatalf("segment %d: extension header lost", i)
				}
				l4 = up
				if !rawChecksumValid(l4, b[14+8:14+24], b[14+24:14+40]) {
					t.Fatalf("segment %d: TCP checksum", i)
				}
			} else {
				p, err := wire.ParseIPv4(b[14:])
				if err != nil || len(p.Bytes()) != len(b)-14 || !bytes.Equal(p.Options(), []byte{1, 1, 1, 1}) {
					t.Fatalf("segment %d: %v, or IPv4 options lost", i, err)
				}
				l4 = p.Payload()
				if !wire.TCPChecksumValid(l4, p.Src(), p.Dst()) {
					t.Fatalf("segment %d: TCP checksum", i)
				}
			}
			tcp, _ := wire.ParseTCP(l4)
			all = append(all, tcp.Payload()...)
		}
		if !bytes.Equal(all, sp.payload) {
			t.Fatalf("v6=%v: payload differs", v6)
		}
	}
}

// With ResetHeadroom, segments start at Config.Headroom rather than at the
// pool's headroom: a stack's transmit pool, whose headroom is kept for the
// IP and Ethernet headers it prepends, then holds whole frames.
func TestResetHeadroomFitsWholeFramesInAPoolWithLargeHeadroom(t *testing.T) {
	sp := super{l2: true, flags: wire.FlagACK, opts: tsOpts(), payload: payloadOf(5000), mss: 1448}
	// 10 + 14 + 20 + 32 + 1448 = 1524 bytes needed, 1600 - 200 = 1400 after the pool's headroom.
	pool := pkt.NewPool(8, 1600, 200)
	out := pkt.NewBatch(8)
	plain := newSeg(t, Config{L2: true, Pool: pool})
	if _, err := plain.Segment(sp.frame(), out); !errors.Is(err, ErrTooBig) {
		t.Fatalf("without ResetHeadroom: %v, want ErrTooBig", err)
	}
	s := newSeg(t, Config{L2: true, Pool: pool, ResetHeadroom: true, Headroom: 10})
	n, err := s.Segment(sp.frame(), out)
	if err != nil || n != 4 {
		t.Fatalf("%d segments, %v", n, err)
	}
	for i, b := range out.Buffers() {
		if b.Headroom() != 10 {
			t.Fatalf("segment %d starts %d bytes in, want 10", i, b.Headroom())
		}
		reparse(t, b.Bytes(), true, false)
	}
	out.ReleaseAll()
	if _, err := New(Config{Pool: pool, ResetHeadroom: true, Headroom: 1601}); err == nil {
		t.Fatal("a headroom beyond the buffer was accepted")
	}
}
