package stack_test

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"offload/pkt"
	"offload/wire"
)

// A flood of 100,000 spoofed SYNs from 200 addresses against a listener with
// a backlog of 16 (REFERENCES item 7, RFC 4987 §3.6) is answered with SYN
// cookies without keeping state or allocating per SYN: the stacks' heap is
// grows by less than 1 MiB over it,
// fewer than one allocation per 100 SYNs is made, at most 16 connections
// exist, and a real client still connects. The frames are built before the
// count starts, so only the stacks' own work is measured.
func TestSYNFlood100kBoundedMemoryAndAllocations_RFC4987_Item7(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory and allocations swamp the bounds measured here")
	}
	const syns = 100_000
	s, inj := cookieSim(t, 16)
	dst := netip.AddrPortFrom(simB.Addr(), 80)
	ln, err := s.b.ListenTCP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverMAC := inj.Caps().HardwareAddr
	rng := rand.New(rand.NewPCG(7, 8))
	frames := make([]*pkt.Buffer, syns)
	for i := range frames {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + rng.IntN(200))}), uint16(1024+rng.IntN(60000)))
		frames[i] = segmentFrame(serverMAC, src, dst, wire.TCPFields{Seq: wire.Seq(rng.Uint32()), Flags: wire.FlagSYN, Window: 65535,
			Options: wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: rng.Uint32()}})
	}
	// Warm up: pools, neighbour entries and the wheel reach their working size.
	inj.in = frames[:1000]
	for len(inj.in) > 0 {
		s.step()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for off := 1000; off < syns; off += 256 {
		inj.in = frames[off:min(off+256, syns)]
		for len(inj.in) > 0 {
			s.step()
		}
	}
	took := time.Since(start)
	for range 10 {
		s.step()
	}
	runtime.ReadMemStats(&after)
	allocs := after.Mallocs - before.Mallocs
	// The frames (about 10 MB) stay referenced for both heap measurements,
	// so the difference is the stacks' own.
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(frames)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	sent := s.b.Stats().SYNCookiesSent.Load()
	t.Logf("%d SYNs in %v: %d cookies, %d allocations, heap %+d KiB, %d connections", syns-1000, took.Round(time.Millisecond), sent, allocs, grew>>10, s.b.NumConns())
	if n := s.b.NumConns(); n > 16 {
		t.Fatalf("%d connections after the flood, backlog 16", n)
	}
	if sent < syns*9/10 {
		t.Fatalf("only %d cookies for %d SYNs", sent, syns)
	}
	if allocs > (syns-1000)/100 {
		t.Fatalf("%d allocations for %d SYNs: state or garbage per SYN", allocs, syns-1000)
	}
	if grew > 1<<20 {
		t.Fatalf("heap grew by %d KiB over the flood", grew>>10)
	}
	c, err := s.a.DialTCP(netip.AddrPort{}, dst)
	if err != nil {
		t.Fatal(err)
	}
	for begin := s.clk.Now(); !isClosed(c.Connected()); s.step() {
		if s.elapsed(begin) > time.Minute {
			t.Fatal("a real client did not connect after the flood")
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("real client: %v", err)
	}
}
