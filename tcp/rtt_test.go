package tcp

import (
	"testing"
	"time"

	"offload/wire"
)

// On a path faster than a millisecond, SRTT follows the real round trip even
// with timestamps on: the samples come from our own send times (RFC 6298 §3,
// Karn's rule), not from the echo of our millisecond TSval clock, which reads
// 0 ms for almost every ACK there and would drag SRTT to zero (and with it
// RACK's reordering window and the tail loss probe timeout, RFC 8985).
func TestSubMillisecondRTTIsTimedByOurClockWithTimestamps_RFC6298_3(t *testing.T) {
	for _, sack := range []bool{true, false} {
		t.Run(map[bool]string{true: "sack", false: "no-sack"}[sack], func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SACK = sack
			if !cfg.Timestamps {
				t.Fatal("timestamps are off by default: the test would prove nothing")
			}
			const oneWay = 50 * time.Microsecond
			p := newPair(t, cfg, cfg, 1, 2, oneWay)
			p.traceOn = false
			p.connect()
			if !p.a.Info().Timestamps {
				t.Fatal("timestamps not negotiated")
			}
			data := make([]byte, 4<<20)
			rd := make([]byte, 64<<10)
			for off, got := 0, 0; got < len(data); {
				n, _ := p.a.Write(data[off:])
				off += n
				p.runFor(200 * time.Microsecond)
				for k, _ := p.b.Read(rd); k > 0; k, _ = p.b.Read(rd) {
					got += k
				}
			}
			srtt := p.a.Info().SRTT
			if srtt < 2*oneWay || srtt > 4*oneWay {
				t.Fatalf("SRTT %v on a %v round trip (delayed ACKs may add to it, but not take away)", srtt, 2*oneWay)
			}
		})
	}
}

// A tail loss probe of new data carries PSH: it is a lone segment, which a
// receiver may hold its ACK for (Linux up to 40 ms) when its application has
// not yet read, and the probe is there to get an ACK at once (RFC 8985 §7.3;
// a Linux receiver acknowledges pushed data as soon as it is read).
func TestTailLossProbeOfNewDataIsPushed_RFC8985_7_3(t *testing.T) {
	cfg := rigConfig()
	fw := &fixedWindow{w: 4 * 1460}
	cfg.Congestion = func(int) CongestionControl { return fw }
	r := sackRigWith(t, cfg, sackPeer{rtt: 10 * time.Millisecond})
	r.c.Write(make([]byte, 10*1460)) // more than the window: new data is left
	out := r.poll()
	for _, s := range out {
		if s.Flags.Has(wire.FlagPSH) {
			t.Fatalf("a full-window segment at %v was pushed with data still to send", s.Seq)
		}
	}
	if len(sentSeqs(out)) != 4 {
		t.Fatalf("sent %d segments, want the 4 the window allows", len(sentSeqs(out)))
	}
	out = r.advanceToDeadline() // no ACK comes: the PTO fires
	var probe []seg
	for _, s := range out {
		if len(s.Payload) > 0 {
			probe = append(probe, s)
		}
	}
	if len(probe) != 1 || probe[0].Seq != rigISS+1+4*1460 {
		t.Fatalf("want one probe of new data (segment 4), got %v", out)
	}
	if !probe[0].Flags.Has(wire.FlagPSH) {
		t.Fatalf("the probe's flags are %v: no PSH", probe[0].Flags)
	}
	if i := r.c.Info(); i.TLPProbes != 1 {
		t.Fatalf("TLPProbes = %d, want 1", i.TLPProbes)
	}
}
