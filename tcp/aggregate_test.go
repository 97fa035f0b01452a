package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"offload/wire"
)

// step is one arrival in an aggregate test: contiguous pieces starting at off
// (relative to the peer's first data byte), the last optionally with FIN. With
// aggregation the pieces arrive as one Segment (Payload + More, Segs pieces);
// without, as one segment per piece.
type step struct {
	off    int
	pieces []string
	fin    bool
}

// aggSegment builds the merged Segment receive offload would hand TCP.
func aggSegment(st step) *Segment {
	s := data(peerISS+1+wire.Seq(st.off), rigISS+1, 65535, []byte(st.pieces[0])).segment()
	for _, p := range st.pieces[1:] {
		s.More = append(s.More, []byte(p))
	}
	s.Segs = len(st.pieces)
	if st.fin {
		s.Flags |= wire.FlagFIN
	}
	return s
}

// runSteps feeds the steps to a fresh rig, merged or one by one, and returns
// the bytes read, the final state and what Info reports.
func runSteps(t *testing.T, cfg Config, steps []step, merged bool) ([]byte, State, Info, [][]seg) {
	t.Helper()
	r := newEstablishedRig(t, cfg)
	var out [][]seg
	for _, st := range steps {
		if merged {
			r.c.OnSegment(r.now, aggSegment(st))
			out = append(out, r.poll())
			continue
		}
		off := st.off
		for i, p := range st.pieces {
			d := data(peerISS+1+wire.Seq(off), rigISS+1, 65535, []byte(p))
			if st.fin && i == len(st.pieces)-1 {
				d.Flags |= wire.FlagFIN
			}
			out = append(out, r.send(d))
			off += len(p)
		}
	}
	got, _ := readAll(r.c, nil)
	return got, r.c.State(), r.c.Info(), out
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// An aggregate whose payload lies in several slices must give exactly the byte
// stream and connection state that its segments give one by one: in order,
// beyond a hole and filling it, overlapping data already received (first bytes
// win), beyond a FIN held out of order, trimmed at the window, and with FIN.
func TestAggregateSegmentMatchesSegmentsOneByOne(t *testing.T) {
	const text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	big := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 bytes
	cases := []struct {
		name  string
		cfg   func(*Config)
		steps []step
	}{
		{name: "in order", steps: []step{{0, chunks(text, 10), false}}},
		{name: "in order then more", steps: []step{{0, chunks(text[:20], 5), false}, {20, chunks(text[20:], 7), false}}},
		{name: "beyond a hole then filled", steps: []step{{20, chunks(text[20:], 8), false}, {0, chunks(text[:20], 6), false}}},
		{name: "aggregate fills a hole between ranges", steps: []step{
			{0, []string{text[:4]}, false}, {40, []string{text[40:]}, false}, {4, chunks(text[4:40], 9), false}}},
		{name: "overlaps delivered data", steps: []step{{0, []string{text[:13]}, false}, {0, chunks(text[:30], 10), false}}},
		{name: "overlap with other bytes keeps first", steps: []step{
			{10, []string{"XXXXXXXXXX"}, false}, {0, chunks(text[:30], 4), false}}},
		{name: "fin on aggregate", steps: []step{{0, chunks(text, 11), true}}},
		{name: "fin ahead of a hole", steps: []step{{30, chunks(text[30:], 9), true}, {0, chunks(text[:30], 7), false}}},
		{name: "data beyond held fin is cut", steps: []step{{0, []string{text[:10]}, false}, {20, []string{text[20:30]}, true}, {10, chunks(text[10:50], 6), false}}},
		{name: "trimmed at the window", cfg: func(c *Config) { c.RecvBufferSize = 2048 }, steps: []step{{0, chunks(string(big), 700), false}}},
		{name: "old and beyond window", cfg: func(c *Config) { c.RecvBufferSize = 2048 }, steps: []step{
			{0, []string{string(big[:1000])}, false}, {500, chunks(string(big[500:3000]), 333), false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rigConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			wantB, wantS, wantI, _ := runSteps(t, cfg, tc.steps, false)
			gotB, gotS, gotI, _ := runSteps(t, cfg, tc.steps, true)
			if !bytes.Equal(gotB, wantB) {
				t.Fatalf("bytes differ:\nmerged %q\nsingle %q", gotB, wantB)
			}
			if gotS != wantS {
				t.Fatalf("state %v merged, %v one by one", gotS, wantS)
			}
			if gotI.BytesReceived != wantI.BytesReceived || gotI.OutOfOrderRanges != wantI.OutOfOrderRanges {
				t.Fatalf("merged %+v\nsingle %+v", gotI, wantI)
			}
			if len(gotB) == 0 {
				t.Fatal("nothing delivered: the case tests nothing")
			}
		})
	}
}

// RFC 5681 §4.2: an ACK for at least every second full-sized segment. An
// aggregate of two or more segments is acknowledged at once, not delayed.
func TestAggregateOfTwoSegmentsIsACKedAtOnce_RFC5681_4_2(t *testing.T) {
	for _, segs := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(segs), func(t *testing.T) {
			r := newEstablishedRig(t, rigConfig())
			st := step{0, chunks(string(make([]byte, 100*segs)), 100), false}
			r.c.OnSegment(r.now, aggSegment(st))
			out := r.poll()
			acked := len(out) == 1 && out[0].Ack == peerISS+1+wire.Seq(100*segs)
			if acked != (segs >= 2) {
				t.Fatalf("%d segments: emitted %v", segs, out)
			}
		})
	}
}

