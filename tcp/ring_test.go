package tcp

import (
	"bytes"
	"testing"
	"time"

	"offload/wire"
)

// A ring without its array is an empty ring of its full size: nothing to
// peek or read, all of it free.
func TestIdleRingActsEmptyAtFullSize(t *testing.T) {
	r := newRing(4096)
	if r.held() || r.size() != 4096 || r.free() != 4096 {
		t.Fatalf("new ring: held %v size %d free %d", r.held(), r.size(), r.free())
	}
	if a, b := r.peek(0, 10); a != nil || b != nil {
		t.Fatal("peek of an idle ring returned bytes")
	}
	if n := r.read(make([]byte, 10)); n != 0 {
		t.Fatalf("read %d from an idle ring", n)
	}
	if n := r.append(nil); n != 0 || r.held() {
		t.Fatal("an empty append took the array")
	}
	if r.append([]byte("abc")) != 3 || !r.held() {
		t.Fatal("append did not take the array")
	}
	r.idle() // not empty: must keep it
	if !r.held() {
		t.Fatal("idle dropped an array holding data")
	}
	got := make([]byte, 3)
	r.read(got)
	r.idle()
	if r.held() || r.free() != 4096 || string(got) != "abc" {
		t.Fatalf("after read and idle: held %v free %d got %q", r.held(), r.free(), got)
	}
}

// Cycling a ring between empty and non-empty reuses pooled arrays: the busy
// connection that idles between messages allocates nothing.
func TestRingArraysComeBackFromThePoolWithoutAllocating(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := newRing(8192)
	msg := make([]byte, 5000)
	out := make([]byte, 5000)
	cycle := func() {
		r.append(msg)
		r.read(out)
		r.idle()
	}
	cycle()
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("%v allocations per empty/non-empty cycle", a)
	}
}

// A connection that has nothing buffered holds no arrays, and it still offers
// the whole configured buffer as its window (RFC 9293 §3.8.6.2.2: the window
// is the space the receiver can take; the array is taken when data arrives).
func TestIdleConnectionHoldsNoBuffersButOffersTheFullWindow(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	c := r.c
	if c.BufferBytes() != 0 {
		t.Fatalf("fresh connection holds %d buffer bytes", c.BufferBytes())
	}
	out := r.send(data(peerISS+1, rigISS+1, 65535, []byte("request")))
	if !c.rcvBuf.held() {
		t.Fatal("data arrived but the receive ring has no array")
	}
	out = append(out, r.advance(time.Second)...)
	if len(out) == 0 || int(out[len(out)-1].Window) != 65535-len("request") {
		t.Fatalf("ACK for 7 bytes: %v", out)
	}
	got, err := readAll(c, nil)
	if err != nil || string(got) != "request" {
		t.Fatalf("read %q %v", got, err)
	}
	if c.BufferBytes() != 0 {
		t.Fatalf("everything read, yet %d buffer bytes held", c.BufferBytes())
	}
	if w := c.rcvWindow(); w != 64<<10 {
		t.Fatalf("idle connection offers %d, want the full %d", w, 64<<10)
	}
}

// Data held out of order keeps the receive array even though nothing is
// readable; it goes back only once the hole is filled and everything read.
func TestOutOfOrderDataKeepsTheReceiveArrayUntilRead(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	c := r.c
	r.send(data(peerISS+4, rigISS+1, 65535, []byte("def")))
	if c.rcvBuf.n != 0 || len(c.ooo) != 1 || !c.rcvBuf.held() {
		t.Fatalf("out-of-order data: %d readable, %d ranges, held %v", c.rcvBuf.n, len(c.ooo), c.rcvBuf.held())
	}
	if n, _ := c.Read(make([]byte, 10)); n != 0 || !c.rcvBuf.held() {
		t.Fatalf("an empty Read (%d) dropped the array holding out-of-order data", n)
	}
	r.send(data(peerISS+1, rigISS+1, 65535, []byte("abc")))
	got, err := readAll(c, nil)
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("read %q %v", got, err)
	}
	if c.rcvBuf.held() {
		t.Fatal("everything read, yet the receive array is held")
	}
}

