package pipe

import (
	"errors"
	"testing"
	"time"

	"offload/link"
	"offload/link/linktest"
	"offload/pkt"
)

func TestConformance(t *testing.T) {
	configs := map[string]Config{
		"default":    {},
		"multiqueue": {Queues: 4, QueueLen: 512},
		"jumbo-gso":  {MTU: 9000, GSO: true, TxChecksumOffload: true, RxChecksumTrusted: true},
		"headroom":   {Headroom: 12},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			linktest.TestDevice(t, func(t *testing.T) (link.Device, link.Device) {
				a, b := New(cfg)
				return a, b
			})
		})
	}
}

// frame returns a buffer from pool holding an n-byte frame whose bytes count up
// from first.
func frame(t testing.TB, pool *pkt.Pool, n int, first byte) *pkt.Buffer {
	t.Helper()
	b := pool.Get()
	if b == nil {
		t.Fatal("pool exhausted")
	}
	for i, p := 0, b.Append(n); i < len(p); i++ {
		p[i] = first + byte(i)
	}
	return b
}

func sendOne(t *testing.T, e *End, q int, b *pkt.Buffer) int {
	t.Helper()
	batch := pkt.NewBatch(1)
	batch.Add(b)
	n, err := e.Send(q, batch)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return n
}

func recvAll(t *testing.T, e *End, q int) []*pkt.Buffer {
	t.Helper()
	var out []*pkt.Buffer
	batch := pkt.NewBatch(64)
	for {
		n, err := e.Recv(q, batch)
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		out = append(out, batch.Buffers()...)
		batch.Clear()
		if n == 0 {
			return out
		}
	}
}

func releaseAll(bufs []*pkt.Buffer) {
	for _, b := range bufs {
		b.Release()
	}
}

func TestFramesCrossWithoutCopy(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(4, 2048, 0)
	sent := frame(t, pool, 100, 0)
	sendOne(t, a, 0, sent)
	got := recvAll(t, b, 0)
	if len(got) != 1 || got[0] != sent {
		t.Fatalf("received %v, want the very buffer sent (%p)", got, sent)
	}
	releaseAll(got)
	if pool.Available() != pool.Count() {
		t.Fatalf("receiver's Release did not return the buffer to the sender's pool")
	}
}

func TestFullQueueDropsAndCountsTxDropped(t *testing.T) {
	a, b := New(Config{QueueLen: 4})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(16, 2048, 0)
	batch := pkt.NewBatch(10)
	for i := range 10 {
		batch.Add(frame(t, pool, 60, byte(i)))
	}
	n, err := a.Send(0, batch)
	if err != nil || n != 4 {
		t.Fatalf("Send of 10 into a queue of 4 = %d, %v; want 4, nil", n, err)
	}
	if s := a.Stats(); s.TxDropped != 6 || s.TxFrames != 4 || s.TxBytes != 240 {
		t.Fatalf("sender stats %+v, want 4 frames/240 bytes sent, 6 dropped", s)
	}
	if pool.Available() != 16-4 {
		t.Fatalf("dropped frames not released: %d available, want 12", pool.Available())
	}
	got := recvAll(t, b, 0)
	if len(got) != 4 || got[0].Bytes()[0] != 0 || got[3].Bytes()[0] != 3 {
		t.Fatalf("received %d frames; want the first 4 in order", len(got))
	}
	releaseAll(got)
	// The queue has room again.
	if sendOne(t, a, 0, frame(t, pool, 60, 0)) != 1 {
		t.Fatal("queue drained but Send still drops")
	}
}

