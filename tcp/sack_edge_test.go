package tcp

import (
	"fmt"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// halvingCC is a congestion controller for scoreboard tests: a fixed window
// that halves on loss (unless keep is set), so how much a sender may have in
// flight is known exactly.
type halvingCC struct {
	mss, cwnd int
	keep      bool
}

func (h *halvingCC) Cwnd() int                                    { return h.cwnd }
func (h *halvingCC) Ssthresh() int                                { return h.cwnd }
func (h *halvingCC) OnAck(clock.Instant, int, int, time.Duration) {}
func (h *halvingCC) OnCongestion(clock.Instant, int) {
	if !h.keep {
		h.cwnd = max(h.cwnd/2, 2*h.mss)
	}
}
func (h *halvingCC) OnExitRecovery(clock.Instant, int) {}
func (h *halvingCC) OnRTO(clock.Instant, int)          { h.cwnd = h.mss }
func (h *halvingCC) OnIdleRestart(clock.Instant)       {}
func (h *halvingCC) SetMSS(mss int)                    { h.mss = mss }

// scoreboardRig is an established SACK connection (RACK off, so only RFC
// 6675's rules mark losses) with a 16-entry scoreboard, a congestion window
// of segs full segments that halves on loss (unless keep), a receive window
// far larger, and 1 MiB written. It has sent its first window.
func scoreboardRig(t *testing.T, segs int, keep bool) (*rig, func(int) wire.Seq) {
	t.Helper()
	cfg := rigConfig()
	cfg.SACK, cfg.RACK, cfg.WindowScaling = true, false, true
	cfg.ScoreboardSegments = 16
	cfg.SendBufferSize = 2 << 20
	cfg.Congestion = func(mss int) CongestionControl { return &halvingCC{mss: mss, cwnd: segs * mss, keep: keep} }
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
	syn.Options = wire.TCPOptions{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 8}
	c, err := Accept(&cfg, t0, syn.segment(), rigISS)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, now: t0, c: c}
	r.poll()
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(ack(peerISS+1, rigISS+1, 65535)) // a window of 16 MiB
	r.c.SetNoDelay(true)
	r.c.Write(make([]byte, 1<<20))
	if out := r.poll(); len(out) != segs {
		t.Fatalf("sent %d segments, want the window's %d", len(out), segs)
	}
	if r.c.txq.n != 16 {
		t.Fatalf("scoreboard holds %d entries, want a full 16", r.c.txq.n)
	}
	return r, func(i int) wire.Seq { return rigISS + 1 + wire.Seq(i*1460) }
}

// inNetwork is what the connection really has in the network: sent, not
// cumulatively acknowledged, not SACKed and not deemed lost (RFC 6675 §4's
// pipe computed from sequence numbers, not from the scoreboard).
func inNetwork(c *Conn) int {
	return int(c.sndMax-c.sndUna) - c.txq.sackedBytes - c.txq.lostBytes
}

// When the scoreboard is full and its last entry is SACKed, new data cannot
// be folded into that entry. It must still count in pipe (RFC 6675 §4), or
// the sender would send without bound while pipe stays put: in flight stays
// within cwnd, and the data sent beyond the table is tracked again once the
// cumulative ACK makes room.
func TestFullScoreboardWithSACKedLastEntryKeepsPipeWithinCwnd_RFC6675_5(t *testing.T) {
	r, seq := scoreboardRig(t, 30, true)
	// Entries 0..14 hold a segment each, entry 15 the other 15. The peer
	// SACKs entry 15 whole: entries 0..14 are deemed lost (more than
	// 2*SMSS SACKed above them) and resent, which leaves room in cwnd
	// (kept at 30 segments here) for 15 segments of new data.
	r.send(sackAck(seq(0), wire.SACKBlock{Start: seq(15), End: seq(30)}))
	c := r.c
	if !c.Info().InRecovery {
		t.Fatal("no recovery")
	}
	if got, cw := inNetwork(c), c.cwnd(); got > cw {
		t.Fatalf("%d bytes in the network (pipe by the scoreboard %d) with cwnd %d: sent %d bytes past the SACKed last entry",
			got, c.txq.pipe(), cw, int(c.sndMax-seq(30)))
	}
	if c.txq.pipe() != inNetwork(c) {
		t.Fatalf("pipe %d, but %d bytes are in the network", c.txq.pipe(), inNetwork(c))
	}
	// The cumulative ACK covers the retransmissions: the table has room
	// again, and what was sent beyond it becomes entries RACK and SACK can
	// act on.
	r.send(ack(peerISS+1, seq(30), 65535))
	if c.txq.pipe() != inNetwork(c) {
		t.Fatalf("after the ACK: pipe %d, %d bytes in the network", c.txq.pipe(), inNetwork(c))
	}
	if c.txq.tail != 0 || c.txq.n == 0 || c.txq.at(0).start != seq(30) {
		t.Fatalf("untracked tail of %d bytes, %d entries from %d; want entries from %d", c.txq.tail, c.txq.n, c.txq.at(0).start, seq(30))
	}
}

