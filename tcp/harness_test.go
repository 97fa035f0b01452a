package tcp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// seg is a captured or hand-crafted segment.
type seg struct {
	wire.TCPFields
	Payload []byte
	// More and Segs, if set, make the segment arrive as receive aggregation
	// hands it over: the payload continued in further slices, standing for
	// Segs wire segments (see Segment).
	More [][]byte
	Segs int
}

func (s seg) String() string {
	sack := ""
	for i := range int(s.Options.NumSACK) {
		sack += fmt.Sprintf(" sack=%d-%d", s.Options.SACK[i].Start, s.Options.SACK[i].End)
	}
	var f []string
	for i, n := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
		if s.Flags&(1<<i) != 0 {
			f = append(f, n)
		}
	}
	n := len(s.Payload)
	for _, m := range s.More {
		n += len(m)
	}
	return fmt.Sprintf("[%s] seq=%d ack=%d win=%d len=%d%s", strings.Join(f, ","), s.Seq, s.Ack, s.Window, n, sack)
}

func (s seg) segment() *Segment {
	return &Segment{TCPFields: s.TCPFields, Payload: s.Payload, More: s.More, Segs: s.Segs}
}

// capture is an Output that copies every emitted segment.
type capture struct{ segs []seg }

func (c *capture) Emit(h *wire.TCPFields, a, b []byte) {
	p := make([]byte, 0, len(a)+len(b))
	p = append(append(p, a...), b...)
	c.segs = append(c.segs, seg{TCPFields: *h, Payload: p})
}

// take returns and forgets the captured segments.
func (c *capture) take() []seg {
	s := c.segs
	c.segs = nil
	return s
}

// flight is a segment on the simulated wire.
type flight struct {
	at  clock.Instant
	toB bool
	s   seg
}

// pair runs two Conns against each other over a simulated wire with a fixed
// one-way delay, on a fake clock (netstack3 style). A is the active opener;
// B is created by Accept when A's first SYN reaches the "listener".
type pair struct {
	t       testing.TB
	now     clock.Instant
	delay   time.Duration
	a, b    *Conn
	cfgB    Config
	issB    wire.Seq
	wire    []flight
	aOut    capture
	bOut    capture
	trace   []string
	verbose bool
	traceOn bool // record a trace of segments (costly: off for fuzzing)
	// filter, if set, sees every segment put on the wire and may drop it or change it.
	filter func(toB bool, s *seg) (drop bool)
	// jitter, if set, adds to each segment's delay (reordering); dup, if set,
	// duplicates a segment when it returns true.
	jitter func() time.Duration
	dup    func() bool
	// sentAB/sentBA record every segment emitted, for assertions.
	sentAB, sentBA []seg
}

const t0 = clock.Instant(1_000_000_000_000) // an arbitrary start, far from zero

func newPair(t testing.TB, cfgA, cfgB Config, issA, issB wire.Seq, delay time.Duration) *pair {
	p := &pair{t: t, now: t0, delay: delay, cfgB: cfgB, issB: issB, traceOn: true}
	p.a = Dial(&cfgA, p.now, issA)
	return p
}

// connect runs the handshake and fails the test if it does not complete.
func (p *pair) connect() {
	p.t.Helper()
	p.runFor(10 * time.Second)
	if p.b == nil || p.a.State() != StateEstablished || p.b.State() != StateEstablished {
		p.t.Fatalf("handshake did not complete: A=%v B=%v\n%s", p.a.State(), p.bState(), p.dump())
	}
}

func (p *pair) bState() State {
	if p.b == nil {
		return StateListen
	}
	return p.b.State()
}

func (p *pair) dump() string { return strings.Join(p.trace, "\n") }

// pollAll lets both sides emit and puts their output on the wire.
func (p *pair) pollAll() {
	p.t.Helper()
	p.a.Poll(p.now, &p.aOut)
	p.checkNotBusy("A", p.a)
	for _, s := range p.aOut.take() {
		p.send(true, s)
	}
	if p.b != nil {
		p.b.Poll(p.now, &p.bOut)
		p.checkNotBusy("B", p.b)
		for _, s := range p.bOut.take() {
			p.send(false, s)
		}
	}
}

// checkNotBusy fails if a Conn wants another Poll at once right after one:
// that would be a busy loop in the stack.
func (p *pair) checkNotBusy(name string, c *Conn) {
	p.t.Helper()
	if d := c.Deadline(); d <= p.now && !c.Done() {
		p.t.Fatalf("%s: deadline %v is not after now %v right after Poll (state %v)", name, d, p.now, c.State())
	}
}

func (p *pair) send(toB bool, s seg) {
	dir := "A>B"
	if !toB {
		dir = "B>A"
	}
	if p.traceOn {
		if toB {
			p.sentAB = append(p.sentAB, s)
		} else {
			p.sentBA = append(p.sentBA, s)
		}
	}
	drop := false
	if p.filter != nil {
		drop = p.filter(toB, &s)
	}
	if p.verbose || p.traceOn {
		p.tracef("%s %v%s", dir, s, map[bool]string{true: " DROPPED"}[drop])
	}
	if drop {
		return
	}
	copies := 1
	if p.dup != nil && p.dup() {
		copies = 2
	}
	for range copies {
		at := p.now.Add(p.delay)
		if p.jitter != nil {
			at = at.Add(p.jitter())
		}
		// Keep the wire sorted by arrival time (stable for equal times).
		i := len(p.wire)
		for i > 0 && p.wire[i-1].at > at {
			i--
		}
		p.wire = append(p.wire, flight{})
		copy(p.wire[i+1:], p.wire[i:])
		p.wire[i] = flight{at: at, toB: toB, s: s}
	}
}

