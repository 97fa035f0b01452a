package udp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var src = netip.MustParseAddrPort("198.18.0.1:5000")

// A full queue drops and counts what arrives (RFC 1122 §4.1.3.5 leaves UDP
// buffering to the implementation; the bound is ours) and keeps what it held.
func TestQueueFullByCountDropsAndCounts_RFC1122_4_1_3_5(t *testing.T) {
	e := New(Config{QueueDatagrams: 4, QueueBytes: 1 << 10})
	for i := range 10 {
		e.Push(src, []byte{byte(i)})
	}
	if st := e.Stats(); st.Received != 4 || st.Dropped != 6 {
		t.Fatalf("stats %+v, want 4 received 6 dropped", st)
	}
	p := make([]byte, 8)
	for i := range 4 {
		n, from, _, ok := e.Recv(p)
		if !ok || n != 1 || p[0] != byte(i) || from != src {
			t.Fatalf("datagram %d: n=%d ok=%v byte=%d from=%v", i, n, ok, p[0], from)
		}
	}
	if _, _, _, ok := e.Recv(p); ok {
		t.Fatal("queue should be empty")
	}
}

func TestQueueFullByBytesDrops(t *testing.T) {
	e := New(Config{QueueDatagrams: 100, QueueBytes: 1000})
	big := make([]byte, 400)
	for i, want := range []bool{true, true, false} {
		if got := e.Push(src, big); got != want {
			t.Fatalf("400-byte datagram %d into a 1000-byte bound: accepted=%v, want %v", i, got, want)
		}
	}
	if e.Push(src, make([]byte, 1001)) {
		t.Fatal("a datagram larger than the whole queue must be dropped")
	}
	if e.Stats().Dropped != 2 || e.Bytes() != 800 {
		t.Fatalf("dropped %d bytes %d", e.Stats().Dropped, e.Bytes())
	}
}

// Recv into a short buffer discards the rest of the datagram, as recvfrom(2).
func TestRecvShortBufferTruncatesDatagram(t *testing.T) {
	e := New(Config{})
	e.Push(src, []byte("hello world"))
	e.Push(src, []byte("next"))
	p := make([]byte, 5)
	n, _, trunc, _ := e.Recv(p)
	if n != 5 || !trunc || string(p) != "hello" {
		t.Fatalf("n=%d trunc=%v %q", n, trunc, p)
	}
	n, _, trunc, _ = e.Recv(p)
	if n != 4 || trunc || string(p[:n]) != "next" {
		t.Fatalf("second: n=%d trunc=%v %q", n, trunc, p[:n])
	}
}

// Zero-length datagrams are legal (RFC 768: length 8) and are delivered.
func TestZeroLengthDatagramDelivered_RFC768(t *testing.T) {
	e := New(Config{QueueDatagrams: 2})
	if !e.Push(src, nil) {
		t.Fatal("dropped")
	}
	if n, from, _, ok := e.Recv(make([]byte, 4)); !ok || n != 0 || from != src {
		t.Fatalf("n=%d ok=%v", n, ok)
	}
}

// The byte ring against a simple model: random sizes, random interleaving of
// pushes and pops; every accepted datagram comes out intact and in order, and
// a push is refused only when the bounds (or contiguity) leave no room.
func TestRingMatchesModelUnderRandomTraffic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	e := New(Config{QueueDatagrams: 16, QueueBytes: 4096})
	var model [][]byte
	p := make([]byte, 4096)
	for i := range 200000 {
		if r.IntN(2) == 0 {
			d := make([]byte, r.IntN(900))
			for j := range d {
				d[j] = byte(i + j)
			}
			free := 4096 - e.Bytes()
			if e.Push(src, d) {
				model = append(model, d)
			} else if len(model) < 16 && free >= 2*len(d) {
				// Free space is at most two pieces (after the tail, before
				// the head), so one of them holds len(d) when free ≥ 2·len(d).
				t.Fatalf("step %d: refused %d bytes with %d free and %d queued", i, len(d), free, len(model))
			}
		} else {
			n, _, _, ok := e.Recv(p)
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: ok=%v model %d", i, ok, len(model))
			}
			if ok {
				if !bytes.Equal(p[:n], model[0]) {
					t.Fatalf("step %d: datagram corrupted", i)
				}
				model = model[1:]
			}
		}
		if e.Len() != len(model) || e.Bytes() > 4096 {
			t.Fatalf("step %d: len %d model %d bytes %d", i, e.Len(), len(model), e.Bytes())
		}
	}
}

func TestPushRecvAllocateNothing(t *testing.T) {
	e := New(Config{})
	d := make([]byte, 1200)
	p := make([]byte, 2000)
	if a := testing.AllocsPerRun(1000, func() { e.Push(src, d); e.Recv(p) }); a != 0 {
		t.Fatalf("%v allocs per push+recv", a)
	}
}
