package tcp

import (
	"time"

	"offload/clock"
	"offload/wire"
)

// OnSegment processes one arriving segment (RFC 9293 §3.10.7). Whatever it must
// answer (ACKs, challenge ACKs, RSTs) is emitted by the next Poll.
func (c *Conn) OnSegment(now clock.Instant, seg *Segment) {
	c.now = max(c.now, now)
	c.st.segsIn++
	switch c.state {
	case StateClosed, StateListen:
		// The stack answers segments for closed connections with ResetFor.
	case StateSynSent:
		c.inSynSent(now, seg)
	default:
		c.inSynchronized(now, seg)
	}
	c.idleBuffers() // an ACK may have emptied the send side, a FIN dropped data held out of order
}

// inSynSent is RFC 9293 §3.10.7.3.
func (c *Conn) inSynSent(now clock.Instant, seg *Segment) {
	f := seg.Flags
	if f.Has(wire.FlagACK) && (seg.Ack.LessEq(c.iss) || seg.Ack.GreaterThan(c.sndMax)) {
		// Unacceptable ACK: it acknowledges nothing we sent.
		if !f.Has(wire.FlagRST) {
			c.queueRST(seg.Ack, 0, false)
		}
		return
	}
	if f.Has(wire.FlagRST) {
		// RFC 5961 §3.2 / RFC 9293: a RST in SYN-SENT counts only with an ACK of our SYN.
		if f.Has(wire.FlagACK) {
			c.fail(ErrConnectionRefused)
		}
		return
	}
	if !f.Has(wire.FlagSYN) {
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.rcvAdv = c.rcvNxt
	c.lastAckSent = c.rcvNxt
	c.negotiate(&seg.Options)
	c.updateTSRecent(now, &seg.TCPFields)
	c.sndWnd = uint32(seg.Window) // SYN windows are never scaled (RFC 7323 §2.2)
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	c.keepAt = clock.Never
	if f.Has(wire.FlagACK) {
		c.ackOurSYN(now, seg)
		c.establish(now)
		c.ackNow = true
		return
	}
	// Simultaneous open (RFC 9293 §3.5 figure 7): answer with SYN-ACK, resending
	// our SYN's sequence number.
	c.state = StateSynReceived
	c.synPending = true
}

// ackOurSYN takes the acknowledgment of our SYN: SND.UNA moves past ISS.
func (c *Conn) ackOurSYN(now clock.Instant, seg *Segment) {
	c.sampleRTT(now, seg, seg.Ack, -1)
	c.sndUna = c.iss + 1
	c.sndNxt = wire.MaxSeq(c.sndNxt, c.sndUna)
	c.rtoAt = clock.Never
	c.retries = 0
	c.lastProgress = now
}

// establish enters ESTABLISHED (or the closing state a queued FIN implies).
func (c *Conn) establish(now clock.Instant) {
	c.established = true
	c.synPending = false
	c.state = StateEstablished
	if c.finQueued {
		c.state = StateFinWait1
	}
	if !c.hasRTT && c.synRetx {
		// RFC 6298 §5.7: the SYN timed out and no RTT sample exists, so start data
		// with a conservative 3 s RTO.
		c.rto = min(max(3*time.Second, c.cfg.MinRTO), c.cfg.MaxRTO)
	}
	c.armKeepalive(now)
}

// inSynchronized is RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized
// states, with RFC 5961 and RFC 7323 checks.
func (c *Conn) inSynchronized(now clock.Instant, seg *Segment) {
	f := seg.Flags
	seq := seg.Seq
	payload := segPayload(seg)
	syn, fin := f.Has(wire.FlagSYN), f.Has(wire.FlagFIN)

	if c.state == StateSynReceived && syn && seq == c.irs && !f.Has(wire.FlagRST) {
		// A retransmission of the peer's SYN: if it carries no ACK our SYN-ACK was
		// lost; resend it. With an ACK it is the SYN-ACK of a simultaneous open
		// (figure 7), whose SYN we already hold: take its ACK below.
		if !f.Has(wire.FlagACK) {
			c.synPending = true
			return
		}
		syn, fin, payload = false, false, chain{}
		seq++
	}

	if c.tsOK && !f.Has(wire.FlagRST) {
		if !seg.Options.HasTimestamp {
			// RFC 7323 §3.2: once negotiated, every non-RST segment carries
			// timestamps; one without them SHOULD be dropped silently (else PAWS
			// could be bypassed by leaving the option out).
			c.st.pawsDrops++
			return
		}
		// PAWS (RFC 7323 §5.3 R1); RSTs are exempt (§5.2 recommends they be
		// acceptable regardless of timestamps).
		// A one-tick tolerance (as Linux's TCP_PAWS_WINDOW) keeps segments
		// reordered within the same millisecond from being dropped.
		if int32(seg.Options.TSVal-c.tsRecent) < -1 && now.Sub(c.tsRecentAt) < pawsIdle {
			c.st.pawsDrops++
			c.oowACK(now)
			return
		}
	}

	if syn && !f.Has(wire.FlagRST) && c.state.synchronized() {
		// RFC 5961 §4.2: a SYN in a synchronized state draws a challenge ACK,
		// whatever its sequence number (in window or not), and is dropped.
		c.challengeACK(now)
		return
	}

	segLen := payload.len()
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}
	if !acceptable(seq, segLen, c.rcvNxt, c.rcvWindow()) {
		// RFC 9293 §3.10.7.4 first check: answer with an ACK unless it is a RST.
		if !f.Has(wire.FlagRST) {
			if c.state == StateTimeWait && fin {
				// A retransmitted FIN: our ACK was lost; TIME-WAIT starts over.
				c.closeAt = now.Add(c.cfg.TimeWait)
				c.ackNow = true
				return
			}
			if payload.len() > 0 && c.sackOK && c.state.synchronized() {
				end := seq + wire.Seq(payload.len())
				if end.LessEq(c.rcvNxt) && end.GreaterThan(c.rcvNxt-wire.Seq(c.cfg.RecvBufferSize)) {
					// RFC 2883 §4: a retransmission of data we already
					// delivered; report it so the sender learns it was spurious.
					c.noteDSACK(seq, end)
					c.ackNow = true
					return
				}
			}
			c.oowACK(now)
		}
		return
	}
	c.gotSomething(now)

	if f.Has(wire.FlagRST) {
		if c.state == StateTimeWait {
			// RFC 1337 §3 (TIME-WAIT assassination, hazard H1): ignore RSTs
			// in TIME-WAIT, so an old duplicate cannot cut 2*MSL short.
			return
		}
		// RFC 5961 §3.2: only a RST at exactly RCV.NXT resets; any other in-window
		// RST draws a challenge ACK.
		if seq != c.rcvNxt {
			c.challengeACK(now)
			return
		}
		c.onReset()
		return
	}
	if syn {
		// A second SYN in SYN-RECEIVED (not a retransmission of the first):
		// RFC 5961 §4.2's challenge ACK, as in the synchronized states.
		c.challengeACK(now)
		return
	}
	if !f.Has(wire.FlagACK) {
		// RFC 9293 §3.10.7.4 fifth check: no ACK bit, drop the segment.
		return
	}
	ack := seg.Ack
	if c.state == StateSynReceived {
		if ack.LessEq(c.sndUna) || ack.GreaterThan(c.sndMax) {
			c.queueRST(ack, 0, false)
			return
		}
		c.ackOurSYN(now, seg)
		c.sndWnd = uint32(seg.Window) << c.sndWScale
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seq, ack
		c.establish(now)
	}
	if !c.onAck(now, seg, seq, ack, segLen) {
		return
	}
	if c.state == StateClosed || c.state == StateTimeWait && !fin {
		return
	}

	if segLen > 0 {
		if seg.Segs >= 2 {
			// Several wire segments merged by receive offload: RFC 5681 §4.2
			// wants an ACK for at least every second full-sized segment, and
			// the aggregate stands for two or more, so ACK it at once.
			c.ackNow = true
		}
		c.onData(now, seq, payload, fin)
	}
}

