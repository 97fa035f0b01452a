package tcp

import (
	"math"
	"time"

	"offload/clock"
)

// RFC 9438 constants.
const (
	cubicC    = 0.4 // §4.1: C, in segments per second cubed
	cubicBeta = 0.7 // §4.6: multiplicative decrease factor β_cubic
	// §4.3: α_cubic = 3(1-β)/(1+β) makes the Reno-friendly estimate grow at
	// the average rate of Reno with β=0.5.
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// CUBIC is RFC 9438 congestion control: after a loss the window follows a
// cubic function of the time since the loss, centred on the window where the
// loss happened (W_max), with the Reno-friendly region (§4.3) and fast
// convergence (§4.7). Slow start is RFC 5681's with RFC 3465 byte counting
// that credits stretch ACKs in full below ssthresh (slowStartBytes; no
// HyStart++). Windows are kept in segments as float64 internally (RFC 9438
// counts in segments); Cwnd reports bytes.
type CUBIC struct {
	mss      int
	cwnd     float64 // segments
	ssthresh float64 // segments
	wMax     float64 // W_max: window before the last reduction (segments)
	k        float64 // K: seconds from the epoch start until W_cubic reaches W_max
	wEst     float64 // W_est: Reno-friendly estimate (segments)
	cwndEp   float64 // cwnd at the epoch start
	epoch    clock.Instant
	inEpoch  bool // epoch started (RFC 9438's t_epoch defined)
}

// NewCUBIC returns a CUBIC controller with the RFC 6928 initial window. It is
// the default (Config.Congestion == nil).
func NewCUBIC(mss int) CongestionControl {
	mss = max(mss, 1)
	return &CUBIC{mss: mss, cwnd: float64(initialWindow(mss)) / float64(mss), ssthresh: math.MaxInt32}
}

func (c *CUBIC) Cwnd() int { return c.bytes(c.cwnd) }
func (c *CUBIC) Ssthresh() int {
	if c.ssthresh >= math.MaxInt32/float64(c.mss) {
		return 1 << 30
	}
	return c.bytes(c.ssthresh)
}

func (c *CUBIC) bytes(segs float64) int {
	b := segs * float64(c.mss)
	if b > 1<<30 {
		return 1 << 30
	}
	return max(int(b), c.mss)
}

func (c *CUBIC) OnAck(now clock.Instant, acked, _ int, rtt time.Duration) {
	segs := float64(acked) / float64(c.mss)
	if c.cwnd < c.ssthresh {
		// Slow start (RFC 9438 §4.10 defers to RFC 5681) with byte counting
		// that takes a stretch ACK for the delayed ACKs it replaces: see
		// slowStartBytes, here in segments.
		inc := segs
		if c.cwnd+segs > c.ssthresh {
			inc = min(segs, 2*math.Ceil((c.ssthresh-c.cwnd)/2))
		}
		c.cwnd += inc
		if segs -= inc; segs <= 0 {
			return
		}
	}
	if !c.inEpoch {
		// §4.2: the first ACK in congestion avoidance starts the epoch.
		c.inEpoch = true
		c.epoch = now
		c.cwndEp = c.cwnd
		if c.wMax < c.cwnd {
			// No loss yet at this size (e.g. after slow start ended by
			// ssthresh): the curve starts on its plateau.
			c.wMax = c.cwnd
		}
		c.k = math.Cbrt((c.wMax - c.cwndEp) / cubicC) // eq. 2
		c.wEst = c.cwnd
	}
	t := now.Sub(c.epoch).Seconds()
	// §4.2: the target is W_cubic one RTT ahead, clamped to [cwnd, 1.5 cwnd].
	d := t + rtt.Seconds() - c.k
	target := cubicC*d*d*d + c.wMax
	target = min(max(target, c.cwnd), 1.5*c.cwnd)
	// §4.3: W_est grows like Reno with α_cubic per window of ACKed segments.
	c.wEst += cubicAlpha * segs / c.cwnd
	dt := t - c.k
	if wc := cubicC*dt*dt*dt + c.wMax; wc < c.wEst {
		// Reno-friendly region: CUBIC is at least as aggressive as Reno.
		c.cwnd = max(c.cwnd, c.wEst)
		return
	}
	// §4.4/4.5: concave and convex regions grow by (target-cwnd)/cwnd per segment.
	c.cwnd += (target - c.cwnd) / c.cwnd * segs
}

// reduce is §4.6 with fast convergence (§4.7): ssthresh = flight_size *
// β_cubic (RFC 9438's formula, as RFC 5681 eq. 4 uses FlightSize), and
// W_max from cwnd. flight 0 (unknown) falls back to cwnd.
func (c *CUBIC) reduce(flight int) {
	if c.cwnd < c.wMax {
		// Fast convergence: the window shrank since the last loss, so
		// release bandwidth to newer flows by aiming lower.
		c.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = c.cwnd
	}
	f := float64(flight) / float64(c.mss)
	if flight <= 0 {
		f = c.cwnd
	}
	c.ssthresh = max(f*cubicBeta, 2)
	c.inEpoch = false
}

func (c *CUBIC) OnCongestion(_ clock.Instant, flight int) {
	c.reduce(flight)
	c.cwnd = c.ssthresh
}

// undoTo takes a reduction back: the window and threshold from before it,
// W_max as if it had not happened, and a new epoch from there.
func (c *CUBIC) undoTo(cwnd, ssthresh int) {
	c.cwnd = max(c.cwnd, float64(cwnd)/float64(c.mss))
	c.ssthresh = max(c.ssthresh, float64(ssthresh)/float64(c.mss))
	if ssthresh >= 1<<30 {
		c.ssthresh = math.MaxInt32
	}
	c.wMax = max(c.wMax, c.cwnd)
	c.inEpoch = false
}

func (c *CUBIC) OnExitRecovery(_ clock.Instant, flight int) {
	// As RFC 6582 §3.2 step 3: do not burst when little is in flight.
	c.cwnd = min(c.ssthresh, float64(max(flight, c.mss)+c.mss)/float64(c.mss))
}

func (c *CUBIC) OnRTO(_ clock.Instant, flight int) {
	// §4.8: ssthresh as for a loss, cwnd to the loss window; the next
	// congestion avoidance starts a new epoch.
	c.reduce(flight)
	c.cwnd = 1
}

func (c *CUBIC) OnIdleRestart(clock.Instant) {
	// RFC 5681 §4.1 restart window; §5.8's concern (an epoch stretched over
	// idle time jumping the window) is avoided by starting a new epoch.
	c.cwnd = min(c.cwnd, float64(initialWindow(c.mss))/float64(c.mss))
	c.inEpoch = false
}

func (c *CUBIC) SetMSS(mss int) {
	// Keep the byte values: windows measured in segments scale with the MSS.
	mss = max(mss, 1)
	f := float64(c.mss) / float64(mss)
	c.cwnd *= f
	if c.ssthresh < math.MaxInt32/2 {
		c.ssthresh *= f
	}
	c.wMax *= f
	c.wEst *= f
	c.cwndEp *= f
	c.mss = mss
}
