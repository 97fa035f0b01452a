package gro

import (
	"testing"

	"offload/pkt"
)

// stream returns n consecutive full-sized segments of one flow as frame bytes.
func segmentFrames(n, size int, v6 bool) [][]byte {
	var out [][]byte
	for i := range n {
		var s spec
		if v6 {
			s = base6(uint32(1+i*size), size)
		} else {
			s = base(uint32(1+i*size), size)
			s.id = uint16(100 + i)
		}
		out = append(out, s.bytes())
	}
	return out
}

// sink releases what it is given, as the stack would after TCP copied the data.
type sink struct{ aggs, segs int }

func (k *sink) Deliver(a *Aggregate) {
	k.aggs++
	k.segs += a.Segs
	a.Release()
}

func runFrames(tb *Table, p *pkt.Pool, frames [][]byte) {
	for _, b := range frames {
		buf := p.Get()
		copy(buf.Append(len(b)), b)
		tb.Input(0, buf)
	}
	tb.FlushAll()
}

func TestSteadyStateAggregationAllocatesNothing(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := pkt.NewPool(128, 2048, 64)
		k := &sink{}
		tb, err := New(Config{L2: true}, k)
		if err != nil {
			t.Fatal(err)
		}
		frames := segmentFrames(60, 1448, v6)
		// Mix in the other paths: a pure ACK, another flow, a non-TCP frame.
		ack := base(1+60*1448, 0)
		other := base(1, 100)
		other.sport = 9
		arp := make([]byte, 60)
		arp[12], arp[13] = 0x08, 0x06
		frames = append(frames, ack.bytes(), other.bytes(), arp)
		allocs := testing.AllocsPerRun(200, func() { runFrames(tb, p, frames) })
		if allocs != 0 {
			t.Fatalf("v6=%v: %v allocations per batch", v6, allocs)
		}
		if p.Available() != p.Count() || k.aggs == 0 || tb.Stats().Merged == 0 {
			t.Fatalf("v6=%v: pool %d/%d, %d aggregates, %d merged", v6, p.Available(), p.Count(), k.aggs, tb.Stats().Merged)
		}
	}
}

func benchmarkGRO(b *testing.B, cfg Config, v6 bool, csum pkt.ChecksumState) {
	const size = 1448
	k := &sink{}
	tb, err := New(cfg, k)
	if err != nil {
		b.Fatal(err)
	}
	// Pool-less buffers (Release is a no-op) filled once: the loop measures gro
	// alone, not a device filling buffers.
	frames := segmentFrames(64, size, v6)
	bufs := make([]*pkt.Buffer, len(frames))
	for i, f := range frames {
		bufs[i] = pkt.NewBuffer(2048, 64)
		copy(bufs[i].Append(len(f)), f)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frames) * size))
	for b.Loop() {
		for _, buf := range bufs {
			buf.Meta.Checksum = csum
			tb.Input(0, buf)
		}
		tb.FlushAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/segment")
	st := tb.Stats()
	b.ReportMetric(st.AvgSegmentsPerAggregate(), "segs/aggregate")
}

func BenchmarkGROVerifyChecksumIPv4(b *testing.B) {
	benchmarkGRO(b, Config{L2: true}, false, pkt.ChecksumUnknown)
}

func BenchmarkGROTrustedIPv4(b *testing.B) {
	benchmarkGRO(b, Config{L2: true}, false, pkt.ChecksumPartial)
}

func BenchmarkGROTrustedIPv6(b *testing.B) {
	benchmarkGRO(b, Config{L2: true}, true, pkt.ChecksumPartial)
}

func BenchmarkGRODisabled(b *testing.B) {
	benchmarkGRO(b, Config{L2: true, Disabled: true}, false, pkt.ChecksumPartial)
}
