package gro

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

const mss = 1000

func l2() Config { return Config{L2: true} }

func TestMergesInOrderSegmentsIntoOneAggregate_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	r := expectFlush(t, l2(), FlushBatchEnd, 1, []int{3}, s1, s2, s3)
	g := r.out[0]
	if g.kind != KindTCP || g.n != 3 || g.segSize != mss || g.seq != 1 || len(g.payload) != 3*mss {
		t.Fatalf("aggregate %+v", g)
	}
	h := g.hdr
	if h.Src != ip4A || h.Dst != ip4B || h.TCP.SrcPort != 40000 || h.TCP.DstPort != 80 ||
		h.TCP.Ack != 5000 || h.TTL != 64 || !h.DontFragment || h.IPID != 100 ||
		!h.TCP.Options.HasTimestamp || h.TCP.Options.TSVal != 7 || h.SrcMAC != macA || h.DstMAC != macB ||
		h.IPOffset != 14 || h.TCPOffset != 34 {
		t.Fatalf("header %+v", h)
	}
	for i, c := range g.checksum {
		if c != pkt.ChecksumVerified {
			t.Fatalf("frame %d checksum state %v, want Verified (so iface skips it)", i, c)
		}
	}
}

func TestFlushOnTTLChange_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id, s2.ttl = 101, 63
	expectFlush(t, l2(), FlushTTL, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnHopLimitChangeIPv6_LinuxGRO(t *testing.T) {
	s1, s2 := base6(1, mss), base6(1+mss, mss)
	s2.ttl = 1
	expectFlush(t, l2(), FlushTTL, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnTOSChange_LinuxGRO(t *testing.T) {
	// An ECN CE mark changes the TOS byte: TCP must see it on its own aggregate.
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s2.tos, s3.tos = 3, 3
	expectFlush(t, l2(), FlushTOS, 1, []int{1, 2}, s1, s2, s3)
}

func TestFlushOnTrafficClassChangeIPv6_LinuxGRO(t *testing.T) {
	s1, s2 := base6(1, mss), base6(1+mss, mss)
	s2.tos = 0x20
	expectFlush(t, l2(), FlushTOS, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnDFChange_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id, s2.df = 101, false
	expectFlush(t, l2(), FlushDF, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnIPIDPatternBreak_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 105 // incrementing, then a jump
	expectFlush(t, l2(), FlushIPID, 1, []int{2, 1}, s1, s2, s3)
}

func TestIncrementingIPIDWrapsAndMerges_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s1.id, s2.id, s3.id = 0xFFFF, 0, 1
	s1.df, s2.df, s3.df = false, false, false
	expectFlush(t, l2(), FlushIPID, 0, []int{3}, s1, s2, s3)
}

func TestFixedIPIDWithDFMerges_LinuxGRO(t *testing.T) {
	// RFC 6864 atomic datagrams: DF set and the same ID (often 0) in every one.
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s1.id, s2.id, s3.id = 0, 0, 0
	expectFlush(t, l2(), FlushIPID, 0, []int{3}, s1, s2, s3)
}

func TestFixedIPIDWithoutDFFlushes_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s1.df, s2.df = false, false
	s1.id, s2.id = 7, 7
	expectFlush(t, l2(), FlushIPID, 1, []int{1, 1}, s1, s2)
}

func TestFixedIPIDFlowFlushesWhenIDThenIncrements_LinuxGRO(t *testing.T) {
	// The second segment commits the flow to "fixed"; an incrementing third breaks it.
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s1.id, s2.id, s3.id = 9, 9, 11
	expectFlush(t, l2(), FlushIPID, 1, []int{2, 1}, s1, s2, s3)
}

func TestFlushOnCWR_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s2.flags |= wire.FlagCWR
	// CWR flushes the held aggregate; the CWR segment heads the next one, and
	// segments without CWR may follow it (CWR is masked from the flag compare).
	r := expectFlush(t, l2(), FlushCWR, 1, []int{1, 2}, s1, s2, s3)
	if r.out[1].flags&wire.FlagCWR == 0 {
		t.Fatalf("second aggregate lost CWR")
	}
}

func TestFlushOnFlagChange_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s2.flags |= wire.FlagECE
	expectFlush(t, l2(), FlushFlags, 1, []int{1, 1}, s1, s2)
}

func TestURGRSTSYNFlushAsFlagChangeAndPassAlone_LinuxGRO(t *testing.T) {
	for _, f := range []wire.TCPFlags{wire.FlagURG, wire.FlagRST, wire.FlagSYN} {
		s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
		s2.id, s3.id = 101, 102
		s2.flags |= f
		tb, r := newTable(t, l2())
		feed(t, tb, s1, s2, s3)
		if got := shape(r); !eqInts(got, []int{1, 1, 1}) {
			t.Fatalf("flag %v: shape %v, want [1 1 1]", f, got)
		}
		st := tb.Stats()
		if st.Flushes[FlushFlags] != 1 || st.PassFlags != 1 {
			t.Fatalf("flag %v: FlushFlags %d PassFlags %d", f, st.Flushes[FlushFlags], st.PassFlags)
		}
	}
}

func TestFlushOnACKNumberChange_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s3.ack = 6000
	expectFlush(t, l2(), FlushAck, 1, []int{2, 1}, s1, s2, s3)
}

