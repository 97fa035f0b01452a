package tcp

import (
	"io"
	"time"
	"unsafe"

	"offload/clock"
	"offload/wire"
)

// Segment is an arriving segment: its header and payload. OnSegment does not
// retain Payload or More after it returns (data is copied into the receive ring).
//
// A Segment may stand for several wire segments merged by receive offload (the
// gro package): their payload is Payload followed by every slice of More, not
// copied together, and Segs says how many wire segments they were.
type Segment struct {
	wire.TCPFields
	Payload []byte
	// More continues the payload after Payload, in order (nil for one segment).
	More [][]byte
	// Segs is the number of wire segments this one stands for; 0 or 1 is one.
	Segs int
}

// Output receives the segments a Conn emits from Poll. The payload is a followed
// by b (the send ring may wrap). SrcPort/DstPort in hdr are left zero for the
// stack to fill. Emit must not retain hdr, a or b after it returns.
type Output interface {
	Emit(hdr *wire.TCPFields, a, b []byte)
}

// seqRange is a half-open range [start, end) of sequence space.
type seqRange struct{ start, end wire.Seq }

// Conn is one TCP connection. It is not safe for concurrent use: the stack calls
// every method with the connection's lock held.
type Conn struct {
	cfg   Config
	state State
	err   error
	cc    CongestionControl

	// Send sequence space (RFC 9293 §3.3.1). sndMax is the highest sequence
	// number sent so far; after a timeout sndNxt goes back to sndUna while sndMax
	// stays, so acknowledgments up to sndMax remain acceptable.
	iss, sndUna, sndNxt, sndMax wire.Seq
	sndMaxData                  wire.Seq // SND.MAX without an untaken zero-window probe byte
	sndBufSeq                   wire.Seq // sequence number of sndBuf's first byte
	finSeq                      wire.Seq // sequence number of our FIN, valid when finQueued
	sndWl1, sndWl2              wire.Seq
	recover                     wire.Seq // RFC 6582 recovery point
	sndWnd, maxSndWnd           uint32   // peer's offered window, scaled
	sndMSS                      int
	dupAcks                     int
	sndBuf                      ring

	// Receive sequence space.
	irs, rcvNxt  wire.Seq
	rcvAdv       wire.Seq // right edge of the window last advertised
	lastAckSent  wire.Seq // RCV.NXT in the last ACK we sent (RFC 7323 Last.ACK.sent)
	oooFinSeq    wire.Seq // where the peer's FIN goes, when it arrived out of order
	rcvMSS       int      // estimate of the peer's full-sized segment, for delayed ACKs
	unacked      int      // in-order bytes received since our last ACK
	rcvBuf       ring
	ooo          []seqRange // out-of-order ranges held in rcvBuf beyond rcvBuf.n, sorted
	highRxt      wire.Seq   // RFC 6675 HighRxt: end of the last hole retransmitted
	txq          txQueue    // send scoreboard (RFC 6675, RFC 8985), when SACK is on
	rack         rackState
	inflate      int  // NewReno fast-recovery window inflation (RFC 5681 §3.2), peers without SACK
	sackRecovery bool // the current recovery is driven by the scoreboard (RFC 6675), not by NewReno

	// D-SACK (RFC 2883) to report in the next ACK: duplicate data received.
	dsackStart, dsackEnd wire.Seq
	dsackPending         bool
	oowAt                clock.Instant // last ACK answering an out-of-window segment

	// Negotiated options.
	sndWScale, rcvWScale uint8
	wsOK, tsOK           bool
	peerSACKPermitted    bool
	sackOK               bool     // we report out-of-order data in SACK blocks (RFC 2018)
	sackRecent           wire.Seq // a sequence number in the latest out-of-order arrival
	tsOffset             uint32
	tsRecent             uint32
	tsRecentAt           clock.Instant

	// Flags.
	established   bool // reached ESTABLISHED at some point
	synPending    bool // SYN or SYN-ACK must be (re)sent
	ackNow        bool // an ACK must go out at the next Poll
	rstPending    bool
	finQueued     bool // the application shut the write side: FIN at finSeq
	finReceived   bool
	oooFin        bool // the peer's FIN arrived ahead of a hole
	rdClosed      bool // the application called Close: data arriving now is lost
	closed        bool // Close or Abort: Read/Write return ErrClosed
	rttTiming     bool
	inRecovery    bool
	fastRetx      bool // retransmit the segment at sndUna at the next Poll
	tlpNewData    bool // a tail loss probe may send one new segment beyond cwnd
	lostRetxForce bool // fast retransmit: resend the first lost segment whatever pipe says
	forceSend     bool // persist/override timer: send despite Nagle and SWS avoidance
	synRetx       bool // the SYN was retransmitted (RFC 6298 §5.7)
	noDelay       bool

	// RTT estimation (RFC 6298).
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttSeq            wire.Seq
	rttStart          clock.Instant
	retxEnd           wire.Seq // SND.MAX at the latest retransmission
	// Undo of a spurious fast recovery (tryUndo): the window and threshold
	// before it, where it began, and its retransmissions no D-SACK has yet
	// shown to be duplicates.
	undoValid            bool
	undoMarker           wire.Seq
	undoRetrans          int // retransmissions not yet shown to be duplicates
	undoSent             int // retransmissions of the episode
	undoCwnd, undoThresh int
	retxTS               uint32 // our TSval at the first retransmission of the episode
	retxTSValid          bool

	// Timers: clock.Never when not armed.
	rtoAt, delackAt, persistAt, keepAt, closeAt clock.Instant
	lastProgress                                clock.Instant // for the user timeout
	lastSendAt                                  clock.Instant // last data sent, for RFC 5681 §4.1
	persistStart                                clock.Instant // when the current zero-window episode began
	now                                         clock.Instant // latest time seen
	retries                                     int
	persistShift                                int
	probesOut                                   int // unanswered zero-window probes
	keepProbes                                  int // unanswered keepalive probes

	// RFC 5961 §7 challenge-ACK throttle.
	chalWindow clock.Instant
	chalCount  int

	rst wire.TCPFields // the pending RST
	hdr wire.TCPFields // scratch header handed to Output.Emit

	st stats
}

