package stack_test

import (
	"net"
	"testing"
	"time"

	"offload/bench"
)

// BenchmarkRoundTripPipe measures 64-byte request/response round trips
// between two stacks with their owner goroutines over an in-memory pipe,
// through netconn's blocking calls: the stack's own share of a round trip,
// without a kernel or a system call on the link. It reports p50, p99 and
// the maximum in µs (b.N round trips); ns/op is their mean. "busypoll" keeps
// both owners polling for 50 µs after each packet (Options.BusyPoll).
//
//	go test ./stack -run '^$' -bench RoundTripPipe -benchtime 20000x
func BenchmarkRoundTripPipe(b *testing.B) {
	for _, busy := range []time.Duration{0, 50 * time.Microsecond} {
		name := "sleep"
		if busy > 0 {
			name = "busypoll"
		}
		b.Run(name, func(b *testing.B) {
			c := echoOverPipe(b, busy)
			benchRoundTrips(b, c)
		})
	}
}

// benchRoundTrips runs b.N 64-byte round trips on c after a warm-up and
// reports their p50, p99 and maximum.
func benchRoundTrips(b *testing.B, c net.Conn) {
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := bench.RequestResponse(c, 64, 0, 200); err != nil {
		b.Fatal(err)
	}
	// allocs/op counts the round trip's work on every goroutine (the
	// application's calls and both stacks' owners); bench's buffers and
	// sample slice are made once per run, sized up front.
	b.ReportAllocs()
	b.ResetTimer()
	r, err := bench.RequestResponse(c, 64, 0, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.Percentile(50))/1e3, "p50-µs")
	b.ReportMetric(float64(r.Percentile(99))/1e3, "p99-µs")
	b.ReportMetric(float64(r.Samples[len(r.Samples)-1])/1e3, "max-µs")
}