func TestFlushOnOptionByteChange_LinuxGRO(t *testing.T) {
	// A new TSval: timestamps must be equal for RTT and PAWS to see one value.
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s2.opts.TSVal = 8
	expectFlush(t, l2(), FlushOptions, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnOptionLengthChange_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s2.opts.NumSACK = 1
	s2.opts.SACK[0] = wire.SACKBlock{Start: 10, End: 20}
	expectFlush(t, l2(), FlushOptions, 1, []int{1, 1}, s1, s2)
}

func TestWindowChangeMergesAndCarriesLastWindow(t *testing.T) {
	// Deliberately unlike Linux (whose flag-word compare covers the window):
	// see the package documentation.
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s2.window, s3.window = 2000, 3000
	r := expectFlush(t, l2(), FlushBatchEnd, 1, []int{3}, s1, s2, s3)
	if r.out[0].window != 3000 {
		t.Fatalf("window %d, want the last segment's 3000", r.out[0].window)
	}
}

func TestFlushOnSequenceGap_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+2*mss, mss) // one segment lost
	s2.id = 101
	expectFlush(t, l2(), FlushSeq, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnDuplicateSegment_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1, mss)
	s2.id = 101
	expectFlush(t, l2(), FlushSeq, 1, []int{1, 1}, s1, s2)
}

func TestFlushOnLargerPayload_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss+1)
	s2.id = 101
	expectFlush(t, l2(), FlushLarger, 1, []int{1, 1}, s1, s2)
}

func TestFlushAfterShorterSegment_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, 10), base(1+mss+10, mss)
	s2.id, s3.id = 101, 102
	r := expectFlush(t, l2(), FlushShort, 1, []int{2, 1}, s1, s2, s3)
	if len(r.out[0].payload) != mss+10 {
		t.Fatalf("short segment not merged before the flush")
	}
}

func TestFlushAfterPSH_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s2.flags |= wire.FlagPSH
	r := expectFlush(t, l2(), FlushPSH, 1, []int{2, 1}, s1, s2, s3)
	if r.out[0].flags&wire.FlagPSH == 0 {
		t.Fatalf("PSH of the merged segment not ORed into the aggregate")
	}
}

func TestFlushAfterFIN_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s2.flags |= wire.FlagFIN
	r := expectFlush(t, l2(), FlushFIN, 1, []int{2}, s1, s2)
	if r.out[0].flags&wire.FlagFIN == 0 {
		t.Fatalf("FIN of the merged segment not ORed into the aggregate")
	}
}