type stats struct {
	segsIn, segsOut, retransmits, timeouts, fastRetransmits   uint64
	bytesAcked, bytesReceived, dupAcks, challengeACKs         uint64
	challengeACKsSuppressed, pawsDrops, oooDrops, probesSent  uint64
	keepalivesSent, sackRetransmits                           uint64
	undos                                                     uint64
	dsacksReceived, dsacksSent, sackBlocksIgnored, rackLosses uint64
	tlpProbes, tlpLossRepairs, recoveries, scoreboardMerges   uint64
	oowACKsSuppressed, rescues                                uint64
}

func newConn(cfg *Config, now clock.Instant, iss wire.Seq) *Conn {
	c := &Conn{cfg: *cfg}
	c.cfg.normalize()
	c.iss, c.sndUna, c.sndNxt, c.sndMax, c.sndMaxData = iss, iss, iss, iss, iss
	c.sndBufSeq = iss + 1
	c.recover = iss
	// The rings and the scoreboard take their arrays on first use (see ring),
	// and the reassembly table is made when data first arrives out of order:
	// a connection that stays idle never holds them.
	c.sndBuf = newRing(c.cfg.SendBufferSize)
	c.rcvBuf = newRing(c.cfg.RecvBufferSize)
	c.txq = newTxQueue(c.cfg.ScoreboardSegments)
	c.rack.timerAt, c.rack.tlpAt = clock.Never, clock.Never
	c.oowAt = clock.Never
	c.noDelay = c.cfg.NoDelay
	c.rto = c.cfg.InitialRTO
	c.sndMSS = defaultMSS
	c.rcvMSS = c.cfg.MSS
	// RFC 7323 §5.4: a per-connection timestamp offset keeps clocks of different
	// connections uncorrelated. This default derives from the ISS, which the
	// peer sees, so it does not hide our clock from the peer; the stack should
	// call SetTimestampOffset with ISNGenerator.TSOffset (a keyed hash).
	c.tsOffset = uint32(iss) * 0x9e3779b1
	if c.cfg.WindowScaling {
		c.rcvWScale = wscaleFor(c.cfg.RecvBufferSize)
	}
	c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.closeAt = clock.Never, clock.Never, clock.Never, clock.Never, clock.Never
	c.now = now
	c.lastProgress = now
	c.synPending = true
	return c
}

