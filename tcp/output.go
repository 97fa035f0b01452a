package tcp

import (
	"time"

	"offload/clock"
	"offload/wire"
)

// Poll runs the timers that are due and emits everything that should go out
// now: a pending RST, the SYN or SYN-ACK, retransmissions, new data and FIN as
// the windows allow, zero-window and keepalive probes, and ACKs.
func (c *Conn) Poll(now clock.Instant, out Output) {
	c.now = max(c.now, now)
	if c.rstPending {
		c.rstPending = false
		c.hdr = c.rst
		c.st.segsOut++
		out.Emit(&c.hdr, nil, nil)
	}
	if c.state == StateClosed {
		return
	}
	c.runTimers(now, out)
	switch c.state {
	case StateClosed:
		return
	case StateSynSent, StateSynReceived:
		if c.synPending {
			c.sendSYN(now, out)
		}
		if c.state == StateSynSent {
			return
		}
	}
	if c.state != StateSynReceived {
		if c.fastRetx {
			c.fastRetx = false
			c.retransmitHead(now, out)
		}
		c.sendData(now, out)
	}
	if c.ackNow || (c.delackAt != clock.Never && now >= c.delackAt) {
		// A pure ACK carries SND.MAX, not SND.NXT (as BSD does): after a
		// timeout pulled SND.NXT back, an ACK numbered SND.NXT can sit below
		// the peer's RCV.NXT, and a zero-length segment there is unacceptable
		// (RFC 9293 §3.10.7.4), so its acknowledgment would be ignored. Two
		// sides both in that state would ignore each other until they time out.
		c.emit(now, out, c.ackSeq(), wire.FlagACK, nil, nil)
	}
}

// ackSeq is the sequence number for segments without data (ACKs, RSTs): the
// highest sequence number sent as data (SND.MAX), except that a zero-window
// probe byte the peer has not taken does not count: a peer with a closed window
// accepts a zero-length segment only at exactly its RCV.NXT.
func (c *Conn) ackSeq() wire.Seq { return wire.MaxSeq(c.sndNxt, c.sndMaxData) }

// runTimers fires the timers that are due.
func (c *Conn) runTimers(now clock.Instant, out Output) {
	if now >= c.closeAt {
		// End of TIME-WAIT, or of FIN-WAIT-2 for a connection the application closed.
		c.enterClosed()
		return
	}
	if now >= c.rack.tlpAt && c.rack.tlpAt <= c.rtoAt {
		// The probe timeout first: onPTO restarts the RTO (RFC 8985 §7.3).
		c.onPTO(now, out)
	}
	if now >= c.rtoAt {
		c.onRTO(now)
		if c.state == StateClosed {
			return
		}
	}
	if now >= c.persistAt {
		c.onPersist(now, out)
		if c.state == StateClosed {
			return
		}
	}
	if now >= c.rack.timerAt {
		// RACK's reordering timer (RFC 8985 §6.3): the window for the
		// segments that were not yet old enough has passed.
		c.detectLoss(now)
	}
	if now >= c.rack.tlpAt {
		c.onPTO(now, out)
	}
	if now >= c.keepAt {
		c.onKeepalive(now, out)
	}
}

// cwnd is the congestion window in force: the controller's, plus NewReno's
// fast-recovery inflation for peers without SACK.
func (c *Conn) cwnd() int { return max(c.cc.Cwnd()+c.inflate, c.sndMSS) }

