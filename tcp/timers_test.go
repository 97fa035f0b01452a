package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

func TestSYNRetransmitBackoffAndTimeout_RFC6298_5_5(t *testing.T) {
	cfg := rigConfig()
	cfg.SynRetries = 3
	r, _ := dialRig(t, cfg)
	// Initial RTO 1 s (RFC 6298 §2.1), doubling each time (§5.5).
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if d := r.c.Deadline().Sub(r.now); d != w {
			t.Fatalf("retransmission %d after %v, want %v", i+1, d, w)
		}
		out := r.advanceToDeadline()
		if len(out) != 1 || out[0].Flags != wire.FlagSYN || out[0].Seq != rigISS {
			t.Fatalf("want SYN retransmission, got %v", out)
		}
	}
	r.advanceToDeadline()
	if !errors.Is(r.c.Err(), syscall.ETIMEDOUT) || !r.c.Done() {
		t.Fatalf("err %v state %v", r.c.Err(), r.c.State())
	}
}

// establishedWithRTT is an established rig whose RTT estimate is seeded by a
// 100 ms handshake (SRTT 100 ms, RTTVAR 50 ms, RTO 300 ms).
func establishedWithRTT(t *testing.T, cfg Config) *rig {
	r := newEstablishedRigRTT(t, cfg, 100*time.Millisecond)
	r.c.SetNoDelay(true)
	if r.c.Info().SRTT != 100*time.Millisecond {
		t.Fatalf("SRTT %v", r.c.Info().SRTT)
	}
	return r
}

func TestRTOKarnAndBackoff_RFC6298_5(t *testing.T) {
	cfg := rigConfig()
	r := establishedWithRTT(t, cfg)
	// RTO = SRTT + 4*RTTVAR = 100 + 4*50 = 300 ms.
	if rto := r.c.Info().RTO; rto != 300*time.Millisecond {
		t.Fatalf("RTO %v, want 300ms", rto)
	}
	r.c.Write(make([]byte, 100))
	out := r.poll()
	if len(out) != 1 {
		t.Fatal(out)
	}
	sentAt := r.now
	if r.c.Deadline() != sentAt.Add(300*time.Millisecond) {
		t.Fatalf("timer %v", r.c.Deadline().Sub(sentAt))
	}
	out = r.advanceToDeadline()
	if len(out) != 1 || out[0].Seq != rigISS+1 || len(out[0].Payload) != 100 {
		t.Fatalf("want retransmission, got %v", out)
	}
	if rto := r.c.Info().RTO; rto != 600*time.Millisecond {
		t.Fatalf("backed-off RTO %v, want 600ms", rto)
	}
	out = r.advanceToDeadline() // second timeout 600 ms later
	if len(out) != 1 || r.c.Info().RTO != 1200*time.Millisecond {
		t.Fatalf("out %v RTO %v", out, r.c.Info().RTO)
	}
	// The ACK of retransmitted data gives no RTT sample (Karn): SRTT and the
	// backed-off RTO stay.
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(ack(peerISS+1, rigISS+101, 65535))
	if i := r.c.Info(); i.SRTT != 100*time.Millisecond || i.RTO != 1200*time.Millisecond {
		t.Fatalf("sample taken from a retransmission: SRTT %v RTO %v", i.SRTT, i.RTO)
	}
	// New data, acknowledged without retransmission, gives a sample and ends the backoff.
	r.c.Write(make([]byte, 10))
	r.poll()
	r.now = r.now.Add(100 * time.Millisecond)
	r.send(ack(peerISS+1, rigISS+111, 65535))
	if i := r.c.Info(); i.RTO >= 1200*time.Millisecond || i.SRTT != 100*time.Millisecond {
		t.Fatalf("after a valid sample: SRTT %v RTO %v", i.SRTT, i.RTO)
	}
}

func TestMinRTOIsConfigurable_RFC6298_2_4(t *testing.T) {
	for _, min := range []time.Duration{200 * time.Millisecond, 50 * time.Millisecond} {
		cfg := rigConfig()
		cfg.MinRTO = min
		r := newEstablishedRig(t, cfg)
		r.c.SetNoDelay(true)
		r.c.Write([]byte("x"))
		r.poll()
		r.now = r.now.Add(time.Millisecond)
		r.send(ack(peerISS+1, rigISS+2, 65535))
		if rto := r.c.Info().RTO; rto != min {
			t.Errorf("MinRTO %v: RTO %v", min, rto)
		}
	}
}

