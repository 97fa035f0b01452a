package tcp

import (
	"bytes"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// Tests for the hostile inputs of ../shared/REFERENCES.md ("Adversarial
// inputs every release must survive") that concern TCP, each named after the
// behaviour with the item number. Items 9, 10 (header and option parsing), 25
// and 26 (ICMP, fragments) and 27 (engine tenants) belong to wire, iface and
// the engine; items pinned by older tests carry a "REFERENCES item N" comment
// there (rst_test.go, isn_test.go, options_test.go, reassembly_test.go,
// handshake_test.go, timers_test.go).

// REFERENCES item 3: the challenge ACK does not depend on the SYN being in
// the window.
func TestOutOfWindowSYNGetsChallengeACK_RFC5961_4_2_Item3(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	for _, seq := range []wire.Seq{peerISS + 1 + 1<<20, peerISS + 1<<31, peerISS + (1<<32 - 1<<20)} {
		out := r.send(seg{TCPFields: wire.TCPFields{Seq: seq, Flags: wire.FlagSYN, Window: 100}})
		if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+1 || out[0].Seq != rigISS+1 {
			t.Fatalf("SYN at %d: want challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, got %v", seq, out)
		}
	}
	if i := r.c.Info(); i.ChallengeACKs != 3 || r.c.State() != StateEstablished {
		t.Fatalf("%v %+v", r.c.State(), i)
	}
}

// REFERENCES item 4: data on a segment whose ACK is unacceptable is not
// delivered, in either direction of the acceptable range.
func TestDataWithUnacceptableACKIsNotDelivered_RFC5961_5_2_Item4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	for _, a := range []wire.Seq{rigISS + 2, rigISS + 1<<20, rigISS + (1<<32 - 70000), rigISS + 1<<31} {
		out := r.send(data(peerISS+1, a, 65535, []byte("inject")))
		if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+1 || len(out[0].Payload) != 0 {
			t.Fatalf("ACK %d: want an ACK of RCV.NXT, got %v", a, out)
		}
		r.now = r.now.Add(time.Second) // keep the challenge-ACK budget out of the way
	}
	if i := r.c.Info(); i.RecvBuffered != 0 || i.BytesReceived != 0 {
		t.Fatalf("injected data delivered: %+v", i)
	}
}

// REFERENCES item 5: the challenge-ACK budget is per connection: a RST flood
// on one connection does not silence another's challenge ACKs (the global
// counter of Linux before CVE-2016-5696 leaked state to off-path attackers).
func TestChallengeACKLimitIsPerConnection_RFC5961_7_Item5(t *testing.T) {
	cfg := rigConfig()
	cfg.ChallengeACKLimit = 10
	victim := newEstablishedRig(t, cfg)
	other := newEstablishedRig(t, cfg)
	sent := 0
	for i := range 10000 {
		sent += len(victim.send(rstSeg(peerISS + 2 + wire.Seq(i%1000))))
	}
	if sent != 10 || victim.c.State() != StateEstablished {
		t.Fatalf("flooded connection sent %d challenge ACKs (state %v)", sent, victim.c.State())
	}
	if out := other.send(rstSeg(peerISS + 2)); len(out) != 1 {
		t.Fatalf("other connection's challenge ACK suppressed: %v", out)
	}
}

// REFERENCES item 11: a peer MSS of 0, 1 or 48 cannot make segments tiny
// (no division by zero, a bounded number of segments): the send MSS has a
// floor.
func TestTinyPeerMSSIsClampedToAFloor_RFC9293_3_7_1_Item11(t *testing.T) {
	for _, mss := range []uint16{0, 1, 48} {
		cfg := rigConfig()
		cfg.NoDelay = true
		r := &rig{t: t, now: t0}
		syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
		syn.Options.MSS = mss
		c, err := Accept(&cfg, r.now, syn.segment(), rigISS)
		if err != nil {
			t.Fatal(err)
		}
		r.c = c
		r.poll()
		r.send(ack(peerISS+1, rigISS+1, 65535))
		want := minMSS
		if mss == 0 {
			want = defaultMSS // an MSS option of 0 reads as absent (RFC 9293 §3.7.1)
		}
		if c.SendMSS() != want {
			t.Fatalf("peer MSS %d: send MSS %d, want %d", mss, c.SendMSS(), want)
		}
		c.Write(make([]byte, 8000))
		out := r.poll()
		for _, s := range out {
			if len(s.Payload) > want || len(s.Payload) == 0 {
				t.Fatalf("peer MSS %d: segment of %d bytes", mss, len(s.Payload))
			}
		}
		// The initial window bounds what goes out at once (RFC 6928).
		if len(out) == 0 || len(out) > initialWindow(want)/want+1 {
			t.Fatalf("peer MSS %d: %d segments in the first flight", mss, len(out))
		}
	}
}

