package tcp

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// peerByte is the peer's stream content at sequence number s: every crafted
// data segment carries these bytes, so whatever Read returns can be checked
// for order, gaps and duplication without a model of the connection.
func peerByte(s wire.Seq) byte { return byte(uint32(s)*13 + uint32(s)>>11) }

// ourByte is the content of our stream at offset k (what Write is given).
func ourByte(k uint32) byte { return byte(k*7 + 3) }

// fuzzOut checks every emitted segment against our stream.
type fuzzOut struct {
	t   *testing.T
	c   *Conn
	n   int
	bad string
}

func (o *fuzzOut) Emit(h *wire.TCPFields, a, b []byte) {
	o.n++
	if len(a)+len(b) > 0 {
		if len(a)+len(b) > o.c.sndMSS && o.c.sndMSS > 0 {
			o.bad = "segment larger than the send MSS"
		}
		k := uint32(h.Seq - o.c.iss - 1)
		for i, x := range a {
			if x != ourByte(k+uint32(i)) {
				o.bad = "emitted bytes differ from what was written"
			}
		}
		for i, x := range b {
			if x != ourByte(k+uint32(len(a)+i)) {
				o.bad = "emitted bytes differ from what was written"
			}
		}
	}
	for i := range int(h.Options.NumSACK) {
		blk := h.Options.SACK[i]
		if i == 0 && blk.End.LessEq(h.Ack) && blk.End.GreaterThan(blk.Start) {
			continue // a D-SACK (RFC 2883): duplicate data below the ACK
		}
		if !blk.Start.GreaterThan(h.Ack) || !blk.End.GreaterThan(blk.Start) {
			o.bad = fmt.Sprintf("SACK block %+v not above the cumulative ACK %d (flags %v, state %v, ooo %v, rcvNxt %d)", blk, h.Ack, h.Flags, o.c.state, o.c.ooo, o.c.rcvNxt)
		}
	}
	if n := int(h.Options.NumSACK); n > 0 && len(a)+len(b)+4+8*n > o.c.sndMSS {
		o.bad = "SACK blocks push the segment past the MSS"
	}
	if h.Flags.Has(wire.FlagRST) && len(a)+len(b) > 0 {
		o.bad = "RST with payload"
	}
}

