package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"offload/wire"
)

// bulkRig is an established rig (RTO 300 ms) with n full segments sent; it
// returns their sequence numbers.
func bulkRig(t *testing.T, n int) (*rig, []wire.Seq) {
	t.Helper()
	cfg := rigConfig()
	cfg.Congestion = NewNewReno // these tests pin RFC 5681/6582 arithmetic
	r := establishedWithRTT(t, cfg)
	r.c.Write(make([]byte, n*1460))
	out := r.poll()
	if len(out) != n {
		t.Fatalf("sent %d segments, want %d (cwnd %d)", len(out), n, r.c.Info().Cwnd)
	}
	var seqs []wire.Seq
	for _, s := range out {
		seqs = append(seqs, s.Seq)
	}
	return r, seqs
}

func TestFastRetransmitOnThirdDupAck_RFC5681_3_2(t *testing.T) {
	r, seqs := bulkRig(t, 8)
	// Segment 0 is lost: the peer ACKs segment-0's start for each later arrival.
	for i := 1; i <= 2; i++ {
		if out := r.send(ack(peerISS+1, seqs[0], 65535)); len(out) != 0 {
			t.Fatalf("dupack %d triggered %v", i, out)
		}
	}
	cwnd := r.c.Info().Cwnd
	flight := r.c.Info().BytesInFlight
	out := r.send(ack(peerISS+1, seqs[0], 65535))
	if len(out) != 1 || out[0].Seq != seqs[0] || len(out[0].Payload) != 1460 {
		t.Fatalf("third dupack: want retransmission of %d, got %v", seqs[0], out)
	}
	i := r.c.Info()
	if !i.InRecovery || i.FastRetransmits != 1 || i.Timeouts != 0 {
		t.Fatalf("%+v", i)
	}
	// RFC 5681 §3.2 steps 2-3: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh + 3*SMSS.
	if i.Ssthresh != max(flight/2, 2*1460) || i.Cwnd != i.Ssthresh+3*1460 {
		t.Fatalf("ssthresh %d cwnd %d (before: cwnd %d flight %d)", i.Ssthresh, i.Cwnd, cwnd, flight)
	}
	// Further dupacks inflate cwnd by one SMSS each (step 4).
	r.send(ack(peerISS+1, seqs[0], 65535))
	if got := r.c.Info().Cwnd; got != i.Cwnd+1460 {
		t.Fatalf("cwnd %d, want %d", got, i.Cwnd+1460)
	}
	// The full ACK ends recovery with cwnd deflated (RFC 6582 §3.2 step 3).
	end := seqs[7] + 1460
	r.send(ack(peerISS+1, end, 65535))
	if i := r.c.Info(); i.InRecovery || i.Cwnd > i.Ssthresh {
		t.Fatalf("after full ACK: %+v", i)
	}
}

func TestNewRenoPartialAckRetransmitsNextHole_RFC6582_3_2(t *testing.T) {
	r, seqs := bulkRig(t, 8)
	// Segments 0 and 3 are lost.
	for range 3 {
		r.send(ack(peerISS+1, seqs[0], 65535))
	}
	// The retransmitted segment 0 arrives: the ACK covers 0..2 but not the
	// recovery point, so it is partial and segment 3 is resent at once.
	out := r.send(ack(peerISS+1, seqs[3], 65535))
	var retx *seg
	for i := range out {
		if out[i].Seq == seqs[3] {
			retx = &out[i]
		}
	}
	if retx == nil || len(retx.Payload) != 1460 {
		t.Fatalf("partial ACK: want retransmission of %d, got %v", seqs[3], out)
	}
	if !r.c.Info().InRecovery {
		t.Fatal("left recovery on a partial ACK")
	}
	r.send(ack(peerISS+1, seqs[7]+1460, 65535))
	if r.c.Info().InRecovery || r.c.Info().Timeouts != 0 {
		t.Fatalf("%+v", r.c.Info())
	}
}