func TestPSHSegmentWithNothingHeldPassesAlone_LinuxGRO(t *testing.T) {
	s1 := base(1, mss)
	s1.flags |= wire.FlagPSH
	tb, r := newTable(t, l2())
	tb.Input(0, s1.frame(nil))
	if len(r.out) != 1 || tb.Held() != 0 || tb.Stats().PassFlags != 1 {
		t.Fatalf("PSH segment held: %d out, %d held", len(r.out), tb.Held())
	}
}

func TestPureACKFlushesHeldDataFirst_LinuxGRO(t *testing.T) {
	s1, s2, ack := base(1, mss), base(1+mss, mss), base(1+2*mss, 0)
	s2.id, ack.id = 101, 102
	tb, r := newTable(t, l2())
	for _, s := range []spec{s1, s2, ack} {
		tb.Input(0, s.frame(nil))
	}
	// Both outputs come at once, data first, without waiting for FlushAll.
	if got := shape(r); !eqInts(got, []int{2, 1}) || r.out[1].n != 1 || len(r.out[1].payload) != 0 {
		t.Fatalf("shape %v", got)
	}
	st := tb.Stats()
	if st.Flushes[FlushNoPayload] != 1 || st.PassNoPayload != 1 {
		t.Fatalf("FlushNoPayload %d PassNoPayload %d", st.Flushes[FlushNoPayload], st.PassNoPayload)
	}
}

func TestByteCapFlushes_LinuxGRO(t *testing.T) {
	// 1448-byte segments: 45 fit under 65535 with 52 bytes of headers; the 45th
	// leaves no room for a 46th, so the aggregate goes at once.
	const m = 1448
	var specs []spec
	for i := range 46 {
		s := base(uint32(1+i*m), m)
		s.id = uint16(100 + i)
		specs = append(specs, s)
	}
	r := expectFlush(t, l2(), FlushByteCap, 1, []int{45, 1}, specs...)
	if h := r.out[0]; 20+32+len(h.payload) > 65535 {
		t.Fatalf("aggregate of %d payload bytes stands for an IP packet over 65535", len(h.payload))
	}
}

func TestByteCapRefusesASegmentThatWouldCrossIt_LinuxGRO(t *testing.T) {
	cfg := l2()
	cfg.MaxBytes = 20 + 32 + 2500 // room for 2.5 segments
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, 600)
	s2.id, s3.id = 101, 102
	expectFlush(t, cfg, FlushByteCap, 1, []int{2, 1}, s1, s2, s3)
}

func TestSegmentCapFlushes_LinuxGRO(t *testing.T) {
	cfg := l2()
	cfg.MaxSegments = 4
	var specs []spec
	for i := range 6 {
		s := base(uint32(1+i*100), 100)
		s.id = uint16(100 + i)
		specs = append(specs, s)
	}
	expectFlush(t, cfg, FlushSegCap, 1, []int{4, 2}, specs...)
}

func TestFlushAllDeliversEverythingAtBatchEnd(t *testing.T) {
	tb, r := newTable(t, l2())
	a1, a2 := base(1, mss), base(1+mss, mss)
	a2.id = 101
	b1 := base(1, mss)
	b1.sport = 40001
	for _, s := range []spec{a1, b1, a2} {
		tb.Input(0, s.frame(nil))
	}
	if len(r.out) != 0 || tb.Held() != 2 {
		t.Fatalf("delivered %d before FlushAll, held %d", len(r.out), tb.Held())
	}
	tb.FlushAll()
	if got := shape(r); !eqInts(got, []int{2, 1}) || tb.Held() != 0 {
		t.Fatalf("shape %v held %d (oldest flow must come first)", got, tb.Held())
	}
	if tb.Stats().Flushes[FlushBatchEnd] != 2 {
		t.Fatalf("FlushBatchEnd %d", tb.Stats().Flushes[FlushBatchEnd])
	}
}

