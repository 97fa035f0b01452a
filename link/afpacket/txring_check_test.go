//go:build linux

package afpacket

import (
	"testing"
	"time"

	"offload/internal/netns"
	"offload/pkt"
)

func TestTxRingPrototypeDelivers(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "afptc", DisableIPv6: true})
	a, err := Open(Config{Interface: p.IfA, Netns: p.A.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(Config{Interface: p.IfB, Netns: p.B.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := openTxRing(t, p)
	pool := pkt.NewPool(128, 2048, 64)
	batch := pkt.NewBatch(64)
	rx := pkt.NewBatch(64)
	got := 0
	for range 4 {
		fillBatch(a, pool, batch, 200)
		r.send(batch)
		time.Sleep(5 * time.Millisecond)
		for {
			b.Wait(0, 5*time.Millisecond)
			n, _ := b.Recv(0, rx)
			got += n
			rx.ReleaseAll()
			if n == 0 {
				break
			}
		}
	}
	if got < 200 {
		t.Fatalf("received %d of 256", got)
	}
}
