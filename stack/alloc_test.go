package stack_test

import (
	"errors"
	"testing"

	"offload/stack"
)

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
	move := func() {
		sent, got := 0, 0
		for got < len(out) {
			if sent < len(out) {
				n, err := ca.Write(out[sent:])
				if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
					t.Fatal(err)
				}
				sent += n
			}
			n, err := cb.Read(in)
			if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
				t.Fatal(err)
			}
			got += n
			s.step()
		}
	}
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
		sent, got := 0, 0
		for got < len(out) {
			if sent < len(out) {
				n, _ := ca.Write(out[sent:])
				sent += n
			}
			n, _ := cb.Read(in)
			got += n
			s.step()
		}
	}
}
