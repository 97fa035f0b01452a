//go:build linux

package tap_test

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"offload/internal/netns"
	"offload/link"
	"offload/link/tap"
	"offload/pkt"
)

// bridged opens two TAP devices on one bridge in a fresh namespace.
func bridged(t testing.TB, cfg tap.Config) (a, b *tap.Device) {
	t.Helper()
	h := netns.NewHost(t, "tapbr")
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := h.Netlink().LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	var devs [2]*tap.Device
	for i := range devs {
		cfg.Netns = h.Path()
		d, err := tap.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		devs[i] = d
		h.Sysctl("net.ipv6.conf."+d.IfName()+".disable_ipv6", "1")
		l, err := h.Netlink().LinkByName(d.IfName())
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Netlink().LinkSetMaster(l, br); err != nil {
			t.Fatal(err)
		}
	}
	h.Sysctl("net.ipv6.conf.br0.disable_ipv6", "1")
	if err := h.SetLinkUp("br0"); err != nil {
		t.Fatal(err)
	}
	return devs[0], devs[1]
}

// roundTrip sends one frame a→b and receives it, all from pool buffers.
func roundTrip(t testing.TB, a, b link.Device, pool *pkt.Pool, tx, rx *pkt.Batch, size int) {
	buf := pool.Get()
	f := buf.Append(size)
	ca, cb := a.Caps(), b.Caps()
	copy(f[0:], cb.HardwareAddr[:])
	copy(f[6:], ca.HardwareAddr[:])
	f[12], f[13] = 0x88, 0xb5
	tx.Add(buf)
	if n, err := a.Send(0, tx); n != 1 || err != nil {
		t.Fatalf("Send: %d %v", n, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for rx.Len() == 0 && time.Now().Before(deadline) {
		b.Wait(0, 10*time.Millisecond)
		if _, err := b.Recv(0, rx); err != nil {
			t.Fatal(err)
		}
	}
	if rx.Len() == 0 {
		t.Fatal("frame lost")
	}
	rx.ReleaseAll()
}

func TestSteadyStateSendRecvWaitAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a, b := bridged(t, tap.Config{TSO: true})
	pool := pkt.NewPool(8, 2048, a.Caps().Headroom)
	tx, rx := pkt.NewBatch(1), pkt.NewBatch(8)
	roundTrip(t, a, b, pool, tx, rx, 100) // warm up: bridge learning, spare buffer
	if n := testing.AllocsPerRun(50, func() {
		roundTrip(t, a, b, pool, tx, rx, 1000)
		b.Wake(0)
		b.Wait(0, 0)
	}); n != 0 {
		t.Fatalf("%v allocations per send/receive round trip", n)
	}
}

func TestSendDropsAndCountsFramesItCannotDescribe(t *testing.T) {
	a, _ := bridged(t, tap.Config{TSO: true})
	batch := pkt.NewBatch(3)
	noRoom := pkt.NewBuffer(128, 0) // no headroom for the virtio-net header
	noRoom.Append(60)
	badMeta := pkt.NewBuffer(128, 10)
	badMeta.Append(60)
	badMeta.Meta = pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 100, CsumOffset: 16}
	runt := pkt.NewBuffer(128, 10)
	runt.Append(10)
	batch.Add(noRoom)
	batch.Add(badMeta)
	batch.Add(runt)
	n, err := a.Send(0, batch)
	if n != 0 || err != nil || batch.Len() != 0 {
		t.Fatalf("Send = %d, %v, batch %d", n, err, batch.Len())
	}
	if s := a.Stats(); s.TxDropped != 3 || s.TxFrames != 0 {
		t.Fatalf("stats %+v", s)
	}
}