func TestMaxRetriesTimesOut_RFC9293_3_8_3(t *testing.T) {
	cfg := rigConfig()
	cfg.MaxRetries = 3
	cfg.MaxRTO = 2 * time.Second
	r := establishedWithRTT(t, cfg)
	r.c.Write([]byte("lost"))
	r.poll()
	var gaps []time.Duration
	for r.c.State() != StateClosed {
		before := r.now
		r.advanceToDeadline()
		gaps = append(gaps, r.now.Sub(before))
	}
	// 300, 600, 1200 ms, then capped at MaxRTO 2 s; the fourth expiry gives up.
	want := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2 * time.Second}
	if len(gaps) != len(want) {
		t.Fatalf("gaps %v, want %v", gaps, want)
	}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("gaps %v, want %v", gaps, want)
		}
	}
	if !errors.Is(r.c.Err(), syscall.ETIMEDOUT) {
		t.Fatal(r.c.Err())
	}
	if _, err := r.c.Write([]byte("x")); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatal(err)
	}
}

func TestUserTimeout_RFC5482(t *testing.T) {
	cfg := rigConfig()
	cfg.UserTimeout = 5 * time.Second
	r := establishedWithRTT(t, cfg)
	r.c.Write([]byte("lost"))
	r.poll()
	start := r.now
	for r.c.State() != StateClosed && r.now.Sub(start) < time.Minute {
		r.advanceToDeadline()
	}
	if !errors.Is(r.c.Err(), syscall.ETIMEDOUT) || r.now.Sub(start) != 5*time.Second {
		t.Fatalf("err %v after %v, want ETIMEDOUT after 5s", r.c.Err(), r.now.Sub(start))
	}
}

func TestDelayedACKEverySecondFullSegment_RFC5681_4_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	full := make([]byte, 1460)
	seq := peerISS + 1
	if out := r.send(data(seq, rigISS+1, 65535, full)); len(out) != 0 {
		t.Fatalf("first full segment ACKed at once: %v", out)
	}
	seq += 1460
	out := r.send(data(seq, rigISS+1, 65535, full))
	if len(out) != 1 || out[0].Ack != seq+1460 {
		t.Fatalf("second full segment: want an immediate ACK, got %v", out)
	}
	seq += 1460
	// A lone small segment is acknowledged when the delayed-ACK timer fires, 40 ms later.
	if out := r.send(data(seq, rigISS+1, 65535, []byte("hi"))); len(out) != 0 {
		t.Fatalf("small segment ACKed at once: %v", out)
	}
	if d := r.c.Deadline().Sub(r.now); d != 40*time.Millisecond {
		t.Fatalf("delayed ACK due in %v", d)
	}
	if out := r.advance(39 * time.Millisecond); len(out) != 0 {
		t.Fatalf("ACK too early: %v", out)
	}
	out = r.advance(time.Millisecond)
	if len(out) != 1 || out[0].Ack != seq+2 {
		t.Fatalf("want delayed ACK, got %v", out)
	}
	// Data we send carries the ACK and cancels the timer.
	r.send(data(seq+2, rigISS+1, 65535, []byte("x")))
	r.c.Write([]byte("reply"))
	out = r.poll()
	if len(out) != 1 || out[0].Ack != seq+3 || r.c.Deadline() == r.now.Add(40*time.Millisecond) {
		t.Fatalf("piggybacked ACK: %v deadline %v", out, r.c.Deadline().Sub(r.now))
	}
}

func TestOutOfOrderSegmentIsACKedAtOnce_RFC5681_4_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	out := r.send(data(peerISS+1+100, rigISS+1, 65535, []byte("later")))
	if len(out) != 1 || out[0].Ack != peerISS+1 {
		t.Fatalf("want duplicate ACK, got %v", out)
	}
	// Filling the hole is also ACKed at once, covering both.
	out = r.send(data(peerISS+1, rigISS+1, 65535, make([]byte, 100)))
	if len(out) != 1 || out[0].Ack != peerISS+1+105 {
		t.Fatalf("want ACK of everything, got %v", out)
	}
}