// wscaleFor returns the smallest shift that lets a 16-bit window express size.
func wscaleFor(size int) uint8 {
	var s uint8
	for s < maxWScale && size>>s > 0xffff {
		s++
	}
	return s
}

// Dial starts an active open (RFC 9293 §3.5): the Conn is in SYN-SENT and the
// next Poll emits the SYN.
func Dial(cfg *Config, now clock.Instant, iss wire.Seq) *Conn {
	c := newConn(cfg, now, iss)
	c.state = StateSynSent
	return c
}

// Accept creates a connection from a SYN that arrived for a listener (RFC 9293
// §3.10.7.2): the Conn is in SYN-RECEIVED and the next Poll emits the SYN-ACK.
// Data and FIN on the SYN are not accepted (the peer retransmits them).
func Accept(cfg *Config, now clock.Instant, syn *Segment, iss wire.Seq) (*Conn, error) {
	f := syn.Flags
	if !f.Has(wire.FlagSYN) || f&(wire.FlagACK|wire.FlagRST|wire.FlagFIN) != 0 {
		return nil, ErrNotSYN
	}
	c := newConn(cfg, now, iss)
	c.state = StateSynReceived
	c.irs = syn.Seq
	c.rcvNxt = syn.Seq + 1
	c.rcvAdv = c.rcvNxt
	c.lastAckSent = c.rcvNxt
	c.negotiate(&syn.Options)
	c.updateTSRecent(now, &syn.TCPFields)
	c.sndWnd = uint32(syn.Window) // never scaled in a SYN (RFC 7323 §2.2)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = syn.Seq, iss
	c.st.segsIn++
	return c, nil
}

// negotiate applies the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323).
func (c *Conn) negotiate(o *wire.TCPOptions) {
	peerMSS := defaultMSS // RFC 9293 §3.7.1: absent MSS option means 536
	if o.MSS != 0 {
		peerMSS = int(o.MSS)
	}
	c.wsOK = c.cfg.WindowScaling && o.HasWScale
	if c.wsOK {
		c.sndWScale = min(o.WScale, maxWScale) // RFC 7323 §2.3
	} else {
		c.sndWScale, c.rcvWScale = 0, 0
	}
	c.tsOK = c.cfg.Timestamps && o.HasTimestamp
	c.peerSACKPermitted = o.SACKPermitted
	c.sackOK = c.cfg.SACK && o.SACKPermitted
	opt := 0
	if c.tsOK {
		opt = tsOptionLen
	}
	c.sndMSS = max(min(peerMSS, c.cfg.MSS), minMSS) - opt
	c.rcvMSS = max(min(peerMSS, c.cfg.MSS), minMSS) - opt
	if c.cfg.Congestion != nil {
		c.cc = c.cfg.Congestion(c.sndMSS)
	}
	if c.cc == nil {
		c.cc = NewCUBIC(c.sndMSS)
	}
}

// --- application interface ---

// State returns the RFC 9293 state.
func (c *Conn) State() State { return c.state }

// Established reports whether the handshake completed at some point.
func (c *Conn) Established() bool { return c.established }

// Err returns the sticky terminal error: ErrConnectionRefused, ErrConnectionReset,
// ErrTimedOut, or nil.
func (c *Conn) Err() error { return c.err }

// Done reports that the connection is CLOSED with nothing left to emit: the stack
// may forget it (and answer later segments for its 4-tuple with ResetFor).
func (c *Conn) Done() bool { return c.state == StateClosed && !c.rstPending }

// Readable reports whether Read would return something other than (0, nil).
func (c *Conn) Readable() bool {
	return c.rcvBuf.n > 0 || c.finReceived || c.err != nil || c.closed
}

