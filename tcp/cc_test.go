package tcp

import (
	"math"
	"testing"
	"time"

	"offload/clock"
)

// cubicAt returns a CUBIC controller (MSS 1000) in congestion avoidance with a
// window of w segments, as if a loss had happened at wMax segments.
func cubicAt(w float64) *CUBIC {
	c := NewCUBIC(1000).(*CUBIC)
	c.cwnd = w
	c.ssthresh = 1 // congestion avoidance
	return c
}

// ackRounds feeds the controller one window of ACKs per rtt for d.
func ackRounds(c *CUBIC, start clock.Instant, rtt, d time.Duration) clock.Instant {
	now := start
	for now.Sub(start) < d {
		now = now.Add(rtt)
		w := c.Cwnd()
		for acked := 0; acked < w; acked += 2 * c.mss {
			c.OnAck(now, 2*c.mss, w, rtt)
		}
	}
	return now
}

func TestCUBICMultiplicativeDecreaseIsBeta07_RFC9438_4_6(t *testing.T) {
	c := cubicAt(100)
	c.OnCongestion(t0, 100*1000)
	if c.Ssthresh() != 70*1000 || c.Cwnd() != 70*1000 || c.wMax != 100 {
		t.Fatalf("cwnd %d ssthresh %d W_max %v, want 70000 70000 100", c.Cwnd(), c.Ssthresh(), c.wMax)
	}
	// RTO: same ssthresh rule, cwnd to one segment (§4.8).
	c = cubicAt(100)
	c.OnRTO(t0, 100*1000)
	if c.Ssthresh() != 70*1000 || c.Cwnd() != 1000 {
		t.Fatalf("after RTO: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
}

func TestCUBICFastConvergenceLowersWmax_RFC9438_4_7(t *testing.T) {
	c := cubicAt(100)
	c.OnCongestion(t0, 0)
	c.cwnd = 80 // a second loss before the window regained W_max
	c.OnCongestion(t0, 0)
	if want := 80 * (1 + cubicBeta) / 2; math.Abs(c.wMax-want) > 1e-9 {
		t.Fatalf("W_max %v, want %v", c.wMax, want)
	}
}

// On a long-RTT path the window follows W_cubic(t) = C(t-K)^3 + W_max: it
// reaches W_max near t = K (concave region), then grows past it (convex).
func TestCUBICWindowFollowsCubicCurve_RFC9438_4_2(t *testing.T) {
	c := cubicAt(100)
	c.OnCongestion(t0, 0) // cwnd 70, W_max 100
	k := math.Cbrt(100 * (1 - cubicBeta) / cubicC)
	rtt := 100 * time.Millisecond
	now := ackRounds(c, t0, rtt, time.Duration(k*float64(time.Second))-rtt)
	w := float64(c.Cwnd()) / 1000
	if w < 95 || w > 102 {
		t.Fatalf("cwnd %.1f segments at t=K=%.2fs, want about W_max=100", w, k)
	}
	// Plateau: growth around K is slow.
	ackRounds(c, now, rtt, 500*time.Millisecond)
	if w2 := float64(c.Cwnd()) / 1000; w2 > 103 {
		t.Fatalf("cwnd %.1f half a second past K: not a plateau", w2)
	}
	ackRounds(c, now, rtt, 3*time.Second)
	if w3 := float64(c.Cwnd()) / 1000; w3 < 110 {
		t.Fatalf("cwnd %.1f at t=K+3s: convex region should probe past W_max", w3)
	}
}

// On a short-RTT path Reno would grow faster than the cubic curve; CUBIC then
// follows the Reno-friendly estimate W_est (RFC 9438 §4.3), growing by
// α_cubic segments per RTT.
func TestCUBICRenoFriendlyRegionOnShortRTT_RFC9438_4_3(t *testing.T) {
	c := cubicAt(100)
	c.OnCongestion(t0, 0) // 70 segments
	rtt := time.Millisecond
	ackRounds(c, t0, rtt, 200*time.Millisecond) // 200 RTTs
	w := float64(c.Cwnd()) / 1000
	// W_est ≈ 70 + α·200 ≈ 176; W_cubic(0.2 s) ≈ 100 - 0.4·(4.2)^3 ≈ 70.
	if w < 150 || math.Abs(w-c.wEst) > 1 {
		t.Fatalf("cwnd %.1f, W_est %.1f: want the Reno-friendly window", w, c.wEst)
	}
}

func TestCUBICSlowStartAndIdleRestart_RFC5681(t *testing.T) {
	c := NewCUBIC(1000)
	if c.Cwnd() != 10000 || c.Ssthresh() != 1<<30 {
		t.Fatalf("initial cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
	c.OnAck(t0, 5000, 10000, time.Millisecond)
	if c.Cwnd() != 15000 {
		t.Fatalf("slow start credits every acknowledged byte below ssthresh: cwnd %d, want 15000", c.Cwnd())
	}
	c.OnIdleRestart(t0)
	if c.Cwnd() != 10000 {
		t.Fatalf("restart window %d", c.Cwnd())
	}
	c.SetMSS(500)
	if c.Cwnd() != 10000 {
		t.Fatalf("cwnd in bytes changed with the MSS: %d", c.Cwnd())
	}
}

// CUBIC is the default; NewReno is selectable through Config.Congestion.
func TestCongestionControlDefaultIsCUBICAndNewRenoSelectable(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	if _, ok := r.c.cc.(*CUBIC); !ok {
		t.Fatalf("default controller %T", r.c.cc)
	}
	cfg := rigConfig()
	cfg.Congestion = NewNewReno
	r = newEstablishedRig(t, cfg)
	if _, ok := r.c.cc.(*NewReno); !ok {
		t.Fatalf("controller %T", r.c.cc)
	}
}

// SetPathMSS tells the controller (so windows counted in segments follow).
func TestPathMSSChangeReachesCongestionControl_RFC8201(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.SetPathMSS(1000)
	if c := r.c.cc.(*CUBIC); c.mss != 1000 {
		t.Fatalf("controller MSS %d", c.mss)
	}
}

// A stretch ACK (one ACK from an aggregating receiver for many segments)
// counts as the delayed ACKs it replaces (RFC 3465 §2.3 on L): in slow start
// every acknowledged byte grows cwnd while it stays below ssthresh, so the
// window still doubles per round trip against a GRO receiver; the step that
// crosses ssthresh is at most L = 2 SMSS, and the bytes left over go to
// congestion avoidance, not to slow start.
func TestSlowStartCreditsStretchACKsInFullBelowSsthresh_RFC3465_2_3(t *testing.T) {
	const mss = 1000
	for _, tc := range []struct {
		name string
		mk   func(int) CongestionControl
		set  func(CongestionControl, int) // sets ssthresh in bytes
	}{
		{"NewReno", NewNewReno, func(c CongestionControl, b int) { c.(*NewReno).ssthresh = b }},
		{"CUBIC", NewCUBIC, func(c CongestionControl, b int) { c.(*CUBIC).ssthresh = float64(b) / mss }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One round trip against an aggregating receiver: 10 segments in
			// flight come back as one ACK; the window doubles.
			c := tc.mk(mss)
			c.OnAck(t0, 10*mss, 10*mss, time.Millisecond)
			if c.Cwnd() != 20*mss {
				t.Fatalf("one stretch ACK for 10 segments: cwnd %d, want %d (doubled)", c.Cwnd(), 20*mss)
			}
			// Three more round trips, each acknowledged by one ACK for the
			// whole window: it doubles each time, as a delayed-ACK receiver's
			// per-pair ACKs would have made it.
			for range 3 {
				w := c.Cwnd()
				c.OnAck(t0, w, w, time.Millisecond)
			}
			if c.Cwnd() != 160*mss {
				t.Fatalf("after 4 round trips of stretch ACKs: cwnd %d, want %d", c.Cwnd(), 160*mss)
			}

			// Crossing ssthresh: from 10 segments with ssthresh 15, an ACK for
			// 40 segments takes cwnd to 16 (three L-sized steps, the last one
			// crossing), and the other 34 segments' worth is congestion
			// avoidance, which adds at most about one segment.
			c = tc.mk(mss)
			tc.set(c, 15*mss)
			c.OnAck(t0, 40*mss, 10*mss, time.Millisecond)
			if w := c.Cwnd(); w < 16*mss || w > 18*mss {
				t.Fatalf("crossing ssthresh 15000 with a 40000-byte ACK: cwnd %d, want 16000..18000", w)
			}
			// Below ssthresh a small ACK is credited exactly.
			c = tc.mk(mss)
			c.OnAck(t0, 1500, 10*mss, time.Millisecond)
			if c.Cwnd() != 11500 {
				t.Fatalf("1500 bytes acknowledged in slow start: cwnd %d, want 11500", c.Cwnd())
			}
		})
	}
}

func TestSlowStartBytesNeverCreditsMoreThanAcked(t *testing.T) {
	for cwnd := 1000; cwnd < 20000; cwnd += 700 {
		for ss := cwnd + 1; ss < 30000; ss += 900 {
			for acked := 0; acked < 70000; acked += 1300 {
				inc := slowStartBytes(cwnd, ss, acked, 1000)
				if inc < 0 || inc > acked {
					t.Fatalf("cwnd %d ssthresh %d acked %d: credit %d", cwnd, ss, acked, inc)
				}
				if cwnd+inc > ss+2000 || (inc < acked && cwnd+inc < ss) {
					t.Fatalf("cwnd %d ssthresh %d acked %d: cwnd after %d crosses by more than L or stops short", cwnd, ss, acked, cwnd+inc)
				}
			}
		}
	}
}
