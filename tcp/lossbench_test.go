package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// lossTransfer moves size bytes A->B over the pair harness (1 ms one way)
// with loss% of segments dropped at random in both directions, and returns
// the simulated time it took and A's final Info.
func lossTransfer(t testing.TB, cfg Config, size, lossPermille int, seed uint64) (time.Duration, Info) {
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.traceOn = false
	p.connect()
	rng := rand.New(rand.NewPCG(seed, uint64(lossPermille)))
	p.filter = func(bool, *seg) bool { return rng.IntN(1000) < lossPermille }
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i * 31)
	}
	start := p.now
	got := make([]byte, 0, size)
	off := 0
	rd := make([]byte, 64<<10)
	for len(got) < len(src) {
		if p.now.Sub(start) > 10*time.Minute {
			t.Fatalf("stalled at %d of %d", len(got), size)
		}
		n, _ := p.a.Write(src[off:])
		off += n
		p.runFor(100 * time.Microsecond)
		for {
			k, _ := p.b.Read(rd)
			if k == 0 {
				break
			}
			got = append(got, rd[:k]...)
		}
	}
	if !bytes.Equal(got, src) {
		t.Fatal("data differs")
	}
	return p.now.Sub(start), p.a.Info()
}

// lossVariants are the congestion-control and loss-recovery combinations
// compared under loss.
var lossVariants = []struct {
	name string
	cfg  func(*Config)
}{
	{"NewReno/noSACK", func(c *Config) { c.Congestion = NewNewReno; c.SACK = false; c.RACK = false }},
	{"NewReno/SACK", func(c *Config) { c.Congestion = NewNewReno; c.RACK = false }},
	{"NewReno/SACK+RACK", func(c *Config) { c.Congestion = NewNewReno }},
	{"CUBIC/noSACK", func(c *Config) { c.SACK = false; c.RACK = false }},
	{"CUBIC/SACK", func(c *Config) { c.RACK = false }},
	{"CUBIC/SACK+RACK", func(c *Config) {}},
}

// lossResult is a variant's mean over seeds of lossTransfer.
type lossResult struct {
	mbit       float64 // simulated goodput, Mbit/s
	rtos, retx float64 // retransmission timeouts and retransmitted segments per transfer
}

// lossRun runs lossTransfer of size bytes at lossPermille for seeds 0 to
// seeds-1 with the variant's configuration, and returns the means.
func lossRun(t testing.TB, setup func(*Config), size, lossPermille, seeds int) lossResult {
	cfg := DefaultConfig()
	cfg.SendBufferSize, cfg.RecvBufferSize = 1<<20, 1<<20
	setup(&cfg)
	var total time.Duration
	var timeouts, retx uint64
	for seed := range seeds {
		d, i := lossTransfer(t, cfg, size, lossPermille, uint64(seed))
		total += d
		timeouts += i.Timeouts
		retx += i.Retransmits
	}
	mean := total / time.Duration(seeds)
	return lossResult{
		mbit: float64(size*8) / mean.Seconds() / 1e6,
		rtos: float64(timeouts) / float64(seeds),
		retx: float64(retx) / float64(seeds),
	}
}

// BenchmarkThroughputUnderLoss reports the simulated goodput of a 4 MiB
// transfer over a 2 ms RTT path with 1% random loss in both directions, for
// NewReno and CUBIC with and without SACK and RACK-TLP (mean of 5 seeds).
// The metric is simulated Mbit/s (not wall-clock speed), so it compares
// the algorithms, not the machine.
func BenchmarkThroughputUnderLoss(b *testing.B) {
	for _, v := range lossVariants {
		b.Run(v.name, func(b *testing.B) {
			var r lossResult
			for range b.N {
				r = lossRun(b, v.cfg, 4<<20, 10, 5)
			}
			b.ReportMetric(r.mbit, "sim-Mbit/s")
			b.ReportMetric(r.rtos, "RTOs/op")
			b.ReportMetric(r.retx, "retx/op")
		})
	}
}