func TestTimeoutDisablesFastRetransmitForOldDupAcks_RFC6582_4(t *testing.T) {
	r, seqs := bulkRig(t, 8)
	r.advanceToDeadline() // RTO: go back to seqs[0]
	if r.c.Info().Timeouts != 1 {
		t.Fatal("no timeout")
	}
	before := r.c.Info().FastRetransmits
	for range 4 {
		r.send(ack(peerISS+1, seqs[0], 65535))
	}
	if r.c.Info().FastRetransmits != before {
		t.Fatal("dupacks for data sent before the timeout started fast retransmit")
	}
}

func TestRTOCollapsesCwndToOneSegment_RFC5681_3_1(t *testing.T) {
	r, seqs := bulkRig(t, 6)
	out := r.advanceToDeadline()
	i := r.c.Info()
	if len(out) != 1 || out[0].Seq != seqs[0] || i.Cwnd != 1460 || i.Ssthresh != max(6*1460/2, 2*1460) {
		t.Fatalf("out %v info %+v", out, i)
	}
	// Go-back-N: each ACK releases the following segments again.
	out = r.send(ack(peerISS+1, seqs[1], 65535))
	if len(out) != 2 || out[0].Seq != seqs[1] || out[1].Seq != seqs[2] {
		t.Fatalf("after ACK: %v", out)
	}
}

// TestBulkTransferWithLossAndReordering runs a transfer A->B with a seeded
// random loss rate on both directions (loss reorders what follows a hole) and
// checks the bytes arrive intact and both sides close cleanly.
func TestBulkTransferWithLossAndReordering(t *testing.T) {
	// Without SACK, heavy loss means long exponential backoffs (legitimately):
	// keep the rates where NewReno is expected to cope within the test's budget.
	for _, loss := range []int{1, 3, 6} {
		t.Run("", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(loss), 9))
			lossRNG := rand.New(rand.NewPCG(uint64(loss), 10))
			cfg := DefaultConfig()
			cfg.RecvBufferSize = 64 << 10
			p := newPair(t, cfg, cfg, 0xfffff000, 77, 2*time.Millisecond)
			p.connect()
			p.filter = func(toB bool, s *seg) bool { return lossRNG.IntN(100) < loss }
			src := make([]byte, 400<<10)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			got := transfer(t, p, p.a, p.b, src, rng)
			if !bytes.Equal(got, src) {
				t.Fatal("data differs")
			}
			p.filter = nil
			p.a.Close()
			p.b.Close()
			p.runFor(5 * time.Minute)
			if !p.a.Done() || !p.b.Done() {
				t.Fatalf("did not close: %v %v\n%s", p.a.State(), p.b.State(), p.tail(20))
			}
			t.Logf("loss %d%%: A %+v", loss, p.a.Info())
		})
	}
}

func TestSlowReaderZeroWindowAndPersist_RFC9293_3_8_6(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RecvBufferSize = 16 << 10
	p := newPair(t, cfg, cfg, 5, 6, time.Millisecond)
	p.connect()
	src := make([]byte, 200<<10)
	for i := range src {
		src[i] = byte(i * 7)
	}
	off := 0
	var got []byte
	buf := make([]byte, 3000)
	sawZero := false
	for len(got) < len(src) {
		k, _ := p.a.Write(src[off:])
		off += k
		p.runFor(2 * time.Second) // the reader is slow: the window closes
		for _, s := range p.sentBA {
			if s.Window == 0 && s.Flags&wire.FlagACK != 0 {
				sawZero = true
			}
		}
		n, _ := p.b.Read(buf)
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("data differs")
	}
	if !sawZero {
		t.Fatal("window never closed")
	}
	if p.a.Err() != nil || p.a.Info().Timeouts != 0 {
		t.Fatalf("%v %+v", p.a.Err(), p.a.Info())
	}
}

func TestReceiverSWSAvoidance_RFC9293_3_8_6_2_2(t *testing.T) {
	cfg := rigConfig()
	cfg.RecvBufferSize = 8 << 10
	r := newEstablishedRig(t, cfg)
	// Fill the window exactly.
	seq := peerISS + 1
	for range 5 {
		r.send(data(seq, rigISS+1, 65535, make([]byte, 1460)))
		seq += 1460
	}
	r.send(data(seq, rigISS+1, 65535, make([]byte, 8192-5*1460)))
	out := r.advance(time.Second)
	_ = out
	// Reading a few bytes at a time must not advertise tiny windows.
	for range 50 {
		r.c.Read(make([]byte, 10))
		for _, s := range r.poll() {
			if s.Window != 0 && s.Window < 1460 {
				t.Fatalf("advertised a silly window of %d", s.Window)
			}
		}
	}
	// Reading enough opens the window with an update.
	r.c.Read(make([]byte, 4096))
	out = r.poll()
	if len(out) != 1 || out[0].Window < 4096 {
		t.Fatalf("want window update, got %v", out)
	}
}

