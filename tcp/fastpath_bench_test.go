package tcp

import (
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// Micro-benchmarks of one established connection's data path, without I/O:
// the receive fast path (in-order MSS segments in, the application reading,
// ACKs out) and the send path (the application writing, segments out, the
// peer's cumulative ACKs in). Each runs with the options a Linux peer
// negotiates (timestamps, window scaling, SACK) and with none.
//
//	go test ./tcp -run '^$' -bench 'FastPath|SendPath' -benchmem

// countOutput is an Output that keeps nothing but counts and the last
// header, so that the benchmarks measure TCP and not a capture.
type countOutput struct {
	segs, acks, bytes int
	last              wire.TCPFields
}

func (o *countOutput) Emit(h *wire.TCPFields, a, b []byte) {
	n := len(a) + len(b)
	o.segs++
	o.bytes += n
	if n == 0 {
		o.acks++
	}
	o.last = *h
}

// fastPath is an established passive connection and the peer's view of it.
type fastPath struct {
	c       *Conn
	now     clock.Instant
	out     countOutput
	peerSeq wire.Seq // the peer's next sequence number
	opts    bool     // timestamps, window scaling and SACK negotiated
	seg     Segment  // the peer's segment, reused
	tsVal   uint32   // the peer's timestamp clock
}

// newFastPath runs a handshake with a peer that offers MSS 1460 and, with
// opts, window scale 7, SACK and timestamps, as Linux does.
func newFastPath(tb testing.TB, opts bool) *fastPath {
	tb.Helper()
	cfg := rigConfig()
	if opts {
		cfg = DefaultConfig()
	}
	f := &fastPath{now: t0, peerSeq: peerISS + 1, opts: opts, tsVal: 1}
	syn := Segment{TCPFields: wire.TCPFields{Seq: peerISS, Flags: wire.FlagSYN, Window: 65535}}
	syn.Options.MSS = 1460
	if opts {
		syn.Options.HasWScale, syn.Options.WScale = true, 7
		syn.Options.SACKPermitted = true
		syn.Options.HasTimestamp, syn.Options.TSVal = true, f.tsVal
	}
	c, err := Accept(&cfg, f.now, &syn, rigISS)
	if err != nil {
		tb.Fatal(err)
	}
	f.c = c
	c.Poll(f.now, &f.out)
	if f.out.segs != 1 || f.out.last.Flags != wire.FlagSYN|wire.FlagACK {
		tb.Fatalf("no SYN-ACK: %d segments, last %+v", f.out.segs, f.out.last)
	}
	f.ack()
	if c.State() != StateEstablished {
		tb.Fatalf("state %v after the handshake", c.State())
	}
	c.SetNoDelay(true)
	return f
}

// peerSegment fills f.seg as the peer's next segment: an ACK of everything
// we sent, carrying payload p.
func (f *fastPath) peerSegment(p []byte) *Segment {
	s := &f.seg
	s.TCPFields = wire.TCPFields{Seq: f.peerSeq, Ack: f.c.sndMax, Flags: wire.FlagACK, Window: 65535}
	if len(p) > 0 {
		s.Flags |= wire.FlagPSH
	}
	if f.opts {
		s.Window = 65535 >> 1 // scaled by 7: 4 MiB
		s.Options.HasTimestamp, s.Options.TSVal, s.Options.TSEcr = true, f.tsVal, f.out.last.Options.TSVal
	}
	s.Payload = p
	f.peerSeq += wire.Seq(len(p))
	return s
}

// ack delivers the peer's pure ACK of everything sent and polls.
func (f *fastPath) ack() {
	f.c.OnSegment(f.now, f.peerSegment(nil))
	f.c.Poll(f.now, &f.out)
}

// receiveOne is one step of the receive fast path: an in-order MSS segment
// arrives, TCP runs, the application reads it.
func (f *fastPath) receiveOne(tb testing.TB, payload, rd []byte) {
	f.now = f.now.Add(10 * time.Microsecond)
	f.tsVal++
	f.c.OnSegment(f.now, f.peerSegment(payload))
	f.c.Poll(f.now, &f.out)
	if n, _ := f.c.Read(rd); n != len(payload) {
		tb.Fatalf("read %d bytes of a %d-byte segment (state %v)", n, len(payload), f.c.State())
	}
}

// sendBurst is one step of the send path: the application writes msg, TCP
// emits it as segments, and the peer acknowledges all of it. Past slow start
// that is one Poll and one ACK; before, it takes a few rounds.
func (f *fastPath) sendBurst(tb testing.TB, msg []byte) {
	f.now = f.now.Add(10 * time.Microsecond)
	if n, _ := f.c.Write(msg); n != len(msg) {
		tb.Fatalf("wrote %d of %d bytes", n, len(msg))
	}
	sent := f.out.bytes
	f.c.Poll(f.now, &f.out)
	for range 100 {
		f.now = f.now.Add(10 * time.Microsecond)
		f.tsVal++
		f.ack() // polls again: the rest of msg goes out as the window opens
		if f.out.bytes-sent >= len(msg) && f.c.sndUna == f.c.sndMax {
			return
		}
	}
	tb.Fatalf("sent %d of %d bytes, %d unacknowledged", f.out.bytes-sent, len(msg), f.c.sndMax-f.c.sndUna)
}

// mss is the payload of a full-sized segment: 1460 less 12 bytes of
// timestamp option when those were negotiated.
func (f *fastPath) mss() int { return f.c.SendMSS() }

// BenchmarkReceiveFastPath: ns per in-order MSS segment received, including
// the application's Read and the ACKs TCP generates (acks/op: delayed ACKs
// go out for every second full-sized segment, RFC 5681 §4.2).
func BenchmarkReceiveFastPath(b *testing.B) {
	for _, opts := range []bool{true, false} {
		b.Run(optsName(opts), func(b *testing.B) {
			f := newFastPath(b, opts)
			payload := make([]byte, f.mss())
			rd := make([]byte, 4096)
			for range 100 {
				f.receiveOne(b, payload, rd)
			}
			acks := f.out.acks
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f.receiveOne(b, payload, rd)
			}
			b.StopTimer()
			b.ReportMetric(float64(f.out.acks-acks)/float64(b.N), "acks/op")
		})
	}
}