// REFERENCES item 13: an urgent pointer beyond the payload, or on an empty
// segment, is harmless: urgent data is ordinary inline data here (RFC 6093 §5).
func TestUrgentPointerBeyondPayloadIsHarmless_RFC6093_Item13(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	s := data(peerISS+1, rigISS+1, 65535, []byte("abc"))
	s.Flags |= wire.FlagURG
	s.Urgent = 0xffff
	r.send(s)
	e := ack(peerISS+4, rigISS+1, 65535)
	e.Flags |= wire.FlagURG
	e.Urgent = 0xffff
	r.send(e)
	got, _ := readAll(r.c, nil)
	if string(got) != "abc" || r.c.State() != StateEstablished {
		t.Fatalf("read %q, state %v", got, r.c.State())
	}
}

// REFERENCES item 14: SACK blocks below SND.UNA, above SND.MAX, with start ≥
// end, or more than fit in an option are ignored; they never touch the
// scoreboard (a corrupt scoreboard is what SACK Panic exploited).
func TestInvalidSACKBlocksIgnored_RFC2018_Item14(t *testing.T) {
	r := sackRig(t, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 6*1460))
	r.poll()
	una, mx := r.c.sndUna, r.c.sndMax
	cases := []wire.SACKBlock{
		{Start: una - 2000, End: una - 1000},        // below SND.UNA (and not a D-SACK: not first)
		{Start: una - 1000, End: una + 1460},        // straddles SND.UNA
		{Start: mx, End: mx + 1460},                 // never sent
		{Start: mx - 1460, End: mx + 1},             // past SND.MAX
		{Start: una + 2920, End: una + 1460},        // start > end
		{Start: una + 1460, End: una + 1460},        // empty
		{Start: una + 1<<31, End: una + 1<<31 + 10}, // the far half of sequence space
	}
	for _, b := range cases {
		s := sackAck(una, wire.SACKBlock{Start: una + 1460, End: una + 2920}, b)
		s.Options.SACK[0], s.Options.SACK[1] = b, s.Options.SACK[0]
		// b is second so that it cannot pass for a D-SACK.
		s.Options.SACK[0], s.Options.SACK[1] = s.Options.SACK[1], b
		r.send(s)
	}
	if q := &r.c.txq; q.sackedN != 1 || q.lostN != 0 {
		t.Fatalf("scoreboard: %d SACKed, %d lost; want only the one valid block", q.sackedN, q.lostN)
	}
	if got := r.c.Info().SACKBlocksIgnored; got != uint64(len(cases)) {
		t.Fatalf("SACKBlocksIgnored %d, want %d", got, len(cases))
	}
	// A NumSACK larger than the array (a bug upstream, or a crafted
	// TCPFields) is capped at the four blocks a header can carry.
	s := sackAck(una)
	s.Options.NumSACK = 200
	for i := range s.Options.SACK {
		s.Options.SACK[i] = wire.SACKBlock{Start: una + wire.Seq(1460*(i+2)), End: una + wire.Seq(1460*(i+3))}
	}
	r.send(s)
	checkScoreboard(t, r.c)
	if r.c.State() != StateEstablished {
		t.Fatal(r.c.State())
	}
}

// fixedWindow is a CongestionControl with a constant, huge window, so a
// test can put thousands of segments in flight at once.
type fixedWindow struct{ w int }

func (f *fixedWindow) Cwnd() int                                    { return f.w }
func (f *fixedWindow) Ssthresh() int                                { return f.w }
func (f *fixedWindow) OnAck(clock.Instant, int, int, time.Duration) {}
func (f *fixedWindow) OnCongestion(clock.Instant, int)              {}
func (f *fixedWindow) OnExitRecovery(clock.Instant, int)            {}
func (f *fixedWindow) OnRTO(clock.Instant, int)                     {}
func (f *fixedWindow) OnIdleRestart(clock.Instant)                  {}
func (f *fixedWindow) SetMSS(int)                                   {}