func (p *pair) tracef(format string, args ...any) {
	line := fmt.Sprintf("%8.3fms ", float64(p.now-t0)/1e6) + fmt.Sprintf(format, args...)
	p.addTrace(line)
}

// traceKeep is how many trace lines a pair keeps (the most recent ones).
const traceKeep = 200

func (p *pair) addTrace(line string) {
	if p.verbose {
		p.t.Log(line)
	}
	if len(p.trace) >= 2*traceKeep {
		p.trace = append(p.trace[:0], p.trace[traceKeep:]...)
	}
	p.trace = append(p.trace, line)
}

// deliverDue hands every segment whose arrival time has come to its receiver.
func (p *pair) deliverDue() {
	for len(p.wire) > 0 && p.wire[0].at <= p.now {
		f := p.wire[0]
		p.wire = p.wire[1:]
		// Like the stack, poll the receiver after every segment, so each
		// out-of-order arrival gets its own duplicate ACK.
		if !f.toB {
			p.a.OnSegment(p.now, f.s.segment())
			p.pollAll()
			continue
		}
		if p.b == nil {
			if f.s.Flags == wire.FlagSYN {
				b, err := Accept(&p.cfgB, p.now, f.s.segment(), p.issB)
				if err != nil {
					p.t.Fatalf("Accept: %v", err)
				}
				p.b = b
			}
			continue
		}
		p.b.OnSegment(p.now, f.s.segment())
		p.pollAll()
	}
}

// nextEvent is the earliest of the next arrival and both deadlines.
func (p *pair) nextEvent() clock.Instant {
	next := p.a.Deadline()
	if p.b != nil {
		next = min(next, p.b.Deadline())
	}
	if len(p.wire) > 0 {
		next = min(next, p.wire[0].at)
	}
	return next
}

// runUntil advances the clock event by event up to (and including) until.
func (p *pair) runUntil(until clock.Instant) {
	p.t.Helper()
	p.pollAll()
	for i := 0; ; i++ {
		if i > 2_000_000 {
			p.t.Fatalf("simulation does not settle\n%s", p.dump())
		}
		next := p.nextEvent()
		if next > until {
			break
		}
		p.now = max(p.now, next)
		p.deliverDue()
		p.pollAll()
	}
	p.now = max(p.now, until)
}

func (p *pair) runFor(d time.Duration) { p.t.Helper(); p.runUntil(p.now.Add(d)) }

func (p *pair) tail(n int) string {
	if len(p.trace) > n {
		return strings.Join(p.trace[len(p.trace)-n:], "\n")
	}
	return p.dump()
}

// readAll drains a Conn's receive buffer into dst.
func readAll(c *Conn, dst []byte) ([]byte, error) {
	var buf [4096]byte
	for {
		n, err := c.Read(buf[:])
		dst = append(dst, buf[:n]...)
		if err != nil || n == 0 {
			return dst, err
		}
	}
}

// --- single-Conn exchanges (smoltcp style) ---

// rig drives one Conn with hand-crafted segments and captures what it emits.
type rig struct {
	t   testing.TB
	now clock.Instant
	c   *Conn
	out capture
}

// send delivers a crafted segment and polls.
func (r *rig) send(s seg) []seg {
	r.t.Helper()
	r.c.OnSegment(r.now, s.segment())
	return r.poll()
}

func (r *rig) poll() []seg {
	r.c.Poll(r.now, &r.out)
	return r.out.take()
}

func (r *rig) advance(d time.Duration) []seg {
	r.now = r.now.Add(d)
	return r.poll()
}

// advanceToDeadline moves to the Conn's deadline and polls.
func (r *rig) advanceToDeadline() []seg {
	r.t.Helper()
	d := r.c.Deadline()
	if d == clock.Never {
		r.t.Fatalf("no deadline")
	}
	r.now = max(r.now, d)
	return r.poll()
}

// Peer-side constants for rigs.
const (
	rigISS  wire.Seq = 1000 // our ISS
	peerISS wire.Seq = 5000
)

func rigConfig() Config {
	cfg := DefaultConfig()
	cfg.Timestamps = false
	cfg.WindowScaling = false
	cfg.RecvBufferSize = 64 << 10
	cfg.SendBufferSize = 64 << 10
	return cfg
}

// newEstablishedRig returns a Conn established by passive open with a peer
// that sent MSS 1460 and window 65535, no options besides MSS.
func newEstablishedRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	return newEstablishedRigRTT(t, cfg, 0)
}

// newEstablishedRigRTT is newEstablishedRig with the handshake's ACK arriving
// rtt after the SYN-ACK, which gives the first RTT sample (RFC 6298 §2.2).
func newEstablishedRigRTT(t testing.TB, cfg Config, rtt time.Duration) *rig {
	t.Helper()
	r := &rig{t: t, now: t0}
	syn := seg{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
	syn.Options.MSS = 1460
	c, err := Accept(&cfg, r.now, syn.segment(), rigISS)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	out := r.poll()
	if len(out) != 1 || out[0].Flags != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("want SYN-ACK, got %v", out)
	}
	r.now = r.now.Add(rtt)
	r.send(seg{TCPFields: wire.TCPFields{Seq: peerISS + 1, Ack: rigISS + 1, Flags: wire.FlagACK, Window: 65535}})
	if c.State() != StateEstablished {
		t.Fatalf("state %v", c.State())
	}
	return r
}

// ack crafts a peer segment with ACK at the given sequence numbers.
func ack(seq, ackn wire.Seq, win uint16) seg {
	return seg{TCPFields: wire.TCPFields{Seq: seq, Ack: ackn, Flags: wire.FlagACK, Window: win}}
}

func data(seq, ackn wire.Seq, win uint16, p []byte) seg {
	s := ack(seq, ackn, win)
	s.Flags |= wire.FlagPSH
	s.Payload = p
	return s
}