func TestNagleHoldsSmallSegmentsWhileDataIsUnacked_RFC1122_4_2_3_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Write([]byte("a"))
	if out := r.poll(); len(out) != 1 {
		t.Fatalf("first small segment held: %v", out)
	}
	r.c.Write([]byte("b"))
	r.c.Write([]byte("c"))
	if out := r.poll(); len(out) != 0 {
		t.Fatalf("Nagle sent while unacked: %v", out)
	}
	out := r.send(ack(peerISS+1, rigISS+2, 65535))
	if len(out) != 1 || string(out[0].Payload) != "bc" {
		t.Fatalf("after ACK want \"bc\", got %v", out)
	}
	// A full-sized segment goes regardless.
	r.c.Write(make([]byte, 1460+10))
	out = r.poll()
	if len(out) != 1 || len(out[0].Payload) != 1460 {
		t.Fatalf("full segment: %v", out)
	}
}

func TestNoDelaySendsSmallSegmentsAtOnce(t *testing.T) {
	cfg := rigConfig()
	cfg.NoDelay = true
	r := newEstablishedRig(t, cfg)
	for _, s := range []string{"a", "b", "c"} {
		r.c.Write([]byte(s))
		if out := r.poll(); len(out) != 1 || string(out[0].Payload) != s {
			t.Fatalf("no-delay write %q: %v", s, out)
		}
	}
}

// REFERENCES item 20: zero window: persist probes with backoff.
func TestZeroWindowPersistProbesWithBackoff_RFC9293_3_8_6_1(t *testing.T) {
	cfg := rigConfig()
	r := establishedWithRTT(t, cfg) // RTO 300 ms
	r.c.Write(make([]byte, 3000))
	out := r.poll()
	if len(out) != 3 {
		t.Fatalf("%v", out)
	}
	// The peer takes it all and closes its window; more data waits.
	r.send(ack(peerISS+1, rigISS+1+3000, 0))
	r.c.Write(make([]byte, 80))
	if out := r.poll(); len(out) != 0 {
		t.Fatalf("sent into a zero window: %v", out)
	}
	rto := r.c.Info().RTO
	var gaps []time.Duration
	for range 4 {
		before := r.now
		out := r.advanceToDeadline()
		gaps = append(gaps, r.now.Sub(before))
		if len(out) != 1 || len(out[0].Payload) != 1 || out[0].Seq != rigISS+1+3000 {
			t.Fatalf("want 1-byte probe, got %v", out)
		}
		// The peer still has no room: it ACKs without taking the byte.
		r.send(ack(peerISS+1, rigISS+1+3000, 0))
	}
	want := []time.Duration{rto, 2 * rto, 4 * rto, 8 * rto}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("probe intervals %v, want %v", gaps, want)
		}
	}
	if r.c.State() != StateEstablished || r.c.Info().ZeroWindowProbes != 4 {
		t.Fatalf("persisting must not kill a responsive connection: %v %+v", r.c.State(), r.c.Info())
	}
	// The window opens: the rest goes at once.
	out = r.send(ack(peerISS+1, rigISS+1+3000, 1000))
	if len(out) != 1 || out[0].Seq != rigISS+1+3000 || len(out[0].Payload) != 80 {
		t.Fatalf("after window opened: %v", out)
	}
}

func TestZeroWindowProbeTakenByPeer(t *testing.T) {
	r := establishedWithRTT(t, rigConfig())
	r.c.Write([]byte("ab"))
	r.send(ack(peerISS+1, rigISS+1, 0))
	r.poll()
	out := r.advanceToDeadline()
	if len(out) != 1 || string(out[0].Payload) != "a" {
		t.Fatalf("probe %v", out)
	}
	// The peer had room after all and acknowledges the probe byte.
	out = r.send(ack(peerISS+1, rigISS+2, 100))
	if len(out) != 1 || string(out[0].Payload) != "b" || out[0].Seq != rigISS+2 {
		t.Fatalf("after probe accepted: %v", out)
	}
}

func TestKeepaliveProbesAndTimeout_RFC1122_4_2_3_6(t *testing.T) {
	cfg := rigConfig()
	cfg.KeepAlive = true
	cfg.KeepAliveIdle = 10 * time.Second
	cfg.KeepAliveInterval = time.Second
	cfg.KeepAliveCount = 3
	r := newEstablishedRig(t, cfg)
	if d := r.c.Deadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("keepalive due in %v", d)
	}
	out := r.advanceToDeadline()
	if len(out) != 1 || out[0].Seq != rigISS || len(out[0].Payload) != 0 || out[0].Ack != peerISS+1 {
		t.Fatalf("want probe <SEQ=SND.UNA-1>, got %v", out)
	}
	// An answer resets the idle timer.
	r.now = r.now.Add(500 * time.Millisecond)
	r.send(ack(peerISS+1, rigISS+1, 65535))
	if d := r.c.Deadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("after answer: due in %v", d)
	}
	// No answers: three probes a second apart, then ETIMEDOUT.
	start := r.now
	probes := 0
	for r.c.State() == StateEstablished {
		probes += len(r.advanceToDeadline())
	}
	if probes != 3 || !errors.Is(r.c.Err(), syscall.ETIMEDOUT) || r.now.Sub(start) != 13*time.Second {
		t.Fatalf("probes %d err %v after %v", probes, r.c.Err(), r.now.Sub(start))
	}
}

