//go:build linux

package afxdp_test

import (
	"slices"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/link/afxdp"
	"offload/pkt"
)

// BenchmarkPingPong measures the round trip of a 64-byte frame between two
// AF_XDP devices on a veth pair (an echo goroutine on one end), with Wait
// sleeping in poll(2) at once and with a busy-poll spin, and reports the
// one-way latency (RTT/2) at p50 and p99.
//
//	go test ./link/afxdp -run '^$' -bench PingPong -benchtime 20000x
func BenchmarkPingPong(b *testing.B) {
	for _, c := range []struct {
		name string
		busy afxdp.BusyPoll
	}{
		{"poll", afxdp.BusyPoll{}},
		{"spin", afxdp.BusyPoll{Spin: 200 * time.Microsecond}},
		{"spin+kernel", afxdp.BusyPoll{Spin: 200 * time.Microsecond, KernelUsecs: 50, Budget: 64}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xlat", DisableIPv6: true})
			cfg := afxdp.Config{RedirectAll: true, BusyPoll: c.busy, Attach: afxdp.AttachNative}
			cfg.Interface, cfg.Netns = p.IfA, p.A.Path()
			a, err := afxdp.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			cfg.Interface, cfg.Netns = p.IfB, p.B.Path()
			e, err := afxdp.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // echo: send every frame back
				defer close(done)
				rx := pkt.NewBatch(16)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if n, _ := e.Recv(0, rx); n > 0 {
						e.Send(0, rx)
						continue
					}
					e.Wait(0, 10*time.Millisecond)
				}
			}()
			pool := pkt.NewPool(4, 128, 0)
			tx, rx := pkt.NewBatch(1), pkt.NewBatch(16)
			rtts := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				buf := pool.Get()
				f := buf.Append(64)
				copy(f[0:6], p.MACB)
				copy(f[6:12], p.MACA)
				f[12], f[13] = 0x88, 0xb5
				tx.Add(buf)
				start := time.Now()
				a.Send(0, tx)
				deadline := start.Add(time.Second)
				got := false
				for !got && time.Now().Before(deadline) {
					if n, _ := a.Recv(0, rx); n > 0 {
						got = true
						rx.ReleaseAll()
						break
					}
					a.Wait(0, 10*time.Millisecond)
				}
				if got {
					rtts = append(rtts, time.Since(start))
				}
			}
			b.StopTimer()
			close(stop)
			e.Wake(0)
			<-done
			if len(rtts) == 0 {
				b.Fatal("no frame came back")
			}
			slices.Sort(rtts)
			q := func(f float64) float64 { return float64(rtts[int(f*float64(len(rtts)-1))].Nanoseconds()) / 2e3 }
			b.ReportMetric(q(0.5), "µs-one-way-p50")
			b.ReportMetric(q(0.99), "µs-one-way-p99")
			b.ReportMetric(float64(b.N-len(rtts)), "lost")
		})
	}
}
