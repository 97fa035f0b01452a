package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"offload/wire"
)

func rstSeg(seq wire.Seq) seg { return seg{TCPFields: wire.TCPFields{Seq: seq, Flags: wire.FlagRST}} }

// REFERENCES item 1: a RST at exactly RCV.NXT resets.
func TestRSTAtExactSequenceResets_RFC5961_3_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.send(data(peerISS+1, rigISS+1, 65535, []byte("unread")))
	out := r.send(rstSeg(peerISS + 7))
	if len(out) != 0 {
		t.Fatalf("answered a RST: %v", out)
	}
	if r.c.State() != StateClosed || !r.c.Done() || !errors.Is(r.c.Err(), syscall.ECONNRESET) {
		t.Fatalf("state %v err %v", r.c.State(), r.c.Err())
	}
	// Buffered data is still readable, then the error.
	buf := make([]byte, 10)
	if n, err := r.c.Read(buf); n != 6 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	if _, err := r.c.Read(buf); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after drain: %v", err)
	}
	if _, err := r.c.Write(buf); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write: %v", err)
	}
}

// REFERENCES item 1: an in-window RST draws a challenge ACK; the connection lives.
func TestRSTInWindowGetsChallengeACK_RFC5961_3_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	out := r.send(rstSeg(peerISS + 1 + 1000))
	if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Seq != rigISS+1 || out[0].Ack != peerISS+1 {
		t.Fatalf("want challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, got %v", out)
	}
	if r.c.State() != StateEstablished || r.c.Info().ChallengeACKs != 1 {
		t.Fatalf("state %v info %+v", r.c.State(), r.c.Info())
	}
	// The legitimate peer answers the challenge with the exact RST.
	r.send(rstSeg(out[0].Ack))
	if r.c.State() != StateClosed {
		t.Fatalf("exact RST after challenge: %v", r.c.State())
	}
}

// REFERENCES item 2: an out-of-window RST is dropped silently.
func TestRSTOutsideWindowIsDropped_RFC5961_3_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	for _, s := range []wire.Seq{peerISS, peerISS - 1000, peerISS + 1 + 70000} {
		if out := r.send(rstSeg(s)); len(out) != 0 {
			t.Fatalf("RST at %d answered: %v", s, out)
		}
	}
	if r.c.State() != StateEstablished {
		t.Fatal(r.c.State())
	}
}

// REFERENCES item 3: a SYN on a synchronized connection draws a challenge ACK.
func TestSYNInSynchronizedStateGetsChallengeACK_RFC5961_4_2(t *testing.T) {
	for _, seq := range []wire.Seq{peerISS + 1, peerISS + 500, peerISS - 5000, peerISS} {
		r := newEstablishedRig(t, rigConfig())
		s := seg{TCPFields: wire.TCPFields{Seq: seq, Flags: wire.FlagSYN, Window: 100}}
		out := r.send(s)
		if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+1 {
			t.Fatalf("SYN at %d: want challenge ACK, got %v", seq, out)
		}
		if r.c.State() != StateEstablished {
			t.Fatalf("SYN at %d changed state to %v", seq, r.c.State())
		}
	}
}

// REFERENCES item 4: an ACK beyond SND.NXT is dropped and answered.
func TestACKAboveSndNxtIsDroppedWithACK_RFC5961_5_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	out := r.send(data(peerISS+1, rigISS+1+10, 65535, []byte("evil")))
	if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+1 {
		t.Fatalf("want ACK, got %v", out)
	}
	if r.c.Info().RecvBuffered != 0 {
		t.Fatal("data of a segment with an unacceptable ACK was accepted")
	}
}

