//go:build linux

package afxdp_test

import (
	"testing"
	"time"

	"offload/internal/netns"
	"offload/link/afxdp"
	"offload/pkt"
)

// TestSteadyStateSendAndRecvAllocateNothing: a frame through Send on one end
// and Recv/Wait on the other, single- and multi-buffer, allocates nothing.
func TestSteadyStateSendAndRecvAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := netns.NewPair(t, netns.PairConfig{Name: "xalloc", MTU: 9000, DisableIPv6: true})
	a, err := afxdp.Open(afxdp.Config{Interface: p.IfA, Netns: p.A.Path(), RedirectAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), RedirectAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pool := pkt.NewPool(8, 9100, 0)
	tx, rx := pkt.NewBatch(4), pkt.NewBatch(8)
	for _, size := range []int{60, 1514, 9014} {
		lost := 0
		round := func() {
			for range 4 {
				buf := pool.Get()
				f := buf.Append(size)
				copy(f[0:6], p.MACB)
				copy(f[6:12], p.MACA)
				f[12], f[13] = 0x88, 0xb5
				tx.Add(buf)
			}
			a.Send(0, tx)
			got := 0
			deadline := time.Now().Add(time.Second)
			for got < 4 && time.Now().Before(deadline) {
				n, _ := b.Recv(0, rx)
				got += n
				rx.ReleaseAll()
				if n == 0 {
					b.Wait(0, 10*time.Millisecond)
				}
			}
			lost += 4 - got
		}
		round() // warm up
		if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
			t.Errorf("%d-byte frames: %.1f allocations per round of 4 frames", size, allocs)
		}
		if lost > 0 {
			t.Errorf("%d-byte frames: %d lost on an idle pair", size, lost)
		}
	}
}