// FuzzConn drives one Conn with a sequence of crafted segments, application
// calls and time steps decoded from the input, checking invariants throughout:
// no panic, SND.UNA <= SND.NXT <= SND.MAX, bounded buffers and reassembly
// state, received bytes delivered in order exactly once, emitted bytes equal
// to what was written, and no busy loop (after Poll the deadline is in the future).
func FuzzConn(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0x12, 0, 0, 0, 0, 0xff, 0xff, 0, 10, 1, 200, 2, 50})
	f.Add([]byte{0, 1, 100, 0, 0x10, 0, 0, 0xff, 0xff, 5, 0, 3, 9, 2, 100})
	f.Add([]byte{0, 0, 0x10, 1, 0, 0, 0, 0x10, 0, 0, 200, 0, 0x10, 0, 0, 0, 0, 0x10, 0, 1, 0, 2, 255, 5, 5, 5})
	f.Add([]byte{0, 0, 0x14, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 4, 2, 5})
	f.Add([]byte{1, 0, 0x12, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 255, 1, 255, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0x10, 0, 0, 2, 0, 0, 0, 0, 0})
	// The handshake's ACK, then 600 bytes in order in 8 slices (sb 0xe0, as
	// from receive aggregation), then a read of all of it.
	f.Add([]byte{0, 0, 0x10, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x18, 1, 0, 0, 0, 0, 0x10, 0, 100, 0, 0xe0, 2, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		cfg := DefaultConfig()
		cfg.SendBufferSize = 8 << 10
		cfg.RecvBufferSize = 8 << 10
		cfg.ReassemblyRanges = 4
		cfg.MSS = 536
		cfg.KeepAlive = in[0]&2 != 0
		cfg.KeepAliveIdle = time.Second
		cfg.Timestamps = in[0]&4 != 0
		cfg.WindowScaling = in[0]&8 != 0
		cfg.SACK = in[0]&16 != 0
		cfg.RACK = in[0]&32 == 0
		if in[0]&64 != 0 {
			cfg.Congestion = NewNewReno
		}
		cfg.ScoreboardSegments = 16 // small, so the full-table paths run
		now := t0
		const irs = wire.Seq(0xfffff000) // near the wrap
		var c *Conn
		if in[0]&1 == 0 {
			syn := &Segment{TCPFields: wire.TCPFields{Seq: irs, Flags: wire.FlagSYN, Window: 4000}}
			syn.Options.MSS = 1000
			syn.Options.HasTimestamp = cfg.Timestamps
			syn.Options.TSVal = 1
			syn.Options.HasWScale = cfg.WindowScaling
			syn.Options.WScale = 2
			syn.Options.SACKPermitted = true
			var err error
			if c, err = Accept(&cfg, now, syn, 0xffffff00); err != nil {
				t.Fatal(err)
			}
		} else {
			c = Dial(&cfg, now, 0xffffff00)
		}
		out := &fuzzOut{t: t, c: c}
		in = in[1:]
		var written uint32
		var readSeq wire.Seq // next expected sequence number of read data
		readInit := false
		rbuf := make([]byte, 6000)
		wbuf := make([]byte, 6000)
		payload := make([]byte, 2048)
		tsval := uint32(2)
		rangesCap := c.cfg.ReassemblyRanges
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		for steps := 0; len(in) > 0 && steps < 400; steps++ {
			switch next() % 6 {
			case 0: // crafted segment
				flags := wire.TCPFlags(next())
				var seq wire.Seq
				switch mode := next(); mode % 4 {
				case 0:
					seq = c.rcvNxt + wire.Seq(int8(next()))
				case 1:
					seq = c.rcvNxt + wire.Seq(binary.BigEndian.Uint16([]byte{next(), next()}))
				case 2:
					seq = irs + wire.Seq(int8(next()))
				default:
					seq = wire.Seq(binary.BigEndian.Uint32([]byte{next(), next(), next(), next()}))
				}
				var ackn wire.Seq
				switch mode := next(); mode % 3 {
				case 0:
					ackn = c.sndNxt - wire.Seq(next())
				case 1:
					ackn = c.sndUna + wire.Seq(next())
				default:
					ackn = wire.Seq(binary.BigEndian.Uint32([]byte{next(), next(), next(), next()}))
				}
				win := binary.BigEndian.Uint16([]byte{next(), next()})
				n := int(next()) * 6
				for i := range n {
					payload[i] = peerByte(seq + wire.Seq(i))
				}
				s := &Segment{TCPFields: wire.TCPFields{Seq: seq, Ack: ackn, Flags: flags, Window: win}, Payload: payload[:n]}
				if o := next(); o&1 != 0 {
					s.Options.HasTimestamp = true
					if o&2 != 0 {
						tsval += uint32(o)
					} else {
						tsval -= uint32(o)
					}
					s.Options.TSVal = tsval
					s.Options.TSEcr = c.tsNow(now) - uint32(o>>2)
				}
				sb := next()
				if sb&3 != 0 {
					// SACK blocks around what we have in flight, aligned
					// to segments (as real receivers send them) when sb&4.
					for range sb & 3 {
						st := c.sndUna + wire.Seq(int(next())*16) - 64
						ln := wire.Seq(int(next()) * 16)
						if sb&4 != 0 {
							st = c.sndUna + wire.Seq(int(st-c.sndUna)/c.sndMSS*c.sndMSS)
							ln = wire.Seq(max(1, int(ln)/c.sndMSS) * c.sndMSS)
						}
						s.Options.SACK[s.Options.NumSACK] = wire.SACKBlock{Start: st, End: st + ln}
						s.Options.NumSACK++
					}
					if sb&8 != 0 {
						// A D-SACK first block below the cumulative ACK.
						s.Options.SACK[0] = wire.SACKBlock{Start: ackn - wire.Seq(next()), End: ackn}
					}
					if sb&16 != 0 {
						s.Options.NumSACK = sb // nonsense counts must be capped
					}
				}
				if k := int(sb >> 5); k > 0 && n > 0 {
					// As from receive aggregation: the payload in k slices
					// (Segment.More; some may be empty), standing for k wire
					// segments. The bytes are the same, so every check on
					// what Read returns holds unchanged. (sb < 32 keeps the
					// single slice, so older corpus entries run as before.)
					s.Payload, s.More = splitPayload(s.Payload, k+1, sb)
					s.Segs = k + 1
				}
				if flags.Has(wire.FlagSYN) {
					s.Options.SACKPermitted = true
					s.Options.MSS = uint16(next()) << 3
					s.Options.HasWScale = true
					s.Options.WScale = next() % 20
				}
				c.OnSegment(now, s)
			case 1:
				n := int(next()) * 20
				for i := range n {
					wbuf[i] = ourByte(written + uint32(i))
				}
				k, _ := c.Write(wbuf[:n])
				if k > n {
					t.Fatalf("Write returned %d > %d", k, n)
				}
				written += uint32(k)
			case 2:
				n := int(next()) * 20
				k, _ := c.Read(rbuf[:n])
				if k > 0 {
					if !readInit {
						readSeq = c.irs + 1
						readInit = true
					}
					for i := range k {
						if rbuf[i] != peerByte(readSeq) {
							t.Fatalf("read byte %d of a %d-byte read: got %#x, want %#x (seq %d)", i, k, rbuf[i], peerByte(readSeq), readSeq)
						}
						readSeq++
					}
				}
			case 3:
				now = now.Add(time.Duration(next()) * 10 * time.Millisecond)
			case 4:
				switch next() % 6 {
				case 0:
					c.Close()
				case 1:
					c.CloseWrite()
				case 2:
					c.Abort()
				case 3:
					c.SetNoDelay(true)
				case 4:
					c.SetNoDelay(false)
				case 5:
					c.SetKeepAlive(true, time.Second, time.Second, 2)
				}
			case 5:
				if d := c.Deadline(); d != clock.Never {
					now = max(now, d)
				}
			}
			c.Poll(now, out)
			if out.bad != "" {
				t.Fatal(out.bad)
			}
			checkInvariants(t, c, now, rangesCap)
		}
	})
}

