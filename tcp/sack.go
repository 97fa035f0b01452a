package tcp

import (
	"time"

	"offload/clock"
	"offload/wire"
)

// The send scoreboard (RFC 6675 §3, RFC 8985 §5.2) is a table of the data
// segments sent and not yet cumulatively acknowledged, in sequence order, each
// with its last transmit time and whether the peer SACKed it, whether it is
// deemed lost, and whether it was retransmitted. It is kept only when SACK is
// negotiated. The table is a ring allocated once at Dial/Accept with
// Config.ScoreboardSegments entries: once full, new data is folded into the
// last entry (coarser accounting, never more memory), so a peer that SACKs
// thousands of 1-MSS holes costs a bounded table and bounded work per ACK
// (REFERENCES item 15). A last entry that is SACKed or lost cannot take new
// data (it would count as SACKed, or be resent at once): that goes into an
// untracked tail, counted in pipe until the cumulative ACK covers it or the
// table has room to track it again. A lost entry larger than the window
// allows to resend is split (making room by merging two neighbours if the
// table is full), so a retransmission never exceeds cwnd - pipe by more than
// one MSS.

const (
	segSACKed = 1 << iota // the peer holds it (RFC 2018)
	segLost               // deemed lost (RFC 6675 IsLost or RACK), not yet resent
	segRetx               // retransmitted at least once
)

// txSeg is one scoreboard entry: bytes [start, end) last sent at xmit.
type txSeg struct {
	start, end wire.Seq
	xmit       clock.Instant
	flags      uint8
}

func (s *txSeg) len() int { return int(s.end - s.start) }

// txQueue is the ring of entries with byte counters kept in step, so pipe
// (RFC 6675 §4) is O(1).
type txQueue struct {
	e                             []txSeg // nil while empty and idle, or released; see newTxQueue
	size                          int     // entries of e when held; 0 once released
	arena                         *arrayPool[txSeg]
	head, n                       int
	bytes, sackedBytes, lostBytes int
	sackedN, lostN                int
	firstLost                     wire.Seq // no lost entry starts below this
	// tail bytes [tailStart, tailStart+tail) were sent after the last entry
	// while the table was full and that entry was SACKed or lost: in
	// flight, in pipe, but in no entry (tailXmit is their last send).
	tail      int
	tailStart wire.Seq
	tailXmit  clock.Instant
}

// newTxQueue makes a scoreboard of n entries. Like a ring, it takes its array
// from a shared pool when the first segment is recorded and gives it back
// (idle) when every entry is acknowledged, so an idle connection holds none.
func newTxQueue(n int) txQueue { return txQueue{size: n, arena: segPools.of(n)} }

// idle gives the array back when the scoreboard is empty.
func (q *txQueue) idle() {
	if q.e == nil || q.n != 0 {
		return
	}
	q.arena.put(q.e)
	q.e, q.head = nil, 0
}

func (q *txQueue) at(i int) *txSeg {
	j := q.head + i
	if j >= len(q.e) {
		j -= len(q.e)
	}
	return &q.e[j]
}

// release drops the table (a connection that sends nothing more).
func (q *txQueue) release() {
	q.n = 0
	q.idle()
	*q = txQueue{}
}

func (q *txQueue) reset() {
	q.head, q.n = 0, 0
	q.bytes, q.sackedBytes, q.lostBytes, q.sackedN, q.lostN = 0, 0, 0, 0, 0
	q.tail = 0
}