func TestTimerFlushesAggregatesOlderThanTimeout(t *testing.T) {
	cfg := l2()
	cfg.FlushTimeout = 50 * time.Microsecond
	tb, r := newTable(t, cfg)
	if tb.Deadline() != clock.Never {
		t.Fatalf("empty table has a deadline")
	}
	a := base(1, mss)
	b := base(1, mss)
	b.sport = 1
	tb.Input(clock.Instant(1000), a.frame(nil))
	tb.Input(clock.Instant(30000), b.frame(nil))
	if d := tb.Deadline(); d != clock.Instant(1000).Add(cfg.FlushTimeout) {
		t.Fatalf("Deadline %d", d)
	}
	tb.Poll(clock.Instant(50999))
	if len(r.out) != 0 {
		t.Fatalf("flushed before the timeout")
	}
	tb.Poll(clock.Instant(51000))
	if len(r.out) != 1 || r.out[0].hdr.TCP.SrcPort != 40000 || tb.Held() != 1 {
		t.Fatalf("timer flush: %d out, held %d", len(r.out), tb.Held())
	}
	if d := tb.Deadline(); d != clock.Instant(30000).Add(cfg.FlushTimeout) {
		t.Fatalf("Deadline after flush %d", d)
	}
	if tb.Stats().Flushes[FlushTimer] != 1 {
		t.Fatalf("FlushTimer %d", tb.Stats().Flushes[FlushTimer])
	}
}

func TestFullTableFlushesOldestFlow(t *testing.T) {
	cfg := l2()
	cfg.MaxFlows = 3
	tb, r := newTable(t, cfg)
	for i := range 4 {
		s := base(1, mss)
		s.sport = uint16(1000 + i)
		tb.Input(0, s.frame(nil))
	}
	if len(r.out) != 1 || r.out[0].hdr.TCP.SrcPort != 1000 || tb.Held() != 3 {
		t.Fatalf("eviction delivered %d (port %d), held %d", len(r.out), r.out[0].hdr.TCP.SrcPort, tb.Held())
	}
	if tb.Stats().Flushes[FlushEvicted] != 1 {
		t.Fatalf("FlushEvicted %d", tb.Stats().Flushes[FlushEvicted])
	}
	tb.FlushAll()
}

func TestBadChecksumIsNeverMerged_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss)
	s2.id, s3.id = 101, 102
	s2.badCsum = true
	tb, r := newTable(t, l2())
	feed(t, tb, s1, s2, s3)
	if len(r.out) != 3 || r.out[0].segs != 1 || r.out[1].kind != KindOther || r.out[2].segs != 1 {
		t.Fatalf("outputs %v kinds %v %v", shape(r), r.out[0].kind, r.out[1].kind)
	}
	if r.out[1].checksum[0] != pkt.ChecksumUnknown {
		t.Fatalf("a bad frame was marked %v", r.out[1].checksum[0])
	}
	st := tb.Stats()
	if st.PassBadChecksum != 1 || st.Flushes[FlushUnmergeable] != 1 {
		t.Fatalf("PassBadChecksum %d FlushUnmergeable %d", st.PassBadChecksum, st.Flushes[FlushUnmergeable])
	}
}

func TestTrustedChecksumStatesAreNotVerified(t *testing.T) {
	for _, st := range []pkt.ChecksumState{pkt.ChecksumVerified, pkt.ChecksumPartial} {
		s1, s2 := base(1, mss), base(1+mss, mss)
		s2.id = 101
		s1.badCsum, s2.badCsum = true, true // a veth peer leaves only the pseudo-header sum
		tb, r := newTable(t, l2())
		for _, s := range []spec{s1, s2} {
			f := s.frame(nil)
			f.Meta.Checksum = st
			tb.Input(0, f)
		}
		tb.FlushAll()
		if got := shape(r); !eqInts(got, []int{2}) || r.out[0].checksum[0] != st {
			t.Fatalf("state %v: shape %v, state after %v", st, got, r.out[0].checksum[0])
		}
	}
	cfg := l2()
	cfg.RxChecksumTrusted = true
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s1.badCsum, s2.badCsum = true, true
	expectFlush(t, cfg, FlushBatchEnd, 1, []int{2}, s1, s2)
}