func TestSenderSWSAvoidanceWaitsForUsefulWindow_RFC9293_3_8_6_2_1(t *testing.T) {
	r := establishedWithRTT(t, rigConfig())
	r.c.SetNoDelay(false)
	r.c.Write(make([]byte, 5000))
	r.poll()
	// The peer acknowledges everything but offers a 100-byte window, far below
	// half its largest window: nothing goes until the override timer.
	r.send(ack(peerISS+1, rigISS+1+4380, 100))
	out := r.poll()
	if len(out) != 0 {
		t.Fatalf("sent into a silly window: %v", out)
	}
	out = r.advanceToDeadline()
	if len(out) != 1 || len(out[0].Payload) != 100 {
		t.Fatalf("override timer: %v", out)
	}
}

func TestCwndRestartsAfterIdle_RFC5681_4_1(t *testing.T) {
	cfg := DefaultConfig()
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.connect()
	src := make([]byte, 1<<20)
	transfer(t, p, p.a, p.b, src, rand.New(rand.NewPCG(1, 2)))
	grown := p.a.Info().Cwnd
	iw := initialWindow(p.a.SendMSS())
	if grown <= iw {
		t.Fatalf("cwnd did not grow: %d", grown)
	}
	p.runFor(5 * time.Second) // idle for many RTOs
	p.a.Write([]byte("x"))
	p.pollAll()
	if got := p.a.Info().Cwnd; got != iw {
		t.Fatalf("cwnd after idle %d, want IW %d", got, iw)
	}
}

func TestBulkTransferWithReorderingDuplicationAndLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	net := rand.New(rand.NewPCG(13, 14))
	cfg := DefaultConfig()
	cfg.RecvBufferSize = 128 << 10
	p := newPair(t, cfg, cfg, 0x7fffff00, 0xfffffff0, time.Millisecond)
	p.connect()
	p.jitter = func() time.Duration { return time.Duration(net.IntN(3000)) * time.Microsecond }
	p.dup = func() bool { return net.IntN(50) == 0 }
	p.filter = func(bool, *seg) bool { return net.IntN(100) < 2 }
	src := make([]byte, 1<<20)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	got := transfer(t, p, p.a, p.b, src, rng)
	if !bytes.Equal(got, src) {
		t.Fatal("A->B differs")
	}
	back := src[:300<<10]
	if got = transfer(t, p, p.b, p.a, back, rng); !bytes.Equal(got, back) {
		t.Fatal("B->A differs")
	}
	p.a.Close()
	p.b.Close()
	p.runFor(5 * time.Minute)
	if !p.a.Done() || !p.b.Done() || p.a.Err() != nil || p.b.Err() != nil {
		t.Fatalf("A %v %v B %v %v", p.a.State(), p.a.Err(), p.b.State(), p.b.Err())
	}
	t.Logf("A %+v", p.a.Info())
}

func TestFastRetransmitAgainAfterFullRecovery_RFC6582_3_2(t *testing.T) {
	r, seqs := bulkRig(t, 4)
	r.advanceToDeadline() // a timeout sets recover to SND.MAX
	end := seqs[3] + 1460
	r.send(ack(peerISS+1, end, 65535)) // everything acknowledged
	// A new loss right at the recovery point must be fast-retransmitted.
	r.c.Write(make([]byte, 4*1460))
	r.poll()
	before := r.c.Info().FastRetransmits
	for range 3 {
		r.send(ack(peerISS+1, end, 65535))
	}
	if r.c.Info().FastRetransmits != before+1 {
		t.Fatalf("no fast retransmit for a loss after recovery: %+v", r.c.Info())
	}
}

