package pkt

import (
	"testing"
)

func TestBatchNeverGrowsPastItsCapacity(t *testing.T) {
	p := NewPool(4, 64, 0)
	b := NewBatch(3)
	if b.Cap() != 3 || b.Len() != 0 || b.Full() {
		t.Fatalf("new batch: cap %d len %d full %v", b.Cap(), b.Len(), b.Full())
	}
	for i := range 3 {
		if !b.Add(p.Get()) {
			t.Fatalf("Add %d refused below capacity", i)
		}
	}
	extra := p.Get()
	if b.Add(extra) || b.Len() != 3 || !b.Full() || b.Cap() != 3 {
		t.Fatalf("Add to a full batch accepted, or the batch grew (len %d cap %d)", b.Len(), b.Cap())
	}
	// The refused buffer still belongs to the caller.
	extra.Release()
	b.ReleaseAll()
	if p.Available() != 4 {
		t.Fatalf("%d of 4 buffers back after ReleaseAll", p.Available())
	}
}

func TestBatchKeepsOrder(t *testing.T) {
	bufs := []*Buffer{NewBuffer(1, 0), NewBuffer(1, 0), NewBuffer(1, 0)}
	b := NewBatch(4)
	for _, x := range bufs {
		b.Add(x)
	}
	for i, x := range bufs {
		if b.At(i) != x || b.Buffers()[i] != x {
			t.Fatalf("position %d holds the wrong buffer", i)
		}
	}
}

func TestClearEmptiesWithoutReleasing(t *testing.T) {
	p := NewPool(2, 64, 0)
	b := NewBatch(2)
	x, y := p.Get(), p.Get()
	b.Add(x)
	b.Add(y)
	b.Clear()
	if b.Len() != 0 || p.Available() != 0 {
		t.Fatalf("Clear: len %d, %d buffers released", b.Len(), p.Available())
	}
	// Clear must drop its references so the batch pins nothing.
	if full := b.bufs[:2]; full[0] != nil || full[1] != nil {
		t.Fatalf("Clear left references behind")
	}
	x.Release()
	y.Release()
}

func TestDropRemovesHandedOffPrefixKeepingTheRest(t *testing.T) {
	bufs := make([]*Buffer, 5)
	b := NewBatch(5)
	for i := range bufs {
		bufs[i] = NewBuffer(1, 0)
		b.Add(bufs[i])
	}
	b.Drop(2)
	if b.Len() != 3 || b.At(0) != bufs[2] || b.At(1) != bufs[3] || b.At(2) != bufs[4] {
		t.Fatalf("Drop(2) kept the wrong buffers")
	}
	if tail := b.bufs[:5]; tail[3] != nil || tail[4] != nil {
		t.Fatalf("Drop left stale references past the new end")
	}
	b.Drop(0)
	if b.Len() != 3 {
		t.Fatalf("Drop(0) removed buffers")
	}
	b.Drop(10)
	if b.Len() != 0 || b.Cap() != 5 {
		t.Fatalf("Drop past the end: len %d cap %d", b.Len(), b.Cap())
	}
	if !b.Add(bufs[0]) {
		t.Fatalf("batch unusable after Drop")
	}
}

func TestBatchOperationsAllocateNothing(t *testing.T) {
	p := NewPool(32, 64, 0)
	b := NewBatch(32)
	allocs := testing.AllocsPerRun(1000, func() {
		for !b.Full() {
			b.Add(p.Get())
		}
		for _, x := range b.Buffers()[:8] {
			x.Release() // as if handed elsewhere
		}
		b.Drop(8)
		b.ReleaseAll()
	})
	if allocs != 0 {
		t.Fatalf("batch fill/drop/release allocated %v times", allocs)
	}
	if p.Available() != p.Count() {
		t.Fatalf("%d of %d buffers back", p.Available(), p.Count())
	}
}