// Writable returns how many bytes Write would accept now.
func (c *Conn) Writable() int {
	if c.finQueued || c.err != nil || c.closed || c.state == StateClosed {
		return 0
	}
	return c.sndBuf.free()
}

// SetTimestampOffset sets the offset added to our TSval clock (RFC 7323 §5.4),
// normally ISNGenerator.TSOffset for the 4-tuple. Call it right after Dial or
// Accept, before the first Poll; later calls are ignored.
func (c *Conn) SetTimestampOffset(off uint32) {
	if c.st.segsOut == 0 {
		c.tsOffset = off
	}
}

// SendMSS is the negotiated effective send MSS (payload bytes per wire
// segment, TCP options already deducted). With Config.GSOMaxSize the stack cuts
// larger emitted segments at this size.
func (c *Conn) SendMSS() int { return c.sndMSS }

// SetPathMSS lowers the send MSS after the path MTU shrank (an ICMP "fragmentation
// needed" / "packet too big", RFC 1191 / RFC 8201): mss is the largest TCP
// payload plus options the path carries (path MTU minus IP and TCP headers).
// Outstanding data is resent in the smaller size at the next Poll without a
// congestion response, since nothing was lost to congestion (as Linux does).
// Larger values than the negotiated MSS are ignored.
func (c *Conn) SetPathMSS(mss int) {
	if !c.state.synchronized() && c.state != StateSynReceived {
		return
	}
	opt := 0
	if c.tsOK {
		opt = tsOptionLen
	}
	eff := max(mss, minMSS) - opt
	if eff >= c.sndMSS {
		return
	}
	c.sndMSS = eff
	if c.cc != nil {
		c.cc.SetMSS(eff)
	}
	if c.sndNxt.GreaterThan(c.sndUna) {
		c.sndNxt = c.sndUna
		c.noteRetransmit(c.now)
	}
}

// SetUserTimeout sets this connection's user timeout (RFC 9293 §3.10.8's
// USER TIMEOUT, RFC 5482; Linux TCP_USER_TIMEOUT): Config.UserTimeout for it
// alone. The connection fails with ErrTimedOut once sent data has stayed
// unacknowledged, or the peer's window closed while data waits, for d; zero
// (or less) switches the bound off, leaving Config.MaxRetries to end a dead
// connection. It applies to what is already outstanding: a timer due later
// than the new bound is brought forward, so a bound already passed fails the
// connection at the next Poll.
func (c *Conn) SetUserTimeout(d time.Duration) {
	c.cfg.UserTimeout = max(d, 0)
	if d <= 0 {
		return
	}
	if c.rtoAt != clock.Never {
		c.rtoAt = min(c.rtoAt, c.lastProgress.Add(d))
	}
	if c.persistAt != clock.Never {
		c.persistAt = min(c.persistAt, c.persistStart.Add(d))
	}
}

// SetNoDelay switches Nagle's algorithm off (true) or on.
func (c *Conn) SetNoDelay(on bool) { c.noDelay = on }

// SetKeepAlive configures keepalive probing (RFC 1122 §4.2.3.6). Non-positive
// durations and counts keep the current values.
func (c *Conn) SetKeepAlive(on bool, idle, interval time.Duration, count int) {
	c.cfg.KeepAlive = on
	if idle > 0 {
		c.cfg.KeepAliveIdle = idle
	}
	if interval > 0 {
		c.cfg.KeepAliveInterval = interval
	}
	if count > 0 {
		c.cfg.KeepAliveCount = count
	}
	c.keepProbes = 0
	c.armKeepalive(c.now)
}

// Write copies as much of p as fits into the send buffer and returns the count,
// which may be 0 when the buffer is full. Data written before the handshake
// completes is sent once it does.
func (c *Conn) Write(p []byte) (int, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closed:
		return 0, ErrClosed
	case c.finQueued || c.state == StateClosed:
		return 0, ErrWriteClosed
	}
	return c.sndBuf.append(p), nil
}