// pawsIdle is RFC 7323 §5.5's 24 days: a TS.Recent older than that is too old to
// compare against.
const pawsIdle = 24 * 24 * time.Hour

// acceptable is RFC 9293 §3.10.7.4's segment acceptability test. A zero-length
// segment at RCV.NXT is acceptable even with a zero window, which lets ACKs and
// RSTs through ("special allowance"); data at RCV.NXT into a zero window is also
// let through so its ACK is processed (the data itself is trimmed).
func acceptable(seq wire.Seq, segLen int, rcvNxt wire.Seq, wnd int) bool {
	w := uint32(wnd)
	switch {
	case w == 0:
		return seq == rcvNxt
	case segLen == 0:
		return seq.InWindow(rcvNxt, w)
	default:
		return seq.InWindow(rcvNxt, w) || (seq+wire.Seq(segLen-1)).InWindow(rcvNxt, w)
	}
}

// rcvWindow is RCV.WND for the acceptability test: the free receive space, or
// in TIME-WAIT or with the receive ring released (nothing more is taken) the
// window we last advertised, as Linux's TIME-WAIT sockets do.
func (c *Conn) rcvWindow() int {
	if c.state == StateTimeWait || c.rcvBuf.size() == 0 {
		if c.rcvAdv.GreaterThan(c.rcvNxt) {
			return int(c.rcvAdv - c.rcvNxt)
		}
		return 0
	}
	return c.rcvBuf.free()
}

