package tcp

import (
	"bytes"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// forward is an Output that hands each segment straight to another Conn,
// through a preallocated buffer (so the harness itself does not allocate).
type forward struct {
	to  *Conn
	now *clock.Instant
	buf []byte
	seg Segment
}

func (f *forward) Emit(h *wire.TCPFields, a, b []byte) {
	n := copy(f.buf, a)
	n += copy(f.buf[n:], b)
	f.seg.TCPFields = *h
	f.seg.Payload = f.buf[:n]
	f.to.OnSegment(*f.now, &f.seg)
}

// TestSteadyStateDataPathDoesNotAllocate pins the hot path: Write, Poll
// emitting data and ACKs, OnSegment with in-order data and ACKs, and Read.
func TestSteadyStateDataPathDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	now := t0
	a := Dial(&cfg, now, 1)
	var c capture
	a.Poll(now, &c)
	b, err := Accept(&cfg, now, c.take()[0].segment(), 2)
	if err != nil {
		t.Fatal(err)
	}
	ab := &forward{to: b, now: &now, buf: make([]byte, 1<<16)}
	ba := &forward{to: a, now: &now, buf: make([]byte, 1<<16)}
	b.Poll(now, ba)
	a.Poll(now, ab)
	if a.State() != StateEstablished || b.State() != StateEstablished {
		t.Fatalf("%v %v", a.State(), b.State())
	}
	msg := make([]byte, 10000)
	rd := make([]byte, 16384)
	step := func() {
		now = now.Add(100 * time.Microsecond)
		a.Write(msg)
		a.Poll(now, ab)
		b.Poll(now, ba)
		for {
			n, _ := b.Read(rd)
			if n == 0 {
				break
			}
		}
		b.Write(msg[:100])
		b.Poll(now, ba)
		a.Poll(now, ab)
		a.Read(rd)
		now = now.Add(50 * time.Millisecond) // let delayed ACKs fire
		a.Poll(now, ab)
		b.Poll(now, ba)
	}
	for range 50 {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 && !raceEnabled {
		t.Fatalf("steady-state data path allocates %.1f times per round", allocs)
	}
	if a.Info().BytesAcked < 250*10000 {
		t.Fatalf("data did not flow: %+v", a.Info())
	}
}

// BenchmarkBulkTransfer measures the data path between two Conns (no I/O):
// Write, Poll, OnSegment, Read, one 64 KiB chunk per op.
func BenchmarkBulkTransfer(b *testing.B) {
	cfg := DefaultConfig()
	cfg.DelayedACK = 0
	now := t0
	a := Dial(&cfg, now, 1)
	var c capture
	a.Poll(now, &c)
	srv, _ := Accept(&cfg, now, c.take()[0].segment(), 2)
	ab := &forward{to: srv, now: &now, buf: make([]byte, 1<<16)}
	ba := &forward{to: a, now: &now, buf: make([]byte, 1<<16)}
	srv.Poll(now, ba)
	a.Poll(now, ab)
	msg := make([]byte, 64<<10)
	rd := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		off := 0
		for off < len(msg) {
			now = now.Add(10 * time.Microsecond)
			n, _ := a.Write(msg[off:])
			off += n
			a.Poll(now, ab)
			srv.Poll(now, ba)
			for {
				k, _ := srv.Read(rd)
				if k == 0 {
					break
				}
			}
			srv.Poll(now, ba)
		}
	}
}

// TestReassemblyAndRetransmissionDoNotAllocate covers the loss paths: out-of-
// order arrival, hole filling, duplicate ACKs, fast retransmit and RTO.
func TestReassemblyAndRetransmissionDoNotAllocate(t *testing.T) {
	r := establishedWithRTT(t, rigConfig())
	seg1 := data(peerISS+1, rigISS+1, 65535, make([]byte, 1000))
	seg2 := data(peerISS+1001, rigISS+1, 65535, make([]byte, 1000))
	s1, s2 := seg1.segment(), seg2.segment()
	out := &forward{to: Dial(&Config{}, t0, 9), now: &r.now, buf: make([]byte, 1<<16)} // a sink
	rd := make([]byte, 4096)
	msg := make([]byte, 8*1460)
	dup := ack(peerISS+1, rigISS+1, 65535).segment()
	round := func() {
		// Receive out of order, then fill the hole.
		s1.Ack, s2.Ack = r.c.sndUna, r.c.sndUna
		r.c.OnSegment(r.now, s2)
		r.c.Poll(r.now, out)
		r.c.OnSegment(r.now, s1)
		r.c.Poll(r.now, out)
		r.c.Read(rd)
		s1.Seq += 2000
		s2.Seq += 2000
		// Send, lose the first segment: three duplicate ACKs, fast retransmit,
		// then a timeout, then everything acknowledged.
		r.c.Write(msg)
		r.c.Poll(r.now, out)
		dup.Seq = r.c.rcvNxt
		dup.Ack = r.c.sndUna
		for range 3 {
			r.c.OnSegment(r.now, dup)
			r.c.Poll(r.now, out)
		}
		r.now = r.c.Deadline()
		r.c.Poll(r.now, out)
		dup.Ack = r.c.sndMax
		r.c.OnSegment(r.now, dup)
		r.c.Poll(r.now, out)
		r.now = r.now.Add(time.Second)
	}
	round()
	if allocs := testing.AllocsPerRun(50, round); allocs != 0 && !raceEnabled {
		t.Fatalf("loss paths allocate %.1f times per round", allocs)
	}
	if i := r.c.Info(); i.FastRetransmits < 50 || i.Timeouts < 50 || i.BytesReceived < 50*2000 || i.Retransmits == 0 {
		t.Fatalf("paths not exercised: %+v", i)
	}
}

func TestPeekConsumeAndPeekCommitMatchReadWrite(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendBufferSize = 4096
	cfg.RecvBufferSize = 4096
	p := newPair(t, cfg, cfg, 3, 4, time.Millisecond)
	p.connect()
	var want, got []byte
	k := 0
	for round := range 200 {
		// Fill A's send buffer in place with a counting pattern.
		a, b := p.a.PeekWrite()
		n := min(len(a)+len(b), 1+round*37%3000)
		for i := range n {
			x := byte(k)
			k++
			if i < len(a) {
				a[i] = x
			} else {
				b[i-len(a)] = x
			}
			want = append(want, x)
		}
		p.a.Commit(n)
		p.runFor(3 * time.Millisecond)
		// Drain B in place, part of it.
		ra, rb := p.b.PeekRead()
		m := min(len(ra)+len(rb), 1+round*53%2500)
		got = append(got, ra[:min(m, len(ra))]...)
		if m > len(ra) {
			got = append(got, rb[:m-len(ra)]...)
		}
		p.b.Consume(m)
	}
	p.runFor(time.Second)
	for {
		ra, rb := p.b.PeekRead()
		if len(ra)+len(rb) == 0 {
			break
		}
		got = append(append(got, ra...), rb...)
		p.b.Consume(len(ra) + len(rb))
		p.runFor(100 * time.Millisecond)
	}
	if !bytes.Equal(got, want) || len(want) < 100000 {
		t.Fatalf("got %d bytes, want %d equal", len(got), len(want))
	}
}
