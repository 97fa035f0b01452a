package tcp

import (
	"testing"
	"time"

	"offload/wire"
)

// rackRig is a SACK rig (RACK on, CUBIC, no timestamps) with n full segments
// sent at t0; seq(i) is segment i's first sequence number.
func rackRig(t *testing.T, n int) (*rig, func(int) wire.Seq) {
	t.Helper()
	return rackRigCfg(t, rigConfig(), n)
}

// rackRigCfg is rackRig with a Config. The handshake takes 10 ms, so SRTT
// starts at 10 ms.
func rackRigCfg(t *testing.T, cfg Config, n int) (*rig, func(int) wire.Seq) {
	t.Helper()
	r := sackRigWith(t, cfg, sackPeer{rtt: 10 * time.Millisecond})
	r.now = t0
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, n*1460))
	if out := r.poll(); len(out) != n {
		t.Fatalf("sent %d segments, want %d", len(out), n)
	}
	return r, func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
}

func blocks(seq func(int) wire.Seq, pairs ...int) []wire.SACKBlock {
	var b []wire.SACKBlock
	for i := 0; i+1 < len(pairs); i += 2 {
		b = append(b, wire.SACKBlock{Start: seq(pairs[i]), End: seq(pairs[i+1])})
	}
	return b
}

func sentSeqs(out []seg) []wire.Seq {
	var s []wire.Seq
	for _, x := range out {
		if len(x.Payload) > 0 {
			s = append(s, x.Seq)
		}
	}
	return s
}

