package tcp

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"offload/wire"
)

// finSeg is the peer's FIN (with ACK) at seq, acknowledging ackn.
func finSeg(seq, ackn wire.Seq) seg {
	s := ack(seq, ackn, 65535)
	s.Flags |= wire.FlagFIN
	return s
}

// timeWaitRig closes a connection first (Close, or CloseWrite if halfClose),
// has the peer acknowledge our FIN and then send its own: the Conn is in
// TIME-WAIT (RFC 9293 §3.6) and the peer's FIN has been acknowledged.
func timeWaitRig(t *testing.T, halfClose bool, peerData []byte) *rig {
	t.Helper()
	r := newEstablishedRig(t, rigConfig())
	if _, err := r.c.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		r.c.CloseWrite()
	} else {
		r.c.Close()
	}
	out := r.poll()
	if len(out) != 1 || !out[0].Flags.Has(wire.FlagFIN) || len(out[0].Payload) != 8 {
		t.Fatalf("want data+FIN, got %v", out)
	}
	ourFIN := rigISS + 1 + 8
	r.send(ack(peerISS+1, ourFIN+1, 65535))
	if r.c.State() != StateFinWait2 {
		t.Fatalf("state %v, want FIN-WAIT-2", r.c.State())
	}
	fin := finSeg(peerISS+1, ourFIN+1)
	fin.Payload = peerData
	out = r.send(fin)
	want := peerISS + 1 + wire.Seq(len(peerData)) + 1
	if r.c.State() != StateTimeWait || len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != want {
		t.Fatalf("state %v out %v, want TIME-WAIT and ACK %d", r.c.State(), out, want)
	}
	if out[0].Window == 0 {
		t.Fatalf("ACK of the FIN advertises a zero window: %v", out)
	}
	return r
}

// A connection in TIME-WAIT can neither send nor receive data, so it keeps
// none of its buffers: only sequence numbers, timestamps and the 2*MSL timer
// (RFC 9293 §3.6). Everything TIME-WAIT must still do works without them:
// the retransmitted FIN is acknowledged and restarts the timer (RFC 9293
// §3.10.7.4), RSTs are ignored (RFC 1337), an old SYN draws a challenge ACK
// (RFC 5961 §4), a newer one may reuse the 4-tuple (RFC 6191), Read reports
// EOF, Write fails, Info and Deadline answer.
func TestTimeWaitHoldsNoBuffers_RFC9293_3_6(t *testing.T) {
	r := timeWaitRig(t, false, nil)
	c := r.c
	if got := c.BufferBytes(); got != 0 {
		t.Fatalf("TIME-WAIT holds %d bytes of buffers", got)
	}
	if n, err := c.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close in TIME-WAIT: %d %v", n, err)
	}
	if n, err := c.Write([]byte("x")); n != 0 || err == nil {
		t.Fatalf("Write in TIME-WAIT: %d %v", n, err)
	}
	if a, b := c.PeekWrite(); a != nil || b != nil || c.Writable() != 0 {
		t.Fatal("TIME-WAIT offers send space")
	}
	c.Commit(100)
	c.Consume(100)
	if i := c.Info(); i.State != StateTimeWait || i.SendBuffered != 0 || i.RecvBuffered != 0 || i.OutOfOrderRanges != 0 || i.ScoreboardSegments != 0 {
		t.Fatalf("Info in TIME-WAIT: %+v", i)
	}

	// The peer did not get our ACK and retransmits its FIN (with the same
	// window as the first ACK of it: RCV.WND does not collapse).
	r.now = r.now.Add(30 * time.Second)
	out := r.send(finSeg(peerISS+1, rigISS+10))
	if len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+2 || out[0].Seq != rigISS+10 || out[0].Window == 0 {
		t.Fatalf("retransmitted FIN answered with %v", out)
	}
	if d := c.Deadline(); d != r.now.Add(c.cfg.TimeWait) {
		t.Fatalf("TIME-WAIT not restarted: deadline in %v", d.Sub(r.now))
	}
	// RFC 1337: RSTs, in the window or not, leave TIME-WAIT alone.
	for _, s := range []seg{rstSeg(peerISS + 2), rstSeg(peerISS + 100), rstSeg(peerISS - 100)} {
		if out := r.send(s); len(out) != 0 || c.State() != StateTimeWait {
			t.Fatalf("RST at %d: %v, state %v", s.Seq, out, c.State())
		}
	}
	// Stray data is not taken (and not stored anywhere).
	r.send(data(peerISS+2, rigISS+10, 65535, []byte("late")))
	r.send(data(peerISS+50, rigISS+10, 65535, []byte("later")))
	if c.State() != StateTimeWait || c.BufferBytes() != 0 || c.Readable() != true {
		t.Fatalf("data in TIME-WAIT: state %v, %d buffer bytes", c.State(), c.BufferBytes())
	}
	old := seg{TCPFields: wire.TCPFields{Seq: peerISS - 10, Flags: wire.FlagSYN}}
	newer := seg{TCPFields: wire.TCPFields{Seq: peerISS + 100000, Flags: wire.FlagSYN}}
	if c.TimeWaitReusable(old.segment()) || !c.TimeWaitReusable(newer.segment()) {
		t.Fatal("TIME-WAIT reuse decision wrong")
	}
	r.now = r.now.Add(2 * time.Second) // past the challenge-ACK second
	if out := r.send(old); len(out) != 1 || out[0].Flags != wire.FlagACK || out[0].Ack != peerISS+2 {
		t.Fatalf("old SYN in TIME-WAIT answered with %v", out)
	}
	if c.BufferBytes() != 0 {
		t.Fatalf("TIME-WAIT grew %d bytes of buffers", c.BufferBytes())
	}
	r.advanceToDeadline()
	if !c.Done() || c.BufferBytes() != 0 {
		t.Fatalf("after TIME-WAIT: state %v, %d buffer bytes", c.State(), c.BufferBytes())
	}
}