// REFERENCES item 4: a too-old ACK is dropped and answered.
func TestACKBelowSndUnaMinusMaxWindowIsDropped_RFC5961_5_2(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 100))
	r.poll()
	r.send(ack(peerISS+1, rigISS+101, 65535))
	// SND.UNA = ISS+101, MAX.SND.WND = 65535: an ACK of ISS+101-65536 is too old.
	una := rigISS + 101
	tooOld := una - 65536
	out := r.send(data(peerISS+1, tooOld, 65535, []byte("evil")))
	if len(out) != 1 || r.c.Info().RecvBuffered != 0 {
		t.Fatalf("out %v buffered %d", out, r.c.Info().RecvBuffered)
	}
	// An old but plausible ACK (within MAX.SND.WND) is ignored, its data taken.
	r.send(data(peerISS+1, rigISS+50, 65535, []byte("fine")))
	if r.c.Info().RecvBuffered != 4 {
		t.Fatalf("buffered %d, want 4", r.c.Info().RecvBuffered)
	}
}

// REFERENCES item 5: challenge ACKs are rate-limited.
func TestChallengeACKRateLimit_RFC5961_7(t *testing.T) {
	cfg := rigConfig()
	cfg.ChallengeACKLimit = 5
	r := newEstablishedRig(t, cfg)
	sent := 0
	for i := range 20 {
		sent += len(r.send(rstSeg(peerISS + 100 + wire.Seq(i))))
	}
	if sent != 5 || r.c.Info().ChallengeACKsSuppressed != 15 {
		t.Fatalf("%d challenge ACKs sent, info %+v", sent, r.c.Info())
	}
	r.now = r.now.Add(time.Second)
	if out := r.send(rstSeg(peerISS + 100)); len(out) != 1 {
		t.Fatalf("no challenge ACK in the next second: %v", out)
	}
}

func TestRSTInSynSentWithAckOfSYNRefuses_RFC9293_3_10_7_3(t *testing.T) {
	// A RST without ACK, or acknowledging something else, is ignored.
	r, _ := dialRig(t, rigConfig())
	r.send(rstSeg(0))
	bad := rstSeg(0)
	bad.Flags |= wire.FlagACK
	bad.Ack = rigISS + 7
	if out := r.send(bad); len(out) != 0 || r.c.State() != StateSynSent {
		t.Fatalf("state %v out %v", r.c.State(), out)
	}
	good := rstSeg(0)
	good.Flags |= wire.FlagACK
	good.Ack = rigISS + 1
	r.send(good)
	if r.c.State() != StateClosed || !errors.Is(r.c.Err(), syscall.ECONNREFUSED) || !r.c.Done() {
		t.Fatalf("state %v err %v", r.c.State(), r.c.Err())
	}
}

func TestSynSentUnacceptableACKGetsRST_RFC9293_3_10_7_3(t *testing.T) {
	r, _ := dialRig(t, rigConfig())
	s := synAck(wire.TCPOptions{}, 100)
	s.Ack = rigISS + 99
	out := r.send(s)
	if len(out) != 1 || out[0].Flags != wire.FlagRST || out[0].Seq != rigISS+99 {
		t.Fatalf("want <SEQ=SEG.ACK><CTL=RST>, got %v", out)
	}
	if r.c.State() != StateSynSent {
		t.Fatalf("state %v", r.c.State())
	}
}

func TestSynReceivedUnacceptableACKGetsRST_RFC9293_3_10_7_4(t *testing.T) {
	cfg := rigConfig()
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 100}}
	c, _ := Accept(&cfg, t0, syn.segment(), rigISS)
	r := &rig{t: t, now: t0, c: c}
	r.poll()
	out := r.send(ack(peerISS+1, rigISS+50, 100))
	if len(out) != 1 || out[0].Flags != wire.FlagRST || out[0].Seq != rigISS+50 {
		t.Fatalf("want RST, got %v", out)
	}
	if c.State() != StateSynReceived {
		t.Fatal(c.State())
	}
	// A retransmitted SYN gets the SYN-ACK again.
	out = r.send(syn)
	if len(out) != 1 || out[0].Flags != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("want SYN-ACK, got %v", out)
	}
}

