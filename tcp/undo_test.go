package tcp

import (
	"testing"

	"offload/wire"
)

// spuriousRecovery sends 8 segments, has segment 0 arrive late (after three
// segments above it were SACKed, so fast recovery resends it), then the
// original arrives (a full ACK ends recovery) and the resent copy too, which
// the receiver reports as a D-SACK when dsack is set. It returns the window
// before recovery and the connection's state at the end.
func spuriousRecovery(t *testing.T, cc func(int) CongestionControl, dsack bool) (before Info, after Info) {
	t.Helper()
	cfg := rigConfig()
	cfg.RACK = false // RFC 6675's DupThresh makes the moment of recovery exact
	cfg.Congestion = cc
	r := sackRigCfg(t, cfg, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 8*1460))
	if out := r.poll(); len(out) != 8 {
		t.Fatalf("sent %d", len(out))
	}
	before = r.c.Info()
	seq := func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
	blk := func(i, j int) wire.SACKBlock { return wire.SACKBlock{Start: seq(i), End: seq(j)} }
	r.send(sackAck(seq(0), blk(1, 2)))
	r.send(sackAck(seq(0), blk(1, 3)))
	out := r.send(sackAck(seq(0), blk(1, 4)))
	if len(out) == 0 || out[0].Seq != seq(0) {
		t.Fatalf("no fast retransmit of segment 0: %v", out)
	}
	if i := r.c.Info(); !i.InRecovery || i.Cwnd >= before.Cwnd {
		t.Fatalf("recovery did not reduce the window: %+v", i)
	}
	// The original segment 0 arrives: everything is acknowledged.
	r.send(sackAck(seq(8)))
	if r.c.Info().InRecovery {
		t.Fatal("still in recovery after the full ACK")
	}
	if dsack {
		// Then the retransmitted copy: RFC 2883 §4 reports it below the ACK.
		r.send(sackAck(seq(8), blk(0, 1)))
	} else {
		r.send(sackAck(seq(8)))
	}
	return before, r.c.Info()
}

// A fast recovery whose every retransmission comes back as a D-SACK lost
// nothing: the window and threshold from before it return (RFC 3708 §3,
// RFC 2883 §4.2), with NewReno and CUBIC.
func TestSpuriousFastRecoveryIsUndoneByDSACK_RFC3708_3(t *testing.T) {
	for name, cc := range map[string]func(int) CongestionControl{"NewReno": NewNewReno, "CUBIC": NewCUBIC} {
		t.Run(name, func(t *testing.T) {
			before, after := spuriousRecovery(t, cc, true)
			if after.UndoneRecoveries != 1 || after.DSACKsReceived != 1 {
				t.Fatalf("undone %d, D-SACKs %d; want 1 and 1", after.UndoneRecoveries, after.DSACKsReceived)
			}
			if after.Cwnd < before.Cwnd || after.Ssthresh < before.Ssthresh {
				t.Fatalf("after the undo cwnd %d ssthresh %d; before the recovery %d and %d",
					after.Cwnd, after.Ssthresh, before.Cwnd, before.Ssthresh)
			}
		})
	}
}

// Without the D-SACK nothing shows the retransmission was needless: the
// reduction stands.
func TestRecoveryWithoutDSACKIsNotUndone(t *testing.T) {
	before, after := spuriousRecovery(t, NewNewReno, false)
	if after.UndoneRecoveries != 0 || after.Cwnd >= before.Cwnd {
		t.Fatalf("undone %d, cwnd %d (before %d)", after.UndoneRecoveries, after.Cwnd, before.Cwnd)
	}
}

// Two segments resent, only one reported as a duplicate: the other may have
// been lost, so the reduction stands.
func TestRecoveryIsNotUndoneWhileARetransmissionIsUnaccountedFor(t *testing.T) {
	cfg := rigConfig()
	cfg.RACK = false
	cfg.Congestion = NewNewReno
	r := sackRigCfg(t, cfg, false)
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 8*1460))
	r.poll()
	before := r.c.Info()
	seq := func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
	blk := func(i, j int) wire.SACKBlock { return wire.SACKBlock{Start: seq(i), End: seq(j)} }
	// Segments 0 and 3 missing: both are resent.
	r.send(sackAck(seq(0), blk(1, 2)))
	r.send(sackAck(seq(0), blk(1, 3)))
	r.send(sackAck(seq(0), blk(4, 5), blk(1, 3)))
	r.send(sackAck(seq(0), blk(4, 6), blk(1, 3)))
	r.send(sackAck(seq(0), blk(4, 7), blk(1, 3)))
	if i := r.c.Info(); i.SACKRetransmits != 2 {
		t.Fatalf("%d segments resent, want 2", i.SACKRetransmits)
	}
	r.send(sackAck(seq(8)))
	r.send(sackAck(seq(8), blk(0, 1))) // a duplicate of segment 0 only
	if i := r.c.Info(); i.UndoneRecoveries != 0 || i.Cwnd >= before.Cwnd {
		t.Fatalf("undone %d with segment 3's resend unaccounted for (cwnd %d, before %d)", i.UndoneRecoveries, i.Cwnd, before.Cwnd)
	}
	r.send(sackAck(seq(8), blk(3, 4))) // and now segment 3's
	if i := r.c.Info(); i.UndoneRecoveries != 1 || i.Cwnd < before.Cwnd {
		t.Fatalf("both resends reported as duplicates: undone %d, cwnd %d (before %d)", i.UndoneRecoveries, i.Cwnd, before.Cwnd)
	}
}