// After a half-close the application may still hold unread data when the
// peer's FIN moves the connection to TIME-WAIT: the send ring goes at once,
// the receive ring once the data has been read, and then Read reports EOF.
func TestTimeWaitKeepsUnreadDataUntilRead_RFC9293_3_6(t *testing.T) {
	r := timeWaitRig(t, true, []byte("request"))
	c := r.c
	if got, want := c.BufferBytes(), c.cfg.RecvBufferSize; got != want {
		t.Fatalf("TIME-WAIT with unread data holds %d buffer bytes, want the receive ring's %d", got, want)
	}
	if n, err := c.Write([]byte("x")); n != 0 || !errors.Is(err, ErrWriteClosed) {
		t.Fatalf("Write in TIME-WAIT: %d %v", n, err)
	}
	got, err := readAll(c, nil)
	if string(got) != "request" || err != io.EOF {
		t.Fatalf("read %q, %v; want the data, then EOF", got, err)
	}
	if c.BufferBytes() != 0 {
		t.Fatalf("%d buffer bytes after the data was read in TIME-WAIT", c.BufferBytes())
	}
	if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF || !c.Readable() {
		t.Fatalf("Read again: %d %v", n, err)
	}
	out := r.send(finSeg(peerISS+8, rigISS+10))
	if len(out) != 1 || out[0].Ack != peerISS+9 {
		t.Fatalf("retransmitted FIN answered with %v", out)
	}
	// PeekRead/Consume drain the ring as well.
	r = timeWaitRig(t, true, []byte("request"))
	a, b := r.c.PeekRead()
	if !bytes.Equal(append(a, b...), []byte("request")) {
		t.Fatalf("PeekRead %q %q", a, b)
	}
	r.c.Consume(len(a) + len(b))
	if r.c.BufferBytes() != 0 {
		t.Fatalf("%d buffer bytes after Consume in TIME-WAIT", r.c.BufferBytes())
	}
	// Close with the data unread discards it.
	r = timeWaitRig(t, true, []byte("request"))
	r.c.Close()
	if out := r.poll(); len(out) != 0 || r.c.BufferBytes() != 0 || r.c.State() != StateTimeWait {
		t.Fatalf("Close in TIME-WAIT: %v, %d buffer bytes, %v", out, r.c.BufferBytes(), r.c.State())
	}
}

