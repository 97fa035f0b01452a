package tcp

import (
	"testing"
	"time"

	"offload/wire"
)

// With SACK negotiated, limited transmit (RFC 3042 §2, RFC 6675 §5's NextSeg
// rule 3 with pipe) still lets exactly one new segment out per each of the
// first two duplicate ACKs, each of which SACKs one more segment, and the
// third starts loss recovery with the retransmission of the hole; with RACK
// switched off (RFC 6675's DupThresh alone) and on.
func TestLimitedTransmitWithSACK_RFC3042_RFC6675_5(t *testing.T) {
	for _, rack := range []bool{false, true} {
		cfg := rigConfig()
		cfg.RACK = rack
		cfg.Congestion = NewNewReno
		r := sackRigWith(t, cfg, sackPeer{rtt: 100 * time.Millisecond})
		c := r.c
		if !c.Info().SACKPermitted {
			t.Fatal("SACK not negotiated")
		}
		r.c.SetNoDelay(true)
		segs := c.Info().Cwnd / 1460
		seq := func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
		r.c.Write(make([]byte, (segs+4)*1460))
		if out := r.poll(); len(out) != segs {
			t.Fatalf("rack=%v: sent %d, want cwnd's %d", rack, len(out), segs)
		}
		r.now = r.now.Add(time.Millisecond) // well within RACK's reordering window
		for i := 1; i <= 2; i++ {
			out := r.send(sackAck(seq(0), wire.SACKBlock{Start: seq(1), End: seq(1 + i)}))
			if len(out) != 1 || out[0].Seq != seq(segs+i-1) || len(out[0].Payload) != 1460 {
				t.Fatalf("rack=%v, duplicate ACK %d: want one new segment at %d, got %v", rack, i, seq(segs+i-1), out)
			}
		}
		if c.Info().InRecovery {
			t.Fatalf("rack=%v: in recovery after two duplicate ACKs", rack)
		}
		out := r.send(sackAck(seq(0), wire.SACKBlock{Start: seq(1), End: seq(4)}))
		if len(out) == 0 || out[0].Seq != seq(0) {
			t.Fatalf("rack=%v, third duplicate ACK: want the hole at %d resent first, got %v", rack, seq(0), out)
		}
		if !c.Info().InRecovery {
			t.Fatalf("rack=%v: not in recovery after the third duplicate ACK", rack)
		}
	}
}