// The send ring keeps every byte until it is acknowledged (it is the
// retransmission queue, RFC 9293 §3.8.1), so it gives its array back only
// when SND.UNA reaches the end of what was written; a retransmission before
// that carries the original bytes.
func TestSendArrayGoesBackOnlyWhenEverythingIsAcknowledged(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	c := r.c
	msg := bytes.Repeat([]byte("0123456789"), 300) // 3000 bytes: three segments
	if n, err := c.Write(msg); n != len(msg) || err != nil {
		t.Fatal(n, err)
	}
	out := r.poll()
	if len(out) == 0 || !c.sndBuf.held() {
		t.Fatalf("sent %v; held %v", out, c.sndBuf.held())
	}
	r.send(ack(peerISS+1, rigISS+1+1460, 65535))
	if !c.sndBuf.held() {
		t.Fatal("partly acknowledged, yet the send array went back")
	}
	// Lose the rest: the timeout resends from the ring.
	var rtx []seg
	for range 3 {
		rtx = append(rtx, r.advanceToDeadline()...)
		if len(rtx) > 0 {
			break
		}
	}
	if len(rtx) == 0 || rtx[0].Seq != rigISS+1+1460 || !bytes.Equal(rtx[0].Payload, msg[1460:1460+len(rtx[0].Payload)]) {
		t.Fatalf("retransmission %v", rtx)
	}
	// Acknowledge whatever is sent until the whole message is through.
	for i := 0; c.sndUna != rigISS+1+wire.Seq(len(msg)); i++ {
		if i == 10 {
			t.Fatalf("message not through: SND.UNA %d", c.sndUna)
		}
		if c.sndBuf.n == 0 || !c.sndBuf.held() {
			t.Fatalf("%d bytes unacknowledged, held %v", c.sndBuf.n, c.sndBuf.held())
		}
		r.send(ack(peerISS+1, c.sndMax, 65535))
	}
	if c.sndBuf.held() || c.txq.e != nil || c.BufferBytes() != 0 {
		t.Fatalf("all acknowledged: send held %v, scoreboard held %v, %d bytes", c.sndBuf.held(), c.txq.e != nil, c.BufferBytes())
	}
	if c.Writable() != 64<<10 {
		t.Fatalf("writable %d, want the whole buffer", c.Writable())
	}
}

// Commit only counts bytes placed through PeekWrite: without a PeekWrite
// since the ring went idle there is no array and nothing was filled.
func TestCommitWithoutPeekWriteAddsNothing(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	c := r.c
	c.Commit(100)
	if c.sndBuf.n != 0 || c.sndBuf.held() {
		t.Fatalf("Commit without PeekWrite queued %d bytes", c.sndBuf.n)
	}
	a, _ := c.PeekWrite()
	copy(a, "hello")
	c.Commit(5)
	if out := r.poll(); len(out) != 1 || string(out[0].Payload) != "hello" {
		t.Fatalf("sent %v", out)
	}
}

// BenchmarkRequestResponseCycle is a small request and response between two
// Conns, after which both sides are idle again: each message takes the ring
// arrays from the pools and gives them back, so this is the price of holding
// no buffers while idle (compare with a build where idle keeps the arrays).
func BenchmarkRequestResponseCycle(b *testing.B) {
	cfg := DefaultConfig()
	cfg.DelayedACK = 0 // every data segment is acknowledged at once: both sides go idle each round
	now := t0
	a := Dial(&cfg, now, 1)
	var c capture
	a.Poll(now, &c)
	srv, err := Accept(&cfg, now, c.take()[0].segment(), 2)
	if err != nil {
		b.Fatal(err)
	}
	ab := &forward{to: srv, now: &now, buf: make([]byte, 1<<16)}
	ba := &forward{to: a, now: &now, buf: make([]byte, 1<<16)}
	srv.Poll(now, ba)
	a.Poll(now, ab)
	req, resp := make([]byte, 100), make([]byte, 200)
	rd := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		a.Write(req)
		a.Poll(now, ab)
		srv.Poll(now, ba) // ACK
		srv.Read(rd)
		srv.Write(resp)
		srv.Poll(now, ba)
		a.Poll(now, ab) // ACK
		a.Read(rd)
	}
	if a.sndBuf.held() || srv.rcvBuf.held() || srv.sndBuf.held() || a.rcvBuf.held() {
		b.Fatal("a side still holds a ring after the exchange")
	}
}