// onRTO is the retransmission timeout (RFC 6298 §5.4-5.6): back off, go back
// to SND.UNA and resend from there.
func (c *Conn) onRTO(now clock.Instant) {
	c.rtoAt = clock.Never
	c.st.timeouts++
	c.retries++
	limit := c.cfg.MaxRetries
	if c.state == StateSynSent || c.state == StateSynReceived {
		limit = c.cfg.SynRetries
	}
	if c.retries > limit || (c.cfg.UserTimeout > 0 && now.Sub(c.lastProgress) >= c.cfg.UserTimeout) {
		c.fail(ErrTimedOut)
		return
	}
	c.rto = min(2*c.rto, c.cfg.MaxRTO) // §5.5: back off
	c.noteRetransmit(now)
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.synPending = true
		c.synRetx = true
		return
	}
	c.cc.OnRTO(now, int(c.sndMax-c.sndUna))
	c.undoValid = false // a timeout's go-back-N resend is not undone
	// RFC 6582 §4: after a timeout, duplicate ACKs of data sent before it must
	// not start fast retransmit.
	c.inRecovery = false
	c.inflate = 0
	c.recover = c.sndMax
	c.dupAcks = 0
	c.sndNxt = c.sndUna
	// The peer may renege on SACKed data (RFC 2018 §8): after a timeout
	// everything from SND.UNA is resent and the scoreboard forgets what was
	// SACKed or deemed lost (the go-back-N resend retimes every entry).
	q := &c.txq
	for i := range q.n {
		s := q.at(i)
		q.clearFlag(s, segSACKed)
		q.clearFlag(s, segLost)
	}
	c.rack.timerAt, c.rack.tlpAt = clock.Never, clock.Never
	c.rack.tlpOut = false
	c.lostRetxForce = false
}

// noteRetransmit applies Karn's algorithm (RFC 6298 §3): the timed segment
// gives no sample once anything is retransmitted, and timestamp echoes older
// than the first retransmission of this episode are not trusted either.
func (c *Conn) noteRetransmit(now clock.Instant) {
	c.rttTiming = false
	if c.undoValid {
		c.undoRetrans++
		c.undoSent++
	}
	if !c.retxTSValid {
		c.retxTSValid = true
		c.retxTS = c.tsNow(now)
	}
	c.retxEnd = c.sndMax
}

// armRTO starts the retransmission timer if it is not running (RFC 6298 §5.1).
func (c *Conn) armRTO(now clock.Instant) {
	if c.rtoAt != clock.Never {
		return
	}
	c.rtoAt = now.Add(c.rto)
	if c.cfg.UserTimeout > 0 {
		// Fire no later than the user timeout so it is enforced on time.
		c.rtoAt = min(c.rtoAt, c.lastProgress.Add(c.cfg.UserTimeout))
	}
}

// sendSYN emits our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options.
func (c *Conn) sendSYN(now clock.Instant, out Output) {
	c.synPending = false
	flags := wire.FlagSYN
	if c.state == StateSynReceived {
		flags |= wire.FlagACK
	}
	h := &c.hdr
	*h = wire.TCPFields{Seq: c.iss, Flags: flags}
	if flags.Has(wire.FlagACK) {
		h.Ack = c.rcvNxt
	}
	h.Window = uint16(min(c.rcvBuf.free(), 0xffff)) // unscaled in SYNs (RFC 7323 §2.2)
	h.Options.MSS = uint16(c.cfg.MSS)
	active := c.state == StateSynSent
	if c.cfg.WindowScaling && (active || c.wsOK) {
		h.Options.HasWScale = true
		h.Options.WScale = wscaleFor(c.cfg.RecvBufferSize)
	}
	if c.cfg.SACK && (active || c.sackOK) {
		h.Options.SACKPermitted = true
	}
	if c.cfg.Timestamps && (active || c.tsOK) {
		h.Options.HasTimestamp = true
		h.Options.TSVal = c.tsNow(now)
		if !active {
			h.Options.TSEcr = c.tsRecent
		}
	}
	if c.synRetx {
		c.st.retransmits++
	} else if !c.rttTiming {
		c.rttTiming = true
		c.rttSeq = c.iss
		c.rttStart = now
	}
	c.st.segsOut++
	out.Emit(h, nil, nil)
	if flags.Has(wire.FlagACK) {
		c.ackSent(uint32(h.Window))
	}
	c.sndNxt = c.iss + 1
	c.sndMax = wire.MaxSeq(c.sndMax, c.sndNxt)
	c.sndMaxData = wire.MaxSeq(c.sndMaxData, c.sndNxt)
	c.armRTO(now)
}