func TestUnaggregatableFramesPassThroughUntouched(t *testing.T) {
	opts := base(1, mss)
	opts.ipOptions = 4
	frag := base(1, mss).bytes()
	frag[14+6] |= 0x20 // MF
	frag[14+10], frag[14+11] = 0, 0
	c := wire.FoldChecksum(wire.Checksum(frag[14:34], 0))
	frag[14+10], frag[14+11] = byte(c>>8), byte(c)
	ext := base6(1, mss)
	ext.ipv6ExtHdr = true
	arp := make([]byte, 42)
	wire.EmitEthernet(arp, &wire.EthernetFields{Dst: wire.BroadcastMAC, Src: macA, EtherType: wire.EtherTypeARP})
	udp := base(1, 10).bytes()
	udp[14+9] = wire.ProtoUDP
	udp[14+10], udp[14+11] = 0, 0
	c = wire.FoldChecksum(wire.Checksum(udp[14:34], 0))
	udp[14+10], udp[14+11] = byte(c>>8), byte(c)
	cases := []struct {
		name    string
		b       []byte
		counter func(Stats) uint64
	}{
		{"ipv4 options", opts.bytes(), func(s Stats) uint64 { return s.PassIPOptions }},
		{"fragment", frag, func(s Stats) uint64 { return s.PassFragment }},
		{"ipv6 ext header", ext.bytes(), func(s Stats) uint64 { return s.PassIPv6Ext }},
		{"arp", arp, func(s Stats) uint64 { return s.PassNotTCP }},
		{"udp", udp, func(s Stats) uint64 { return s.PassNotTCP }},
		{"truncated", opts.bytes()[:30], func(s Stats) uint64 { return s.PassMalformed }},
	}
	for _, tc := range cases {
		tb, r := newTable(t, l2())
		f := pkt.NewBuffer(len(tc.b)+64, 64)
		copy(f.Append(len(tc.b)), tc.b)
		// Twice: the second copy must not join the first either.
		f2 := pkt.NewBuffer(len(tc.b)+64, 64)
		copy(f2.Append(len(tc.b)), tc.b)
		tb.Input(0, f)
		tb.Input(0, f2)
		if len(r.out) != 2 || r.out[0].kind != KindOther || r.out[0].frames[0] != f || !bytes.Equal(f.Bytes(), tc.b) {
			t.Fatalf("%s: %d outputs, kind %v, or the frame changed", tc.name, len(r.out), r.out[0].kind)
		}
		if n := tc.counter(tb.Stats()); n != 2 {
			t.Fatalf("%s: counter %d, want 2", tc.name, n)
		}
	}
}

func TestIPOptionsSegmentFlushesItsFlowFirst_LinuxGRO(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id, s2.ipOptions = 101, 8
	tb, r := newTable(t, l2())
	feed(t, tb, s1, s2)
	if len(r.out) != 2 || r.out[0].kind != KindTCP || r.out[1].kind != KindOther {
		t.Fatalf("order broken: %v", shape(r))
	}
	if tb.Stats().Flushes[FlushUnmergeable] != 1 {
		t.Fatalf("FlushUnmergeable %d", tb.Stats().Flushes[FlushUnmergeable])
	}
}

func TestFlowIdentityIncludesMACsVLANAndFlowLabel_LinuxGRO(t *testing.T) {
	mk := []func(*spec){
		func(s *spec) { s.srcMAC = wire.MAC{0x02, 9, 9, 9, 9, 9} },
		func(s *spec) { s.dstMAC = wire.MAC{0x02, 9, 9, 9, 9, 9} },
		func(s *spec) { s.vlan = 7 },
		func(s *spec) { s.sport = 1 },
		func(s *spec) { s.dport = 1 },
		func(s *spec) { s.src = ip4B; s.dst = ip4A },
	}
	for i, m := range mk {
		s1, s2 := base(1, mss), base(1+mss, mss)
		s2.id = 101
		m(&s2)
		tb, r := newTable(t, l2())
		feed(t, tb, s1, s2)
		if got := shape(r); !eqInts(got, []int{1, 1}) || tb.Stats().TotalFlushes() != 2 || tb.Stats().Flushes[FlushBatchEnd] != 2 {
			t.Fatalf("change %d: shape %v, flushes %v: a different flow was merged or flushed", i, got, tb.Stats().Flushes)
		}
	}
	s1, s2 := base6(1, mss), base6(1+mss, mss)
	s2.flowLabel = 1
	tb, r := newTable(t, l2())
	feed(t, tb, s1, s2)
	if got := shape(r); !eqInts(got, []int{1, 1}) || tb.Stats().Flushes[FlushBatchEnd] != 2 {
		t.Fatalf("flow label: shape %v", got)
	}
}

