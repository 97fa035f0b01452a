package tcp

import (
	"time"

	"offload/clock"
	"offload/wire"
)

// RACK-TLP (RFC 8985): a segment is deemed lost when a segment sent
// sufficiently later has been delivered (SACKed or cumulatively ACKed), where
// "sufficiently" is the RTT of that delivery plus a reordering window; and a
// tail loss probe (TLP) is sent when the ACK stream dries up, so that losses
// at the end of a flight are repaired by fast recovery rather than an RTO.
// Both need SACK and run only when it was negotiated and Config.RACK is set.

// wcDelAckT is RFC 8985 §7.2's worst-case delayed-ACK time, added to the PTO
// when a single segment is in flight.
const wcDelAckT = 200 * time.Millisecond

// rackState is RFC 8985 §5.2's per-connection RACK and TLP state.
type rackState struct {
	xmit     clock.Instant // RACK.xmit_ts: send time of the most recently sent delivered segment
	endSeq   wire.Seq      // RACK.end_seq
	rtt      time.Duration // RACK.rtt: RTT of that segment
	valid    bool
	fack     wire.Seq      // highest end delivered (RACK's "forward ACK")
	minRTT   time.Duration // RACK.min_RTT (0: no sample)
	reoSeen  bool          // RACK.reordering_seen
	reoMult  int           // RACK.reo_wnd_mult
	reoPers  int           // RACK.reo_wnd_persist: recoveries left before reo_wnd_mult resets
	dsackEnd wire.Seq      // SND.MAX when the last D-SACK adjusted reo_wnd_mult (one per round)
	timerAt  clock.Instant // the reordering timer

	tlpAt    clock.Instant // the probe timeout
	tlpEnd   wire.Seq      // TLP.end_seq: SND.MAX when the probe went out
	tlpOut   bool          // a probe is outstanding (one per episode, §7.3)
	tlpRetx  bool          // the probe was a retransmission (TLP.is_retrans)
	tlpDSACK bool          // a D-SACK reported the probe's duplicate: nothing was lost
	rescued  bool          // this recovery's rescue retransmission went out (onRescue)
}

func (c *Conn) rackOn() bool { return c.cfg.RACK && c.sackOK }

// rackDelivered is RFC 8985 §6.2 step 2 and 3 for one newly delivered entry.
func (c *Conn) rackDelivered(now clock.Instant, s *txSeg) {
	if !c.sackOK {
		return
	}
	r := &c.rack
	rtt := now.Sub(s.xmit)
	if s.flags&segRetx != 0 && r.minRTT > 0 && rtt < r.minRTT {
		// The ACK may be for the original transmission (Karn's ambiguity):
		// a delivery sooner than the minimum RTT after the resend must be.
		return
	}
	if rtt >= 0 && (r.minRTT == 0 || rtt < r.minRTT) {
		r.minRTT = max(rtt, 1)
	}
	// Step 3: a segment delivered below one delivered before it, and never
	// resent, arrived out of order.
	if s.flags&segRetx == 0 && s.end.LessThan(r.fack) {
		r.reoSeen = true
	}
	r.fack = wire.MaxSeq(r.fack, s.end)
	if !r.valid || s.xmit > r.xmit || s.xmit == r.xmit && s.end.GreaterThan(r.endSeq) {
		r.xmit, r.endSeq, r.rtt, r.valid = s.xmit, s.end, rtt, true
	}
}

// onDSACK takes a D-SACK for [s, e) (RFC 2883): duplicate data reached the
// peer. RFC 8985 §6.2 step 4: widen the reordering window, at most once a
// round trip; a D-SACK for the tail loss probe means the probe was not needed.
func (c *Conn) onDSACK(s, e wire.Seq) {
	c.st.dsacksReceived++
	r := &c.rack
	if r.tlpOut && r.tlpRetx && e.GreaterThan(r.tlpEnd-wire.Seq(c.sndMSS)-1) {
		r.tlpDSACK = true
	}
	if c.sndUna.GreaterThan(r.dsackEnd) || r.reoMult == 0 {
		r.reoMult = min(max(r.reoMult, 1)+1, 64)
		r.dsackEnd = c.sndMax
		r.reoPers = 16
	}
	r.reoSeen = true
	if c.undoValid && s.GreaterEq(c.undoMarker) {
		c.undoRetrans -= (int(e-s) + c.sndMSS - 1) / c.sndMSS
		c.tryUndo()
	}
}

// tryUndo takes back the congestion response of the last fast recovery once
// it is over and a D-SACK has come back for every segment it retransmitted:
// the receiver had them all, so nothing was lost and the reduction was
// spurious (RFC 3708 §3; RFC 2883 §4.2). The window and threshold from before
// the recovery return. Reordering beyond the duplicate-ACK threshold is what
// causes this, and RACK's widened reordering window (onDSACK) makes it rarer.
// A timeout or the next recovery forgets the episode.
func (c *Conn) tryUndo() {
	if !c.undoValid || c.inRecovery || c.undoSent == 0 || c.undoRetrans > 0 {
		return
	}
	c.undoValid = false
	c.cc.(undoer).undoTo(c.undoCwnd, c.undoThresh)
	c.st.undos++
}