// Simultaneous close (RFC 9293 §3.6 figure 13): both sides pass through
// CLOSING to TIME-WAIT, and both let go of their buffers.
func TestSimultaneousCloseTimeWaitHoldsNoBuffers_RFC9293_3_6(t *testing.T) {
	cfg := DefaultConfig()
	p := newPair(t, cfg, cfg, 100, 9000, 5*time.Millisecond)
	p.connect()
	p.a.Write(bytes.Repeat([]byte("a"), 50000))
	p.b.Write(bytes.Repeat([]byte("b"), 50000))
	p.runFor(time.Second)
	for _, c := range []*Conn{p.a, p.b} {
		if got, err := readAll(c, nil); len(got) != 50000 || err != nil {
			t.Fatalf("read %d %v", len(got), err)
		}
	}
	p.a.Close()
	p.b.Close()
	p.runFor(time.Second)
	if p.a.State() != StateTimeWait || p.b.State() != StateTimeWait {
		t.Fatalf("A %v B %v, want TIME-WAIT on both\n%s", p.a.State(), p.b.State(), p.tail(20))
	}
	if p.a.BufferBytes() != 0 || p.b.BufferBytes() != 0 {
		t.Fatalf("TIME-WAIT holds %d and %d buffer bytes", p.a.BufferBytes(), p.b.BufferBytes())
	}
	p.runFor(cfg.TimeWait + time.Second)
	if !p.a.Done() || !p.b.Done() {
		t.Fatalf("A %v B %v after 2*MSL", p.a.State(), p.b.State())
	}
}

// A CLOSED connection keeps only data the application has yet to read:
// after a reset that data stays readable (then the error), and then the
// receive ring goes too. A connection closed through LAST-ACK keeps nothing.
func TestClosedConnectionKeepsOnlyUnreadData_RFC9293_3_10_7_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Write([]byte("never sent"))
	r.send(data(peerISS+1, rigISS+1, 0, []byte("hello")))
	r.send(rstSeg(peerISS + 6))
	c := r.c
	if c.State() != StateClosed {
		t.Fatal(c.State())
	}
	if got, want := c.BufferBytes(), c.cfg.RecvBufferSize; got != want {
		t.Fatalf("CLOSED with unread data holds %d buffer bytes, want %d", got, want)
	}
	got, err := readAll(c, nil)
	if string(got) != "hello" || !errors.Is(err, ErrConnectionReset) || c.BufferBytes() != 0 {
		t.Fatalf("read %q %v, %d buffer bytes left", got, err, c.BufferBytes())
	}

	// Passive close: CLOSE-WAIT, LAST-ACK, CLOSED.
	r = newEstablishedRig(t, rigConfig())
	r.send(finSeg(peerISS+1, rigISS+1))
	if got, err := readAll(r.c, nil); len(got) != 0 || err != io.EOF {
		t.Fatalf("%q %v", got, err)
	}
	r.c.Close()
	r.poll()
	r.send(ack(peerISS+2, rigISS+2, 65535))
	if !r.c.Done() || r.c.BufferBytes() != 0 {
		t.Fatalf("after LAST-ACK: %v, %d buffer bytes", r.c.State(), r.c.BufferBytes())
	}
	// Abort.
	r = newEstablishedRig(t, rigConfig())
	r.c.Write([]byte("pending"))
	r.c.Abort()
	if out := r.poll(); len(out) != 1 || r.c.BufferBytes() != 0 {
		t.Fatalf("after Abort: %v, %d buffer bytes", out, r.c.BufferBytes())
	}
}