func TestVLANTaggedFramesAggregate(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	s1.vlan, s2.vlan = 0x2005, 0x2005
	r := expectFlush(t, l2(), FlushBatchEnd, 1, []int{2}, s1, s2)
	if h := r.out[0].hdr; !h.HasVLAN || h.VLAN != 0x2005 || h.IPOffset != 18 {
		t.Fatalf("VLAN header %+v", h)
	}
}

func TestIPv6SegmentsAggregate_LinuxGRO(t *testing.T) {
	s1, s2, s3 := base6(1, mss), base6(1+mss, mss), base6(1+2*mss, mss)
	r := expectFlush(t, l2(), FlushBatchEnd, 1, []int{3}, s1, s2, s3)
	if h := r.out[0].hdr; !h.IPv6 || h.Src != ip6A || h.FlowLabel != 0x12345 || h.TCPOffset != 54 {
		t.Fatalf("IPv6 header %+v", h)
	}
}

func TestRawIPFramesAggregate(t *testing.T) {
	s1, s2, s3 := base(1, mss), base6(1, mss), base(1+mss, mss)
	s1.l2, s2.l2, s3.l2 = false, false, false
	s3.id = 101
	tb, r := newTable(t, Config{})
	feed(t, tb, s1, s2, s3)
	if got := shape(r); !eqInts(got, []int{2, 1}) || r.out[0].hdr.IPOffset != 0 || r.out[0].hdr.TCPOffset != 20 {
		t.Fatalf("raw IP: shape %v", got)
	}
}

func TestDisabledDeliversEverySegmentAlone(t *testing.T) {
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	cfg := l2()
	cfg.Disabled = true
	tb, r := newTable(t, cfg)
	tb.Input(0, s1.frame(nil))
	tb.Input(0, s2.frame(nil))
	if got := shape(r); !eqInts(got, []int{1, 1}) || r.out[0].kind != KindTCP || tb.Stats().PassDisabled != 2 {
		t.Fatalf("disabled: shape %v", got)
	}
}

func TestGSOSuperFrameFromDevicePassesWithItsSegmentCount(t *testing.T) {
	s1, big := base(1, mss), base(1+mss, 5*mss+1)
	big.id = 101
	tb, r := newTable(t, l2())
	tb.Input(0, s1.frame(nil))
	f := big.frame(nil)
	f.Meta = pkt.Meta{GSO: pkt.GSOTCPv4, GSOSize: mss, Checksum: pkt.ChecksumPartial}
	tb.Input(0, f)
	if len(r.out) != 2 || r.out[1].segs != 6 || r.out[1].segSize != mss || r.out[1].n != 1 {
		t.Fatalf("super-frame: %d outputs, segs %d size %d", len(r.out), r.out[len(r.out)-1].segs, r.out[len(r.out)-1].segSize)
	}
	if st := tb.Stats(); st.PassGSO != 1 || st.Flushes[FlushUnmergeable] != 1 {
		t.Fatalf("PassGSO %d FlushUnmergeable %d", st.PassGSO, st.Flushes[FlushUnmergeable])
	}
}