// rackReoWnd is RFC 8985 §6.2 step 4's reordering window.
func (c *Conn) rackReoWnd() time.Duration {
	r := &c.rack
	if !r.reoSeen && (c.inRecovery || c.txq.sackedN >= dupThresh) {
		return 0
	}
	mult := max(r.reoMult, 1)
	w := r.minRTT / 4 * time.Duration(mult)
	if c.hasRTT {
		w = min(w, c.srtt)
	}
	return w
}

// rackDetectLoss is RFC 8985 §6.2 step 5: mark lost every unSACKed entry sent
// at least RACK.rtt + reo_wnd before the most recently sent delivered one,
// and arm the reordering timer for the ones not yet that old. Entries are in
// sequence order and first transmissions in time order, so the scan stops at
// the first never-resent entry sent after RACK.xmit_ts.
func (c *Conn) rackDetectLoss(now clock.Instant) {
	r := &c.rack
	r.timerAt = clock.Never
	if !r.valid {
		return
	}
	q := &c.txq
	reo := c.rackReoWnd()
	for i := range q.n {
		s := q.at(i)
		if s.flags&(segSACKed|segLost) != 0 {
			continue
		}
		// Sent before the delivered one? Ties in time go by sequence
		// (RFC 8985 §6.2 RACK_sent_after), except that a retransmission
		// in the same clock tick went out after the original of a later
		// segment, not before it.
		if !(s.xmit < r.xmit || s.xmit == r.xmit && s.flags&segRetx == 0 && s.end.LessEq(r.endSeq)) {
			if s.flags&segRetx == 0 {
				break
			}
			continue
		}
		deadline := s.xmit.Add(r.rtt + reo)
		if deadline <= now {
			q.setFlag(s, segLost)
			c.st.rackLosses++
		} else {
			r.timerAt = min(r.timerAt, deadline)
		}
	}
}

// detectLoss runs loss detection after an ACK or the reordering timer, and
// starts fast recovery (RFC 6675 §5 step 4, RFC 8985 §6.2) when something is
// newly deemed lost and the loss is not of the previous recovery's window.
func (c *Conn) detectLoss(now clock.Instant) {
	if c.rackOn() {
		c.rackDetectLoss(now)
	} else {
		c.markLostByDupThresh()
	}
	if c.txq.lostN > 0 && !c.inRecovery && c.sndUna.GreaterEq(c.recover) {
		c.enterRecovery(now, true)
	}
}

// enterRecovery starts fast recovery: the congestion response, once per
// window of data (RFC 6582 "recover", RFC 6675 §5 RecoveryPoint).
func (c *Conn) enterRecovery(now clock.Instant, scoreboard bool) {
	c.inRecovery = true
	c.sackRecovery = scoreboard
	c.recover = c.sndMax
	c.highRxt = c.sndUna
	// Remember the window this response takes away, in case the loss was
	// not one (tryUndo): only D-SACKs can tell, so only with SACK.
	_, canUndo := c.cc.(undoer)
	c.undoValid = canUndo && c.sackOK
	c.undoMarker, c.undoRetrans, c.undoSent = c.sndUna, 0, 0
	c.undoCwnd, c.undoThresh = c.cc.Cwnd(), c.cc.Ssthresh()
	c.cc.OnCongestion(now, int(c.sndMax-c.sndUna))
	c.st.fastRetransmits++
	c.st.recoveries++
	if scoreboard {
		r := &c.rack
		if r.reoPers > 0 {
			if r.reoPers--; r.reoPers == 0 {
				r.reoMult = 1 // §6.2 step 4: forget old reordering after 16 recoveries
			}
		}
		c.rack.tlpAt = clock.Never
		c.rack.rescued = false
		// RFC 6675 §5 step 4.3: the first lost segment goes out at once,
		// whatever pipe says (the fast retransmit).
		c.lostRetxForce = true
		return
	}
	// NewReno without SACK: RFC 5681 §3.2 step 4 inflation by the three
	// segments that left the network, and the head is resent at once.
	c.inflate = 3 * c.sndMSS
	c.fastRetx = true
}

// armTLP schedules a tail loss probe (RFC 8985 §7.2) when data is outstanding
// and no recovery is under way. The PTO never fires after the RTO would.
//
// In a SACK recovery the same timer, restarted by every ACK and
// retransmission, arms the recovery's one rescue retransmission instead (see
// onRescue).
func (c *Conn) armTLP(now clock.Instant) {
	r := &c.rack
	r.tlpAt = clock.Never
	if !c.rackOn() || !c.hasRTT || c.sndNxt == c.sndUna || c.sndNxt != c.sndMax || !c.state.synchronized() {
		return
	}
	if c.inRecovery {
		if !c.sackRecovery || r.rescued {
			return
		}
	} else if r.tlpOut {
		return
	}
	pto := 2 * c.srtt
	if c.txq.n <= 1 {
		pto += wcDelAckT
	}
	// RFC 8985 §7.2: never later than the RTO would fire; at the same time,
	// the probe goes first and the RTO is restarted.
	r.tlpAt = min(now.Add(max(pto, time.Millisecond)), c.rtoAt)
}

