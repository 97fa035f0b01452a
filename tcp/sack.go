package tcp

import (
	"offload/clock"
	"offload/wire"
)

// maxSACKRanges bounds the SACK scoreboard: the peer's SACKed ranges above
// SND.UNA we remember. A block that would need more is ignored, which only
// makes recovery more conservative.
const maxSACKRanges = 16

// onSACKBlocks folds the SACK blocks of an acceptable ACK into the scoreboard
// (RFC 2018 §5; RFC 6675 §4 "Update()"). Blocks must lie within
// (ack, SND.MAX]; anything else (D-SACK reports, RFC 2883, or nonsense) is
// ignored.
func (c *Conn) onSACKBlocks(o *wire.TCPOptions, ack wire.Seq) {
	for i := range min(int(o.NumSACK), wire.MaxSACKBlocks) {
		b := o.SACK[i]
		if !b.Start.GreaterThan(ack) || !b.End.GreaterThan(b.Start) || b.End.GreaterThan(c.sndMax) {
			continue
		}
		c.addSACKed(b.Start, b.End)
	}
}

// addSACKed merges [s, e) into the sorted, disjoint scoreboard.
func (c *Conn) addSACKed(s, e wire.Seq) {
	i := 0
	for i < len(c.sacked) && c.sacked[i].end.LessThan(s) {
		i++
	}
	j := i
	for j < len(c.sacked) && c.sacked[j].start.LessEq(e) {
		j++
	}
	nr := seqRange{start: s, end: e}
	if i < j {
		nr.start = wire.MinSeq(s, c.sacked[i].start)
		nr.end = wire.MaxSeq(e, c.sacked[j-1].end)
	}
	switch {
	case j-i == 0:
		if len(c.sacked) == cap(c.sacked) {
			return
		}
		c.sacked = append(c.sacked, seqRange{})
		copy(c.sacked[i+1:], c.sacked[i:])
	case j-i > 1:
		c.sacked = append(c.sacked[:i+1], c.sacked[j:]...)
	}
	c.sacked[i] = nr
}

// trimSACKed drops what the cumulative ACK now covers.
func (c *Conn) trimSACKed() {
	k := 0
	for _, r := range c.sacked {
		if r.end.LessEq(c.sndUna) {
			continue
		}
		r.start = wire.MaxSeq(r.start, c.sndUna)
		c.sacked[k] = r
		k++
	}
	c.sacked = c.sacked[:k]
}

// nextHole is RFC 6675's NextSeg() rule 1, simplified: the first sequence
// number at or above HighRxt that is not SACKed but has SACKed data above it
// (so, during recovery, presumed lost), and how many bytes of it to resend.
func (c *Conn) nextHole() (wire.Seq, int, bool) {
	s := wire.MaxSeq(c.sndUna, c.highRxt)
	for _, r := range c.sacked {
		if s.LessThan(r.start) {
			return s, min(int(r.start-s), c.sndMSS), true
		}
		s = wire.MaxSeq(s, r.end)
	}
	return 0, 0, false
}

// retransmitHole resends the next presumed-lost hole during SACK recovery. It
// does not restart the retransmission timer, so a recovery that stops making
// progress still ends in a timeout.
func (c *Conn) retransmitHole(now clock.Instant, out Output) {
	seq, n, ok := c.nextHole()
	if !ok {
		return
	}
	c.noteRetransmit(now)
	c.st.retransmits++
	c.st.sackRetransmits++
	a, b := c.sndBuf.peek(int(seq-c.sndBufSeq), n)
	c.emit(now, out, seq, wire.FlagACK, a, b)
	c.highRxt = seq + wire.Seq(n)
}