// Read copies in-order received data into p. It returns (0, io.EOF) once the
// peer's FIN has been received and all data before it read, and the sticky error
// after a reset or timeout once buffered data is drained.
func (c *Conn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	if c.rcvBuf.n == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.finReceived {
			return 0, io.EOF
		}
		return 0, nil
	}
	n := c.rcvBuf.read(p)
	c.maybeWindowUpdate()
	c.releaseBuffers()
	c.idleBuffers()
	return n, nil
}

// PeekRead returns the readable bytes in place, as at most two slices (the ring
// may wrap), without consuming them: a caller copies them straight to their
// destination and then calls Consume. The slices are valid until the next call
// on the Conn (which may hand the ring's array back to a pool once it is empty). Errors and EOF are reported by Read as usual.
func (c *Conn) PeekRead() (a, b []byte) {
	if c.closed {
		return nil, nil
	}
	return c.rcvBuf.peek(0, c.rcvBuf.n)
}

// Consume drops the first n readable bytes (after PeekRead), like a Read of n.
func (c *Conn) Consume(n int) {
	if c.closed {
		return
	}
	n = max(0, min(n, c.rcvBuf.n))
	c.rcvBuf.consume(n)
	c.maybeWindowUpdate()
	c.releaseBuffers()
	c.idleBuffers()
}

// PeekWrite returns the free space of the send buffer in place, as at most two
// slices, for a caller that fills it directly and then calls Commit. It returns
// nothing when Write would fail. The slices are valid until the next call on
// the Conn. Their bytes are unspecified until written: the array comes from a
// pool shared by every connection in the process, so it may hold another
// connection's old data; never hand the space to a party that must not see
// that (another tenant) without clearing it first.
func (c *Conn) PeekWrite() (a, b []byte) {
	if c.Writable() == 0 {
		return nil, nil
	}
	return c.sndBuf.space()
}

// Commit appends the first n bytes of the space PeekWrite returned to the send
// stream, like a Write of them.
func (c *Conn) Commit(n int) {
	if c.Writable() == 0 || !c.sndBuf.held() {
		return // no PeekWrite since the buffer was last empty: nothing was filled
	}
	c.sndBuf.n += max(0, min(n, c.sndBuf.free()))
	c.idleBuffers()
}

// maybeWindowUpdate asks for a window update after the application freed
// receive space, if the window grew enough to matter: by at least
// min(RCV.BUFF/2, MSS) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2) and to at
// least twice what the peer currently believes.
func (c *Conn) maybeWindowUpdate() {
	if !c.state.synchronized() || c.finReceived {
		return
	}
	oldWin := int(c.rcvAdv - c.rcvNxt)
	if c.rcvAdv.LessThan(c.rcvNxt) {
		oldWin = 0
	}
	newWin := min(c.rcvBuf.free(), 0xffff<<c.rcvWScale)
	if newWin-oldWin >= min(c.rcvBuf.size()/2, c.rcvMSS) && newWin >= 2*oldWin {
		c.ackNow = true
	}
}

// CloseWrite shuts the write side: a FIN follows the buffered data (half-close,
// RFC 9293 §3.10.4). Reading continues until the peer's FIN.
func (c *Conn) CloseWrite() error {
	if c.err != nil {
		return c.err
	}
	if c.finQueued {
		return nil
	}
	switch c.state {
	case StateClosed, StateListen:
		return ErrClosed
	case StateSynSent, StateSynReceived:
		// The FIN goes out after the handshake; the state moves on then.
	case StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	default:
		return nil
	}
	c.finQueued = true
	c.finSeq = c.sndBufSeq + wire.Seq(c.sndBuf.n)
	return nil
}

// Close is the application's close of both directions (RFC 9293 §3.10.4). If
// received data is still unread, or data arrives later, it is lost: the peer is
// told with a RST instead of a FIN (RFC 1122 §4.2.2.13, RFC 2525 §2.17).
// Otherwise buffered data is sent, followed by a FIN.
func (c *Conn) Close() {
	if c.closed {
		return
	}
	c.closed = true
	c.rdClosed = true
	switch c.state {
	case StateClosed, StateListen:
		c.releaseBuffers()
		return
	case StateSynSent:
		c.enterClosed()
		return
	case StateTimeWait:
		c.releaseBuffers() // unread data is discarded now
		return
	}
	if c.rcvBuf.n > 0 {
		c.resetConnection()
		return
	}
	c.CloseWrite()
	if c.state == StateFinWait2 {
		c.closeAt = c.now.Add(c.cfg.TimeWait)
		c.releaseBuffers()
	}
}

