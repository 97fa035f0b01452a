package netconn_test

import (
	"io"
	"runtime"
	"runtime/debug"
	"testing"
)

// Steady-state 64 KiB Write and Read through net.Conn, with both stacks'
// owner goroutines running (the real deployment, not a Manual simulation),
// allocate nothing: the application goroutines' blocking calls, their
// wake-ups, the owners' rounds, TCP, the interface and the pipe.
//
// The count is the process-wide malloc counter (runtime.MemStats.Mallocs),
// since the work happens on goroutines other than the test's, and that
// counter also sees the runtime allocating for itself, in bursts unrelated
// to the data path:
//   - a garbage collection empties sync.Pool (which holds TCP's idle ring
//     arrays) and the runtime's central cache of sudogs (the records of
//     goroutines blocked in a select), and both are refilled by allocating;
//     so the test collects first and keeps the collector off while counting;
//   - sudogs move between the per-P caches when a goroutine blocks on one P
//     and wakes on another, and new ones are made until a cache is full;
//     which P runs what shifts with the load on the machine;
//   - a new OS thread, a log line.
//
// So it counts in several windows of 200 operations and requires the
// quietest to have at most 2 allocations: an allocation on the data path
// would show in every window, 200 times or more.
func TestSteadyStateConnWriteReadAllocateNothingWithOwnerGoroutines(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	client, server := pair(t)
	c1, c2, err := connect(t, client, server, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	out := make([]byte, 64<<10)
	in := make([]byte, 64<<10)
	start, done := make(chan struct{}), make(chan error)
	go func() {
		for range start {
			_, err := c1.Write(out)
			done <- err
		}
	}()
	defer close(start)
	op := func() {
		start <- struct{}{}
		if _, err := io.ReadFull(c2, in); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Collect now and hold the next collection off until the count is taken
	// (see above), then warm up: windows open, rings, pools and maps reach
	// their size, and the runtime's per-P sudog caches fill (a goroutine
	// that blocks on one P and wakes on the other moves sudogs between
	// them, and new ones are made until a cache holds a full batch of 128).
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 500 {
		op()
	}
	// Count in several windows and judge the quietest: an allocation on the
	// data path shows in every window, once per operation or more, while the
	// runtime's own (see above) come in bursts that leave most windows clean.
	const windows, ops = 5, 200
	best := uint64(1 << 63)
	counts := make([]uint64, 0, windows)
	for range windows {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range ops {
			op()
		}
		runtime.ReadMemStats(&after)
		n := after.Mallocs - before.Mallocs
		counts = append(counts, n)
		best = min(best, n)
	}
	t.Logf("allocations per window of %d Write+Read of 64 KiB: %v", ops, counts)
	if best > ops/100 {
		t.Fatalf("every window of %d Write+Read of 64 KiB through net.Conn allocated (%v): at least %.3f per op; want ~0", ops, counts, float64(best)/ops)
	}
}
