package stack_test

import (
	"testing"
	"time"

	"offload/link/fault"
	"offload/tcp"
)

// BenchmarkThroughputUnderOnePercentLoss moves 4 MiB between two offload
// stacks over link/pipe with link/fault losing 1% of frames each way on a
// 100 Mbit/s, 1 ms one-way link (a simulation on a fake clock, so the numbers
// are exact and repeatable), for NewReno and CUBIC with and without SACK and
// RACK-TLP. It reports simulated goodput (sim-Mbit/s) and retransmission
// timeouts per transfer: recovery is visibly better with SACK and RACK on.
// (allocs/op here counts building two stacks and the test's streams per op;
// the steady-state path's zero is asserted by
// TestSteadyStateSendAndReceiveAllocateNothing.)
func BenchmarkThroughputUnderOnePercentLoss(b *testing.B) {
	for _, v := range []struct {
		name       string
		cc         func(int) tcp.CongestionControl
		sack, rack bool
	}{
		{"NewReno", tcp.NewNewReno, false, false},
		{"NewReno+SACK", tcp.NewNewReno, true, false},
		{"NewReno+SACK+RACK", tcp.NewNewReno, true, true},
		{"CUBIC", tcp.NewCUBIC, false, false},
		{"CUBIC+SACK", tcp.NewCUBIC, true, false},
		{"CUBIC+SACK+RACK", tcp.NewCUBIC, true, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			var simulated time.Duration
			var rtos uint64
			const size = 4 << 20
			for i := range b.N {
				cfg := tcp.DefaultConfig()
				cfg.Congestion, cfg.SACK, cfg.RACK = v.cc, v.sack, v.rack
				cfg.SendBufferSize, cfg.RecvBufferSize = 1<<20, 1<<20
				s := newSim(b, simConfig{
					seed:   uint64(i + 1),
					faults: fault.Faults{Loss: 0.01, Delay: time.Millisecond, Rate: 100e6},
					tcp:    &cfg,
				})
				ca, cb := s.connect(80)
				st := newStream(ca, cb, size, uint64(i))
				simulated += s.transfer(st)
				st.check(b, v.name)
				rtos += ca.Info().Timeouts
			}
			b.ReportMetric(float64(size*b.N)*8/simulated.Seconds()/1e6, "sim-Mbit/s")
			b.ReportMetric(float64(rtos)/float64(b.N), "RTOs/op")
		})
	}
}