// gotSomething notes an acceptable segment: the peer is alive.
func (c *Conn) gotSomething(now clock.Instant) {
	c.keepProbes = 0
	c.probesOut = 0
	c.armKeepalive(now)
}

// onReset handles an acceptable RST (RFC 9293 §3.10.7.4 second check).
func (c *Conn) onReset() {
	switch c.state {
	case StateSynReceived:
		if c.established {
			c.fail(ErrConnectionReset)
		} else {
			c.fail(ErrConnectionRefused)
		}
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.fail(ErrConnectionReset)
	default: // CLOSING, LAST-ACK, TIME-WAIT: the connection was ending anyway
		c.enterClosed()
	}
}

// oowACK answers an unacceptable segment with an ACK (RFC 9293 §3.10.7.4),
// at most one per Config.OutOfWindowACKInterval, so forged or looping segments
// cannot turn the connection into an ACK amplifier.
func (c *Conn) oowACK(now clock.Instant) {
	if iv := c.cfg.OutOfWindowACKInterval; iv > 0 && c.oowAt != clock.Never && now.Sub(c.oowAt) < iv && now >= c.oowAt {
		c.st.oowACKsSuppressed++
		return
	}
	c.oowAt = now
	c.ackNow = true
}

// noteDSACK remembers a duplicate range to report as the first SACK block of
// the next ACK (RFC 2883 §4). Only the latest duplicate is kept.
func (c *Conn) noteDSACK(s, e wire.Seq) {
	c.dsackStart, c.dsackEnd, c.dsackPending = s, e, true
}

// challengeACK queues an RFC 5961 challenge ACK, at most ChallengeACKLimit per second.
func (c *Conn) challengeACK(now clock.Instant) {
	if lim := c.cfg.ChallengeACKLimit; lim > 0 {
		if now.Sub(c.chalWindow) >= time.Second || now < c.chalWindow {
			c.chalWindow = now
			c.chalCount = 0
		}
		if c.chalCount >= lim {
			c.st.challengeACKsSuppressed++
			return
		}
		c.chalCount++
	}
	c.st.challengeACKs++
	c.ackNow = true
}

// onAck is the ACK check of RFC 9293 §3.10.7.4 with RFC 5961 §5.2 validation. It
// returns false when the segment must be dropped.
func (c *Conn) onAck(now clock.Instant, seg *Segment, seq, ack wire.Seq, segLen int) bool {
	// RFC 5961 §5.2: acceptable only within [SND.UNA - MAX.SND.WND, SND.NXT]
	// (SND.MAX here, since SND.NXT may have been pulled back by a timeout).
	if ack.GreaterThan(c.sndMax) || ack.LessThan(c.sndUna-wire.Seq(c.maxSndWnd)) {
		c.challengeACK(now)
		return false
	}
	if c.state == StateTimeWait {
		return true
	}
	c.updateTSRecent(now, &seg.TCPFields)

	if c.sackOK && seg.Options.NumSACK > 0 {
		c.onSACKBlocks(now, &seg.Options, ack)
	}

	wnd := uint32(seg.Window) << c.sndWScale
	// RFC 9293: update the send window only from segments newer than the last
	// update (SND.WL1/SND.WL2) so old reordered segments cannot shrink it.
	windowUpdate := false
	if c.sndWl1.LessThan(seq) || (c.sndWl1 == seq && c.sndWl2.LessEq(ack)) {
		windowUpdate = wnd != c.sndWnd
		c.sndWnd = wnd
		c.maxSndWnd = max(c.maxSndWnd, wnd)
		c.sndWl1, c.sndWl2 = seq, ack
		if wnd > 0 {
			c.persistAt = clock.Never
			c.persistShift = 0
		}
	}

	switch {
	case ack.GreaterThan(c.sndUna):
		c.onNewAck(now, seg, ack)
	case ack == c.sndUna && c.sndNxt.GreaterThan(c.sndUna) && segLen == 0 && !windowUpdate:
		// A duplicate ACK as RFC 5681 §2 defines it (data in flight: a
		// zero-window probe byte beyond SND.NXT does not count).
		c.onDupAck(now)
	}
	if c.sackOK {
		c.tlpAcked(now, ack)
		c.detectLoss(now)
		c.armTLP(now)
	}

	if c.finQueued && c.sndUna.GreaterThan(c.finSeq) {
		// Our FIN is acknowledged.
		switch c.state {
		case StateFinWait1:
			c.state = StateFinWait2
			if c.rdClosed {
				c.closeAt = now.Add(c.cfg.TimeWait)
			}
			c.releaseBuffers()
		case StateClosing:
			c.enterTimeWait(now)
		case StateLastAck:
			c.enterClosed()
			return false
		}
	}
	return true
}