func TestPathMSSReductionResendsSmaller_RFC8201(t *testing.T) {
	r, seqs := bulkRig(t, 3)
	timeouts := r.c.Info().Timeouts
	cwnd := r.c.Info().Cwnd
	r.c.SetPathMSS(1000)
	out := r.poll()
	if len(out) == 0 || out[0].Seq != seqs[0] {
		t.Fatalf("want resend from SND.UNA, got %v", out)
	}
	for _, s := range out {
		if len(s.Payload) > 1000 {
			t.Fatalf("segment of %d bytes after MSS 1000", len(s.Payload))
		}
	}
	if i := r.c.Info(); i.SndMSS != 1000 || i.Timeouts != timeouts || i.Cwnd != cwnd {
		t.Fatalf("%+v", i)
	}
	r.c.SetPathMSS(9000) // never raises
	if r.c.SendMSS() != 1000 {
		t.Fatal(r.c.SendMSS())
	}
}

func TestLimitedTransmitOnFirstTwoDupAcks_RFC3042(t *testing.T) {
	cfg := rigConfig()
	r := newEstablishedRigRTT(t, cfg, 100*time.Millisecond)
	cwnd := r.c.Info().Cwnd
	segs := cwnd / 1460
	r.c.Write(make([]byte, (segs+4)*1460))
	out := r.poll()
	if len(out) != segs {
		t.Fatalf("sent %d, want cwnd's %d", len(out), segs)
	}
	for i := 1; i <= 2; i++ {
		out = r.send(ack(peerISS+1, rigISS+1, 65535))
		if len(out) != 1 || out[0].Seq != rigISS+1+wire.Seq((segs+i-1)*1460) {
			t.Fatalf("dupack %d: want one new segment, got %v", i, out)
		}
	}
	out = r.send(ack(peerISS+1, rigISS+1, 65535))
	if len(out) != 1 || out[0].Seq != rigISS+1 {
		t.Fatalf("third dupack: want the fast retransmit, got %v", out)
	}
}

func TestPureACKAfterTimeoutCarriesSndMax_RFC9293_3_10_7_4(t *testing.T) {
	r, seqs := bulkRig(t, 4)
	end := seqs[3] + 1460
	r.advanceToDeadline() // SND.NXT goes back to SND.UNA
	// Data from the peer: our (delayed) ACK must be numbered SND.MAX, at or
	// above the peer's RCV.NXT, or the peer would find it unacceptable.
	out := r.send(data(peerISS+1, rigISS+1, 65535, []byte("x")))
	out = append(out, r.advance(r.c.cfg.DelayedACK)...) // cwnd is full: no data to carry the ACK
	var pure []seg
	for _, s := range out {
		if len(s.Payload) == 0 {
			pure = append(pure, s)
		}
	}
	if len(pure) == 0 || pure[0].Seq != end {
		t.Fatalf("pure ACK %v, want seq %d", out, end)
	}
}

func TestPureACKDuringZeroWindowProbeCarriesSndUna(t *testing.T) {
	r := establishedWithRTT(t, rigConfig())
	r.c.Write([]byte("ab"))
	r.send(ack(peerISS+1, rigISS+1, 0))
	r.poll()
	if out := r.advanceToDeadline(); len(out) != 1 || len(out[0].Payload) != 1 {
		t.Fatalf("probe %v", out)
	}
	// The peer (window still closed) sends data; our ACK must sit exactly at its RCV.NXT.
	out := r.send(data(peerISS+1, rigISS+1, 0, make([]byte, 1460)))
	out = append(out, r.send(data(peerISS+1+1460, rigISS+1, 0, make([]byte, 1460)))...)
	if len(out) != 1 || out[0].Seq != rigISS+1 || len(out[0].Payload) != 0 {
		t.Fatalf("want a pure ACK at SND.UNA, got %v", out)
	}
}

func sackAck(ackn wire.Seq, blocks ...wire.SACKBlock) seg {
	s := ack(peerISS+1, ackn, 65535)
	s.Options.NumSACK = uint8(copy(s.Options.SACK[:], blocks))
	return s
}