func TestFrameSizeLimits(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		n    int
		gso  pkt.GSOType
		pass bool
	}{
		{"runt shorter than Ethernet header", Config{}, 13, 0, false},
		{"bare Ethernet header", Config{}, 14, 0, true},
		{"MTU-sized frame", Config{}, 1514, 0, true},
		{"MTU frame with VLAN tag", Config{}, 1518, 0, true},
		{"one byte over", Config{}, 1519, 0, false},
		{"super-frame without GSO pipe", Config{}, 9000, pkt.GSOTCPv4, false},
		{"super-frame on GSO pipe", Config{GSO: true}, 9000, pkt.GSOTCPv4, true},
		{"oversized frame not marked GSO", Config{GSO: true}, 9000, pkt.GSONone, false},
		{"largest super-frame", Config{GSO: true}, 65535 + 18, pkt.GSOTCPv6, true},
		{"super-frame past MaxGSOSize", Config{GSO: true, MaxGSOSize: 16000}, 16000 + 19, pkt.GSOTCPv4, false},
		{"small MTU", Config{MTU: 576}, 576 + 19, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := New(c.cfg)
			defer a.Close()
			defer b.Close()
			pool := pkt.NewPool(1, 70000, 0)
			f := frame(t, pool, c.n, 0)
			f.Meta.GSO = c.gso
			if c.gso != pkt.GSONone {
				f.Meta.GSOSize = 1448
			}
			n := sendOne(t, a, 0, f)
			got := recvAll(t, b, 0)
			defer releaseAll(got)
			if pass := n == 1 && len(got) == 1; pass != c.pass {
				t.Fatalf("%d-byte frame: sent %d, received %d; want passed=%v", c.n, n, len(got), c.pass)
			}
			if !c.pass && a.Stats().TxDropped != 1 {
				t.Fatalf("dropped frame not counted: %+v", a.Stats())
			}
			if c.pass && c.gso != pkt.GSONone && (got[0].Meta.GSO != c.gso || got[0].Meta.GSOSize != 1448) {
				t.Fatalf("GSO metadata lost: %+v", got[0].Meta)
			}
		})
	}
}

func TestGSOCapsAdvertised(t *testing.T) {
	a, _ := New(Config{GSO: true})
	c := a.Caps()
	if !c.TSO || !c.RxGSO || c.MaxGSOSize != DefaultMaxGSOSize || c.MaxFrame != DefaultMaxGSOSize+18 {
		t.Fatalf("GSO pipe caps %+v", c)
	}
	a, _ = New(Config{})
	if c := a.Caps(); c.TSO || c.RxGSO || c.MaxFrame != 1518 || c.MTU != 1500 {
		t.Fatalf("plain pipe caps %+v", c)
	}
}

func TestDefaultMACsAreDistinctLocalUnicast(t *testing.T) {
	a, b := New(Config{})
	ma, mb := a.Caps().HardwareAddr, b.Caps().HardwareAddr
	if ma == mb {
		t.Fatalf("both ends have MAC %x", ma)
	}
	for _, m := range [][6]byte{ma, mb} {
		if m[0]&0x02 == 0 || m[0]&0x01 != 0 {
			t.Errorf("MAC %x is not locally administered unicast", m)
		}
	}
	mac := [6]byte{0x02, 0xaa, 0, 0, 0, 9}
	a, _ = New(Config{MACA: mac})
	if a.Caps().HardwareAddr != mac {
		t.Errorf("configured MAC ignored")
	}
}

func TestChecksumMetadataFollowsVeth(t *testing.T) {
	partial := pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16}
	cases := []struct {
		name    string
		offload bool
		in      pkt.Meta
		want    pkt.Meta
	}{
		{"partial with offload stays partial", true, partial, pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16}},
		{"partial without offload crosses as unknown", false, partial, pkt.Meta{}},
		{"verified is not vouched for by a pipe", true, pkt.Meta{Checksum: pkt.ChecksumVerified}, pkt.Meta{}},
		{"unknown stays unknown", true, pkt.Meta{}, pkt.Meta{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := New(Config{TxChecksumOffload: c.offload})
			defer a.Close()
			defer b.Close()
			pool := pkt.NewPool(1, 2048, 0)
			f := frame(t, pool, 60, 0)
			f.Meta = c.in
			sendOne(t, a, 0, f)
			got := recvAll(t, b, 0)
			defer releaseAll(got)
			if len(got) != 1 || got[0].Meta != c.want {
				t.Fatalf("received meta %+v, want %+v", got[0].Meta, c.want)
			}
		})
	}
}