func TestKeepaliveOffByDefault(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	if d := r.c.Deadline(); d != clock.Never {
		t.Fatalf("idle connection has a deadline in %v", d.Sub(r.now))
	}
	r.c.SetKeepAlive(true, time.Minute, time.Second, 2)
	if d := r.c.Deadline().Sub(r.now); d != time.Minute {
		t.Fatalf("after SetKeepAlive: %v", d)
	}
}

func TestRTTSampledOncePerTimedSegment_RFC6298_3(t *testing.T) {
	r := establishedWithRTT(t, rigConfig()) // SRTT 100 ms
	for i := range 3 {
		r.c.Write([]byte("x"))
		r.poll()
		r.now = r.now.Add(100 * time.Millisecond)
		r.send(ack(peerISS+1, rigISS+1+wire.Seq(i+1), 65535))
		r.now = r.now.Add(time.Second) // idle: must not count as RTT
	}
	if srtt := r.c.Info().SRTT; srtt != 100*time.Millisecond {
		t.Fatalf("SRTT %v, want 100ms", srtt)
	}
}

func TestStaleTimestampEchoAfterRetransmissionIgnored_RFC7323_4(t *testing.T) {
	r, _ := newTSRig(t)
	r.c.SetNoDelay(true)
	r.now = r.now.Add(time.Second)
	r.c.Write([]byte("data"))
	orig := r.poll()[0]
	srtt := r.c.Info().SRTT
	r.advanceToDeadline() // retransmission by timeout
	r.now = r.now.Add(5 * time.Millisecond)
	// The peer got the original, but its ACK was lost; the ACK for the
	// retransmission echoes the original's TSval, long before.
	r.send(tsSeg(ack(peerISS+1, rigISS+5, 65535), 200, orig.Options.TSVal))
	if got := r.c.Info().SRTT; got != srtt {
		t.Fatalf("SRTT moved from %v to %v on a stale echo", srtt, got)
	}
}

func TestOldSegmentDoesNotUpdateSendWindow_RFC9293_3_10_7_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	// The peer sent [0,10) offering 5000, then [10,20) offering 100; they arrive reordered.
	r.send(data(peerISS+11, rigISS+1, 100, make([]byte, 10)))
	r.send(data(peerISS+1, rigISS+1, 5000, make([]byte, 10)))
	if w := r.c.Info().SndWnd; w != 100 {
		t.Fatalf("send window %d, want 100 (SND.WL1 guards against the older segment)", w)
	}
}

func TestUnansweredZeroWindowProbesTimeOut(t *testing.T) {
	cfg := rigConfig()
	cfg.MaxRetries = 3
	r := establishedWithRTT(t, cfg)
	r.c.Write([]byte("stuck"))
	r.send(ack(peerISS+1, rigISS+1, 0))
	r.poll()
	probes := 0
	for r.c.State() == StateEstablished && probes < 10 {
		probes += len(r.advanceToDeadline())
	}
	if probes != 3 || !errors.Is(r.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("%d probes, err %v", probes, r.c.Err())
	}
}

func TestUserTimeoutAppliesToClosedWindow_RFC5482(t *testing.T) {
	cfg := rigConfig()
	cfg.UserTimeout = 10 * time.Second
	r := establishedWithRTT(t, cfg)
	r.c.Write([]byte("stuck"))
	r.send(ack(peerISS+1, rigISS+1, 0))
	r.poll()
	start := r.now
	for r.c.State() == StateEstablished && r.now.Sub(start) < time.Minute {
		r.advanceToDeadline()
		r.send(ack(peerISS+1, rigISS+1, 0)) // the peer answers every probe, window still 0
	}
	if !errors.Is(r.c.Err(), syscall.ETIMEDOUT) || r.now.Sub(start) != 10*time.Second {
		t.Fatalf("err %v after %v", r.c.Err(), r.now.Sub(start))
	}
}