// retransmitHead resends one segment from SND.UNA (fast retransmit, RFC 5681
// §3.2 step 4, and NewReno partial ACKs, RFC 6582 §3.2 step 5).
func (c *Conn) retransmitHead(now clock.Instant, out Output) {
	end := c.sndMax
	if c.finQueued && end.GreaterThan(c.finSeq) {
		end = c.finSeq // the FIN is not payload
	}
	n := min(int(end-c.sndUna), c.sndMSS)
	if n < 0 {
		n = 0
	}
	flags := wire.FlagACK
	if c.finQueued && c.sndUna+wire.Seq(n) == c.finSeq && c.sndMax.GreaterThan(c.finSeq) {
		flags |= wire.FlagFIN
	}
	if n == 0 && !flags.Has(wire.FlagFIN) {
		return
	}
	c.noteRetransmit(now)
	c.st.retransmits++
	off := int(c.sndUna - c.sndBufSeq)
	a, b := c.sndBuf.peek(off, n)
	c.emit(now, out, c.sndUna, flags, a, b)
	if c.sackOK {
		c.txResent(now, c.sndUna, c.sndUna+wire.Seq(n))
	}
	c.highRxt = wire.MaxSeq(c.highRxt, c.sndUna+wire.Seq(n))
	c.rtoAt = clock.Never
	c.armRTO(now)
}