// REFERENCES item 15: a peer that SACKs every other segment of a 6,000
// segment flight (3,000 one-MSS holes, "SACK Panic" style) costs a bounded
// scoreboard and bounded work per ACK, and the transfer still completes.
func TestThousandsOfSACKHolesBoundedEntriesAndWork_RFC6675_Item15(t *testing.T) {
	for _, rack := range []bool{true, false} {
		cfg := rigConfig()
		cfg.RACK = rack
		cfg.MSS = 536
		cfg.SendBufferSize = 8 << 20
		cfg.ScoreboardSegments = 1024
		cfg.Congestion = func(int) CongestionControl { return &fixedWindow{w: 1 << 30} }
		cfg.WindowScaling = true
		syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
		syn.Options = wire.TCPOptions{MSS: 536, SACKPermitted: true, HasWScale: true, WScale: 14}
		c, _ := Accept(&cfg, t0, syn.segment(), rigISS)
		r := &rig{t: t, now: t0, c: c}
		r.poll()
		r.send(ack(peerISS+1, rigISS+1, 0xffff))
		r.c.SetNoDelay(true)
		const n = 6000
		r.c.Write(make([]byte, n*536))
		out := r.poll()
		if len(out) != n {
			t.Fatalf("sent %d segments", len(out))
		}
		if r.c.txq.n > 1024 || len(r.c.txq.e) != 1024 {
			t.Fatalf("scoreboard %d/%d entries", r.c.txq.n, len(r.c.txq.e))
		}
		una := r.c.sndUna
		var worst time.Duration
		// SACK odd segments, four blocks per ACK, from the top down, as a
		// hostile receiver would (the most work for the sender).
		for i := n - 1; i > 0; i -= 8 {
			s := sackAck(una)
			for k := range 4 {
				j := i - 2*k
				if j < 1 {
					break
				}
				st := una + wire.Seq(j*536)
				s.Options.SACK[k] = wire.SACKBlock{Start: st, End: st + 536}
				s.Options.NumSACK++
			}
			s.Window = 0xffff
			r.now = r.now.Add(10 * time.Microsecond)
			start := time.Now()
			r.c.OnSegment(r.now, s.segment())
			r.c.Poll(r.now, &r.out)
			worst = max(worst, time.Since(start))
			r.out.take()
			checkScoreboard(t, r.c)
		}
		if r.c.txq.n > 1024 {
			t.Fatalf("scoreboard grew to %d", r.c.txq.n)
		}
		// Bounded work: one ACK over a full 1,024-entry table is a few
		// microseconds; allow three orders of magnitude for slow machines
		// and the race detector.
		if worst > 20*time.Millisecond {
			t.Fatalf("RACK=%v: slowest ACK took %v", rack, worst)
		}
		// Everything acknowledged: the table empties.
		r.send(ack(peerISS+1, r.c.sndMax, 0xffff))
		if r.c.txq.n != 0 || r.c.Info().BytesInFlight != 0 {
			t.Fatalf("RACK=%v: %d entries left, %+v", rack, r.c.txq.n, r.c.Info())
		}
	}
}

// REFERENCES item 16: thousands of tiny disjoint out-of-order segments hold
// at most ReassemblyRanges ranges, take bounded time, and in-order data
// still flows.
func TestThousandsOfTinyOutOfOrderSegmentsBounded_Item16(t *testing.T) {
	cfg := rigConfig()
	r := newEstablishedRig(t, cfg)
	base := peerISS + 1
	start := time.Now()
	for i := range 20000 {
		off := wire.Seq(2 + (i*7919)%60000) // scattered, mostly disjoint
		r.c.OnSegment(r.now, data(base+off, rigISS+1, 65535, []byte{1}).segment())
		r.c.Poll(r.now, &r.out)
		r.out.take()
		if len(r.c.ooo) > cfg.ReassemblyRanges || cap(r.c.ooo) != cfg.ReassemblyRanges {
			t.Fatalf("reassembly table %d/%d", len(r.c.ooo), cap(r.c.ooo))
		}
		r.now = r.now.Add(time.Millisecond) // out of the out-of-window ACK limiter's way
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("20000 tiny segments took %v", d)
	}
	if r.c.Info().OutOfOrderDrops == 0 {
		t.Fatal("bound never hit")
	}
	r.send(data(base, rigISS+1, 65535, []byte{'x', 'y'}))
	if got := r.c.Info().RecvBuffered; got < 2 {
		t.Fatalf("in-order data not delivered: %d", got)
	}
}

