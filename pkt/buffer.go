// Package pkt holds packet buffers: fixed-size byte buffers with headroom for
// headers, drawn from bounded pools, with exactly one owner at a time.
//
// Ownership rule: whoever holds a *Buffer owns it. Passing it to a function that
// "takes" it (Device.Send, a queue) hands ownership over; whoever drops a packet
// calls Release, which returns it to its pool. There are no reference counts.
// Releasing twice is a bug and panics, so ownership mistakes surface in tests.
package pkt

import "fmt"

// ChecksumState says what is known about a frame's transport checksum.
type ChecksumState uint8

const (
	// ChecksumUnknown: nothing is known; a receiver must verify, a sender must fill.
	ChecksumUnknown ChecksumState = iota
	// ChecksumVerified: the device checked the checksum on receive and it was good.
	ChecksumVerified
	// ChecksumPartial: the checksum field holds only the pseudo-header sum; the
	// rest is to be (or was meant to be) filled by whoever offloads it, starting at
	// CsumStart and storing at CsumStart+CsumOffset (virtio-net semantics).
	ChecksumPartial
)

// GSOType names the segmentation a super-frame needs (virtio-net semantics).
type GSOType uint8

const (
	GSONone GSOType = iota
	GSOTCPv4
	GSOTCPv6
)

// Meta is per-frame metadata exchanged between link drivers and the stack.
type Meta struct {
	Checksum   ChecksumState
	CsumStart  uint16 // offset of the start of checksummed data (ChecksumPartial)
	CsumOffset uint16 // offset of the checksum field from CsumStart (ChecksumPartial)
	GSO        GSOType
	GSOSize    uint16 // payload bytes per segment when GSO != GSONone
	Segs       uint16 // number of wire segments this frame stands for (0 or 1: one)
	Queue      uint16 // device queue the frame arrived on or leaves by
}

// Buffer is one packet buffer. The valid bytes are buf[head:tail]; bytes before
// head are headroom for prepending headers, bytes after tail are tailroom.
type Buffer struct {
	buf        []byte
	head, tail int
	pool       *Pool
	free       bool // true while in its pool; guards against double release

	// Meta travels with the frame; Reset clears it.
	Meta Meta
}

// NewBuffer returns a buffer of the given capacity that belongs to no pool
// (Release is a no-op for it). Tests and cold paths use it.
func NewBuffer(capacity, headroom int) *Buffer {
	b := &Buffer{buf: make([]byte, capacity)}
	b.Reset(headroom)
	return b
}

// Reset empties the buffer, leaving headroom bytes in front, and clears Meta.
func (b *Buffer) Reset(headroom int) {
	if headroom < 0 || headroom > len(b.buf) {
		panic(fmt.Sprintf("pkt: headroom %d outside buffer of %d", headroom, len(b.buf)))
	}
	b.head, b.tail = headroom, headroom
	b.Meta = Meta{}
}

// Bytes returns the valid bytes. The slice aliases the buffer.
func (b *Buffer) Bytes() []byte { return b.buf[b.head:b.tail] }

// Len returns the number of valid bytes.
func (b *Buffer) Len() int { return b.tail - b.head }

// Cap returns the total capacity (headroom + valid + tailroom).
func (b *Buffer) Cap() int { return len(b.buf) }

// Headroom returns the free bytes in front of the valid bytes.
func (b *Buffer) Headroom() int { return b.head }

// Tailroom returns the free bytes after the valid bytes.
func (b *Buffer) Tailroom() int { return len(b.buf) - b.tail }

// Prepend grows the valid bytes by n at the front and returns the new front
// bytes. Running out of headroom is a programming error and panics.
func (b *Buffer) Prepend(n int) []byte {
	if n < 0 || n > b.head {
		panic(fmt.Sprintf("pkt: prepend %d with headroom %d", n, b.head))
	}
	b.head -= n
	return b.buf[b.head : b.head+n]
}

// Append grows the valid bytes by n at the back and returns the new bytes.
// Running out of tailroom is a programming error and panics.
func (b *Buffer) Append(n int) []byte {
	if n < 0 || n > len(b.buf)-b.tail {
		panic(fmt.Sprintf("pkt: append %d with tailroom %d", n, len(b.buf)-b.tail))
	}
	b.tail += n
	return b.buf[b.tail-n : b.tail]
}

// TrimFront drops n bytes from the front (n is clamped to Len).
func (b *Buffer) TrimFront(n int) {
	if n > b.Len() {
		n = b.Len()
	}
	if n > 0 {
		b.head += n
	}
}

// Truncate keeps only the first n valid bytes (n is clamped to [0, Len]).
func (b *Buffer) Truncate(n int) {
	if n < 0 {
		n = 0
	}
	if n < b.Len() {
		b.tail = b.head + n
	}
}

// Storage returns the whole backing array, for drivers that receive into it
// directly; SetRange then marks which part holds the frame.
func (b *Buffer) Storage() []byte { return b.buf }

// SetRange sets the valid bytes to Storage()[head:tail]. Out-of-range values are
// a programming error and panic.
func (b *Buffer) SetRange(head, tail int) {
	if head < 0 || tail < head || tail > len(b.buf) {
		panic(fmt.Sprintf("pkt: range [%d:%d] outside buffer of %d", head, tail, len(b.buf)))
	}
	b.head, b.tail = head, tail
}

// Release returns the buffer to its pool. The caller must not touch it afterwards.
func (b *Buffer) Release() {
	if b.pool == nil {
		return
	}
	b.pool.put(b)
}