// sendData sends new data (and retransmits after a timeout, from SND.NXT up to
// SND.MAX), then the FIN, within the peer's window and the congestion window,
// applying Nagle (RFC 1122 §4.2.3.4) and sender SWS avoidance (RFC 9293 §3.8.6.2.1).
func (c *Conn) sendData(now clock.Instant, out Output) {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	if c.txq.lostN > 0 && c.sackOK && c.sndNxt == c.sndMax {
		// RFC 6675 NextSeg() rule 1 first: lost data before new data. (After
		// a timeout, until the go-back-N resend has caught up with SND.MAX,
		// the resend itself repairs everything.)
		if c.retransmitLost(now, out) {
			return
		}
	}
	sent := false
	defer func() {
		if sent {
			c.armTLP(now)
		}
	}()
	for {
		end := c.sndBufSeq + wire.Seq(c.sndBuf.n)
		avail := 0
		if end.GreaterThan(c.sndNxt) {
			avail = int(end - c.sndNxt)
		}
		finNext := c.finQueued && c.sndNxt.LessEq(c.finSeq)
		if avail == 0 && !finNext {
			return
		}
		cwnd := c.cwnd()
		if !c.inRecovery && c.dupAcks > 0 && c.sndNxt == c.sndMax && !c.scoreboardActive() {
			// Limited transmit (RFC 3042): each of the first two duplicate
			// ACKs lets one new segment out beyond cwnd, so a small window
			// still produces the third duplicate ACK instead of a timeout.
			// (With a scoreboard, pipe already discounts SACKed data.)
			cwnd += min(c.dupAcks, 2) * c.sndMSS
		}
		if c.tlpNewData {
			cwnd += c.sndMSS // RFC 8985 §7.3: the probe may exceed cwnd
		}
		usable := int(c.sndUna + wire.Seq(c.sndWnd) - c.sndNxt) // may be negative
		if c.sndUna.Add(c.sndWnd).LessThan(c.sndNxt) {
			usable = 0
		}
		if c.scoreboardActive() && c.sndNxt == c.sndMax {
			// RFC 6675 §5: new data only while cwnd - pipe allows.
			usable = min(usable, cwnd-c.txq.pipe()-int(c.sndMax-c.sndMaxData))
		} else {
			u := int(c.sndUna + wire.Seq(cwnd) - c.sndNxt)
			if c.sndUna.Add(uint32(cwnd)).LessThan(c.sndNxt) {
				u = 0
			}
			usable = min(usable, u)
		}
		n := max(0, min(avail, usable, c.maxSegment()))
		fin := finNext && n == avail
		if n == 0 && !fin {
			c.armPersist(now)
			return
		}
		if n < c.sndMSS && !fin && !c.forceSend {
			idle := c.noDelay || c.sndNxt == c.sndUna
			// Send a short segment only if it empties the buffer and Nagle allows
			// (nothing unacknowledged, or no-delay), or if it is at least half the
			// largest window the peer offered (SWS avoidance). Otherwise wait for
			// an ACK, or for the override timer when nothing is in flight.
			if !(idle && (n == avail || n >= int(c.maxSndWnd/2))) {
				c.armPersist(now)
				return
			}
		}
		if n > c.sndMSS && n%c.sndMSS != 0 && !c.noDelay && !fin {
			// A GSO super-segment carries only full-sized segments; the short
			// tail is left to Nagle on the next round, as without GSO.
			n -= n % c.sndMSS
			fin = false
		}
		c.forceSend = false
		flags := wire.FlagACK
		if fin {
			flags |= wire.FlagFIN
		}
		// PSH when the buffer empties, and on a tail loss probe of new data:
		// a lone segment is what a receiver delays its ACK for (Linux up to
		// 40 ms), and when the probe was sent because the ACK of a whole
		// flight was lost, that delay is the stall TLP exists to avoid. A
		// Linux receiver acknowledges pushed data once the application has
		// read it.
		if n == avail && n > 0 || c.tlpNewData {
			flags |= wire.FlagPSH
		}
		seq := c.sndNxt
		wasIdle := c.sndMax == c.sndUna
		if wasIdle && c.lastSendAt != 0 && now.Sub(c.lastSendAt) > c.rto {
			c.cc.OnIdleRestart(now)
		}
		if seq.LessThan(c.sndMax) {
			c.st.retransmits++
			c.noteRetransmit(now)
		} else if !c.rttTiming && n > 0 {
			c.rttTiming = true
			c.rttSeq = seq
			c.rttStart = now
		}
		a, b := c.sndBuf.peek(int(seq-c.sndBufSeq), n)
		c.emit(now, out, seq, flags, a, b)
		if c.sackOK && n > 0 {
			end := seq + wire.Seq(n)
			if seq.LessThan(c.sndMax) {
				c.txResent(now, seq, wire.MinSeq(end, c.sndMax))
			}
			if end.GreaterThan(c.sndMax) {
				s := wire.MaxSeq(seq, c.sndMax)
				c.txSent(now, s, int(end-s))
			}
		}
		sent = true
		if c.tlpNewData {
			c.tlpNewData = false
		}
		c.lastSendAt = now
		c.sndNxt = seq + wire.Seq(n)
		if fin {
			c.sndNxt++
		}
		c.sndMax = wire.MaxSeq(c.sndMax, c.sndNxt)
		c.sndMaxData = wire.MaxSeq(c.sndMaxData, c.sndNxt)
		c.persistAt = clock.Never
		c.persistShift = 0
		if wasIdle {
			// The user timeout counts from the oldest unacknowledged data.
			c.lastProgress = now
		}
		if c.sndNxt.GreaterThan(c.sndUna) {
			c.armRTO(now)
		}
		if fin {
			return
		}
	}
}

// maxSegment is the largest payload one emitted data segment may carry.
func (c *Conn) maxSegment() int {
	if c.cfg.GSOMaxSize > c.sndMSS {
		return c.cfg.GSOMaxSize / c.sndMSS * c.sndMSS
	}
	return c.sndMSS
}

