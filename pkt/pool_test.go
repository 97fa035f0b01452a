package pkt

import (
	"sync"
	"testing"
)

func TestNewPoolRejectsBadShapes(t *testing.T) {
	for _, s := range []struct{ count, size, headroom int }{
		{0, 2048, 0}, {-1, 2048, 0}, {4, 0, 0}, {4, -8, 0}, {4, 64, -1}, {4, 64, 65},
	} {
		mustPanic(t, "NewPool with a bad shape", func() { NewPool(s.count, s.size, s.headroom) })
	}
	p := NewPool(4, 64, 64) // headroom may fill the buffer
	if b := p.Get(); b.Headroom() != 64 || b.Tailroom() != 0 {
		t.Fatalf("headroom %d tailroom %d", b.Headroom(), b.Tailroom())
	}
}

func TestPoolIsBoundedAndCountsExhaustion(t *testing.T) {
	p := NewPool(3, 128, 16)
	if p.Count() != 3 || p.Available() != 3 || p.BufferSize() != 128 || p.Headroom() != 16 {
		t.Fatalf("count %d available %d size %d headroom %d", p.Count(), p.Available(), p.BufferSize(), p.Headroom())
	}
	var got []*Buffer
	for range 3 {
		b := p.Get()
		if b == nil {
			t.Fatal("Get returned nil with buffers free")
		}
		got = append(got, b)
	}
	for range 2 {
		if p.Get() != nil {
			t.Fatal("an empty pool handed out a buffer: it must not grow")
		}
	}
	if p.Exhausted() != 2 || p.Available() != 0 {
		t.Fatalf("Exhausted %d Available %d, want 2 and 0", p.Exhausted(), p.Available())
	}
	seen := map[*Buffer]bool{}
	for _, b := range got {
		if seen[b] {
			t.Fatal("the same buffer was handed out twice")
		}
		seen[b] = true
		b.Release()
	}
	if p.Available() != 3 {
		t.Fatalf("Available %d after releasing all", p.Available())
	}
}

func TestGetReturnsAResetBuffer(t *testing.T) {
	p := NewPool(1, 256, 32)
	b := p.Get()
	b.Append(100)
	b.Prepend(10)
	b.Meta = Meta{Checksum: ChecksumVerified, Segs: 4}
	b.Release()
	b = p.Get()
	if b.Len() != 0 || b.Headroom() != 32 || b.Meta != (Meta{}) {
		t.Fatalf("recycled buffer: len %d headroom %d meta %+v", b.Len(), b.Headroom(), b.Meta)
	}
}

func TestDoubleReleasePanics(t *testing.T) {
	p := NewPool(2, 64, 0)
	b := p.Get()
	b.Release()
	mustPanic(t, "second Release", b.Release)
	if p.Available() != 2 {
		t.Fatalf("double release changed the pool: %d available", p.Available())
	}
	// A buffer that never left the pool cannot be released either.
	mustPanic(t, "Release of a free buffer", func() { p.free[0].Release() })
}

func TestPoolIsSafeAcrossGoroutines(t *testing.T) {
	// A pipe hands frames to another goroutine, which releases them: run that
	// pattern under -race with several takers and releasers at once.
	p := NewPool(64, 128, 0)
	ch := make(chan *Buffer, 64)
	var takers, releasers sync.WaitGroup
	for range 2 {
		takers.Go(func() {
			for i := 0; i < 5000; {
				if b := p.Get(); b != nil {
					b.Append(1)[0] = byte(i)
					ch <- b
					i++
				}
			}
		})
	}
	for range 2 {
		releasers.Go(func() {
			for b := range ch {
				if b.Len() != 1 {
					panic("buffer changed hands with the wrong contents")
				}
				b.Release()
			}
		})
	}
	takers.Wait()
	close(ch)
	releasers.Wait()
	if p.Available() != p.Count() {
		t.Fatalf("%d of %d buffers came back", p.Available(), p.Count())
	}
}

func TestGetAndReleaseAllocateNothing(t *testing.T) {
	p := NewPool(8, 2048, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		b := p.Get()
		b.Append(1500)
		b.Release()
	})
	if allocs != 0 {
		t.Fatalf("Get+Release allocated %v times", allocs)
	}
}

func BenchmarkGetRelease(b *testing.B) {
	p := NewPool(64, 2048, 64)
	b.ReportAllocs()
	for b.Loop() {
		p.Get().Release()
	}
}
