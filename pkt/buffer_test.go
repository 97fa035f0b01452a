package pkt

import (
	"bytes"
	"testing"
)

// mustPanic fails the test unless fn panics.
func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func TestNewBufferStartsEmptyWithHeadroom(t *testing.T) {
	b := NewBuffer(100, 20)
	if b.Len() != 0 || b.Headroom() != 20 || b.Tailroom() != 80 || b.Cap() != 100 {
		t.Fatalf("len %d headroom %d tailroom %d cap %d", b.Len(), b.Headroom(), b.Tailroom(), b.Cap())
	}
	b.Release() // no pool: a no-op, and again
	b.Release()
}

func TestPrependAndAppendGrowTheValidBytes(t *testing.T) {
	b := NewBuffer(64, 16)
	copy(b.Append(4), "data")
	copy(b.Prepend(3), "hdr")
	copy(b.Prepend(2), "L2")
	if got := string(b.Bytes()); got != "L2hdrdata" {
		t.Fatalf("Bytes = %q", got)
	}
	if b.Headroom() != 11 || b.Tailroom() != 64-16-4 {
		t.Fatalf("headroom %d tailroom %d", b.Headroom(), b.Tailroom())
	}
	// Bytes aliases the storage: a write through it is seen by later readers.
	b.Bytes()[0] = 'l'
	if b.Storage()[11] != 'l' {
		t.Fatalf("Bytes does not alias the buffer")
	}
}

func TestPrependAndAppendUseExactlyTheRoomThereIs(t *testing.T) {
	b := NewBuffer(10, 4)
	b.Prepend(4)
	b.Append(6)
	if b.Len() != 10 || b.Headroom() != 0 || b.Tailroom() != 0 {
		t.Fatalf("full buffer: len %d", b.Len())
	}
	mustPanic(t, "Prepend past headroom", func() { b.Prepend(1) })
	mustPanic(t, "Append past tailroom", func() { b.Append(1) })
	mustPanic(t, "negative Prepend", func() { NewBuffer(10, 4).Prepend(-1) })
	mustPanic(t, "negative Append", func() { NewBuffer(10, 4).Append(-1) })
	if b.Len() != 10 {
		t.Fatalf("a refused Prepend/Append changed the buffer")
	}
}

func TestAppendedBytesCannotReachANeighbour(t *testing.T) {
	// Pool buffers share one backing array; each slice is capped at its own end.
	p := NewPool(2, 8, 0)
	a, b := p.Get(), p.Get()
	copy(b.Append(8), "neighbor")
	data := a.Append(8)
	if cap(data) != 8 || cap(a.Storage()) != 8 {
		t.Fatalf("buffer slice capacity %d reaches past its end", cap(a.Storage()))
	}
	_ = append(data, 'X') // must reallocate, not write into b
	if string(b.Bytes()) != "neighbor" {
		t.Fatalf("append through one buffer wrote into its neighbour: %q", b.Bytes())
	}
}

func TestTrimFrontAndTruncateClamp(t *testing.T) {
	b := NewBuffer(32, 8)
	copy(b.Append(10), "0123456789")
	b.TrimFront(3)
	b.Truncate(4)
	if string(b.Bytes()) != "3456" || b.Headroom() != 11 {
		t.Fatalf("after TrimFront(3), Truncate(4): %q headroom %d", b.Bytes(), b.Headroom())
	}
	b.TrimFront(-5) // ignored
	b.Truncate(100) // longer than the data: ignored
	if string(b.Bytes()) != "3456" {
		t.Fatalf("clamped calls changed the data: %q", b.Bytes())
	}
	b.TrimFront(100)
	if b.Len() != 0 {
		t.Fatalf("TrimFront past the end left %d bytes", b.Len())
	}
	c := NewBuffer(8, 0)
	c.Append(5)
	c.Truncate(-1)
	if c.Len() != 0 {
		t.Fatalf("Truncate(-1) left %d bytes", c.Len())
	}
}

func TestSetRangeSelectsStorageAndRejectsOutOfRange(t *testing.T) {
	b := NewBuffer(16, 0)
	copy(b.Storage(), "abcdefghijklmnop")
	b.SetRange(2, 6)
	if string(b.Bytes()) != "cdef" || b.Headroom() != 2 || b.Tailroom() != 10 {
		t.Fatalf("SetRange(2,6): %q", b.Bytes())
	}
	b.SetRange(16, 16)
	if b.Len() != 0 {
		t.Fatalf("empty range has %d bytes", b.Len())
	}
	mustPanic(t, "SetRange negative head", func() { b.SetRange(-1, 4) })
	mustPanic(t, "SetRange tail before head", func() { b.SetRange(5, 4) })
	mustPanic(t, "SetRange past storage", func() { b.SetRange(0, 17) })
}

func TestResetClearsDataAndMeta(t *testing.T) {
	b := NewBuffer(32, 4)
	b.Append(10)
	b.Meta = Meta{Checksum: ChecksumPartial, CsumStart: 34, GSO: GSOTCPv4, Queue: 3}
	b.Reset(6)
	if b.Len() != 0 || b.Headroom() != 6 || b.Meta != (Meta{}) {
		t.Fatalf("Reset left len %d headroom %d meta %+v", b.Len(), b.Headroom(), b.Meta)
	}
	mustPanic(t, "Reset past capacity", func() { b.Reset(33) })
	mustPanic(t, "Reset negative", func() { b.Reset(-1) })
	b.Reset(32)
	if b.Tailroom() != 0 {
		t.Fatalf("Reset to full headroom left tailroom %d", b.Tailroom())
	}
}

func TestBufferOperationsAllocateNothing(t *testing.T) {
	b := NewBuffer(2048, 128)
	payload := bytes.Repeat([]byte{1}, 1000)
	allocs := testing.AllocsPerRun(1000, func() {
		b.Reset(128)
		copy(b.Append(len(payload)), payload)
		b.Prepend(54)
		b.TrimFront(14)
		b.Truncate(500)
		_ = b.Bytes()
	})
	if allocs != 0 {
		t.Fatalf("buffer operations allocated %v times", allocs)
	}
}