func TestSACKRecoveryResendsEveryHoleByDupThresh_RFC6675_4(t *testing.T) {
	cfg := rigConfig()
	cfg.RACK = false // RFC 6675's IsLost alone
	cfg.Congestion = NewNewReno
	r := sackRigCfg(t, cfg, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 8*1460))
	out := r.poll()
	if len(out) != 8 {
		t.Fatalf("sent %d", len(out))
	}
	seq := func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
	blk := func(i, j int) wire.SACKBlock { return wire.SACKBlock{Start: seq(i), End: seq(j)} }
	// Segments 0 and 3 are lost; the receiver reports what it holds.
	if out := r.send(sackAck(seq(0), blk(1, 2))); len(out) != 0 {
		t.Fatalf("first dupack sent %v", out)
	}
	r.send(sackAck(seq(0), blk(1, 3)))
	// Three segments SACKed above segment 0: IsLost(0) (DupThresh).
	out = r.send(sackAck(seq(0), blk(4, 5), blk(1, 3)))
	if len(out) == 0 || out[0].Seq != seq(0) {
		t.Fatalf("third dupack: want retransmission of segment 0, got %v", out)
	}
	i := r.c.Info()
	if !i.InRecovery || i.Cwnd != i.Ssthresh || i.Ssthresh != 4*1460 {
		t.Fatalf("RFC 6675 §5 step 4.2: cwnd = ssthresh = FlightSize/2: %+v", i)
	}
	// Two segments SACKed above segment 3: not lost yet.
	for _, s := range r.send(sackAck(seq(0), blk(4, 6), blk(1, 3))) {
		if s.Seq == seq(3) {
			t.Fatalf("segment 3 resent before DupThresh: %v", s)
		}
	}
	// The third: segment 3 is resent within the same round trip, without
	// waiting for the partial ACK.
	out = r.send(sackAck(seq(0), blk(4, 7), blk(1, 3)))
	found := false
	for _, s := range out {
		found = found || s.Seq == seq(3) && len(s.Payload) == 1460
	}
	if !found {
		t.Fatalf("want retransmission of segment 3, got %v", out)
	}
	// No hole left: further dupacks resend nothing below what was sent.
	out = r.send(sackAck(seq(0), blk(4, 8), blk(1, 3)))
	for _, s := range out {
		if s.Seq.LessThan(seq(8)) {
			t.Fatalf("resent %v with no hole left", s)
		}
	}
	if i := r.c.Info(); i.SACKRetransmits != 2 || i.Timeouts != 0 || i.Recoveries != 1 {
		t.Fatalf("%+v", i)
	}
	r.send(ack(peerISS+1, r.c.sndMax, 65535))
	if i := r.c.Info(); i.InRecovery || i.BytesInFlight != 0 || i.ScoreboardSegments != 0 {
		t.Fatalf("%+v", i)
	}
}

func TestSACKBlocksOutsideTheWindowAreIgnored_RFC2018_5(t *testing.T) {
	r := sackRig(t, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 4*1460))
	r.poll()
	una, max := r.c.sndUna, r.c.sndMax
	r.send(sackAck(una,
		wire.SACKBlock{Start: una - 100, End: una},    // D-SACK style, below the ACK
		wire.SACKBlock{Start: max, End: max + 100},    // never sent
		wire.SACKBlock{Start: una + 10, End: una + 5}, // inverted
	))
	if r.c.txq.sackedN != 0 || r.c.Info().SACKBlocksIgnored != 2 {
		t.Fatalf("scoreboard took invalid blocks: %d SACKed, %+v", r.c.txq.sackedN, r.c.Info())
	}
	// Valid but many disjoint blocks: the scoreboard stays bounded.
	for i := range 40 {
		s := una + 1 + wire.Seq(i*100)
		r.send(sackAck(una, wire.SACKBlock{Start: s, End: s + 10}))
	}
	if r.c.txq.n > len(r.c.txq.e) || r.c.txq.n != 4 {
		t.Fatalf("scoreboard %d/%d", r.c.txq.n, len(r.c.txq.e))
	}
	// A timeout forgets it (the receiver may renege, RFC 2018 §8).
	r.advanceToDeadline()
	if r.c.txq.sackedN != 0 {
		t.Fatal("scoreboard kept SACKs across a timeout")
	}
}
