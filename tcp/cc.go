package tcp

// CongestionControl computes the congestion window. The state machine decides
// when loss happens (three duplicate ACKs, a timeout) and drives fast
// retransmit and NewReno recovery itself (RFC 6582's "recover" point lives in the
// Conn); the controller only answers how large cwnd and ssthresh are. A CUBIC
// implementation plugs in through Config.Congestion without touching the Conn.
//
// All sizes are bytes. flight is the amount of data outstanding (SND.MAX-SND.UNA)
// when the event happened.
type CongestionControl interface {
	Cwnd() int
	Ssthresh() int
	// OnAck: acked bytes of new data were acknowledged outside recovery.
	OnAck(acked, flight int)
	// OnEnterRecovery: the third duplicate ACK started fast retransmit.
	OnEnterRecovery(flight int)
	// OnDupAckInRecovery: another duplicate ACK arrived during recovery.
	OnDupAckInRecovery()
	// OnPartialAck: an ACK during recovery acknowledged acked bytes but not
	// everything up to the recovery point (RFC 6582 §3.2 step 5).
	OnPartialAck(acked int)
	// OnExitRecovery: a full ACK ended recovery; flight is what remains outstanding.
	OnExitRecovery(flight int)
	// OnRTO: the retransmission timer expired (RFC 5681 §3.1 eq. 4).
	OnRTO(flight int)
	// OnIdleRestart: sending resumes after more than an RTO with nothing in
	// flight (RFC 5681 §4.1): the window is no longer a valid probe of the path.
	OnIdleRestart()
}

// NewReno is RFC 5681 slow start and congestion avoidance with RFC 6582
// recovery window arithmetic.
type NewReno struct {
	mss      int
	cwnd     int
	ssthresh int
	acked    int // bytes acknowledged toward the next congestion-avoidance increase
}

// NewNewReno returns a controller with the RFC 6928 initial window
// min(10*MSS, max(2*MSS, 14600)) and an "arbitrarily high" initial ssthresh.
func NewNewReno(mss int) *NewReno {
	mss = max(mss, 1)
	return &NewReno{mss: mss, cwnd: initialWindow(mss), ssthresh: 1 << 30}
}

// initialWindow is RFC 6928's IW.
func initialWindow(mss int) int { return min(10*mss, max(2*mss, 14600)) }

func (r *NewReno) Cwnd() int     { return r.cwnd }
func (r *NewReno) Ssthresh() int { return r.ssthresh }

func (r *NewReno) OnAck(acked, flight int) {
	if r.cwnd < r.ssthresh {
		// Slow start with appropriate byte counting, L = 2*SMSS (RFC 3465 §2.2),
		// so delayed ACKs do not halve the growth rate.
		r.cwnd += min(acked, 2*r.mss)
		return
	}
	// Congestion avoidance: one SMSS per cwnd of acknowledged bytes (RFC 5681 §3.1).
	r.acked += acked
	if r.acked >= r.cwnd {
		r.acked -= r.cwnd
		r.cwnd += r.mss
	}
}

func (r *NewReno) halve(flight int) { r.ssthresh = max(flight/2, 2*r.mss) } // RFC 5681 eq. (4)

func (r *NewReno) OnEnterRecovery(flight int) {
	r.halve(flight)
	r.cwnd = r.ssthresh + 3*r.mss // RFC 5681 §3.2 step 4
	r.acked = 0
}

func (r *NewReno) OnDupAckInRecovery() { r.cwnd += r.mss } // RFC 5681 §3.2 step 5

func (r *NewReno) OnPartialAck(acked int) {
	// RFC 6582 §3.2 step 5: deflate by the amount acknowledged, add back one
	// SMSS if at least one SMSS was acknowledged.
	r.cwnd -= acked
	if acked >= r.mss {
		r.cwnd += r.mss
	}
	r.cwnd = max(r.cwnd, r.mss)
}

func (r *NewReno) OnExitRecovery(flight int) {
	// RFC 6582 §3.2 step 3, first option: avoids a burst when little is in flight.
	r.cwnd = min(r.ssthresh, max(flight, r.mss)+r.mss)
}

func (r *NewReno) OnRTO(flight int) {
	r.halve(flight)
	r.cwnd = r.mss // loss window (RFC 5681 §3.1)
	r.acked = 0
}

func (r *NewReno) OnIdleRestart() {
	r.cwnd = min(r.cwnd, initialWindow(r.mss)) // RW = min(IW, cwnd)
	r.acked = 0
}