// onNewAck handles an ACK that advances SND.UNA.
func (c *Conn) onNewAck(now clock.Instant, seg *Segment, ack wire.Seq) {
	flight := int(c.sndMax - c.sndUna)
	acked := int(ack - c.sndUna)
	// Drop acknowledged data from the send buffer.
	if ack.GreaterThan(c.sndBufSeq) {
		n := min(int(ack-c.sndBufSeq), c.sndBuf.n)
		c.sndBuf.consume(n)
		c.sndBufSeq += wire.Seq(n)
		c.st.bytesAcked += uint64(n)
	}
	c.sndUna = ack
	timed := time.Duration(-1)
	if c.sackOK {
		timed = c.txAcked(now, ack)
	}
	c.sampleRTT(now, seg, ack, timed)
	if c.retxTSValid && ack.GreaterEq(c.retxEnd) {
		c.retxTSValid = false
	}
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}
	c.retries = 0
	c.lastProgress = now

	if c.inRecovery {
		if ack.GreaterEq(c.recover) {
			c.inRecovery = false
			c.inflate = 0
			c.cc.OnExitRecovery(now, int(c.sndMax-c.sndUna))
			c.tryUndo() // the D-SACKs may all have come during the recovery
		} else if !c.sackRecovery {
			// RFC 6582 §3.2 step 5: a partial ACK; the next hole is lost too.
			// Deflate by the amount acknowledged, add back one SMSS if at
			// least one SMSS was acknowledged. (In SACK recovery, loss
			// detection decides what is lost and pipe limits sending.)
			c.inflate -= acked
			if acked >= c.sndMSS {
				c.inflate += c.sndMSS
			}
			c.inflate = max(c.inflate, c.sndMSS-c.cc.Cwnd())
			c.fastRetx = true
		}
	} else if 2*flight >= c.cc.Cwnd() {
		// Grow cwnd only while it limits sending (RFC 7661 §4.1 spirit): an
		// application- or receiver-limited sender must not inflate it unchecked.
		c.cc.OnAck(now, acked, flight, c.srtt)
	}
	c.dupAcks = 0

	// RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
	if c.sndNxt.GreaterThan(c.sndUna) {
		c.rtoAt = now.Add(c.rto)
	} else {
		c.rtoAt = clock.Never
	}
}

// onDupAck counts duplicate ACKs: fast retransmit on the third (RFC 5681 §3.2),
// NewReno recovery after (RFC 6582). With SACK information the scoreboard
// decides instead (detectLoss).
func (c *Conn) onDupAck(now clock.Instant) {
	c.dupAcks++
	c.st.dupAcks++
	if c.inRecovery {
		if !c.sackRecovery {
			c.inflate += c.sndMSS // RFC 5681 §3.2 step 5
		}
		return
	}
	if c.scoreboardActive() {
		return
	}
	// RFC 6582 §3.2 step 2: start recovery only if the ACK covers more than the
	// previous recovery point (RFC 6582's "recover" is the highest sequence
	// number sent, recover-1 here), so the duplicates of an earlier episode
	// (or of a timeout's go-back-N) do not trigger it again.
	if c.dupAcks == dupThresh && c.sndUna.GreaterEq(c.recover) {
		c.enterRecovery(now, false)
	}
}