// Abort resets the connection now: a RST is emitted (from a synchronized state)
// and the connection is CLOSED (RFC 9293 §3.10.5).
func (c *Conn) Abort() {
	c.closed = true
	c.rdClosed = true
	switch c.state {
	case StateClosed, StateListen, StateSynSent, StateTimeWait:
		c.enterClosed()
	default:
		c.resetConnection()
	}
}

// resetConnection sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK> and closes
// (with SND.NXT as ackSeq picks it, so the RST is in the peer's window even
// after a timeout pulled SND.NXT back).
func (c *Conn) resetConnection() {
	c.queueRST(c.ackSeq(), c.rcvNxt, true)
	c.enterClosed()
}

func (c *Conn) queueRST(seq, ack wire.Seq, withACK bool) {
	c.rst = wire.TCPFields{Seq: seq, Flags: wire.FlagRST}
	if withACK {
		c.rst.Ack = ack
		c.rst.Flags |= wire.FlagACK
	}
	c.rstPending = true
}

// enterClosed moves to CLOSED and drops everything but a pending RST.
func (c *Conn) enterClosed() {
	c.state = StateClosed
	c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.closeAt = clock.Never, clock.Never, clock.Never, clock.Never, clock.Never
	c.ackNow, c.synPending, c.fastRetx, c.forceSend = false, false, false, false
	c.ooo = c.ooo[:0]
	c.txq.reset()
	c.rack.timerAt, c.rack.tlpAt = clock.Never, clock.Never
	c.releaseBuffers()
}

// releaseBuffers hands back the buffers a connection can no longer use: a
// server closing first keeps each connection in TIME-WAIT for 2*MSL, and its
// rings would dwarf what it needs there (sequence numbers, timestamps, the
// timer). The send side goes once our FIN is acknowledged (FIN-WAIT-2,
// TIME-WAIT) or the connection is CLOSED; the receive side once nothing more
// can be received (TIME-WAIT, CLOSED) or anything that arrives would be
// answered with a RST (FIN-WAIT-2 after Close, RFC 1122 §4.2.2.13), and the
// application has read or discarded what the ring holds. Every path that can
// run afterwards works on released buffers: they act as empty and zero-sized.
func (c *Conn) releaseBuffers() {
	var rcvDone bool
	switch c.state {
	case StateTimeWait, StateClosed:
		rcvDone = true
		c.ooo = nil // emptied by the FIN or by enterClosed
	case StateFinWait2:
		// After Close, Read fails and new data draws a RST: data held out
		// of order can never be read either.
		rcvDone = c.rdClosed
	default:
		return
	}
	c.sndBuf.release()
	c.txq.release()
	if rcvDone && (c.rcvBuf.n == 0 || c.closed) {
		c.rcvBuf.release()
		c.ooo = nil
	}
}

// idleBuffers hands the arrays of the rings and the scoreboard back to their
// pools while nothing is stored in them, so an idle connection holds none (a
// busy one takes them back from the pool without allocating). The send side
// is empty when every byte was acknowledged and nothing is queued (the ring
// holds the unacknowledged bytes too, for retransmission); the receive side
// when the application has read everything and nothing is held out of order.
// Sizes stay: the window is still computed from the configured buffer.
func (c *Conn) idleBuffers() {
	if c.sndBuf.n == 0 {
		c.sndBuf.idle()
		c.txq.idle()
	}
	if c.rcvBuf.n == 0 && len(c.ooo) == 0 {
		c.rcvBuf.idle()
	}
}

// fail ends the connection with a terminal error.
func (c *Conn) fail(err error) {
	c.err = err
	c.sndBuf.consume(c.sndBuf.n)
	c.enterClosed()
}