// search returns the index of the first entry ending after seq (q.n if none).
func (q *txQueue) search(seq wire.Seq) int {
	lo, hi := 0, q.n
	for lo < hi {
		m := (lo + hi) / 2
		if q.at(m).end.GreaterThan(seq) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// setFlag and clearFlag keep the counters in step with an entry's flags.
func (q *txQueue) setFlag(s *txSeg, f uint8) {
	if s.flags&f != 0 {
		return
	}
	s.flags |= f
	switch f {
	case segSACKed:
		q.sackedN++
		q.sackedBytes += s.len()
		if s.flags&segLost != 0 {
			q.clearFlag(s, segLost)
		}
	case segLost:
		q.lostN++
		q.lostBytes += s.len()
		if q.lostN == 1 {
			q.firstLost = s.start
		} else {
			q.firstLost = wire.MinSeq(q.firstLost, s.start)
		}
	}
}

func (q *txQueue) clearFlag(s *txSeg, f uint8) {
	if s.flags&f == 0 {
		return
	}
	s.flags &^= f
	switch f {
	case segSACKed:
		q.sackedN--
		q.sackedBytes -= s.len()
	case segLost:
		q.lostN--
		q.lostBytes -= s.len()
	}
}

// resize changes an entry's extent, keeping the byte counters right.
func (q *txQueue) resize(s *txSeg, start, end wire.Seq) {
	d := int(end-start) - s.len()
	q.bytes += d
	if s.flags&segSACKed != 0 {
		q.sackedBytes += d
	}
	if s.flags&segLost != 0 {
		q.lostBytes += d
	}
	s.start, s.end = start, end
}

// pipe is RFC 6675 §4's estimate of the bytes in the network: what was sent
// and is neither SACKed nor deemed lost (a lost segment that was resent is no
// longer marked lost, so it counts once, as its retransmission), the
// untracked tail included.
func (q *txQueue) pipe() int { return q.bytes - q.sackedBytes - q.lostBytes + q.tail }

// txSent records new data [seq, seq+n) sent at now, one entry per MSS.
func (c *Conn) txSent(now clock.Instant, seq wire.Seq, n int) {
	q := &c.txq
	if q.e == nil {
		if q.size == 0 {
			return // released
		}
		q.e, q.head = q.arena.get(), 0
	}
	if q.tail > 0 {
		// New data continues the untracked tail (it is contiguous: new
		// data starts at SND.MAX, where the tail ends).
		q.tail += n
		q.tailXmit = now
		c.st.scoreboardMerges++
		return
	}
	for n > 0 {
		if q.n == len(q.e) {
			// Full: fold the rest into the last entry rather than grow.
			last := q.at(q.n - 1)
			if last.flags&(segSACKed|segLost) != 0 {
				// That entry cannot take it: the rest is the untracked
				// tail, in pipe until acknowledged or tracked again.
				q.tail, q.tailStart, q.tailXmit = n, seq, now
				c.st.scoreboardMerges++
				return
			}
			q.resize(last, last.start, seq+wire.Seq(n))
			last.xmit = now
			c.st.scoreboardMerges++
			return
		}
		k := min(n, c.sndMSS)
		s := q.at(q.n)
		*s = txSeg{start: seq, end: seq + wire.Seq(k), xmit: now}
		q.n++
		q.bytes += k
		seq += wire.Seq(k)
		n -= k
	}
}

// txResent records that [seq, end) was sent again at now.
func (c *Conn) txResent(now clock.Instant, seq, end wire.Seq) {
	q := &c.txq
	for i := q.search(seq); i < q.n; i++ {
		s := q.at(i)
		if !s.start.LessThan(end) {
			break
		}
		s.xmit = now
		s.flags |= segRetx
		q.clearFlag(s, segLost)
	}
}

// txAcked drops what the cumulative ACK covers, feeding RACK each newly
// delivered entry. It returns the RTT of the oldest entry the ACK newly
// delivers that was sent only once (Karn's rule, RFC 6298 §3), or -1: the
// sample Linux calls seq_rtt, timed to the nanosecond by our own clock. An
// entry SACKed earlier is not timed by this ACK.
func (c *Conn) txAcked(now clock.Instant, ack wire.Seq) (rtt time.Duration) {
	q := &c.txq
	rtt = -1
	for q.n > 0 {
		s := q.at(0)
		if s.end.LessEq(ack) {
			if s.flags&segSACKed == 0 {
				c.rackDelivered(now, s)
				if rtt < 0 && s.flags&segRetx == 0 {
					rtt = now.Sub(s.xmit)
				}
			}
			q.clearFlag(s, segSACKed)
			q.clearFlag(s, segLost)
			q.bytes -= s.len()
			q.head++
			if q.head == len(q.e) {
				q.head = 0
			}
			q.n--
			continue
		}
		if s.start.LessThan(ack) {
			q.resize(s, ack, s.end)
		}
		break
	}
	if q.n == 0 {
		q.head = 0
	}
	if q.tail > 0 {
		if ack.GreaterThan(q.tailStart) {
			d := min(int(ack-q.tailStart), q.tail)
			q.tail -= d
			q.tailStart += wire.Seq(d)
		}
		if q.tail > 0 && q.n < q.size {
			// Room again: what is left of the tail becomes entries (one
			// per MSS while room lasts), which SACK, RACK and loss
			// recovery can act on.
			seq, n, x := q.tailStart, q.tail, q.tailXmit
			q.tail = 0
			c.txSent(x, seq, n)
		}
	}
	return rtt
}

// onSACKBlocks folds the SACK blocks of an acceptable ACK into the scoreboard
// (RFC 2018 §5; RFC 6675 §4 "Update()"). A first block below the cumulative
// ACK, or inside the second block, is a D-SACK (RFC 2883 §4): a report of
// duplicate data, which is evidence of reordering or of a spurious
// retransmission, never of loss. Other blocks must lie within (ack, SND.MAX]
// with start < end (REFERENCES item 14); anything else is ignored.
func (c *Conn) onSACKBlocks(now clock.Instant, o *wire.TCPOptions, ack wire.Seq) {
	n := min(int(o.NumSACK), wire.MaxSACKBlocks)
	for i := range n {
		b := o.SACK[i]
		if i == 0 && b.End.GreaterThan(b.Start) && (b.End.LessEq(ack) ||
			n > 1 && b.Start.GreaterEq(o.SACK[1].Start) && b.End.LessEq(o.SACK[1].End)) {
			// A D-SACK reports data of the last window (RFC 2883 §4); one
			// from further back is nonsense and ignored. (Its only effect is
			// a wider RACK reordering window, bounded by SRTT, so a forged
			// one costs little.)
			if b.Start.GreaterEq(ack-wire.Seq(c.maxSndWnd)-1) && int(b.End-b.Start) <= 1<<16 {
				c.onDSACK(b.Start, b.End)
			} else {
				c.st.sackBlocksIgnored++
			}
			continue
		}
		if !b.Start.GreaterEq(ack) || !b.End.GreaterThan(b.Start) || b.End.GreaterThan(c.sndMax) {
			c.st.sackBlocksIgnored++
			continue
		}
		c.markSACKed(now, b.Start, b.End)
	}
}

// markSACKed marks every entry wholly inside [s, e) as SACKed. An entry only
// partly covered is left alone (the peer will cover it later, or the
// cumulative ACK will); entries never split, so the table never grows.
func (c *Conn) markSACKed(now clock.Instant, s, e wire.Seq) {
	q := &c.txq
	for i := q.search(s); i < q.n; i++ {
		x := q.at(i)
		if x.end.GreaterThan(e) {
			break
		}
		if x.start.LessThan(s) || x.flags&segSACKed != 0 {
			continue
		}
		c.rackDelivered(now, x)
		q.setFlag(x, segSACKed)
	}
}

// markLostByDupThresh is RFC 6675 §4 IsLost() applied to the whole table: an
// unSACKed entry is lost when DupThresh (3) entries above it are SACKed, or
// more than (DupThresh-1)*SMSS bytes above it are (the byte test matters
// when entries were merged). Retransmitted entries are not marked again: a
// lost retransmission is left to the timer, as RFC 6675 does (RACK, when on,
// detects it sooner).
func (c *Conn) markLostByDupThresh() {
	q := &c.txq
	if q.sackedN == 0 {
		return
	}
	segs, bytes := 0, 0
	i := q.n - 1
	for ; i >= 0; i-- {
		s := q.at(i)
		if s.flags&segSACKed != 0 {
			segs++
			bytes += s.len()
			if segs >= dupThresh || bytes > (dupThresh-1)*c.sndMSS {
				break
			}
		}
	}
	for j := i - 1; j >= 0; j-- {
		s := q.at(j)
		if s.flags&(segSACKed|segLost|segRetx) == 0 {
			q.setFlag(s, segLost)
		}
	}
}

const dupThresh = 3 // RFC 5681 §3.2, RFC 6675 §2

// nextLost is RFC 6675 NextSeg() rule 1: the first entry deemed lost and
// not yet resent.
func (c *Conn) nextLost() *txSeg {
	q := &c.txq
	if q.lostN == 0 {
		return nil
	}
	from := 0
	if q.n > 0 && q.firstLost.GreaterThan(q.at(0).start) {
		from = q.search(q.firstLost)
	}
	for i := from; i < q.n; i++ {
		if s := q.at(i); s.flags&segLost != 0 {
			q.firstLost = s.start
			return s
		}
	}
	return nil
}

// retransmitLost resends lost entries while the window allows (RFC 6675 §5
// step (C)): each resend moves the entry out of "lost", so pipe grows by its
// size. It returns whether the window is used up.
func (c *Conn) retransmitLost(now clock.Instant, out Output) bool {
	for {
		s := c.nextLost()
		if s == nil {
			return false
		}
		if c.cwnd()-c.txq.pipe() < min(s.len(), c.sndMSS) && !c.lostRetxForce {
			return true
		}
		budget := max(c.cwnd()-c.txq.pipe(), min(s.len(), c.sndMSS))
		c.lostRetxForce = false
		if limit := max(budget-budget%c.sndMSS, c.sndMSS); s.len() > limit {
			// An entry that absorbed many segments (the table was full
			// when they were sent): resend what the window allows now
			// and keep the rest lost, for when it opens.
			s = c.txq.split(s, s.start+wire.Seq(limit))
		}
		seq, end := s.start, c.lostRunEnd(s, min(budget, c.maxSegment()))
		for p := seq; p.LessThan(end); {
			// One emit per super-segment, as for new data: a run of lost
			// entries leaves as one TSO/GSO frame rather than one frame per
			// MSS, so repairing a lost burst costs one frame, not dozens.
			n := min(int(end-p), c.maxSegment())
			if n > c.sndMSS {
				n -= n % c.sndMSS
			}
			a, b := c.sndBuf.peek(int(p-c.sndBufSeq), n)
			c.noteRetransmit(now)
			segs := (n + c.sndMSS - 1) / c.sndMSS
			c.st.retransmits += uint64(segs)
			c.st.sackRetransmits += uint64(segs)
			c.emit(now, out, p, wire.FlagACK, a, b)
			p += wire.Seq(n)
		}
		c.txResent(now, seq, end)
		c.highRxt = wire.MaxSeq(c.highRxt, end)
		c.lastSendAt = now
		c.armRTO(now)
		c.armTLP(now) // in recovery, the rescue's timer runs from the last send
	}
}

// split cuts entry s at seq (inside it) into two with the same flags and
// send time, and returns the first. A full table first merges two other
// neighbours to make room (see makeRoom).
func (q *txQueue) split(s *txSeg, at wire.Seq) *txSeg {
	i := q.search(s.start)
	if q.n == len(q.e) {
		i = q.makeRoom(i)
	}
	for k := q.n; k > i+1; k-- {
		*q.at(k) = *q.at(k - 1)
	}
	q.n++
	a, b := q.at(i), q.at(i+1)
	*b = *a
	a.end, b.start = at, at
	// The bytes counters are unchanged (the same bytes, the same flags);
	// the entry counts gain one.
	if a.flags&segSACKed != 0 {
		q.sackedN++
	}
	if a.flags&segLost != 0 {
		q.lostN++
	}
	return a
}

// makeRoom frees an entry of a full table by merging two neighbours, neither
// of them entry keep, and returns keep's index afterwards. It prefers two
// entries in the same state; failing that it merges a SACKed entry into its
// neighbour's state, or a lost one into an in-flight one's, so pipe can only
// grow (a SACKed or lost byte counted as in flight): never undercount what is
// in the network. O(table size), only when a large lost entry must be split
// with the table full.
func (q *txQueue) makeRoom(keep int) int {
	const state = segSACKed | segLost
	best, rank := -1, 3
	for j := 0; j+1 < q.n && rank > 0; j++ {
		if j == keep || j+1 == keep {
			continue
		}
		a, b := q.at(j).flags&state, q.at(j+1).flags&state
		r := 2
		switch {
		case a == b:
			r = 0
		case a&segSACKed != 0 || b&segSACKed != 0:
			r = 1
		}
		if r < rank {
			best, rank = j, r
		}
	}
	a, b := q.at(best), q.at(best+1)
	flags := (a.flags | b.flags) & segRetx
	fa, fb := a.flags&state, b.flags&state
	switch {
	case fa == fb:
		flags |= fa
	case fa&segSACKed != 0:
		flags |= fb
	case fb&segSACKed != 0:
		flags |= fa
	} // else one lost, one in flight: in flight
	q.clearFlag(a, segSACKed)
	q.clearFlag(a, segLost)
	q.clearFlag(b, segSACKed)
	q.clearFlag(b, segLost)
	a.end = b.end
	a.xmit = max(a.xmit, b.xmit)
	a.flags = flags &^ state
	if flags&segSACKed != 0 {
		q.setFlag(a, segSACKed)
	}
	if flags&segLost != 0 {
		q.setFlag(a, segLost)
	}
	for k := best + 1; k+1 < q.n; k++ {
		*q.at(k) = *q.at(k + 1)
	}
	q.n--
	if best < keep {
		keep--
	}
	return keep
}

// lostRunEnd is where the run of lost, contiguous entries that starts at s
// ends, taking at least s and at most limit bytes in all (a partial entry is
// never taken, and s is taken whole).
func (c *Conn) lostRunEnd(s *txSeg, limit int) wire.Seq {
	q := &c.txq
	end := s.end
	for i := q.search(s.end); i < q.n; i++ {
		t := q.at(i)
		if t.start != end || t.flags&segLost == 0 || int(t.end-s.start) > limit {
			break
		}
		end = t.end
	}
	return end
}

// scoreboardActive reports whether sending is governed by pipe (RFC 6675)
// rather than by SND.NXT-SND.UNA: SACK is on and the scoreboard knows of
// SACKed or lost data.
func (c *Conn) scoreboardActive() bool {
	return c.sackOK && (c.txq.sackedN > 0 || c.txq.lostN > 0)
}