func TestShortHeadroomIsDroppedAndCounted(t *testing.T) {
	a, b := New(Config{Headroom: 10})
	defer a.Close()
	defer b.Close()
	short := pkt.NewPool(1, 2048, 4)
	if sendOne(t, a, 0, frame(t, short, 60, 0)) != 0 || a.Stats().TxDropped != 1 {
		t.Fatalf("frame with 4 bytes headroom crossed a pipe advertising 10")
	}
	ok := pkt.NewPool(1, 2048, 10)
	if sendOne(t, a, 0, frame(t, ok, 60, 0)) != 1 {
		t.Fatalf("frame with enough headroom dropped")
	}
	releaseAll(recvAll(t, b, 0))
}

func TestQueuesAreIndependent(t *testing.T) {
	a, b := New(Config{Queues: 3})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(4, 2048, 0)
	sendOne(t, a, 2, frame(t, pool, 60, 0))
	if n := len(recvAll(t, b, 0)) + len(recvAll(t, b, 1)); n != 0 {
		t.Fatalf("frame sent on queue 2 showed up on another queue")
	}
	if err := b.Wait(1, 0); err != nil {
		t.Fatal(err)
	}
	got := recvAll(t, b, 2)
	if len(got) != 1 || got[0].Meta.Queue != 2 {
		t.Fatalf("queue 2 received %d frames (meta %+v)", len(got), got)
	}
	releaseAll(got)
}

func TestWaitBlocksForTheWholeTimeoutWhenIdle(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	start := time.Now()
	if err := b.Wait(0, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Wait(30ms) on an idle pipe returned after %v", d)
	}
}

func TestWaitReturnsAtOnceWithFramesQueuedEvenIfWakeConsumed(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(2, 2048, 0)
	sendOne(t, a, 0, frame(t, pool, 60, 0))
	// The first Wait consumes the send's wake-up; frames are still queued, so
	// the second must not block either.
	for i := range 2 {
		start := time.Now()
		if err := b.Wait(0, time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Wait %d with a frame queued took %v", i, d)
		}
	}
	releaseAll(recvAll(t, b, 0))
}

func TestSendToClosedPeerDropsAndCounts(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	pool := pkt.NewPool(2, 2048, 0)
	b.Close()
	n, err := a.Send(0, batchOf(frame(t, pool, 60, 0)))
	if n != 0 || err != nil {
		t.Fatalf("Send to a closed peer = %d, %v; want 0, nil (carrier down)", n, err)
	}
	if a.Stats().TxDropped != 1 || pool.Available() != 2 {
		t.Fatalf("frame to closed peer not dropped and released: %+v", a.Stats())
	}
}

func TestCloseReleasesQueuedFramesAndCountsThem(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	pool := pkt.NewPool(8, 2048, 0)
	batch := pkt.NewBatch(8)
	for i := range 5 {
		batch.Add(frame(t, pool, 60, byte(i)))
	}
	a.Send(0, batch)
	b.Close()
	if pool.Available() != 8 {
		t.Fatalf("%d frames still held after Close", 8-pool.Available())
	}
	if b.Stats().RxDropped != 5 {
		t.Fatalf("RxDropped = %d, want 5", b.Stats().RxDropped)
	}
	// Frames b sent before closing stay deliverable to a.
}

func TestFramesSentBeforeCloseStillReachPeer(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	pool := pkt.NewPool(2, 2048, 0)
	sendOne(t, b, 0, frame(t, pool, 60, 0))
	b.Close()
	got := recvAll(t, a, 0)
	if len(got) != 1 {
		t.Fatalf("frame sent before Close lost")
	}
	releaseAll(got)
}