// Deadline returns when Poll must next be called: clock.Never if no timer is
// armed, or an instant not later than the last one seen if output is pending.
func (c *Conn) Deadline() clock.Instant {
	if c.rstPending || c.ackNow || c.fastRetx || c.lostRetxForce && c.txq.lostN > 0 && c.sndNxt == c.sndMax || c.forceSend || (c.synPending && c.state != StateClosed) {
		return c.now
	}
	d := min(c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.closeAt, c.rack.timerAt, c.rack.tlpAt)
	return d
}

// BufferBytes is the memory the connection's buffers hold now: the send and
// receive rings, the out-of-order table and the send scoreboard. The rings and
// the scoreboard hold an array only while they store something (see
// idleBuffers), so an idle connection holds at most the out-of-order table
// (made at the first out-of-order arrival). All are released for good once
// nothing can use them any more (the send side from FIN-WAIT-2 on; the receive
// side in TIME-WAIT and CLOSED, or FIN-WAIT-2 after Close, once the
// application has read or discarded what it holds), so a connection lingering
// in TIME-WAIT costs only the Conn itself (about 1.2 KiB).
func (c *Conn) BufferBytes() int {
	return len(c.sndBuf.buf) + len(c.rcvBuf.buf) +
		cap(c.ooo)*int(unsafe.Sizeof(seqRange{})) + len(c.txq.e)*int(unsafe.Sizeof(txSeg{}))
}

// Info is a snapshot of a connection's negotiated parameters and counters.
type Info struct {
	State                State
	SndMSS, RcvMSS       int
	SndWScale, RcvWScale int // -1 when window scaling was not negotiated
	Timestamps           bool
	SACKPermitted        bool // SACK negotiated: our ACKs carry SACK blocks (RFC 2018)
	PeerSACKPermitted    bool // the peer's SYN carried SACK-permitted
	SRTT, RTTVar, RTO    time.Duration
	Cwnd, Ssthresh       int
	SndWnd, RcvWnd       int
	BytesInFlight        int
	SendBuffered         int // bytes in the send buffer (unsent + unacknowledged)
	RecvBuffered         int // bytes received in order and not yet read
	OutOfOrderRanges     int
	InRecovery           bool
	BufferBytes          int // memory held by the connection's buffers (see Conn.BufferBytes)

	// SegmentsIn counts OnSegment calls: an aggregate from receive offload
	// counts once, however many wire segments it stands for.
	SegmentsIn, SegmentsOut uint64
	Retransmits             uint64 // segments retransmitted (timeout, fast retransmit, recovery)
	Timeouts                uint64 // retransmission timer expiries
	FastRetransmits         uint64
	SACKRetransmits         uint64 // holes resent during recovery from the peer's SACK blocks
	UndoneRecoveries        uint64 // fast recoveries taken back: every retransmission came back as a D-SACK (RFC 3708)
	BytesAcked              uint64 // our data acknowledged by the peer
	BytesReceived           uint64 // in-order data delivered to the receive buffer
	DupAcks                 uint64
	ChallengeACKs           uint64 // RFC 5961 challenge ACKs sent
	ChallengeACKsSuppressed uint64 // ... and withheld by the rate limit
	PAWSDrops               uint64 // segments dropped by RFC 7323 PAWS (§5) or for lacking timestamps (§3.2)
	OutOfOrderDrops         uint64 // segments dropped because the reassembly bound was hit
	ZeroWindowProbes        uint64
	KeepAlivesSent          uint64

	Recoveries                uint64 // fast-recovery episodes (congestion responses to loss)
	DSACKsReceived            uint64 // D-SACK reports from the peer (RFC 2883): spurious retransmissions or reordering
	DSACKsSent                uint64 // D-SACK blocks we reported for duplicate data
	SACKBlocksIgnored         uint64 // invalid SACK blocks from the peer (below SND.UNA, beyond SND.MAX, empty)
	RACKLosses                uint64 // scoreboard entries deemed lost by RACK (RFC 8985 §6.2)
	TLPProbes                 uint64 // tail loss probes sent (RFC 8985 §7.3)
	TLPLossRepairs            uint64 // probes that repaired a real loss (RFC 8985 §7.4)
	RescueRetransmits         uint64 // recoveries whose ACK clock stopped: the highest unSACKed segment resent at the probe timeout (RFC 6675 §4 rule 4)
	ScoreboardSegments        int    // entries in the send scoreboard now
	ScoreboardMerges          uint64 // sends folded into the last entry because the scoreboard was full
	OutOfWindowACKsSuppressed uint64 // ACKs to out-of-window segments withheld by the rate limit
}