// onPTO sends the probe (RFC 8985 §7.3): one new segment if the peer's window
// allows, else the last segment sent; then the RTO is restarted.
func (c *Conn) onPTO(now clock.Instant, out Output) {
	r := &c.rack
	r.tlpAt = clock.Never
	if c.inRecovery {
		c.onRescue(now, out)
		return
	}
	if c.sndNxt == c.sndUna || r.tlpOut {
		return
	}
	unsent := int(c.sndBufSeq + wire.Seq(c.sndBuf.n) - c.sndNxt)
	r.tlpOut, r.tlpDSACK = true, false
	c.st.tlpProbes++
	sent := false
	if unsent > 0 && c.sndNxt.Add(uint32(min(unsent, c.sndMSS))).LessEq(c.sndUna.Add(c.sndWnd)) {
		r.tlpRetx = false
		before, force := c.st.segsOut, c.forceSend
		c.tlpNewData = true
		c.forceSend = true // a short segment too: Nagle must not hold the probe
		c.sendData(now, out)
		c.tlpNewData = false
		c.forceSend = force && c.st.segsOut == before
		sent = c.st.segsOut != before
	}
	if q := &c.txq; !sent && q.n > 0 {
		r.tlpRetx = true
		c.resendLastMSS(now, out, q.at(q.n-1))
	}
	r.tlpEnd = c.sndMax
	c.rtoAt = now.Add(c.rto)
}

// onRescue is RFC 6675's rescue retransmission (§4 NextSeg() rule 4), timed
// by the probe timeout: once per recovery, when the ACK clock has stopped for
// a PTO, one segment is resent whatever cwnd - pipe says: the first segment
// deemed lost and not yet resent if there is one, else the highest unSACKed
// segment. RFC 6675 sends a rescue only when cwnd - pipe leaves room, and RFC
// 8985 §7.2 arms no probe during recovery, so a stack following both waits
// for the RTO when the last ACKs of a recovery are lost: segments sent after
// the last one delivered are then neither SACKed nor deemed lost, pipe stays
// above cwnd, and nothing else will come back. Against Linux receivers, which
// acknowledge a burst with one ACK, that was most of our RTOs at 2% loss each
// way (200 ms each on a ~100 µs path). The resent segment draws an ACK at
// once: a SACK that lets RACK find lost retransmissions (RFC 8985 §2.2), or a
// D-SACK and the cumulative ACK that end the recovery. It counts as a
// retransmission, takes no congestion response of its own (the recovery
// already took one) and restarts the RTO.
func (c *Conn) onRescue(now clock.Instant, out Output) {
	r := &c.rack
	q := &c.txq
	if r.rescued || !c.sackRecovery {
		return
	}
	if c.nextLost() != nil {
		// RFC 6675 §5 step 4.3's way: the first lost segment goes out
		// whatever pipe says (and, split if need be, no more than an MSS
		// beyond what cwnd - pipe allows).
		r.rescued = true
		c.st.rescues++
		c.lostRetxForce = true
		c.retransmitLost(now, out)
		c.rtoAt = now.Add(c.rto)
		return
	}
	i := q.n - 1
	for i >= 0 && q.at(i).flags&segSACKed != 0 {
		i--
	}
	if i < 0 {
		return
	}
	r.rescued = true
	c.st.rescues++
	c.resendLastMSS(now, out, q.at(i))
	c.rtoAt = now.Add(c.rto)
}

// resendLastMSS retransmits the last MSS of scoreboard entry s (all of it if
// shorter): the segment a probe or rescue resends to draw an ACK.
func (c *Conn) resendLastMSS(now clock.Instant, out Output, s *txSeg) {
	seq := s.end - wire.Seq(min(s.len(), c.sndMSS))
	a, b := c.sndBuf.peek(int(seq-c.sndBufSeq), int(s.end-seq))
	c.noteRetransmit(now)
	c.st.retransmits++
	c.emit(now, out, seq, wire.FlagACK, a, b)
	c.txResent(now, seq, s.end)
}

// tlpAcked is RFC 8985 §7.4: when the ACK for the probe's episode arrives, a
// retransmitted probe that the peer did not report as a duplicate repaired a
// real loss, which calls for a congestion response.
func (c *Conn) tlpAcked(now clock.Instant, ack wire.Seq) {
	r := &c.rack
	if !r.tlpOut || ack.LessThan(r.tlpEnd) {
		return
	}
	r.tlpOut = false
	if r.tlpRetx && !r.tlpDSACK && !c.inRecovery {
		c.cc.OnCongestion(now, int(c.sndMax-c.sndUna))
		c.st.tlpLossRepairs++
	}
}
