package stack_test

import (
	"testing"
	"time"

	"offload/gro"
	"offload/link/fault"
	"offload/stack"
	"offload/tcp"
)

// groRun transfers size bytes a→b over a 100 Mbit/s simulated link (frames
// arrive in bursts per receive round) with aggregation on or off at the
// receiver, and returns the receiver's TCP segment count and gro counters.
func groRun(t *testing.T, noGRO bool, size int64) (tcp.Info, gro.Stats) {
	t.Helper()
	s := newSimOpts(t, simConfig{seed: 7, faults: fault.Faults{Delay: time.Millisecond, Rate: 100e6}}, func(o *stack.Options) {
		o.NICs[0].NoGRO = noGRO // the per-NIC switch
	})
	ca, cb := s.connect(80)
	st := newStream(ca, cb, size, 3)
	s.transfer(st)
	st.check(t, "a→b")
	return cb.Info(), s.b.GROStats(0)
}

// With aggregation on, in-order MTU-sized segments arriving together are
// merged: TCP at the receiver runs fewer times for the same bytes, and the
// stream is identical (checked by SHA-256 in stream.check).
func TestGROMergesBurstsAndTCPRunsFewerTimes(t *testing.T) {
	const size = 4 << 20
	on, st := groRun(t, false, size)
	off, stOff := groRun(t, true, size)
	t.Logf("gro on: TCP segments in %d, gro %+v avg %.2f", on.SegmentsIn, st, st.AvgSegmentsPerAggregate())
	t.Logf("gro off: TCP segments in %d", off.SegmentsIn)
	if stOff.FramesIn != 0 {
		t.Fatalf("NoGRO: gro saw %d frames", stOff.FramesIn)
	}
	if st.AggregatesOut == 0 || st.AvgSegmentsPerAggregate() <= 1 || st.Merged == 0 {
		t.Fatalf("no aggregation: %+v", st)
	}
	if st.FramesIn != st.FramesOut || st.HandlerLeaks != 0 {
		t.Fatalf("frames in %d out %d leaks %d", st.FramesIn, st.FramesOut, st.HandlerLeaks)
	}
	if on.BytesReceived != off.BytesReceived || on.BytesReceived < size {
		t.Fatalf("bytes received %d with gro, %d without", on.BytesReceived, off.BytesReceived)
	}
	if on.SegmentsIn >= off.SegmentsIn {
		t.Fatalf("TCP ran %d times with gro, %d without", on.SegmentsIn, off.SegmentsIn)
	}
}

// Options.NoGRO turns aggregation off on every NIC: nothing goes through gro,
// and the transfer is still whole.
func TestNoGROOptionBypassesAggregation(t *testing.T) {
	s := newSimOpts(t, simConfig{seed: 3, faults: fault.Faults{Delay: time.Millisecond, Rate: 100e6}}, func(o *stack.Options) {
		o.NoGRO = true
	})
	ca, cb := s.connect(80)
	st := newStream(ca, cb, 1<<20, 5)
	s.transfer(st)
	st.check(t, "a→b")
	if g := s.b.GROStats(0); g.FramesIn != 0 {
		t.Fatalf("gro saw %d frames with NoGRO", g.FramesIn)
	}
	if in := cb.Info(); in.SegmentsIn < (1<<20)/1460 {
		t.Fatalf("TCP ran %d times for 1 MiB without aggregation", in.SegmentsIn)
	}
}