func TestResetForClosedPort_RFC9293_3_10_7_1(t *testing.T) {
	s := &Segment{TCPFields: wire.TCPFields{SrcPort: 1, DstPort: 2, Seq: 100, Flags: wire.FlagSYN}, Payload: []byte("ab")}
	r, ok := ResetFor(s)
	if !ok || r.Flags != wire.FlagRST|wire.FlagACK || r.Seq != 0 || r.Ack != 103 || r.SrcPort != 2 || r.DstPort != 1 {
		t.Fatalf("SYN: %+v", r)
	}
	s = &Segment{TCPFields: wire.TCPFields{Seq: 100, Ack: 777, Flags: wire.FlagACK | wire.FlagFIN}}
	r, ok = ResetFor(s)
	if !ok || r.Flags != wire.FlagRST || r.Seq != 777 {
		t.Fatalf("ACK: %+v", r)
	}
	s = &Segment{TCPFields: wire.TCPFields{Seq: 100, Flags: wire.FlagFIN}}
	if r, _ = ResetFor(s); r.Ack != 101 || r.Flags != wire.FlagRST|wire.FlagACK {
		t.Fatalf("FIN: %+v", r)
	}
	s = &Segment{TCPFields: wire.TCPFields{Seq: 100, Flags: wire.FlagRST | wire.FlagACK}}
	if _, ok = ResetFor(s); ok {
		t.Fatal("answered a RST with a RST")
	}
}

func TestAcceptRejectsNonSYN_RFC9293_3_10_7_2(t *testing.T) {
	cfg := DefaultConfig()
	for _, f := range []wire.TCPFlags{wire.FlagACK, wire.FlagSYN | wire.FlagACK, wire.FlagSYN | wire.FlagRST, wire.FlagSYN | wire.FlagFIN, 0} {
		s := &Segment{TCPFields: wire.TCPFields{Seq: 1, Flags: f}}
		if c, err := Accept(&cfg, t0, s, 1); err == nil || c != nil {
			t.Errorf("flags %v accepted", f)
		}
	}
}

func TestCloseWithUnreadDataSendsRST_RFC9293_3_10_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.send(data(peerISS+1, rigISS+1, 65535, []byte("unread")))
	r.c.Close()
	out := r.poll()
	if len(out) != 1 || out[0].Flags != wire.FlagRST|wire.FlagACK || out[0].Seq != rigISS+1 || out[0].Ack != peerISS+7 {
		t.Fatalf("want RST, got %v", out)
	}
	if !r.c.Done() || r.c.Err() != nil {
		t.Fatalf("done %v err %v", r.c.Done(), r.c.Err())
	}
	if _, err := r.c.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestDataAfterCloseSendsRST_RFC1122_4_2_2_13(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Close()
	out := r.poll()
	if len(out) != 1 || out[0].Flags != wire.FlagACK|wire.FlagFIN {
		t.Fatalf("want FIN, got %v", out)
	}
	r.send(ack(peerISS+1, rigISS+2, 65535))
	if r.c.State() != StateFinWait2 {
		t.Fatal(r.c.State())
	}
	out = r.send(data(peerISS+1, rigISS+2, 65535, []byte("late")))
	if len(out) != 1 || out[0].Flags&wire.FlagRST == 0 || !r.c.Done() {
		t.Fatalf("want RST, got %v (state %v)", out, r.c.State())
	}
}

func TestFinWait2OrphanTimesOut(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Close()
	r.poll()
	r.send(ack(peerISS+1, rigISS+2, 65535))
	if d := r.c.Deadline(); d != r.now.Add(r.c.cfg.TimeWait) {
		t.Fatalf("deadline %v", d.Sub(r.now))
	}
	r.advanceToDeadline()
	if !r.c.Done() {
		t.Fatal(r.c.State())
	}
}