func checkInvariants(t *testing.T, c *Conn, now clock.Instant, rangesCap int) {
	t.Helper()
	if c.sndUna.GreaterThan(c.sndNxt) || c.sndNxt.GreaterThan(c.sndMax) {
		t.Fatalf("SND.UNA %d SND.NXT %d SND.MAX %d out of order", c.sndUna, c.sndNxt, c.sndMax)
	}
	if c.sndBuf.n < 0 || c.sndBuf.n > c.sndBuf.size() || c.rcvBuf.n < 0 || c.rcvBuf.n > c.rcvBuf.size() {
		t.Fatalf("buffer counts %d/%d %d/%d", c.sndBuf.n, c.sndBuf.size(), c.rcvBuf.n, c.rcvBuf.size())
	}
	switch c.state {
	case StateTimeWait, StateClosed:
		// Nothing can be sent or received any more: the buffers are gone,
		// but for unread data the application may still read.
		if c.sndBuf.size() != 0 || cap(c.ooo) != 0 || len(c.txq.e) != 0 || c.rcvBuf.size() != 0 && (c.rcvBuf.n == 0 || c.closed) {
			t.Fatalf("%v holds buffers: %d bytes (%d unread)", c.state, c.BufferBytes(), c.rcvBuf.n)
		}
	case StateFinWait2:
		// Our FIN is acknowledged: nothing more to send. After Close,
		// nothing more to receive either (new data draws a RST).
		orphan := c.rdClosed
		if c.sndBuf.size() != 0 || len(c.txq.e) != 0 || orphan && (c.rcvBuf.size() != 0 || cap(c.ooo) != 0) {
			t.Fatalf("%v (closed %v) holds buffers: %d bytes (%d unread)", c.state, c.rdClosed, c.BufferBytes(), c.rcvBuf.n)
		}
		if !orphan && cap(c.ooo) != 0 && cap(c.ooo) != rangesCap {
			t.Fatalf("reassembly table changed: %d/%d (cap was %d)", len(c.ooo), cap(c.ooo), rangesCap)
		}
	default:
		// Made at the first out-of-order arrival, then fixed.
		if cap(c.ooo) != 0 && cap(c.ooo) != rangesCap || len(c.ooo) > rangesCap {
			t.Fatalf("reassembly table grew: %d/%d (cap was %d)", len(c.ooo), cap(c.ooo), rangesCap)
		}
	}
	checkIdleBuffers(t, c)
	right := c.rcvNxt + wire.Seq(c.rcvBuf.free())
	for i, r := range c.ooo {
		if !r.start.GreaterThan(c.rcvNxt) || !r.end.GreaterThan(r.start) || r.end.GreaterThan(right) {
			t.Fatalf("range %d [%d,%d) outside (RCV.NXT %d, right edge %d]", i, r.start, r.end, c.rcvNxt, right)
		}
		if i > 0 && !r.start.GreaterThan(c.ooo[i-1].end) {
			t.Fatalf("ranges overlap or touch: %v", c.ooo)
		}
	}
	checkScoreboard(t, c)
	if c.state.synchronized() && c.state != StateTimeWait && c.sndUna.LessThan(c.iss+1) {
		t.Fatalf("synchronized with SYN unacknowledged")
	}
	if d := c.Deadline(); d <= now && !c.Done() {
		t.Fatalf("deadline %v not after now %v right after Poll (state %v): busy loop", d, now, c.state)
	}
}