// A reset answering an aggregate that reached no connection acknowledges all
// of its payload (RFC 9293 §3.10.7.1: SEG.SEQ + SEG.LEN).
func TestResetForAggregateCountsAllSlices(t *testing.T) {
	s := &Segment{TCPFields: wire.TCPFields{Seq: 100, Flags: wire.FlagPSH}, Payload: make([]byte, 10), More: [][]byte{make([]byte, 20), make([]byte, 5)}, Segs: 3}
	rst, ok := ResetFor(s)
	if !ok || rst.Ack != 135 {
		t.Fatalf("ok %v ack %v, want 135", ok, rst.Ack)
	}
}

// Taking an aggregate allocates nothing: the slices are read in place.
func TestAggregateInputDoesNotAllocate(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	parts := [][]byte{make([]byte, 1000), make([]byte, 1000), make([]byte, 1000)}
	seg := &Segment{TCPFields: wire.TCPFields{Ack: rigISS + 1, Flags: wire.FlagACK, Window: 65535}, Payload: parts[0], More: parts[1:], Segs: 3}
	seq := peerISS + 1
	rd := make([]byte, 4096)
	var sink discard
	allocs := testing.AllocsPerRun(100, func() {
		seg.Seq = seq
		r.c.OnSegment(r.now, seg)
		r.c.Poll(r.now, &sink)
		seq += 3000
		for {
			if n, _ := r.c.Read(rd); n == 0 {
				break
			}
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Fatalf("%v allocations per aggregate", allocs)
	}
	if got := r.c.Info().BytesReceived; got < 300000 {
		t.Fatalf("received %d bytes", got)
	}
}

// Property: for random arrivals (gaps, duplicates, overlaps, a FIN at the end
// of the stream, a small window read between arrivals), delivering each
// arrival's pieces as one aggregate gives the same bytes, state and held
// ranges as delivering them one by one.
func TestAggregatePropertyRandomArrivalsMatchOneByOne(t *testing.T) {
	const size = 3000
	text := make([]byte, size)
	for i := range text {
		text[i] = byte('a' + i%26)
	}
	for iter := range 300 {
		rng := rand.New(rand.NewPCG(uint64(iter), 99))
		var steps []step
		for range 1 + rng.IntN(40) {
			off := rng.IntN(size)
			st := step{off: off}
			for range 1 + rng.IntN(6) {
				if off >= size {
					break
				}
				n := min(1+rng.IntN(200), size-off)
				st.pieces = append(st.pieces, string(text[off:off+n]))
				off += n
			}
			st.fin = off == size && rng.IntN(2) == 0
			steps = append(steps, st)
		}
		// Finally everything, in order, so both runs must end with the whole stream.
		steps = append(steps, step{0, chunks(string(text), 500), true})
		cfg := rigConfig()
		cfg.RecvBufferSize = 1024 + rng.IntN(4096)
		run := func(merged bool) ([]byte, State, Info) {
			r := newEstablishedRig(t, cfg)
			var got []byte
			for _, st := range steps {
				if merged {
					r.c.OnSegment(r.now, aggSegment(st))
					r.poll()
				} else {
					off := st.off
					for i, p := range st.pieces {
						d := data(peerISS+1+wire.Seq(off), rigISS+1, 65535, []byte(p))
						if st.fin && i == len(st.pieces)-1 {
							d.Flags |= wire.FlagFIN
						}
						r.send(d)
						off += len(p)
					}
				}
				got, _ = readAll(r.c, got)
			}
			return got, r.c.State(), r.c.Info()
		}
		wb, ws, wi := run(false)
		gb, gs, gi := run(true)
		if !bytes.Equal(gb, wb) || gs != ws || gi.OutOfOrderRanges != wi.OutOfOrderRanges || gi.BytesReceived != wi.BytesReceived {
			t.Fatalf("iteration %d: merged %d bytes %v ranges %d; one by one %d bytes %v ranges %d",
				iter, len(gb), gs, gi.OutOfOrderRanges, len(wb), ws, wi.OutOfOrderRanges)
		}
	}
}