// armPersist starts the persist timer when data waits but nothing is in flight
// to draw an ACK: a zero window (RFC 9293 §3.8.6.1), or a window too small for
// SWS avoidance to send (the "override timeout" of §3.8.6.2.1).
func (c *Conn) armPersist(now clock.Instant) {
	if c.persistAt != clock.Never || c.sndNxt != c.sndUna || c.rtoAt != clock.Never {
		return
	}
	if c.persistShift == 0 {
		c.persistStart = now
	}
	c.persistAt = now.Add(c.persistInterval())
}

// persistInterval backs off exponentially from the RTO up to MaxRTO.
func (c *Conn) persistInterval() time.Duration {
	d := c.rto << min(c.persistShift, 30)
	if d <= 0 || d > c.cfg.MaxRTO {
		d = c.cfg.MaxRTO
	}
	return max(d, c.cfg.MinRTO)
}

// onPersist fires the persist timer: with a usable window, force out what it
// allows; with a zero window, probe with one byte beyond it. The probe byte is
// not counted as in flight (SND.NXT stays), but SND.MAX covers it so that an
// ACK for it is acceptable if the peer took it.
func (c *Conn) onPersist(now clock.Instant, out Output) {
	c.persistAt = clock.Never
	if c.sndNxt != c.sndUna || c.state == StateClosed {
		return
	}
	end := c.sndBufSeq + wire.Seq(c.sndBuf.n)
	if !end.GreaterThan(c.sndNxt) {
		return
	}
	wnd := min(int(c.sndWnd), c.cwnd())
	if wnd > 0 {
		c.forceSend = true
		return
	}
	c.probesOut++
	// Linux applies the user timeout to a window that stays closed too, so an
	// application's bound on stalls holds whatever the cause.
	if c.probesOut > c.cfg.MaxRetries || (c.cfg.UserTimeout > 0 && now.Sub(c.persistStart) >= c.cfg.UserTimeout) {
		c.fail(ErrTimedOut)
		return
	}
	c.st.probesSent++
	a, b := c.sndBuf.peek(int(c.sndNxt-c.sndBufSeq), 1)
	c.emit(now, out, c.sndNxt, wire.FlagACK, a, b)
	c.sndMax = wire.MaxSeq(c.sndMax, c.sndNxt+1)
	c.persistShift++
	c.persistAt = now.Add(c.persistInterval())
	if c.cfg.UserTimeout > 0 {
		c.persistAt = min(c.persistAt, c.persistStart.Add(c.cfg.UserTimeout))
	}
}

// armKeepalive (re)starts the keepalive idle timer.
func (c *Conn) armKeepalive(now clock.Instant) {
	if !c.cfg.KeepAlive || !c.established {
		c.keepAt = clock.Never
		return
	}
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateFinWait2:
		c.keepAt = now.Add(c.cfg.KeepAliveIdle)
	default:
		c.keepAt = clock.Never
	}
}

// onKeepalive sends a keepalive probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, which is
// outside the peer's window and so draws an ACK (RFC 1122 §4.2.3.6).
func (c *Conn) onKeepalive(now clock.Instant, out Output) {
	c.keepAt = clock.Never
	if !c.cfg.KeepAlive {
		return
	}
	if c.sndMax != c.sndUna {
		// Data is outstanding: the retransmission timer watches the peer.
		c.keepAt = now.Add(c.cfg.KeepAliveInterval)
		return
	}
	if c.keepProbes >= c.cfg.KeepAliveCount {
		c.fail(ErrTimedOut)
		return
	}
	c.keepProbes++
	c.st.keepalivesSent++
	c.emit(now, out, c.sndUna-1, wire.FlagACK, nil, nil)
	c.keepAt = now.Add(c.cfg.KeepAliveInterval)
}