// RACK deems a segment lost only once a segment sent after it was delivered
// and RACK.rtt + reo_wnd have passed since it was sent; the reordering timer
// fires then without another ACK.
func TestRACKMarksLossAfterReorderingWindowByTimer_RFC8985_6_2(t *testing.T) {
	r, seq := rackRig(t, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	// Segment 0 delivered, 1 missing, 2 SACKed: one SACKed segment is not
	// DupThresh, so RACK waits min_RTT/4 for reordering.
	if out := r.send(sackAck(seq(1), blocks(seq, 2, 3)...)); len(sentSeqs(out)) != 0 {
		t.Fatalf("resent at once: %v", out)
	}
	want := t0.Add(10*time.Millisecond + 10*time.Millisecond/4)
	if d := r.c.Deadline(); d != want {
		t.Fatalf("reordering timer at %v, want %v", d-t0, want-t0)
	}
	out := r.advanceToDeadline()
	if s := sentSeqs(out); len(s) == 0 || s[0] != seq(1) {
		t.Fatalf("want segment 1 resent when the reordering window closes, got %v", out)
	}
	if i := r.c.Info(); i.RACKLosses != 1 || !i.InRecovery || i.Timeouts != 0 || i.Recoveries != 1 {
		t.Fatalf("%+v", i)
	}
}

// With DupThresh segments SACKed above a hole and no reordering seen, the
// reordering window is zero (RFC 8985 §6.2 step 4): recovery starts at once.
func TestRACKZeroReorderingWindowAtDupThresh_RFC8985_6_2(t *testing.T) {
	r, seq := rackRig(t, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	out := r.send(sackAck(seq(0), blocks(seq, 1, 4)...))
	if s := sentSeqs(out); len(s) == 0 || s[0] != seq(0) {
		t.Fatalf("want segment 0 resent at once, got %v", out)
	}
}

// RACK detects a lost retransmission from the delivery of a segment sent
// after it, with no RTO (RFC 8985 §2.2, the case RFC 6675 leaves to the timer).
func TestRACKDetectsLostRetransmission_RFC8985_2_2(t *testing.T) {
	cfg := rigConfig()
	cfg.Congestion = func(int) CongestionControl { return &fixedWindow{w: 1 << 20} } // room for new data
	r, seq := rackRigCfg(t, cfg, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(sackAck(seq(1), blocks(seq, 2, 3)...))
	r.advanceToDeadline() // segment 1 resent at 12.5 ms; that copy is lost too
	r.now = r.now.Add(7500 * time.Microsecond)
	r.c.Write(make([]byte, 1460))
	out := r.poll() // segment 6 goes out at 20 ms
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(6) {
		t.Fatalf("want new segment 6, got %v", out)
	}
	r.now = r.now.Add(12 * time.Millisecond)
	out = r.send(sackAck(seq(1), blocks(seq, 2, 7)...))
	if s := sentSeqs(out); len(s) == 0 || s[0] != seq(1) {
		t.Fatalf("lost retransmission not resent: %v", out)
	}
	if i := r.c.Info(); i.Timeouts != 0 || i.Recoveries != 1 {
		t.Fatalf("%+v", i)
	}
	r.send(ack(peerISS+1, seq(7), 65535))
	if i := r.c.Info(); i.InRecovery || i.BytesInFlight != 0 {
		t.Fatalf("%+v", i)
	}
}

// A tail loss (the last segments of a flight) is repaired by a probe after
// PTO = 2*SRTT, long before the RTO, and the probe's SACK then drives fast
// recovery for the rest (RFC 8985 §7).
func TestTailLossProbeRepairsTailLossBeforeRTO_RFC8985_7(t *testing.T) {
	r, seq := rackRig(t, 4)
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(ack(peerISS+1, seq(2), 65535)) // 0 and 1 arrive; 2 and 3 are lost
	srtt := r.c.Info().SRTT
	if srtt != 10*time.Millisecond {
		t.Fatalf("SRTT %v", srtt)
	}
	pto := r.c.Deadline()
	if pto != r.now.Add(2*srtt) || pto >= r.c.rtoAt {
		t.Fatalf("PTO at %v, want %v (RTO at %v)", pto-t0, r.now.Add(2*srtt)-t0, r.c.rtoAt-t0)
	}
	out := r.advanceToDeadline()
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(3) {
		t.Fatalf("want a probe resending the last segment, got %v", out)
	}
	if i := r.c.Info(); i.TLPProbes != 1 || i.Timeouts != 0 {
		t.Fatalf("%+v", i)
	}
	r.now = r.now.Add(10 * time.Millisecond)
	out = r.send(sackAck(seq(2), blocks(seq, 3, 4)...))
	if s := sentSeqs(out); len(s) == 0 || s[0] != seq(2) {
		t.Fatalf("want segment 2 resent after the probe's SACK, got %v", out)
	}
	r.send(ack(peerISS+1, seq(4), 65535))
	if i := r.c.Info(); i.Timeouts != 0 || i.InRecovery || i.BytesInFlight != 0 {
		t.Fatalf("%+v", i)
	}
}

// With RACK off, the same tail loss waits for the RTO (the behaviour RACK-TLP
// improves on); this pins that Config.RACK really switches it off.
func TestRACKOffTailLossWaitsForRTO_RFC6675(t *testing.T) {
	cfg := rigConfig()
	cfg.RACK = false
	r := sackRigCfg(t, cfg, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 4*1460))
	r.poll()
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(ack(peerISS+1, rigISS+1+2*1460, 65535))
	if d := r.c.Deadline(); d != r.c.rtoAt {
		t.Fatalf("a timer other than the RTO is armed: %v vs %v", d, r.c.rtoAt)
	}
	r.advanceToDeadline()
	if i := r.c.Info(); i.TLPProbes != 0 || i.Timeouts != 1 {
		t.Fatalf("%+v", i)
	}
}

// D-SACK, receive side: a duplicate segment is reported in the first SACK
// block of the ACK it draws (RFC 2883 §4), both below RCV.NXT and inside
// held out-of-order data, and only once.
func TestDuplicateDataReportedInFirstSACKBlock_RFC2883_4(t *testing.T) {
	r := sackRig(t, true)
	d := tsSeg(data(peerISS+1, rigISS+1, 65535, make([]byte, 100)), 2, 0)
	r.send(d)
	out := r.send(d) // the same segment again
	if len(out) != 1 || out[0].Options.NumSACK != 1 ||
		out[0].Options.SACK[0] != (wire.SACKBlock{Start: peerISS + 1, End: peerISS + 101}) || out[0].Ack != peerISS+101 {
		t.Fatalf("want a D-SACK of [%d,%d), got %v", peerISS+1, peerISS+101, out)
	}
	// Out of order: hold [301,401), receive it twice.
	ooo := tsSeg(data(peerISS+301, rigISS+1, 65535, make([]byte, 100)), 3, 0)
	r.send(ooo)
	out = r.send(ooo)
	o := out[0].Options
	if len(out) != 1 || o.NumSACK != 2 || o.SACK[0] != (wire.SACKBlock{Start: peerISS + 301, End: peerISS + 401}) || o.SACK[1] != o.SACK[0] {
		t.Fatalf("want D-SACK then SACK of the held range, got %v", out)
	}
	// The next ACK carries no D-SACK.
	out = r.send(tsSeg(data(peerISS+501, rigISS+1, 65535, make([]byte, 10)), 4, 0))
	if o := out[0].Options; o.NumSACK != 2 || o.SACK[0].Start != peerISS+501 {
		t.Fatalf("stale D-SACK repeated: %v", out)
	}
	if r.c.Info().DSACKsSent != 2 {
		t.Fatalf("%+v", r.c.Info())
	}
}

// D-SACK, send side: a first block below the cumulative ACK is a report of
// duplicate data, not of loss: nothing is marked lost or SACKed, no recovery
// starts, and RACK widens its reordering window (RFC 8985 §6.2 step 4).
func TestDSACKIsNotLossAndWidensReorderingWindow_RFC2883_RFC8985(t *testing.T) {
	r, seq := rackRig(t, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(ack(peerISS+1, seq(2), 65535))
	before := r.c.rackReoWnd()
	out := r.send(sackAck(seq(2), blocks(seq, 1, 2)...))
	if len(sentSeqs(out)) != 0 {
		t.Fatalf("D-SACK triggered a retransmission: %v", out)
	}
	i := r.c.Info()
	if i.DSACKsReceived != 1 || i.InRecovery || i.SACKBlocksIgnored != 0 || r.c.txq.sackedN != 0 || r.c.txq.lostN != 0 {
		t.Fatalf("%+v", i)
	}
	if after := r.c.rackReoWnd(); after <= before || !r.c.rack.reoSeen {
		t.Fatalf("reordering window %v -> %v", before, after)
	}
	// A D-SACK inside the second block (RFC 2883 §4 case 2) counts too.
	r.send(sackAck(seq(2), append(blocks(seq, 4, 5), blocks(seq, 3, 6)...)...))
	if i := r.c.Info(); i.DSACKsReceived != 2 || r.c.txq.sackedN != 3 {
		t.Fatalf("%+v sacked %d", i, r.c.txq.sackedN)
	}
}

// TestScoreboardAndRACKPathsDoNotAllocate covers SACK processing, RACK loss
// marking and its timer, retransmission of lost segments, tail loss probes
// and D-SACK handling.
func TestScoreboardAndRACKPathsDoNotAllocate(t *testing.T) {
	cfg := rigConfig()
	cfg.Congestion = func(int) CongestionControl { return &fixedWindow{w: 1 << 20} }
	r, _ := rackRigCfg(t, cfg, 1)
	r.now = r.now.Add(5 * time.Millisecond) // RACK's min_RTT: 5 ms
	r.send(ack(peerISS+1, r.c.sndMax, 65535))
	out := &forward{to: Dial(&Config{}, t0, 9), now: &r.now, buf: make([]byte, 1<<16)}
	msg := make([]byte, 6*1460)
	sa := &Segment{TCPFields: wire.TCPFields{Seq: peerISS + 1, Flags: wire.FlagACK, Window: 65535}}
	round := func() {
		base := r.c.sndMax
		seq := func(i int) wire.Seq { return base + wire.Seq(i*1460) }
		r.c.Write(msg)
		r.c.Poll(r.now, out)
		r.now = r.now.Add(5 * time.Millisecond)
		// Segment 1 lost; 2 SACKed: the reordering timer.
		sa.Ack = seq(1)
		sa.Options.NumSACK = 1
		sa.Options.SACK[0] = wire.SACKBlock{Start: seq(2), End: seq(3)}
		r.c.OnSegment(r.now, sa)
		r.c.Poll(r.now, out)
		r.now = r.c.Deadline()
		r.c.Poll(r.now, out)
		// A D-SACK for segment 0 and SACKs up to the tail; then the tail
		// probe for segment 5.
		sa.Options.NumSACK = 2
		sa.Options.SACK[0] = wire.SACKBlock{Start: seq(0), End: seq(1)}
		sa.Options.SACK[1] = wire.SACKBlock{Start: seq(2), End: seq(5)}
		r.now = r.now.Add(time.Millisecond)
		r.c.OnSegment(r.now, sa)
		r.c.Poll(r.now, out)
		sa.Ack = seq(6)
		sa.Options.NumSACK = 0
		r.c.OnSegment(r.now, sa)
		r.c.Poll(r.now, out)
		// A tail loss: two segments, the first acknowledged, then the probe.
		r.c.Write(msg[:2*1460])
		r.c.Poll(r.now, out)
		r.now = r.now.Add(5 * time.Millisecond)
		sa.Ack = seq(7)
		r.c.OnSegment(r.now, sa)
		r.c.Poll(r.now, out)
		r.now = r.c.Deadline()
		r.c.Poll(r.now, out)
		sa.Ack = r.c.sndMax
		r.c.OnSegment(r.now, sa)
		r.c.Poll(r.now, out)
		r.now = r.now.Add(time.Second)
	}
	round()
	if allocs := testing.AllocsPerRun(50, round); allocs != 0 && !raceEnabled {
		t.Fatalf("scoreboard/RACK paths allocate %.1f times per round", allocs)
	}
	if i := r.c.Info(); i.RACKLosses < 50 || i.DSACKsReceived < 50 || i.TLPProbes < 50 || i.Timeouts != 0 {
		t.Fatalf("paths not exercised: %+v", i)
	}
}

// A run of lost segments is resent as one super-segment when the device cuts
// segments for us (GSOMaxSize), as new data is: a lost TSO burst costs one
// frame to repair, not one per MSS. RFC 6675 NextSeg() still picks what goes,
// and cwnd - pipe still bounds how much.
func TestLostRunIsResentAsOneSuperSegmentWithGSO_RFC6675_5(t *testing.T) {
	for _, tc := range []struct {
		name     string
		window   int // the congestion window
		wantLens []int
	}{
		{"room for the whole run", 1 << 20, []int{6 * 1460}},
		// After the SACK, pipe is 10 - 4 SACKed - 6 lost = 0: a 3-MSS window
		// lets half the run go.
		{"run bounded by cwnd minus pipe", 3 * 1460, []int{3 * 1460}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rigConfig()
			cfg.GSOMaxSize = 64 << 10
			fw := &fixedWindow{w: 1 << 20} // all 10 segments go out first
			cfg.Congestion = func(int) CongestionControl { return fw }
			r := sackRigWith(t, cfg, sackPeer{rtt: 10 * time.Millisecond, wscale: true})
			r.c.SetNoDelay(true)
			r.c.Write(make([]byte, 10*1460))
			seq := func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
			if out := r.poll(); len(out) != 1 || len(out[0].Payload) != 10*1460 {
				t.Fatalf("want the 10 segments in one super-segment, got %d segments", len(out))
			}
			fw.w = tc.window
			// Segments 0-5 are lost, 6-9 SACKed: DupThresh SACKed above the
			// hole, so RACK deems the run lost at once.
			r.now = r.now.Add(10 * time.Millisecond)
			out := r.send(sackAck(seq(0), blocks(seq, 6, 10)...))
			var lens []int
			for _, s := range out {
				if len(s.Payload) > 0 {
					if s.Seq != seq(0) && len(lens) == 0 {
						t.Fatalf("first resend at %v, want segment 0", s.Seq)
					}
					lens = append(lens, len(s.Payload))
				}
			}
			if len(lens) != len(tc.wantLens) || lens[0] != tc.wantLens[0] {
				t.Fatalf("resent payloads %v, want %v", lens, tc.wantLens)
			}
			if i := r.c.Info(); i.Retransmits != uint64(tc.wantLens[0]/1460) {
				t.Fatalf("retransmits counted %d, want one per MSS resent (%d)", i.Retransmits, tc.wantLens[0]/1460)
			}
		})
	}
}

// When the ACKs that would end a recovery are lost, the probe timer sends
// RFC 6675's rescue retransmission (§4 NextSeg() rule 4) once: the highest
// unSACKed segment, after every lost segment was resent and nothing came
// back for a PTO. Its ACK restarts the ACK clock instead of the RTO doing it
// 200 ms later. A second silence is left to the RTO.
func TestRescueRetransmissionWhenRecoveryACKsStop_RFC6675_4(t *testing.T) {
	r, seq := rackRig(t, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	// Segment 0 lost; 1-3 SACKed (DupThresh): recovery, 0 resent at once.
	out := r.send(sackAck(seq(0), blocks(seq, 1, 4)...))
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(0) {
		t.Fatalf("want segment 0 resent, got %v", out)
	}
	if !r.c.Info().InRecovery {
		t.Fatal("not in recovery")
	}
	// Nothing comes back: the ACK for 0, 4 and 5 is lost.
	srtt := r.c.Info().SRTT
	if d := r.c.Deadline(); d != r.now.Add(2*srtt) {
		t.Fatalf("next deadline %v, want the rescue's PTO at %v", d-t0, r.now.Add(2*srtt)-t0)
	}
	out = r.advanceToDeadline()
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(5) {
		t.Fatalf("want the highest unSACKed segment (5) resent, got %v", out)
	}
	if i := r.c.Info(); i.RescueRetransmits != 1 || i.Timeouts != 0 || i.TLPProbes != 0 {
		t.Fatalf("%+v", i)
	}
	// Still silent: one rescue per recovery, then the RTO.
	out = r.advanceToDeadline()
	if i := r.c.Info(); i.RescueRetransmits != 1 || i.Timeouts != 1 {
		t.Fatalf("after a second silence: %+v (sent %v)", i, out)
	}
}

// The rescue's ACK ends the recovery at once when everything had arrived
// and only the ACKs were lost: the peer reports the duplicate (D-SACK) with
// a cumulative ACK of all, and no timeout happens.
func TestRescueRetransmissionEndsRecoveryWhenOnlyACKsWereLost_RFC6675_4(t *testing.T) {
	r, seq := rackRig(t, 6)
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(sackAck(seq(0), blocks(seq, 1, 4)...))
	r.advanceToDeadline() // the rescue: segment 5 again
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(sackAck(seq(6), blocks(seq, 5, 6)...))
	if i := r.c.Info(); i.InRecovery || i.Timeouts != 0 || i.BytesInFlight != 0 || i.RescueRetransmits != 1 {
		t.Fatalf("%+v", i)
	}
}

// A lost segment that pipe holds back (cwnd - pipe < 1 MSS after the fast
// retransmit) is what the rescue sends when the recovery's ACKs stop: the
// segments counted in pipe may all have arrived with their ACKs lost, so
// waiting for pipe to drain would wait for the RTO.
func TestRescueSendsALostSegmentPipeHeldBack_RFC6675_4(t *testing.T) {
	cfg := rigConfig()
	cfg.Congestion = func(mss int) CongestionControl { return &halvingCC{mss: mss, cwnd: 20 * mss} }
	r, seq := rackRigCfg(t, cfg, 20)
	r.now = r.now.Add(10 * time.Millisecond)
	// 0 and 2 lost, 1 and 3-5 SACKed: cwnd halves to 10, pipe is 14.
	out := r.send(sackAck(seq(0), blocks(seq, 1, 2, 3, 6)...))
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(0) {
		t.Fatalf("want only segment 0 resent (pipe holds 2 back), got %v", s)
	}
	out = r.advanceToDeadline()
	if s := sentSeqs(out); len(s) != 1 || s[0] != seq(2) {
		t.Fatalf("want the held-back lost segment 2 resent at the rescue's timeout, got %v", s)
	}
	if i := r.c.Info(); i.RescueRetransmits != 1 || i.Timeouts != 0 || !i.InRecovery {
		t.Fatalf("%+v", i)
	}
}