func TestAbortSendsRST_RFC9293_3_10_5(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Write([]byte("pending"))
	r.c.Abort()
	out := r.poll()
	if len(out) != 1 || out[0].Flags&wire.FlagRST == 0 || out[0].Seq != rigISS+1 {
		t.Fatalf("want RST, got %v", out)
	}
	if !r.c.Done() || len(r.poll()) != 0 {
		t.Fatal("not done")
	}
	// Aborting in SYN-SENT sends nothing.
	d, _ := dialRig(t, rigConfig())
	d.c.Abort()
	if out := d.poll(); len(out) != 0 || !d.c.Done() {
		t.Fatalf("abort in SYN-SENT: %v", out)
	}
}

func TestTimeWaitAnswersRetransmittedFINAndRestarts_RFC9293_3_10_7_4(t *testing.T) {
	cfg := rigConfig()
	cfg.TimeWait = 10 * time.Second
	r := newEstablishedRig(t, cfg)
	r.c.Close()
	r.poll()
	fin := ack(peerISS+1, rigISS+2, 65535)
	fin.Flags |= wire.FlagFIN
	out := r.send(fin)
	if r.c.State() != StateTimeWait || len(out) != 1 || out[0].Ack != peerISS+2 {
		t.Fatalf("state %v out %v", r.c.State(), out)
	}
	r.now = r.now.Add(8 * time.Second)
	out = r.send(fin) // our ACK was lost; the peer retransmits its FIN
	if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+2 {
		t.Fatalf("want ACK of the FIN, got %v", out)
	}
	r.now = r.now.Add(8 * time.Second) // 16 s after entering: restarted, still there
	r.poll()
	if r.c.State() != StateTimeWait {
		t.Fatal("TIME-WAIT not restarted by the retransmitted FIN")
	}
	// A SYN draws a challenge ACK (RFC 5961 §4), data gets an ACK, nothing is accepted.
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS + 100, Flags: wire.FlagSYN}}
	if out = r.send(syn); len(out) != 1 || out[0].Flags != wire.FlagACK {
		t.Fatalf("SYN in TIME-WAIT: %v", out)
	}
	r.advance(3 * time.Second)
	if !r.c.Done() {
		t.Fatal(r.c.State())
	}
}

// REFERENCES item 24: a new SYN reopens TIME-WAIT only with a higher sequence number or timestamp.
func TestTimeWaitReusableByNewerSYN_RFC6191(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Close()
	r.poll()
	fin := ack(peerISS+1, rigISS+2, 65535)
	fin.Flags |= wire.FlagFIN
	r.send(fin)
	if r.c.State() != StateTimeWait {
		t.Fatal(r.c.State())
	}
	old := seg{TCPFields: wire.TCPFields{Seq: peerISS - 10, Flags: wire.FlagSYN}}
	newer := seg{TCPFields: wire.TCPFields{Seq: peerISS + 100000, Flags: wire.FlagSYN}}
	if r.c.TimeWaitReusable(old.segment()) || !r.c.TimeWaitReusable(newer.segment()) {
		t.Fatal("reuse decision by sequence number wrong")
	}
	r.c.Abort()
	if out := r.poll(); len(out) != 0 || !r.c.Done() {
		t.Fatalf("abort from TIME-WAIT sent %v", out)
	}
	// With timestamps the TSval decides (RFC 6191).
	ts, _ := newTSRig(t)
	ts.c.Close()
	ts.poll()
	tfin := tsSeg(ack(peerISS+1, rigISS+2, 65535), 500, 0)
	tfin.Flags |= wire.FlagFIN
	ts.send(tfin)
	if ts.c.State() != StateTimeWait {
		t.Fatal(ts.c.State())
	}
	if ts.c.TimeWaitReusable(tsSeg(newer, 400, 0).segment()) || !ts.c.TimeWaitReusable(tsSeg(old, 600, 0).segment()) {
		t.Fatal("reuse decision by timestamp wrong")
	}
}