// sampleRTT takes an RTT measurement from the ACK of new data (RFC 6298 §3,
// Karn's rule throughout). Our own send times come first, as in Linux: timed
// is the scoreboard's sample for this ACK (txAcked; -1 for none), else the
// one timed segment. The timestamp echo (RFC 7323 §4.1) counts in our
// millisecond TSval ticks, so on a path faster than a millisecond almost
// every echo reads 0 ms and the rest 1 ms: folded in, they drag SRTT to zero
// (a tail loss probe and reordering window of nothing) or jolt it up. It is
// used only when our clock timed nothing and, once an RTT is known, only when
// it reads at least a tick: what it adds is samples during retransmission,
// where Karn's rule leaves our clock without any.
func (c *Conn) sampleRTT(now clock.Instant, seg *Segment, ack wire.Seq, timed time.Duration) {
	if c.rttTiming && ack.GreaterThan(c.rttSeq) {
		c.rttTiming = false
		if timed < 0 {
			timed = now.Sub(c.rttStart)
		}
	}
	if timed >= 0 {
		c.updateRTT(timed)
		return
	}
	if c.tsOK && seg.Options.HasTimestamp && seg.Options.TSEcr != 0 {
		ms := c.tsNow(now) - seg.Options.TSEcr
		// An echo older than our first retransmission may come from a segment
		// sent long ago (the receiver echoes TS.Recent when our ACK-eliciting
		// retransmission was a duplicate): it would inflate the RTT, so skip it.
		stale := c.retxTSValid && int32(seg.Options.TSEcr-c.retxTS) < 0
		if int32(ms) >= 0 && !stale && (ms > 0 || !c.hasRTT) {
			c.updateRTT(time.Duration(ms) * time.Millisecond)
		}
	}
}