// Info returns a snapshot of the connection's parameters and counters.
func (c *Conn) Info() Info {
	i := Info{
		State: c.state, SndMSS: c.sndMSS, RcvMSS: c.rcvMSS,
		SndWScale: -1, RcvWScale: -1,
		Timestamps: c.tsOK, SACKPermitted: c.sackOK, PeerSACKPermitted: c.peerSACKPermitted,
		SRTT: c.srtt, RTTVar: c.rttvar, RTO: c.rto,
		SndWnd: int(c.sndWnd), RcvWnd: c.rcvBuf.free(),
		BytesInFlight:    int(c.sndMax - c.sndUna),
		SendBuffered:     c.sndBuf.n,
		RecvBuffered:     c.rcvBuf.n,
		OutOfOrderRanges: len(c.ooo),
		InRecovery:       c.inRecovery,
		BufferBytes:      c.BufferBytes(),

		SegmentsIn: c.st.segsIn, SegmentsOut: c.st.segsOut,
		Retransmits: c.st.retransmits, Timeouts: c.st.timeouts, FastRetransmits: c.st.fastRetransmits,
		SACKRetransmits: c.st.sackRetransmits, UndoneRecoveries: c.st.undos,
		BytesAcked: c.st.bytesAcked, BytesReceived: c.st.bytesReceived, DupAcks: c.st.dupAcks,
		ChallengeACKs: c.st.challengeACKs, ChallengeACKsSuppressed: c.st.challengeACKsSuppressed,
		PAWSDrops: c.st.pawsDrops, OutOfOrderDrops: c.st.oooDrops,
		ZeroWindowProbes: c.st.probesSent, KeepAlivesSent: c.st.keepalivesSent,

		Recoveries: c.st.recoveries, DSACKsReceived: c.st.dsacksReceived, DSACKsSent: c.st.dsacksSent,
		SACKBlocksIgnored: c.st.sackBlocksIgnored, RACKLosses: c.st.rackLosses,
		TLPProbes: c.st.tlpProbes, TLPLossRepairs: c.st.tlpLossRepairs, RescueRetransmits: c.st.rescues,
		ScoreboardSegments: c.txq.n, ScoreboardMerges: c.st.scoreboardMerges,
		OutOfWindowACKsSuppressed: c.st.oowACKsSuppressed,
	}
	if c.wsOK {
		i.SndWScale, i.RcvWScale = int(c.sndWScale), int(c.rcvWScale)
	}
	if c.cc != nil {
		i.Cwnd, i.Ssthresh = c.cwnd(), c.cc.Ssthresh()
	}
	return i
}

// ResetFor returns the RST that answers seg when it arrived for no connection
// (RFC 9293 §3.10.7.1). ok is false when seg is itself a RST, which is never
// answered. Ports are swapped from seg.
func ResetFor(seg *Segment) (rst wire.TCPFields, ok bool) {
	if seg.Flags.Has(wire.FlagRST) {
		return rst, false
	}
	rst.SrcPort, rst.DstPort = seg.DstPort, seg.SrcPort
	if seg.Flags.Has(wire.FlagACK) {
		rst.Seq = seg.Ack
		rst.Flags = wire.FlagRST
		return rst, true
	}
	n := uint32(payloadLen(seg))
	if seg.Flags.Has(wire.FlagSYN) {
		n++
	}
	if seg.Flags.Has(wire.FlagFIN) {
		n++
	}
	rst.Ack = seg.Seq + wire.Seq(n)
	rst.Flags = wire.FlagRST | wire.FlagACK
	return rst, true
}