// A lost entry that absorbed many segments (the table was full when they
// were sent) is resent only as far as cwnd - pipe allows (RFC 6675 §5 step
// (C): "the TCP MUST ... only if cwnd - pipe >= 1 SMSS", per segment), not
// whole in one burst: the entry is split, the rest stays lost and goes as the
// window opens. Every byte of it is still resent.
func TestMergedLostEntryIsResentWithinCwnd_RFC6675_5(t *testing.T) {
	r, seq := scoreboardRig(t, 30, false)
	c := r.c
	// ACK entries 0..4: room for 5 more entries, which the next 5 segments
	// take (entries 5..14 single, 15 merged of 15 segments, then 30..34).
	out := r.send(ack(peerISS+1, seq(5), 65535))
	if len(out) != 5 || c.txq.n != 16 || c.txq.at(10).len() != 15*1460 {
		t.Fatalf("sent %v; %d entries, entry 10 of %d bytes", out, c.txq.n, c.txq.at(10).len())
	}
	// SACK the 5 newest: everything below is deemed lost, the merged entry
	// too; cwnd halves to 15 segments.
	out = r.send(sackAck(seq(5), wire.SACKBlock{Start: seq(30), End: seq(35)}))
	resent := 0
	for _, s := range out {
		resent += len(s.Payload)
	}
	cw := c.cwnd()
	if got := inNetwork(c); got > cw {
		t.Fatalf("resent %d bytes: %d in the network with cwnd %d (pipe %d)", resent, got, cw, c.txq.pipe())
	}
	if resent < cw-1460 {
		t.Fatalf("resent only %d bytes with cwnd %d and nothing in flight", resent, cw)
	}
	// The peer acknowledges the retransmissions one window at a time; every
	// lost byte goes out, never more than the window at once.
	for range 10 {
		if c.txq.lostN == 0 {
			break
		}
		r.send(sackAck(c.highRxt, wire.SACKBlock{Start: seq(30), End: seq(35)}))
		if got := inNetwork(c); got > c.cwnd() {
			t.Fatalf("%d bytes in the network with cwnd %d", got, c.cwnd())
		}
	}
	if c.txq.lostN != 0 || c.highRxt != seq(30) {
		t.Fatalf("%d entries still lost, resent up to %d (want %d)", c.txq.lostN, c.highRxt, seq(30))
	}
}

// checkCounters recomputes the scoreboard's counters from its entries.
func checkCounters(t *testing.T, q *txQueue, what string) {
	t.Helper()
	var bytes, sb, lb, sn, ln int
	for i := range q.n {
		s := q.at(i)
		if i > 0 && s.start != q.at(i-1).end {
			t.Fatalf("%s: entry %d starts at %d, previous ends at %d", what, i, s.start, q.at(i-1).end)
		}
		bytes += s.len()
		if s.flags&segSACKed != 0 {
			sb += s.len()
			sn++
		}
		if s.flags&segLost != 0 {
			lb += s.len()
			ln++
		}
	}
	if bytes != q.bytes || sb != q.sackedBytes || lb != q.lostBytes || sn != q.sackedN || ln != q.lostN {
		t.Fatalf("%s: counters bytes %d/%d sacked %d/%d (%d/%d) lost %d/%d (%d/%d)", what,
			q.bytes, bytes, q.sackedBytes, sb, q.sackedN, sn, q.lostBytes, lb, q.lostN, ln)
	}
}

// Splitting a lost entry in a full table makes room by merging two other
// neighbours, whatever states the table holds: the entries stay contiguous
// and in order, the counters match the entries, the split entry keeps its
// bytes and state, and pipe never shrinks (a merge may only count a SACKed
// or lost byte as in flight, never the reverse).
func TestScoreboardSplitInFullTableKeepsCountersAndNeverShrinksPipe(t *testing.T) {
	patterns := map[string]func(i int) uint8{
		"same states":           func(i int) uint8 { return []uint8{0, 0, segSACKed, segSACKed}[i%4] },
		"alternating SACKed":    func(i int) uint8 { return []uint8{segSACKed, segLost}[i%2] },
		"alternating in-flight": func(i int) uint8 { return []uint8{0, segLost | segRetx}[i%2] },
		"three states":          func(i int) uint8 { return []uint8{segSACKed, 0, segLost}[i%3] },
	}
	for name, flag := range patterns {
		for _, victim := range []int{0, 7, 15} {
			c := &Conn{sndMSS: 1000}
			c.txq = newTxQueue(16)
			c.txSent(t0, 0, 16*1000)
			q := &c.txq
			for i := range q.n {
				for _, f := range []uint8{segSACKed, segLost, segRetx} {
					if flag(i)&f != 0 {
						if f == segRetx {
							q.at(i).flags |= f
						} else {
							q.setFlag(q.at(i), f)
						}
					}
				}
			}
			// The victim: a lost entry of 1000 bytes, cut at 400.
			v := q.at(victim)
			q.clearFlag(v, segSACKed)
			q.setFlag(v, segLost)
			start, pipe := v.start, q.pipe()
			checkCounters(t, q, name+" before")
			a := q.split(v, start+400)
			what := fmt.Sprintf("%s, after splitting entry %d", name, victim)
			checkCounters(t, q, what)
			if q.n != 16 || a.start != start || a.end != start+400 || a.flags&segLost == 0 {
				t.Fatalf("%s: %d entries, first half [%d, %d) flags %b", what, q.n, a.start, a.end, a.flags)
			}
			i := q.search(start)
			if b := q.at(i + 1); b.start != start+400 || b.end != start+1000 || b.flags&segLost == 0 {
				t.Fatalf("%s: second half [%d, %d) flags %b", what, b.start, b.end, b.flags)
			}
			if q.pipe() < pipe {
				t.Fatalf("%s: pipe shrank from %d to %d", what, pipe, q.pipe())
			}
		}
	}
}