// FuzzPair runs two Conns over a lossy, reordering, duplicating wire whose
// behaviour and the applications' calls are decoded from the input. After the
// input is used up the wire turns perfect: then every byte written on either
// side must arrive, in order, exactly once (liveness), unless a connection
// failed with a timeout, in which case what arrived must still be a prefix.
func FuzzPair(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{0, 255, 0, 255, 10, 10, 10, 10, 3, 3, 3, 3, 9, 9, 9, 9, 2, 2, 2})
	f.Add([]byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 200, 100, 50})
	f.Fuzz(fuzzPairBody)
}

// fuzzTrace records a segment trace in FuzzPair (for debugging a failure).
var fuzzTrace = false

// fuzzPairBody is FuzzPair's body.
func fuzzPairBody(t *testing.T, in []byte) {
	if len(in) < 2 {
		return
	}
	cfg := DefaultConfig()
	cfg.SendBufferSize = 8 << 10
	cfg.RecvBufferSize = 8 << 10
	cfg.ReassemblyRanges = 3
	cfg.MSS = 536
	cfg.Timestamps = in[0]&1 != 0
	cfg.WindowScaling = in[0]&2 != 0
	cfg.NoDelay = in[0]&4 != 0
	cfg.GSOMaxSize = int(in[0]&8) * 300
	cfg.SACK = in[0]&16 == 0
	cfg.RACK = in[0]&32 == 0
	if in[0]&64 != 0 {
		cfg.Congestion = NewNewReno
	}
	cfg.ScoreboardSegments = 16 + int(in[0]>>7)*1000
	lossPct := int(in[1] % 40)
	in = in[2:]
	next := func() byte {
		if len(in) == 0 {
			return 0
		}
		b := in[0]
		in = in[1:]
		return b
	}
	p := newPair(t, cfg, cfg, wire.Seq(0xffffffff-uint32(len(in))), 0x7ffffff0, time.Millisecond)
	p.traceOn = fuzzTrace
	var netByte byte
	p.filter = func(_ bool, s *seg) bool {
		netByte = next()
		// Deliver some data segments in several slices, as receive
		// aggregation does (Segment.More), with Segs saying how many wire
		// segments they stand for: the same bytes, so liveness and the byte
		// checks hold unchanged. Driven by bits of the same input byte (no
		// extra byte is read, so the committed corpus keeps its meaning).
		if k := int(netByte>>1) & 3; k > 0 && len(s.Payload) > 0 {
			s.Payload, s.More = splitPayload(s.Payload, k+1, netByte)
			s.Segs = k + 1
		}
		return int(netByte)%100 < lossPct
	}
	p.jitter = func() time.Duration { return time.Duration(netByte>>4) * 300 * time.Microsecond }
	p.dup = func() bool { return netByte&0x0f == 0x0f }
	var wa, wb uint32 // bytes written by A and B
	var ra, rb []byte // bytes read by A and B
	buf := make([]byte, 8192)
	write := func(c *Conn, w *uint32, n int) {
		for i := range n {
			buf[i] = ourByte(*w + uint32(i))
		}
		k, _ := c.Write(buf[:n])
		*w += uint32(k)
	}
	read := func(c *Conn, dst []byte, n int) []byte {
		k, _ := c.Read(buf[:n])
		return append(dst, buf[:k]...)
	}
	p.runFor(time.Second)
	for steps := 0; len(in) > 0 && steps < 200; steps++ {
		if p.b == nil {
			break
		}
		switch op := next(); op % 5 {
		case 0:
			write(p.a, &wa, int(next())*16)
		case 1:
			write(p.b, &wb, int(next())*16)
		case 2:
			ra = read(p.a, ra, int(next())*16+1)
		case 3:
			rb = read(p.b, rb, int(next())*16+1)
		case 4:
			p.runFor(time.Duration(next()) * time.Millisecond)
		}
		p.runFor(time.Millisecond)
		checkPairConn(t, p.a)
		checkPairConn(t, p.b)
	}
	if p.b == nil {
		return
	}
	// The wire turns perfect: everything must get through.
	p.filter, p.jitter, p.dup = nil, nil, nil
	for range 2000 {
		p.runFor(100 * time.Millisecond)
		ra = read(p.a, ra, len(buf))
		rb = read(p.b, rb, len(buf))
		if uint32(len(ra)) == wb && uint32(len(rb)) == wa {
			break
		}
	}
	check := func(name string, got []byte, want uint32) {
		for i, x := range got {
			if x != ourByte(uint32(i)) {
				t.Fatalf("%s: byte %d is %#x, want %#x", name, i, x, ourByte(uint32(i)))
			}
		}
		if uint32(len(got)) > want {
			t.Fatalf("%s: read %d bytes, only %d written", name, len(got), want)
		}
		if uint32(len(got)) != want && p.a.Err() == nil && p.b.Err() == nil {
			t.Fatalf("%s: read %d of %d bytes on a perfect wire (A %v, B %v)\n%s", name, len(got), want, p.a.State(), p.b.State(), p.tail(30))
		}
	}
	check("B reading A", rb, wa)
	check("A reading B", ra, wb)
}

