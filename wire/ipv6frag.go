package wire

import "encoding/binary"

// IPv6FragmentHeaderSize is the size of the IPv6 fragment extension header
// (RFC 8200 §4.5).
const IPv6FragmentHeaderSize = 8

// IPv6FragmentFields is a decoded IPv6 fragment header (RFC 8200 §4.5).
type IPv6FragmentFields struct {
	NextHeader uint8  // type of the first header of the fragmentable part
	Offset     uint16 // offset of this fragment's data in the fragmentable part, in bytes (a multiple of 8)
	More       bool   // the M flag: more fragments follow
	ID         uint32 // identification
}

// IsAtomic reports an atomic fragment (RFC 6946): offset 0 and no more
// fragments, so the packet is whole and needs no reassembly.
func (f IPv6FragmentFields) IsAtomic() bool { return f.Offset == 0 && !f.More }

// ParseIPv6Fragment decodes the fragment header at the start of b (the bytes
// UpperLayer returns for next header 44). It returns ErrTruncated when b is
// shorter than 8 bytes. The reserved fields are ignored on receipt, as RFC 8200
// §4.5 requires.
func ParseIPv6Fragment(b []byte) (IPv6FragmentFields, error) {
	if len(b) < IPv6FragmentHeaderSize {
		return IPv6FragmentFields{}, ErrTruncated
	}
	om := binary.BigEndian.Uint16(b[2:4])
	return IPv6FragmentFields{
		NextHeader: b[0],
		Offset:     om &^ 7,
		More:       om&1 != 0,
		ID:         binary.BigEndian.Uint32(b[4:8]),
	}, nil
}

// EmitIPv6Fragment writes the fragment header f into b (at least 8 bytes) and
// returns IPv6FragmentHeaderSize. Offset is truncated to a multiple of 8.
func EmitIPv6Fragment(b []byte, f *IPv6FragmentFields) int {
	_ = b[IPv6FragmentHeaderSize-1]
	b[0], b[1] = f.NextHeader, 0
	om := f.Offset &^ 7
	if f.More {
		om |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], om)
	binary.BigEndian.PutUint32(b[4:8], f.ID)
	return IPv6FragmentHeaderSize
}