// REFERENCES item 18: sequence numbers wrapping 2^32 in the middle of a
// lossy transfer with SACK, RACK and timestamps.
func TestSequenceWrapMidStreamWithLossAndSACK_RFC9293_3_4_Item18(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendBufferSize, cfg.RecvBufferSize = 64<<10, 64<<10
	p := newPair(t, cfg, cfg, 0xffffffff-200_000, 0xffffffff-50_000, time.Millisecond)
	p.traceOn = false
	p.connect()
	n := 0
	p.filter = func(bool, *seg) bool { n++; return n%37 == 0 }
	src := make([]byte, 600_000)
	for i := range src {
		src[i] = byte(i*7 + i>>9)
	}
	var gotB, gotA []byte
	offA, offB := 0, 0
	for range 100000 {
		if len(gotB) == len(src) && len(gotA) == len(src) {
			break
		}
		k, _ := p.a.Write(src[offA:])
		offA += k
		k, _ = p.b.Write(src[offB:])
		offB += k
		p.runFor(time.Millisecond)
		gotB, _ = readAll(p.b, gotB)
		gotA, _ = readAll(p.a, gotA)
	}
	if !bytes.Equal(gotB, src) || !bytes.Equal(gotA, src) {
		t.Fatalf("A->B %d, B->A %d of %d bytes intact", len(gotB), len(gotA), len(src))
	}
	if p.a.sndUna.GreaterThan(wire.Seq(0x10000000)) || p.b.sndUna.GreaterThan(wire.Seq(0x10000000)) {
		t.Fatal("sequence numbers did not wrap")
	}
	if p.a.Info().Retransmits == 0 {
		t.Fatal("no loss exercised")
	}
}

// REFERENCES item 19: TS.Recent only moves for a segment that is in the
// window (RFC 7323 §4.3 and §5.3 R3): an out-of-window segment carrying a
// far-future TSval cannot poison PAWS for the real peer.
func TestTSRecentUpdatedOnlyInWindow_RFC7323_5_3_Item19(t *testing.T) {
	r, _ := newTSRig(t)
	before := r.c.tsRecent
	r.send(tsSeg(data(peerISS+1+1<<20, rigISS+1, 65535, []byte("x")), before+1<<30, 0))
	if r.c.tsRecent != before {
		t.Fatalf("TS.Recent moved to %d on an out-of-window segment", r.c.tsRecent)
	}
	r.send(tsSeg(data(peerISS+1, rigISS+1, 65535, []byte("ok")), before+5, 0))
	if got, _ := readAll(r.c, nil); string(got) != "ok" || r.c.tsRecent != before+5 {
		t.Fatalf("read %q TS.Recent %d", got, r.c.tsRecent)
	}
}

// REFERENCES item 20: a peer that answers zero-window probes but never opens
// its window, on many connections: probes back off to MaxRTO, nothing grows,
// no connection gives up while the peer answers (RFC 9293 §3.8.6.1 "MUST
// NOT" close), and the probes do not allocate.
func TestZeroWindowForeverOnManyConnections_RFC9293_3_8_6_1_Item20(t *testing.T) {
	const conns = 50
	var rigs []*rig
	for range conns {
		r := newEstablishedRig(t, rigConfig())
		r.c.SetNoDelay(true)
		r.c.Write(make([]byte, 3000))
		r.poll()
		r.send(ack(peerISS+1, rigISS+1, 0)) // window closed
		rigs = append(rigs, r)
	}
	probes := 0
	var counter probeCounter
	answer := ack(peerISS+1, rigISS+1, 0).segment() // the peer: still zero window
	step := func() {
		for _, r := range rigs {
			d := r.c.Deadline()
			if d == clock.Never {
				t.Fatal("no persist timer")
			}
			r.now = d
			counter.probes = 0
			r.c.Poll(r.now, &counter)
			probes += counter.probes
			r.c.OnSegment(r.now, answer)
		}
	}
	for range 40 {
		step()
	}
	for _, r := range rigs {
		i := r.c.Info()
		if r.c.State() != StateEstablished || i.SendBuffered != 3000 {
			t.Fatalf("%v %+v", r.c.State(), i)
		}
		if r.now.Sub(t0) < 20*time.Minute {
			t.Fatalf("probes did not back off: 40 probes in %v", r.now.Sub(t0))
		}
	}
	// The first expiry is the retransmission timer (data was in flight
	// when the window closed); every later one sends a probe.
	if probes != 39*conns {
		t.Fatalf("%d probes, want %d", probes, 39*conns)
	}
	if a := testing.AllocsPerRun(5, step); a > 0 && !raceEnabled {
		t.Fatalf("probing allocates %.1f per round", a)
	}
}

