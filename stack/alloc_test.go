package stack_test

import "testing"

// Steady-state bulk transfer allocates nothing anywhere in the path: the
// application's Write and Read, TCP, the interface, the owner's batches and
// the pipe (the DESIGN rule "the hot path allocates nothing").
func TestSteadyStateSendAndReceiveAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSim(t, simConfig{noFault: true})
	ca, cb := s.connect(80)
	out := make([]byte, 64<<10)
	in := make([]byte, 64<<10)
	move := func() { s.move(t, ca, cb, out, in) }
	for range 20 { // warm up: windows open, rings and maps reach their size
		move()
	}
	if allocs := testing.AllocsPerRun(50, move); allocs != 0 {
		t.Fatalf("moving 64 KiB allocated %v times per run; want 0", allocs)
	}
	// The path measured must be the aggregating one (gro is on by default).
	if g := s.b.GROStats(0); g.Merged == 0 {
		t.Fatalf("no segment was aggregated: %+v", g)
	}
}

// BenchmarkBulkTransfer reports throughput and allocations of moving data
// between two stacks over an in-memory pipe, driven on one goroutine.
func BenchmarkBulkTransfer(b *testing.B) {
	s := newSim(b, simConfig{noFault: true})
	ca, cb := s.connect(80)
	out := make([]byte, 64<<10)
	in := make([]byte, 64<<10)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.move(b, ca, cb, out, in)
	}
}