// updateRTT folds in one sample (RFC 6298 §2). A valid sample also ends
// exponential backoff (Karn).
func (c *Conn) updateRTT(r time.Duration) {
	r = max(r, 0)
	if !c.hasRTT {
		c.srtt = r
		c.rttvar = r / 2
		c.hasRTT = true
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	const granularity = time.Millisecond
	c.rto = min(max(c.srtt+max(granularity, 4*c.rttvar), c.cfg.MinRTO), c.cfg.MaxRTO)
}

// tsNow is our TSval clock: milliseconds plus the per-connection offset.
func (c *Conn) tsNow(now clock.Instant) uint32 { return uint32(now.Millis()) + c.tsOffset }

// updateTSRecent is RFC 7323 §4.3 (3): remember the peer's TSval from a segment
// that covers the last ACK we sent, so that with delayed ACKs the echo is the
// timestamp of the earliest unacknowledged segment (the RTT then includes the delay).
func (c *Conn) updateTSRecent(now clock.Instant, h *wire.TCPFields) {
	if !c.tsOK || !h.Options.HasTimestamp {
		return
	}
	if h.Flags.Has(wire.FlagSYN) || (int32(h.Options.TSVal-c.tsRecent) >= 0 && h.Seq.LessEq(c.lastAckSent)) {
		c.tsRecent = h.Options.TSVal
		c.tsRecentAt = now
	}
}

// enterTimeWait enters TIME-WAIT for 2*MSL (RFC 9293 §3.6).
func (c *Conn) enterTimeWait(now clock.Instant) {
	c.state = StateTimeWait
	c.rtoAt, c.persistAt, c.keepAt = clock.Never, clock.Never, clock.Never
	c.rack.timerAt, c.rack.tlpAt = clock.Never, clock.Never
	c.fastRetx, c.forceSend, c.lostRetxForce, c.tlpNewData = false, false, false, false
	c.closeAt = now.Add(c.cfg.TimeWait)
	c.releaseBuffers()
}

// onData takes the segment's text and FIN (RFC 9293 §3.10.7.4 seventh and
// eighth checks) into the receive buffer.
func (c *Conn) onData(now clock.Instant, seq wire.Seq, payload chain, fin bool) {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK: the peer already sent its FIN, so this
		// is a retransmission; TIME-WAIT's FIN retransmissions get an ACK.
		c.ackNow = true
		if c.state == StateTimeWait {
			c.closeAt = now.Add(c.cfg.TimeWait)
		}
		return
	}
	finAt := seq + wire.Seq(payload.len())
	if c.rdClosed && payload.len() > 0 && finAt.GreaterThan(c.rcvNxt) {
		// New data after the application closed: it can never be read. Tell the
		// peer (RFC 1122 §4.2.2.13).
		c.resetConnection()
		return
	}
	if c.oooFin && finAt.GreaterThan(c.oooFinSeq) {
		// Data beyond a FIN we already hold is bogus; keep what precedes the FIN.
		if seq.GreaterEq(c.oooFinSeq) {
			payload = chain{}
		} else {
			payload = payload.slice(0, int(c.oooFinSeq-seq))
		}
		fin = false
	}
	// Trim what we already have.
	if seq.LessThan(c.rcvNxt) {
		if c.sackOK {
			c.noteDSACK(seq, wire.MinSeq(c.rcvNxt, seq+wire.Seq(payload.len())))
			c.ackNow = true
		}
		d := int(c.rcvNxt - seq)
		if d >= payload.len() {
			payload = chain{}
		} else {
			payload = payload.slice(d, payload.len())
		}
		seq = c.rcvNxt
	}
	// Trim to the window; a FIN beyond it is dropped with the bytes.
	off := int(seq - c.rcvNxt)
	wnd := c.rcvBuf.free()
	if off+payload.len() > wnd {
		payload = payload.slice(0, max(0, wnd-off))
		fin = false
		c.ackNow = true
	}
	if payload.len() > 0 {
		if off == 0 && len(c.ooo) == 0 {
			// Fast path: in order, nothing held out of order.
			payload.writeTo(&c.rcvBuf, c.rcvBuf.n)
			c.deliver(payload.len())
			c.scheduleACK(now, payload.len())
		} else {
			c.reassemble(now, seq, payload)
		}
	}
	if fin && finAt.GreaterThan(c.rcvNxt) {
		// A FIN beyond a hole: remember where it goes.
		c.oooFin = true
		c.oooFinSeq = finAt
		c.ackNow = true
		// Anything held beyond the FIN was bogus: forget it.
		k := 0
		for _, r := range c.ooo {
			if r.start.LessThan(finAt) {
				r.end = wire.MinSeq(r.end, finAt)
				c.ooo[k] = r
				k++
			}
		}
		c.ooo = c.ooo[:k]
	}
	// The FIN is taken when RCV.NXT reaches it (RFC 9293 §3.10.7.4, eighth
	// check): with this segment, or, for a FIN that arrived ahead of a hole,
	// with the data that fills the hole. Data moves RCV.NXT only above (the
	// in-order fast path or reassemble), so this one check covers both.
	if fin && finAt == c.rcvNxt || c.oooFin && c.oooFinSeq == c.rcvNxt {
		c.onFIN(now)
	}
}

// deliver makes n more bytes readable (they are already in the ring).
func (c *Conn) deliver(n int) {
	c.rcvBuf.n += n
	c.rcvNxt += wire.Seq(n)
	c.st.bytesReceived += uint64(n)
}

// scheduleACK implements delayed ACKs: at least every second full-sized
// segment (RFC 5681 §4.2, RFC 1122 §4.2.3.2), otherwise within DelayedACK.
func (c *Conn) scheduleACK(now clock.Instant, n int) {
	c.unacked += n
	if c.unacked >= 2*c.rcvMSS || c.cfg.DelayedACK == 0 {
		c.ackNow = true
		return
	}
	if c.delackAt == clock.Never {
		c.delackAt = now.Add(c.cfg.DelayedACK)
	}
}