// REFERENCES item 21: data beyond the receive window is trimmed to the
// window; nothing beyond it is stored or acknowledged.
func TestDataBeyondReceiveWindowIsTrimmed_RFC9293_3_10_7_4_Item21(t *testing.T) {
	cfg := rigConfig()
	cfg.RecvBufferSize = 4096
	r := newEstablishedRig(t, cfg)
	p := make([]byte, 6000)
	for i := range p {
		p[i] = byte(i)
	}
	out := r.send(data(peerISS+1, rigISS+1, 65535, p))
	if len(out) != 1 || out[0].Ack != peerISS+1+4096 || out[0].Window != 0 {
		t.Fatalf("want ACK of 4096 bytes with a zero window, got %v", out)
	}
	got, _ := readAll(r.c, nil)
	if !bytes.Equal(got, p[:4096]) {
		t.Fatalf("read %d bytes", len(got))
	}
}

// REFERENCES item 21: a peer that shrinks its window below what is in flight
// (RFC 9293 §3.8.6.2.1 says it SHOULD NOT, but may): the sender stops,
// probes, and resumes when the window reopens; all data arrives once.
func TestPeerShrinkingWindowSenderCopes_RFC9293_3_8_6_Item21(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendBufferSize, cfg.RecvBufferSize = 64<<10, 64<<10
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.connect()
	shrink := true
	p.filter = func(toB bool, s *seg) bool {
		if !toB && shrink && s.Flags.Has(wire.FlagACK) {
			// B's ACKs advertise a window that retracts the right edge.
			s.Window = 1
		}
		return false
	}
	src := make([]byte, 200_000)
	for i := range src {
		src[i] = byte(i % 251)
	}
	var got []byte
	off := 0
	for i := 0; len(got) < len(src) && i < 20000; i++ {
		if i == 200 {
			shrink = false
		}
		k, _ := p.a.Write(src[off:])
		off += k
		p.runFor(time.Millisecond)
		got, _ = readAll(p.b, got)
	}
	if !bytes.Equal(got, src) {
		t.Fatalf("got %d of %d bytes", len(got), len(src))
	}
	if p.a.Err() != nil || p.a.Info().Timeouts > 3 {
		t.Fatalf("%v %+v", p.a.Err(), p.a.Info())
	}
}

// REFERENCES item 22: odd flag combinations on an established connection
// follow RFC 9293 §3.10.7.4's order of checks: RST is checked before SYN, a
// SYN draws a challenge ACK, a segment without ACK is dropped, and a RST
// with data resets (or challenges) without delivering the data.
func TestOddFlagCombinationsFollowStateTables_RFC9293_3_10_7_4_Item22(t *testing.T) {
	all := wire.FlagFIN | wire.FlagSYN | wire.FlagRST | wire.FlagPSH | wire.FlagACK | wire.FlagURG | wire.FlagECE | wire.FlagCWR
	cases := []struct {
		name      string
		flags     wire.TCPFlags
		seq       wire.Seq
		payload   []byte
		wantState State
		wantACK   bool
	}{
		{"SYN+FIN", wire.FlagSYN | wire.FlagFIN, peerISS + 1, nil, StateEstablished, true},
		{"SYN+FIN+data", wire.FlagSYN | wire.FlagFIN | wire.FlagACK, peerISS + 1, []byte("x"), StateEstablished, true},
		{"SYN+RST in window", wire.FlagSYN | wire.FlagRST, peerISS + 10, nil, StateEstablished, true},
		{"SYN+RST exact", wire.FlagSYN | wire.FlagRST, peerISS + 1, nil, StateClosed, false},
		{"no flags", 0, peerISS + 1, []byte("nope"), StateEstablished, false},
		{"FIN without ACK", wire.FlagFIN, peerISS + 1, nil, StateEstablished, false},
		{"all flags exact", all, peerISS + 1, []byte("x"), StateClosed, false},
		{"all flags in window", all, peerISS + 100, []byte("x"), StateEstablished, true},
		{"RST+data exact", wire.FlagRST | wire.FlagACK, peerISS + 1, []byte("data"), StateClosed, false},
		{"RST+data in window", wire.FlagRST, peerISS + 50, []byte("data"), StateEstablished, true},
	}
	for _, tc := range cases {
		r := newEstablishedRig(t, rigConfig())
		s := seg{TCPFields: wire.TCPFields{Seq: tc.seq, Ack: rigISS + 1, Flags: tc.flags, Window: 65535}, Payload: tc.payload}
		out := r.send(s)
		if r.c.State() != tc.wantState {
			t.Errorf("%s: state %v, want %v", tc.name, r.c.State(), tc.wantState)
		}
		acked := len(out) == 1 && out[0].Flags == wire.FlagACK
		if acked != tc.wantACK || (!tc.wantACK && len(out) != 0) {
			t.Errorf("%s: sent %v", tc.name, out)
		}
		if i := r.c.Info(); i.BytesReceived != 0 {
			t.Errorf("%s: delivered %d bytes", tc.name, i.BytesReceived)
		}
	}
}