// BenchmarkSendPath: the application writes, TCP emits segments, the peer
// acknowledges them. "mss" writes one MSS per op (ns/op is per segment);
// "64KiB" writes 44 MSS per op (ns/segment divides by the segments sent);
// both give the cost per byte as MB/s.
func BenchmarkSendPath(b *testing.B) {
	for _, opts := range []bool{true, false} {
		for _, segs := range []int{1, 44} {
			name := optsName(opts) + "/mss"
			if segs > 1 {
				name = optsName(opts) + "/64KiB"
			}
			b.Run(name, func(b *testing.B) {
				f := newFastPath(b, opts)
				msg := make([]byte, segs*f.mss())
				for range 100 { // past slow start
					f.sendBurst(b, msg)
				}
				out := f.out.segs
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					f.sendBurst(b, msg)
				}
				b.StopTimer()
				sent := f.out.segs - out
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/segment")
			})
		}
	}
}

func optsName(opts bool) string {
	if opts {
		return "ts+ws+sack"
	}
	return "nooptions"
}

// The benchmarks above report allocs/op; this pins the same steps at zero
// so that a regression fails a test, not only a number in a report.
func TestFastPathAndSendPathStepsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, opts := range []bool{true, false} {
		f := newFastPath(t, opts)
		payload := make([]byte, f.mss())
		rd := make([]byte, 4096)
		for range 100 {
			f.receiveOne(t, payload, rd)
		}
		if n := testing.AllocsPerRun(200, func() { f.receiveOne(t, payload, rd) }); n != 0 {
			t.Errorf("%s: receiving an in-order segment allocates %v times", optsName(opts), n)
		}
		msg := make([]byte, 44*f.mss())
		for range 100 {
			f.sendBurst(t, msg)
		}
		segs := f.out.segs
		if n := testing.AllocsPerRun(200, func() { f.sendBurst(t, msg) }); n != 0 {
			t.Errorf("%s: sending 44 segments allocates %v times", optsName(opts), n)
		}
		if perBurst := float64(f.out.segs-segs) / 201; perBurst != 44 {
			t.Errorf("%s: %v segments per 44-MSS burst past slow start, want 44", optsName(opts), perBurst)
		}
		if f.out.acks == 0 {
			t.Errorf("%s: no ACK was generated for the received data", optsName(opts))
		}
	}
}
