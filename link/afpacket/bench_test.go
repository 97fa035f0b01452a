//go:build linux

package afpacket

import (
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/pkt"
)

func openPair(tb testing.TB) (a, b *Device) {
	tb.Helper()
	p := netns.NewPair(tb, netns.PairConfig{Name: "afpb", DisableIPv6: true})
	var err error
	if a, err = Open(Config{Interface: p.IfA, Netns: p.A.Path()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	if b, err = Open(Config{Interface: p.IfB, Netns: p.B.Path()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return a, b
}

func fillBatch(d *Device, pool *pkt.Pool, batch *pkt.Batch, size int) {
	for !batch.Full() {
		buf := pool.Get()
		f := buf.Append(size)
		copy(f[0:], []byte{2, 0, 0, 0, 0, 1})
		copy(f[6:], d.caps.HardwareAddr[:])
		f[12], f[13] = 0x88, 0xb5
		batch.Add(buf)
	}
}

// BenchmarkSend measures frames per second through Send (sendmmsg, 64 frames
// per call) against one sendto per frame, on a veth pair whose far end drops
// the frames (unknown EtherType). This is the measurement behind choosing
// sendmmsg for transmit.
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{64, 1514} {
		for _, mode := range []string{"sendmmsg", "sendto"} {
			b.Run(mode+"/"+itoa(size), func(b *testing.B) {
				d, _ := openPair(b)
				pool := pkt.NewPool(128, 2048, 64)
				batch := pkt.NewBatch(64)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				start := time.Now()
				u0, s0 := sys.ProcessCPUTime()
				for i := 0; i < b.N; i += 64 {
					fillBatch(d, pool, batch, size)
					if mode == "sendmmsg" {
						d.Send(0, batch)
						continue
					}
					for _, buf := range batch.Buffers() {
						sys.MetaToVnetHdr(&buf.Meta, buf.Bytes(), buf.Prepend(vnetLen))
						sys.Sendto(d.qs[0].fd, buf.Bytes())
					}
					batch.ReleaseAll()
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds()/1e6, "Mpps")
				u1, s1 := sys.ProcessCPUTime()
				b.ReportMetric(float64((u1-u0)+(s1-s0))/float64(b.N), "cpu-ns/frame")
			})
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var s []byte
	for ; n > 0; n /= 10 {
		s = append([]byte{byte('0' + n%10)}, s...)
	}
	return string(s)
}

func TestSteadyStateSendRecvWaitAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a, b := openPair(t)
	pool := pkt.NewPool(8, 2048, 64)
	tx, rx := pkt.NewBatch(1), pkt.NewBatch(8)
	trip := func() {
		fillBatch(a, pool, tx, 1000)
		if n, err := a.Send(0, tx); n != 1 || err != nil {
			t.Fatalf("Send: %d %v", n, err)
		}
		for deadline := time.Now().Add(2 * time.Second); rx.Len() == 0 && time.Now().Before(deadline); {
			b.Wait(0, 10*time.Millisecond)
			if _, err := b.Recv(0, rx); err != nil {
				t.Fatal(err)
			}
		}
		if rx.Len() == 0 {
			t.Fatal("frame lost")
		}
		rx.ReleaseAll()
		b.Wake(0)
		b.Wait(0, 0)
	}
	trip()
	if n := testing.AllocsPerRun(30, trip); n != 0 {
		t.Fatalf("%v allocations per round trip", n)
	}
}