// selfLoop is an Output that feeds a Conn its own segments (a socket bound
// and connected to its own address and port).
type selfLoop struct{ segs []seg }

func (s *selfLoop) Emit(h *wire.TCPFields, a, b []byte) {
	p := append(append([]byte(nil), a...), b...)
	s.segs = append(s.segs, seg{TCPFields: *h, Payload: p})
}

// REFERENCES item 23: self-connect. A SYN-SENT connection that receives its
// own SYN goes through simultaneous open with itself and reaches ESTABLISHED;
// what it writes it reads back.
func TestSelfConnect_RFC9293_3_5_Item23(t *testing.T) {
	for _, ts := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Timestamps = ts
		now := t0
		c := Dial(&cfg, now, 777)
		var loop selfLoop
		c.Write([]byte("me, myself"))
		for range 20 {
			c.Poll(now, &loop)
			segs := loop.segs
			loop.segs = nil
			for _, s := range segs {
				c.OnSegment(now, s.segment())
			}
			now = now.Add(time.Millisecond)
		}
		if c.State() != StateEstablished {
			t.Fatalf("ts=%v: state %v", ts, c.State())
		}
		got, _ := readAll(c, nil)
		if string(got) != "me, myself" {
			t.Fatalf("ts=%v: read %q", ts, got)
		}
	}
}

// REFERENCES item 24: RFC 1337 hazard H1: a RST in TIME-WAIT, even at
// exactly RCV.NXT, does not end TIME-WAIT early; an old SYN gets a challenge
// ACK and no reuse.
func TestRSTInTimeWaitIgnored_RFC1337_Item24(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Close()
	r.poll()
	fin := ack(peerISS+1, rigISS+2, 65535)
	fin.Flags |= wire.FlagFIN
	r.send(fin)
	if r.c.State() != StateTimeWait {
		t.Fatal(r.c.State())
	}
	for _, s := range []seg{rstSeg(peerISS + 2), rstSeg(peerISS + 100), rstSeg(peerISS - 100)} {
		if out := r.send(s); len(out) != 0 {
			t.Fatalf("RST %v answered with %v", s, out)
		}
		if r.c.State() != StateTimeWait {
			t.Fatalf("RST at %d ended TIME-WAIT", s.Seq)
		}
	}
	old := seg{TCPFields: wire.TCPFields{Seq: peerISS - 10, Flags: wire.FlagSYN}}
	if r.c.TimeWaitReusable(old.segment()) {
		t.Fatal("old SYN may reuse TIME-WAIT")
	}
	if out := r.send(old); len(out) != 1 || out[0].Flags != wire.FlagACK {
		t.Fatalf("old SYN in TIME-WAIT: %v", out)
	}
	r.advance(r.c.cfg.TimeWait)
	if !r.c.Done() {
		t.Fatal("TIME-WAIT did not end on time")
	}
}

// Out-of-window segments are answered with at most one ACK per
// OutOfWindowACKInterval, so a flood of forged segments is not amplified.
func TestOutOfWindowACKsAreRateLimited_RFC9293_3_10_7_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	sent := 0
	for i := range 1000 {
		sent += len(r.send(data(peerISS+1+1<<20+wire.Seq(i), rigISS+1, 65535, []byte("x"))))
		r.now = r.now.Add(time.Millisecond)
	}
	// 1 s of flood at 500 ms per ACK: two or three ACKs.
	if sent < 1 || sent > 3 || r.c.Info().OutOfWindowACKsSuppressed < 990 {
		t.Fatalf("%d ACKs for 1000 out-of-window segments (%+v)", sent, r.c.Info())
	}
}

// probeCounter is an Output that counts one-byte segments (zero-window
// probes) without keeping anything.
type probeCounter struct{ probes int }

func (p *probeCounter) Emit(_ *wire.TCPFields, a, b []byte) {
	if len(a)+len(b) == 1 {
		p.probes++
	}
}
