package gro

import (
	"net/netip"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// MaxSegmentsLimit is the most frames one aggregate can hold (and the largest
// Config.MaxSegments). 64 segments of a 1448-byte MSS already pass 64 KiB, so the
// byte cap ends aggregates of full-sized segments first.
const MaxSegmentsLimit = 64

// Kind says what an Aggregate holds.
type Kind uint8

const (
	// KindTCP: one or more TCP segments of one flow, parsed; the header fields are
	// valid and the TCP checksum of every frame was verified (or vouched for).
	KindTCP Kind = iota + 1
	// KindOther: one frame gro did not aggregate and does not vouch for (not TCP,
	// a fragment, IP options, malformed, a bad checksum). Only Frame(0) is set;
	// the stack hands it to iface as if gro were not there.
	KindOther
)

func (k Kind) String() string {
	switch k {
	case KindTCP:
		return "tcp"
	case KindOther:
		return "other"
	}
	return "invalid"
}

// span locates one segment's payload in its frame's bytes.
type span struct{ off, n uint32 }

// Aggregate is what a Table delivers: a run of merged TCP segments of one flow,
// one TCP segment passed on alone, or one frame gro left alone (KindOther).
// Its Header fields are promoted: a.TCP.Seq, a.Segs, a.Src.
//
// An Aggregate handed to Handler.Deliver is valid until Deliver returns; it must
// not be retained.
type Aggregate struct {
	Header

	n      int
	frames [MaxSegmentsLimit]*pkt.Buffer
	spans  [MaxSegmentsLimit]span
	optEnd int // end of the TCP options in Frame(0).Bytes()
}

// Header is what an Aggregate says about its segments. The fields describe the
// first segment, except where noted; all but Kind are zero for KindOther.
type Header struct {
	Kind Kind

	// Link layer (Config.L2 only).
	DstMAC, SrcMAC wire.MAC
	HasVLAN        bool
	VLAN           uint16 // the 802.1Q TCI

	// Network layer.
	IPv6         bool
	Src, Dst     netip.Addr
	TTL          uint8  // the hop limit for IPv6
	TOS          uint8  // the traffic class for IPv6 (DSCP and ECN)
	DontFragment bool   // IPv4
	IPID         uint16 // IPv4: the first segment's identification
	FlowLabel    uint32 // IPv6

	// IPOffset and TCPOffset are where the IP and TCP headers start in
	// Frame(0).Bytes(); every frame of an aggregate has the same layout.
	IPOffset, TCPOffset int

	// TCP is the first segment's header with: Flags ORed with the PSH and FIN of
	// every merged segment; Window from the last segment (see the package
	// documentation); Options decoded from the first segment (every segment's
	// option bytes are identical).
	TCP wire.TCPFields

	// Segs is the number of wire segments the aggregate stands for: Len() for
	// aggregated frames, more for a GSO super-frame the device delivered whole.
	Segs int
	// SegSize is the payload length of the first segment (for a GSO super-frame,
	// the device's gso_size): the sender's MSS for full-sized segments. Every
	// segment but the last carries exactly SegSize bytes.
	SegSize int
	// PayloadLen is the total payload, the sum over Payload(i).
	PayloadLen int
	// Arrived is when the first segment was given to Input.
	Arrived clock.Instant
}

// Len returns the number of frames the aggregate holds (0 after Release or Detach).
func (a *Aggregate) Len() int { return a.n }

// Frame returns the i'th frame (0 <= i < Len), in sequence order.
func (a *Aggregate) Frame(i int) *pkt.Buffer { return a.frames[:a.n][i] }

// Payload returns the TCP payload of the i'th frame. It aliases the frame, and
// is located by offsets: read payloads before changing a frame's range
// (TrimFront, SetRange) or detaching the frames.
func (a *Aggregate) Payload(i int) []byte {
	s := a.spans[:a.n][i]
	return a.frames[i].Bytes()[s.off : s.off+s.n]
}

// Payloads appends every frame's payload, in order, to dst and returns it; with
// cap(dst) >= Len it does not allocate. The slices alias the frames.
func (a *Aggregate) Payloads(dst [][]byte) [][]byte {
	for i := 0; i < a.n; i++ {
		dst = append(dst, a.Payload(i))
	}
	return dst
}

// CopyPayload copies the payload, in order, into dst and returns the bytes copied
// (at most len(dst)).
func (a *Aggregate) CopyPayload(dst []byte) int {
	k := 0
	for i := 0; i < a.n && k < len(dst); i++ {
		k += copy(dst[k:], a.Payload(i))
	}
	return k
}

// Options returns the first segment's raw TCP option bytes (the same in every
// segment). It aliases Frame(0).
func (a *Aggregate) Options() []byte {
	if a.Kind != KindTCP || a.n == 0 {
		return nil
	}
	return a.frames[0].Bytes()[a.TCPOffset+wire.TCPHeaderSize : a.optEnd]
}

// Release releases every frame and empties the aggregate.
func (a *Aggregate) Release() {
	for i := 0; i < a.n; i++ {
		a.frames[i].Release()
		a.frames[i] = nil
	}
	a.n = 0
}

// Detach appends the frames to dst, empties the aggregate without releasing them
// and returns dst: ownership of the frames moves to the caller (for a consumer
// that keeps payload in place instead of copying it).
func (a *Aggregate) Detach(dst []*pkt.Buffer) []*pkt.Buffer {
	dst = append(dst, a.frames[:a.n]...)
	clear(a.frames[:a.n])
	a.n = 0
	return dst
}

// add appends a frame and its payload span.
func (a *Aggregate) add(f *pkt.Buffer, off, n int) {
	a.frames[a.n] = f
	a.spans[a.n] = span{uint32(off), uint32(n)}
	a.n++
	a.PayloadLen += n
}