// emit sends one segment carrying ACK (and our timestamp), and notes that an
// ACK went out.
func (c *Conn) emit(now clock.Instant, out Output, seq wire.Seq, flags wire.TCPFlags, a, b []byte) {
	h := &c.hdr
	*h = wire.TCPFields{Seq: seq, Ack: c.rcvNxt, Flags: flags}
	win := c.advertisedWindow()
	h.Window = uint16(win >> c.rcvWScale)
	if c.tsOK {
		h.Options.HasTimestamp = true
		h.Options.TSVal = c.tsNow(now)
		h.Options.TSEcr = c.tsRecent
	}
	if c.sackOK && (len(c.ooo) > 0 || c.dsackPending) && !flags.Has(wire.FlagRST) {
		c.addSACKBlocks(&h.Options, len(a)+len(b))
	}
	c.st.segsOut++
	out.Emit(h, a, b)
	c.ackSent(uint32(h.Window) << c.rcvWScale)
}

// addSACKBlocks reports held out-of-order ranges (RFC 2018 §4): first a
// pending D-SACK (RFC 2883 §4, reported once), then the range holding the
// most recent arrival, then the others in sequence order, as many as fit in
// the option space (3 next to timestamps, 4 without) and within the MSS next
// to a payload of n bytes, so a full-sized segment never grows past the path
// MTU.
func (c *Conn) addSACKBlocks(o *wire.TCPOptions, n int) {
	const blockLen, hdrLen, optSpace = 8, 4, 40 // NOP NOP kind len, then 8 bytes a block
	used := 0
	if c.tsOK {
		used = tsOptionLen
	}
	want := len(c.ooo)
	if c.dsackPending {
		want++
	}
	limit := min((optSpace-used-hdrLen)/blockLen, wire.MaxSACKBlocks, want)
	if room := c.sndMSS - n - hdrLen; room < limit*blockLen {
		limit = room / blockLen
	}
	if limit <= 0 {
		return
	}
	if c.dsackPending {
		o.SACK[0] = wire.SACKBlock{Start: c.dsackStart, End: c.dsackEnd}
		o.NumSACK = 1
		c.dsackPending = false
		c.st.dsacksSent++
	}
	first := -1
	for i, r := range c.ooo {
		if int(o.NumSACK) >= limit {
			return
		}
		if c.sackRecent.GreaterEq(r.start) && c.sackRecent.LessThan(r.end) {
			first = i
			o.SACK[o.NumSACK] = wire.SACKBlock{Start: r.start, End: r.end}
			o.NumSACK++
			break
		}
	}
	for i := 0; i < len(c.ooo) && int(o.NumSACK) < limit; i++ {
		if i != first {
			o.SACK[o.NumSACK] = wire.SACKBlock{Start: c.ooo[i].start, End: c.ooo[i].end}
			o.NumSACK++
		}
	}
}

// ackSent records that RCV.NXT and a window of win were just advertised.
func (c *Conn) ackSent(win uint32) {
	c.ackNow = false
	c.delackAt = clock.Never
	c.unacked = 0
	c.rcvAdv = c.rcvNxt + wire.Seq(win)
	c.lastAckSent = c.rcvNxt
}

// advertisedWindow is the receive window to offer: the free buffer space, but
// the right edge moves forward only in steps of at least min(RCV.BUFF/2, MSS)
// (receiver SWS avoidance, RFC 9293 §3.8.6.2.2) and never moves back.
func (c *Conn) advertisedWindow() int {
	if c.rcvBuf.size() == 0 {
		// Released (nothing more is taken): keep offering what we offered.
		return c.rcvWindow()
	}
	free := c.rcvBuf.free()
	maxWin := 0xffff << c.rcvWScale
	free = min(free, maxWin)
	right := c.rcvNxt + wire.Seq(free)
	if c.rcvAdv.GreaterEq(c.rcvNxt) {
		if right.LessThan(c.rcvAdv) {
			right = c.rcvAdv // never shrink (RFC 9293 §3.8.6.2.2)
		} else if int(right-c.rcvAdv) < min(c.rcvBuf.size()/2, c.rcvMSS) {
			right = c.rcvAdv
		}
	}
	return min(int(right-c.rcvNxt), maxWin)
}
