package pkt

// Batch is a fixed-capacity list of buffers moved through a layer at once.
// A batch never grows past the capacity it was made with, so using it never allocates.
type Batch struct {
	bufs []*Buffer
}

// NewBatch returns an empty batch that holds up to capacity buffers.
func NewBatch(capacity int) *Batch { return &Batch{bufs: make([]*Buffer, 0, capacity)} }

// Len returns the number of buffers in the batch.
func (b *Batch) Len() int { return len(b.bufs) }

// Cap returns the most buffers the batch can hold.
func (b *Batch) Cap() int { return cap(b.bufs) }

// Full reports whether the batch is at capacity.
func (b *Batch) Full() bool { return len(b.bufs) == cap(b.bufs) }

// Add appends buf and reports whether it fit; the caller keeps ownership if not.
func (b *Batch) Add(buf *Buffer) bool {
	if len(b.bufs) == cap(b.bufs) {
		return false
	}
	b.bufs = append(b.bufs, buf)
	return true
}

// At returns the i'th buffer.
func (b *Batch) At(i int) *Buffer { return b.bufs[i] }

// Buffers returns the buffers as a slice aliasing the batch.
func (b *Batch) Buffers() []*Buffer { return b.bufs }

// Clear empties the batch without releasing its buffers (ownership moved elsewhere).
func (b *Batch) Clear() {
	clear(b.bufs)
	b.bufs = b.bufs[:0]
}

// ReleaseAll releases every buffer in the batch and empties it.
func (b *Batch) ReleaseAll() {
	for _, buf := range b.bufs {
		buf.Release()
	}
	b.Clear()
}

// Drop removes the first n buffers (already handed elsewhere) and keeps the rest in order.
func (b *Batch) Drop(n int) {
	if n >= len(b.bufs) {
		b.Clear()
		return
	}
	k := copy(b.bufs, b.bufs[n:])
	clear(b.bufs[k:])
	b.bufs = b.bufs[:k]
}