func TestClosedWaitReturnsErrClosed(t *testing.T) {
	a, _ := New(Config{})
	a.Close()
	for _, timeout := range []time.Duration{-1, 0, time.Second} {
		if err := a.Wait(0, timeout); !errors.Is(err, link.ErrClosed) {
			t.Errorf("Wait(%v) after Close = %v", timeout, err)
		}
	}
}

func batchOf(bufs ...*pkt.Buffer) *pkt.Batch {
	b := pkt.NewBatch(len(bufs))
	for _, x := range bufs {
		b.Add(x)
	}
	return b
}

func TestSteadyStateSendRecvAllocateNothing(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(64, 2048, 0)
	tx, rx := pkt.NewBatch(32), pkt.NewBatch(32)
	allocs := testing.AllocsPerRun(1000, func() {
		for !tx.Full() {
			buf := pool.Get()
			buf.Append(128)
			tx.Add(buf)
		}
		a.Send(0, tx)
		b.Recv(0, rx)
		rx.ReleaseAll()
	})
	if allocs != 0 {
		t.Fatalf("Send+Recv of 32 frames allocated %v times", allocs)
	}
}

func TestWaitAllocatesNothing(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	cases := map[string]func(){
		"timeout expires": func() { b.Wait(0, time.Microsecond) },
		"woken":           func() { b.Wake(0); b.Wait(0, time.Second) },
		"woken no limit":  func() { b.Wake(0); b.Wait(0, -1) },
		"poll":            func() { b.Wait(0, 0) },
	}
	for name, fn := range cases {
		if allocs := testing.AllocsPerRun(200, fn); allocs != 0 {
			t.Errorf("Wait (%s) allocated %v times", name, allocs)
		}
	}
}

func BenchmarkSendRecv32(b *testing.B) {
	x, y := New(Config{})
	defer x.Close()
	defer y.Close()
	pool := pkt.NewPool(64, 2048, 0)
	tx, rx := pkt.NewBatch(32), pkt.NewBatch(32)
	b.ReportAllocs()
	b.SetBytes(32 * 1514)
	for b.Loop() {
		for !tx.Full() {
			buf := pool.Get()
			buf.Append(1514)
			tx.Add(buf)
		}
		x.Send(0, tx)
		y.Recv(0, rx)
		rx.ReleaseAll()
	}
}

func BenchmarkPingPongAcrossGoroutines(b *testing.B) {
	x, y := New(Config{})
	defer x.Close()
	pool := pkt.NewPool(64, 2048, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rx := pkt.NewBatch(8)
		for {
			if err := y.Wait(0, -1); err != nil {
				return
			}
			if _, err := y.Recv(0, rx); err != nil {
				return
			}
			y.Send(0, rx) // echo: ownership moves straight back
		}
	}()
	tx, rx := pkt.NewBatch(1), pkt.NewBatch(8)
	b.ReportAllocs()
	for b.Loop() {
		buf := pool.Get()
		buf.Append(64)
		tx.Add(buf)
		x.Send(0, tx)
		for rx.Len() == 0 {
			x.Wait(0, -1)
			x.Recv(0, rx)
		}
		rx.ReleaseAll()
	}
	y.Close()
	<-done
}

func TestWaitThatFoundFramesConsumesThePendingWake(t *testing.T) {
	a, b := New(Config{})
	defer a.Close()
	defer b.Close()
	pool := pkt.NewPool(2, 2048, 0)
	sendOne(t, a, 0, frame(t, pool, 60, 0)) // wakes b
	b.Wake(0)                               // and so does this
	if err := b.Wait(0, time.Second); err != nil {
		t.Fatal(err)
	}
	releaseAll(recvAll(t, b, 0))
	// Nothing is queued and the wake-ups were answered: this Wait must block.
	start := time.Now()
	b.Wait(0, 30*time.Millisecond)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Wait returned after %v on a stale wake-up", d)
	}
}
