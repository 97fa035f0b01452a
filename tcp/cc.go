package tcp

import (
	"time"

	"offload/clock"
)

// CongestionControl computes the congestion window (RFC 5681 §3). The Conn
// decides when loss happens (duplicate ACKs, SACK scoreboard, RACK, a timeout)
// and runs loss recovery itself: RFC 6582's recovery point, NewReno's
// window inflation for peers without SACK, and RFC 6675 pipe accounting live
// in the Conn. The controller only answers how large cwnd and ssthresh are, so
// a new algorithm plugs in through Config.Congestion without touching the
// state machine. Controllers are handed the time; they must not read a clock.
//
// All sizes are bytes. flight is the data outstanding (SND.MAX-SND.UNA) when
// the event happened; rtt is the smoothed RTT (0 before the first sample).
type CongestionControl interface {
	Cwnd() int
	Ssthresh() int
	// OnAck: acked bytes of new data were acknowledged outside recovery while
	// the window limited sending.
	OnAck(now clock.Instant, acked, flight int, rtt time.Duration)
	// OnCongestion: loss was detected and fast recovery starts (RFC 5681
	// §3.2 step 2, RFC 6675 §5 step 4.2): reduce ssthresh, and set cwnd to it.
	OnCongestion(now clock.Instant, flight int)
	// OnExitRecovery: recovery ended with a full ACK; flight is what remains.
	OnExitRecovery(now clock.Instant, flight int)
	// OnRTO: the retransmission timer expired (RFC 5681 §3.1 eq. 4).
	OnRTO(now clock.Instant, flight int)
	// OnIdleRestart: sending resumes after more than an RTO with nothing in
	// flight (RFC 5681 §4.1): the window is no longer a valid probe of the path.
	OnIdleRestart(now clock.Instant)
	// SetMSS: the send MSS changed (path MTU discovery, RFC 8201).
	SetMSS(mss int)
}

// NewReno is RFC 5681 slow start and congestion avoidance with the RFC 6582
// ssthresh rule. (The window inflation of fast recovery for peers without
// SACK is the Conn's, since it depends on duplicate ACKs, not the algorithm.)
// undoer is a controller whose congestion response can be taken back when
// the loss that caused it proves spurious (see Conn.tryUndo): undoTo restores
// the window and threshold from before it.
type undoer interface {
	undoTo(cwnd, ssthresh int)
}

type NewReno struct {
	mss      int
	cwnd     int
	ssthresh int
	acked    int // bytes acknowledged toward the next congestion-avoidance increase
}

// NewNewReno returns a NewReno controller with the RFC 6928 initial window
// min(10*MSS, max(2*MSS, 14600)) and an "arbitrarily high" initial ssthresh.
// Select it with Config.Congestion = NewNewReno.
func NewNewReno(mss int) CongestionControl {
	mss = max(mss, 1)
	return &NewReno{mss: mss, cwnd: initialWindow(mss), ssthresh: 1 << 30}
}

// initialWindow is RFC 6928's IW.
func initialWindow(mss int) int { return min(10*mss, max(2*mss, 14600)) }

func (r *NewReno) Cwnd() int     { return r.cwnd }
func (r *NewReno) Ssthresh() int { return r.ssthresh }

func (r *NewReno) OnAck(_ clock.Instant, acked, _ int, _ time.Duration) {
	if r.cwnd < r.ssthresh {
		inc := slowStartBytes(r.cwnd, r.ssthresh, acked, r.mss)
		r.cwnd += inc
		if acked -= inc; acked == 0 {
			return
		}
	}
	// Congestion avoidance: one SMSS per cwnd of acknowledged bytes (RFC 5681 §3.1).
	r.acked += acked
	if r.acked >= r.cwnd {
		r.acked -= r.cwnd
		r.cwnd += r.mss
	}
}

func (r *NewReno) halve(flight int) { r.ssthresh = max(flight/2, 2*r.mss) } // RFC 5681 eq. (4)

func (r *NewReno) OnCongestion(_ clock.Instant, flight int) {
	r.halve(flight)
	r.cwnd = r.ssthresh
	r.acked = 0
}

func (r *NewReno) OnExitRecovery(_ clock.Instant, flight int) {
	// RFC 6582 §3.2 step 3, first option: avoids a burst when little is in flight.
	r.cwnd = min(r.ssthresh, max(flight, r.mss)+r.mss)
}

func (r *NewReno) undoTo(cwnd, ssthresh int) {
	r.cwnd, r.ssthresh = max(r.cwnd, cwnd), max(r.ssthresh, ssthresh)
	r.acked = 0
}

func (r *NewReno) OnRTO(_ clock.Instant, flight int) {
	r.halve(flight)
	r.cwnd = r.mss // loss window (RFC 5681 §3.1)
	r.acked = 0
}

func (r *NewReno) OnIdleRestart(clock.Instant) {
	r.cwnd = min(r.cwnd, initialWindow(r.mss)) // RW = min(IW, cwnd)
	r.acked = 0
}

func (r *NewReno) SetMSS(mss int) { r.mss = max(mss, 1) }

// slowStartBytes returns how many of acked newly acknowledged bytes slow start
// adds to cwnd; the rest count toward congestion avoidance.
//
// RFC 3465 (Appropriate Byte Counting) credits the bytes an ACK covers, at most
// L = 2 SMSS per ACK, so that a receiver acknowledging every second segment
// (RFC 5681 §4.2 delayed ACKs) still doubles the window per round trip while
// one ACK cannot release a large burst (§2.3). A receiver that aggregates
// (GRO/LRO, ours or Linux's) sends one stretch ACK for many segments instead:
// with L per ACK the window would grow by 2 SMSS per aggregate rather than
// double, and slow start would crawl. So an ACK is counted as the delayed ACKs
// it stands for: every byte is credited while cwnd stays below ssthresh (as
// Linux's tcp_slow_start does), and the window crosses ssthresh by at most the
// one L-sized step a delayed-ACK receiver's ACK would have taken; bytes beyond
// that go to congestion avoidance. Measured on stack's netsim table and loss
// benchmark against L = 2 per ACK and against clamping cwnd at ssthresh
// exactly (Linux): better than both in nearly every lossy cell. Crediting
// whole stretch ACKs past ssthresh was faster still under the simulator's
// random loss, but overshoots ssthresh by up to an aggregate (64 KiB) and so
// undoes the reduction a congestive loss asked for.
func slowStartBytes(cwnd, ssthresh, acked, mss int) int {
	if cwnd+acked <= ssthresh {
		return acked
	}
	l := 2 * mss
	steps := (ssthresh - cwnd + l - 1) / l // L-sized steps until cwnd >= ssthresh
	return min(acked, steps*l)
}