func TestHandlerLeftoversAreReleasedAndCounted(t *testing.T) {
	p := pkt.NewPool(4, 2048, 64)
	tb, err := New(l2(), HandlerFunc(func(a *Aggregate) {}))
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	tb.Input(0, s1.frame(p))
	tb.Input(0, s2.frame(p))
	tb.FlushAll()
	if p.Available() != 4 || tb.Stats().HandlerLeaks != 2 {
		t.Fatalf("available %d, leaks %d", p.Available(), tb.Stats().HandlerLeaks)
	}
}

func TestDetachMovesOwnershipToTheHandler(t *testing.T) {
	p := pkt.NewPool(4, 2048, 64)
	var kept []*pkt.Buffer
	tb, _ := New(l2(), HandlerFunc(func(a *Aggregate) { kept = a.Detach(kept) }))
	s1, s2 := base(1, mss), base(1+mss, mss)
	s2.id = 101
	tb.Input(0, s1.frame(p))
	tb.Input(0, s2.frame(p))
	tb.FlushAll()
	if len(kept) != 2 || p.Available() != 2 || tb.Stats().HandlerLeaks != 0 {
		t.Fatalf("kept %d, available %d", len(kept), p.Available())
	}
	for _, b := range kept {
		b.Release()
	}
}

func TestStatsAddUp(t *testing.T) {
	s1, s2, s3, ack := base(1, mss), base(1+mss, mss), base(1+2*mss, mss), base(1+3*mss, 0)
	s2.id, s3.id, ack.id = 101, 102, 103
	tb, _ := newTable(t, l2())
	feed(t, tb, s1, s2, s3, ack)
	st := tb.PublishedStats()
	if st.FramesIn != 4 || st.FramesOut != 4 || st.SegmentsIn != 4 || st.AggregatesOut != 2 ||
		st.SegmentsOut != 4 || st.Merged != 2 || st.AvgSegmentsPerAggregate() != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	r := &recorder{}
	for _, c := range []Config{{MaxFlows: -1}, {MaxSegments: 65}, {MaxBytes: 100}, {MaxBytes: 70000}, {FlushTimeout: -1}} {
		if _, err := New(c, r); err == nil {
			t.Fatalf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Fatalf("nil handler accepted")
	}
}

func TestIPv4MappedSourceInIPv6IsVerifiedAsIPv6_RFC8200_8_1(t *testing.T) {
	// A hostile IPv6 packet with an IPv4-mapped source: the pseudo-header is the
	// IPv6 one (all 16 bytes), and nothing may take the address for IPv4.
	s1, s2 := base6(1, mss), base6(1+mss, mss)
	s1.src, s2.src = netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("::ffff:198.18.0.1")
	bad := base6(1+2*mss, mss)
	bad.src, bad.badCsum = s1.src, true
	tb, r := newTable(t, l2())
	feed(t, tb, s1, s2, bad)
	if got := shape(r); !eqInts(got, []int{2, 0}) || r.out[1].kind != KindOther || tb.Stats().PassBadChecksum != 1 {
		t.Fatalf("shape %v, PassBadChecksum %d", got, tb.Stats().PassBadChecksum)
	}
}

func TestSetDisabledFlushesAndThenPassesAlone(t *testing.T) {
	s1, s2, s3, s4 := base(1, mss), base(1+mss, mss), base(1+2*mss, mss), base(1+3*mss, mss)
	s2.id, s3.id, s4.id = 101, 102, 103
	tb, r := newTable(t, l2())
	tb.Input(0, s1.frame(nil))
	tb.Input(0, s2.frame(nil))
	tb.SetDisabled(true)
	if got := shape(r); !eqInts(got, []int{2}) || tb.Held() != 0 {
		t.Fatalf("switching off: shape %v held %d", got, tb.Held())
	}
	tb.Input(0, s3.frame(nil))
	tb.SetDisabled(false)
	tb.Input(0, s4.frame(nil))
	tb.FlushAll()
	if got := shape(r); !eqInts(got, []int{2, 1, 1}) || tb.Stats().PassDisabled != 1 {
		t.Fatalf("shape %v PassDisabled %d", got, tb.Stats().PassDisabled)
	}
}