// The segments TIME-WAIT must still answer cost no allocation (a server
// holds tens of thousands of connections there).
func TestTimeWaitAnswersWithoutAllocating(t *testing.T) {
	r := timeWaitRig(t, false, nil)
	fin := finSeg(peerISS+1, rigISS+10).segment()
	rst := rstSeg(peerISS + 2).segment()
	var out discard
	allocs := testing.AllocsPerRun(100, func() {
		r.c.OnSegment(r.now, fin)
		r.c.Poll(r.now, &out)
		r.c.OnSegment(r.now, rst)
		r.c.Poll(r.now, &out)
		r.c.Read(nil)
		r.c.Info()
	})
	if allocs != 0 || r.c.State() != StateTimeWait || out.n == 0 {
		t.Fatalf("%v allocations per round (state %v, %d segments)", allocs, r.c.State(), out.n)
	}
}

// discard is an Output that only counts.
type discard struct{ n int }

func (d *discard) Emit(*wire.TCPFields, []byte, []byte) { d.n++ }

// Once our FIN is acknowledged (FIN-WAIT-2) nothing more will be sent, so
// the send side's buffers go; the receive ring stays while the application
// may still read (half-close, RFC 9293 §3.10.4), and goes too after Close,
// when new data can only draw a RST (RFC 1122 §4.2.2.13). The connection
// still takes the peer's data and FIN as before.
func TestFinWait2KeepsOnlyTheReceiveSide_RFC9293_3_10_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.c.Write([]byte("response"))
	r.c.CloseWrite()
	r.poll()
	r.send(ack(peerISS+1, rigISS+10, 65535))
	c := r.c
	if c.State() != StateFinWait2 {
		t.Fatal(c.State())
	}
	// The receive side stays (its full size is still offered), but holds no
	// array while nothing is buffered.
	if c.sndBuf.size() != 0 || c.rcvBuf.size() != c.cfg.RecvBufferSize || c.BufferBytes() != 0 {
		t.Fatalf("half-closed FIN-WAIT-2: ring sizes %d/%d, %d buffer bytes held; want 0/%d, 0",
			c.sndBuf.size(), c.rcvBuf.size(), c.BufferBytes(), c.cfg.RecvBufferSize)
	}
	r.send(data(peerISS+4, rigISS+10, 65535, []byte("def")))
	out := r.send(data(peerISS+1, rigISS+10, 65535, []byte("abc")))
	if len(out) != 1 || out[0].Ack != peerISS+7 || out[0].Window == 0 {
		t.Fatalf("data in FIN-WAIT-2 answered with %v", out)
	}
	if got, err := readAll(c, nil); string(got) != "abcdef" || err != nil {
		t.Fatalf("read %q %v", got, err)
	}
	r.send(finSeg(peerISS+7, rigISS+10))
	if c.State() != StateTimeWait || c.BufferBytes() != 0 {
		t.Fatalf("%v with %d buffer bytes", c.State(), c.BufferBytes())
	}
	if _, err := c.Read(nil); err != io.EOF {
		t.Fatal(err)
	}

	// After Close: nothing is kept, the peer's FIN is still taken, and its
	// data draws a RST.
	for _, withData := range []bool{false, true} {
		r := newEstablishedRig(t, rigConfig())
		r.c.Close()
		r.poll()
		r.send(ack(peerISS+1, rigISS+2, 65535))
		c := r.c
		if c.State() != StateFinWait2 || c.BufferBytes() != 0 {
			t.Fatalf("closed FIN-WAIT-2 (%v) holds %d buffer bytes", c.State(), c.BufferBytes())
		}
		if withData {
			out := r.send(data(peerISS+1, rigISS+2, 65535, []byte("late")))
			if len(out) != 1 || !out[0].Flags.Has(wire.FlagRST) || !c.Done() {
				t.Fatalf("data after Close answered with %v (%v)", out, c.State())
			}
			continue
		}
		out := r.send(finSeg(peerISS+1, rigISS+2))
		if c.State() != StateTimeWait || len(out) != 1 || out[0].Ack != peerISS+2 || out[0].Window == 0 {
			t.Fatalf("FIN in closed FIN-WAIT-2: %v, answered with %v", c.State(), out)
		}
	}
}