// reassemble stores out-of-order data and delivers what becomes contiguous.
//
// Overlap policy: the first bytes received for a sequence number win. Bytes
// already held (or already delivered) are never overwritten by a later segment
// carrying different data for the same sequence numbers; only the gaps it
// fills are copied. The bound: at most ReassemblyRanges disjoint ranges, all
// inside the receive buffer; a segment that would need another range is dropped.
func (c *Conn) reassemble(now clock.Instant, seq wire.Seq, p chain) {
	if c.ooo == nil {
		// First out-of-order arrival: the table is made now (an in-order
		// connection never needs it) and kept.
		c.ooo = make([]seqRange, 0, c.cfg.ReassemblyRanges)
	}
	end := seq + wire.Seq(p.len())
	// i: first range that ends at or after seq (could touch or overlap).
	i := 0
	for i < len(c.ooo) && c.ooo[i].end.LessThan(seq) {
		i++
	}
	// j: one past the last range that starts at or before end.
	j := i
	for j < len(c.ooo) && c.ooo[j].start.LessEq(end) {
		j++
	}
	merged := len(c.ooo) - (j - i) + 1
	if merged > cap(c.ooo) && seq != c.rcvNxt {
		c.st.oooDrops++
		c.ackNow = true
		return
	}
	base := c.rcvBuf.n
	cur := seq
	for k := i; k < j; k++ {
		r := c.ooo[k]
		if c.sackOK && r.start.LessThan(end) && r.end.GreaterThan(seq) && !c.dsackPending {
			// RFC 2883 §4: the first duplicated range held out of order.
			c.noteDSACK(wire.MaxSeq(seq, r.start), wire.MinSeq(end, r.end))
		}
		if r.start.GreaterThan(cur) {
			p.slice(int(cur-seq), int(r.start-seq)).writeTo(&c.rcvBuf, base+int(cur-c.rcvNxt))
		}
		cur = wire.MaxSeq(cur, r.end)
	}
	if cur.LessThan(end) {
		p.slice(int(cur-seq), p.len()).writeTo(&c.rcvBuf, base+int(cur-c.rcvNxt))
	}
	nr := seqRange{start: seq, end: end}
	if i < j {
		nr.start = wire.MinSeq(seq, c.ooo[i].start)
		nr.end = wire.MaxSeq(end, c.ooo[j-1].end)
	}
	if nr.start == c.rcvNxt {
		// Contiguous now: deliver it and drop the ranges it absorbed.
		filledHole := len(c.ooo) > 0
		c.ooo = append(c.ooo[:i], c.ooo[j:]...)
		c.deliver(int(nr.end - nr.start))
		if filledHole {
			// RFC 5681 §4.2: ACK immediately when a segment fills (part of) a gap.
			c.ackNow = true
		} else {
			c.scheduleACK(now, int(nr.end-nr.start))
		}
		return
	}
	// Replace ooo[i:j] with nr.
	switch {
	case j-i == 0:
		c.ooo = append(c.ooo, seqRange{})
		copy(c.ooo[i+1:], c.ooo[i:])
	case j-i > 1:
		c.ooo = append(c.ooo[:i+1], c.ooo[j:]...)
	}
	c.ooo[i] = nr
	c.sackRecent = seq
	// RFC 5681 §4.2: an out-of-order segment is acknowledged at once (the
	// duplicate ACK drives the sender's fast retransmit).
	c.ackNow = true
}

// onFIN takes the peer's FIN at RCV.NXT (RFC 9293 §3.10.7.4 eighth check).
func (c *Conn) onFIN(now clock.Instant) {
	c.rcvNxt++
	c.ooo = c.ooo[:0] // nothing follows a FIN: data held beyond it was bogus
	c.finReceived = true
	c.oooFin = false
	c.ackNow = true
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		if c.finQueued && c.sndUna.GreaterThan(c.finSeq) {
			c.enterTimeWait(now)
		} else {
			c.state = StateClosing
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	}
}

// TimeWaitReusable reports whether syn, a new SYN for this connection's 4-tuple,
// may open a new connection while this one is in TIME-WAIT (RFC 9293 §3.10.7.4
// and RFC 1122 §4.2.2.13: its sequence number is beyond everything seen; RFC
// 6191: or, with timestamps, its TSval is newer). If so the stack may Abort
// this Conn (no RST is sent from TIME-WAIT) and Accept the SYN; otherwise it
// hands the SYN to OnSegment, which answers with a challenge ACK (RFC 5961 §4).
func (c *Conn) TimeWaitReusable(syn *Segment) bool {
	// With FIN it is no SYN Accept takes (REFERENCES item 22): ending
	// TIME-WAIT for it would only cut 2*MSL short.
	if c.state != StateTimeWait || syn.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST|wire.FlagFIN) != wire.FlagSYN {
		return false
	}
	if c.tsOK && syn.Options.HasTimestamp {
		return int32(syn.Options.TSVal-c.tsRecent) > 0
	}
	return syn.Seq.GreaterThan(c.rcvNxt)
}