// checkScoreboard asserts the send scoreboard's invariants: a fixed table,
// entries sorted and disjoint within [SND.UNA, SND.MAX], counters equal to
// what the entries say, and nothing both SACKed and lost.
func checkScoreboard(t *testing.T, c *Conn) {
	t.Helper()
	q := &c.txq
	// The table is held at its configured size or not at all (idle or released).
	if len(q.e) != c.cfg.ScoreboardSegments && len(q.e) != 0 || q.n > len(q.e) || q.n < 0 {
		t.Fatalf("scoreboard grew: %d/%d (configured %d)", q.n, len(q.e), c.cfg.ScoreboardSegments)
	}
	bytes, sb, lb, sn, ln := 0, 0, 0, 0, 0
	for i := range q.n {
		s := q.at(i)
		if !s.start.GreaterEq(c.sndUna) || !s.end.GreaterThan(s.start) || s.end.GreaterThan(c.sndMax) {
			t.Fatalf("scoreboard entry %d [%d,%d) outside [SND.UNA %d, SND.MAX %d]", i, s.start, s.end, c.sndUna, c.sndMax)
		}
		if i > 0 && s.start.LessThan(q.at(i-1).end) {
			t.Fatalf("scoreboard entries overlap at %d", i)
		}
		if s.flags&segSACKed != 0 && s.flags&segLost != 0 {
			t.Fatalf("entry %d both SACKed and lost", i)
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
		t.Fatalf("scoreboard counters %d/%d/%d/%d/%d, entries say %d/%d/%d/%d/%d", q.bytes, q.sackedBytes, q.lostBytes, q.sackedN, q.lostN, bytes, sb, lb, sn, ln)
	}
	if q.pipe() < 0 {
		t.Fatalf("negative pipe %d", q.pipe())
	}
}

// checkPairConn asserts the sequence-space and scoreboard invariants of one
// side of a FuzzPair run.
func checkPairConn(t *testing.T, c *Conn) {
	t.Helper()
	if c.sndUna.GreaterThan(c.sndNxt) || c.sndNxt.GreaterThan(c.sndMax) {
		t.Fatalf("SND.UNA %d SND.NXT %d SND.MAX %d out of order", c.sndUna, c.sndNxt, c.sndMax)
	}
	checkIdleBuffers(t, c)
	if len(c.ooo) > cap(c.ooo) || cap(c.ooo) != 0 && cap(c.ooo) != c.cfg.ReassemblyRanges {
		t.Fatalf("reassembly table %d/%d", len(c.ooo), cap(c.ooo))
	}
	checkScoreboard(t, c)
}

// checkIdleBuffers asserts that, between calls, a side holds its array exactly
// while it stores something: the send ring and scoreboard while bytes are
// queued or unacknowledged, the receive ring while bytes are unread or held
// out of order. An idle connection must cost no buffer memory.
func checkIdleBuffers(t *testing.T, c *Conn) {
	t.Helper()
	if c.sndBuf.held() != (c.sndBuf.n > 0) {
		t.Fatalf("send ring holds its array %v with %d bytes stored", c.sndBuf.held(), c.sndBuf.n)
	}
	if c.txq.e != nil && c.sndBuf.n == 0 {
		t.Fatalf("scoreboard held (%d entries) with the send ring empty", c.txq.n)
	}
	if stored := c.rcvBuf.n > 0 || len(c.ooo) > 0; c.rcvBuf.held() != stored {
		t.Fatalf("receive ring holds its array %v with %d bytes unread and %d ranges held", c.rcvBuf.held(), c.rcvBuf.n, len(c.ooo))
	}
}

// splitPayload cuts p into k pieces at points drawn from sel (some pieces may
// be empty), returned as a Segment's Payload and More: the shape of an
// aggregate from receive offload, which references its frames' payloads
// instead of copying them.
func splitPayload(p []byte, k int, sel byte) ([]byte, [][]byte) {
	cuts := make([]int, 0, k+1)
	cuts = append(cuts, 0)
	x := uint32(sel) | 1
	for range k - 1 {
		x = x*1103515245 + 12345
		c := int(uint64(x>>8) % uint64(len(p)+1))
		i := len(cuts)
		cuts = append(cuts, c)
		for i > 1 && cuts[i-1] > c { // keep the cut points sorted
			cuts[i] = cuts[i-1]
			i--
		}
		cuts[i] = c
	}
	cuts = append(cuts, len(p))
	more := make([][]byte, 0, k-1)
	for i := 1; i < k; i++ {
		more = append(more, p[cuts[i]:cuts[i+1]])
	}
	return p[:cuts[1]], more
}
