package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum adds the bytes of b to the partial Internet checksum initial (RFC 1071)
// and returns the new partial sum. The result is not complemented; chain calls over
// several slices and finish with FoldChecksum.
//
// When chaining, only the last slice may have an odd length: an odd slice is summed
// as if padded with one zero byte, which shifts every later byte into the wrong half
// of its 16-bit word.
//
// The returned sum is folded to at most 0xFFFF, so it can be passed back as initial
// any number of times without overflow.
func Checksum(b []byte, initial uint32) uint32 {
	// The one's-complement sum does not depend on byte order (RFC 1071 §2(B)), so the
	// words are summed in the machine's little-endian order, 64 bits at a time with
	// the carry fed back in, and the folded result is byte-swapped once at the end.
	var acc, c uint64
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	if len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// In network order a trailing byte is the high half of a zero-padded word;
		// in little-endian order it is the low half.
		acc, c = bits.Add64(acc, uint64(b[0]), c)
	}
	// End-around carry: 2^64 ≡ 1 modulo 2^64-1. If adding the carry overflows
	// again, acc is 0 and the second carry makes it 1.
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	s := bits.ReverseBytes16(fold64(acc))
	return uint32(fold64(uint64(s) + uint64(initial)))
}

// fold64 reduces a one's-complement sum to 16 bits (modulo 0xFFFF, keeping a
// nonzero sum nonzero).
func fold64(s uint64) uint16 {
	s = (s >> 32) + (s & 0xFFFFFFFF)
	s = (s >> 32) + (s & 0xFFFFFFFF)
	s = (s >> 16) + (s & 0xFFFF)
	s = (s >> 16) + (s & 0xFFFF)
	s = (s >> 16) + (s & 0xFFFF)
	return uint16(s)
}

// FoldChecksum folds a partial sum to 16 bits and returns its one's complement: the
// value to store in a checksum field. When verifying, sum the data including the
// stored checksum: the data is intact when FoldChecksum of that sum is 0.
func FoldChecksum(sum uint32) uint16 {
	return ^fold64(uint64(sum))
}

// PseudoHeaderSum returns the partial checksum of the TCP/UDP pseudo-header for an
// upper-layer packet of length bytes carrying protocol proto: RFC 9293 §3.1 / RFC 768
// for IPv4, RFC 8200 §8.1 for IPv6. src and dst must both be IPv4 (or IPv4-mapped)
// or both IPv6.
func PseudoHeaderSum(proto uint8, src, dst netip.Addr, length int) uint32 {
	var s uint64
	// The IPv4 pseudo-header only when both are 4-byte addresses (from an IPv4
	// header). An IPv4-mapped address came from an IPv6 header and is 16 bytes
	// on the wire; a mixed pair is no valid packet, but must not panic.
	if src.Is4() && dst.Is4() {
		a, b := src.As4(), dst.As4()
		s = uint64(binary.BigEndian.Uint32(a[:])) + uint64(binary.BigEndian.Uint32(b[:]))
	} else {
		a, b := src.As16(), dst.As16()
		for i := 0; i < 16; i += 8 {
			s += uint64(binary.BigEndian.Uint32(a[i:])) + uint64(binary.BigEndian.Uint32(a[i+4:]))
			s += uint64(binary.BigEndian.Uint32(b[i:])) + uint64(binary.BigEndian.Uint32(b[i+4:]))
		}
	}
	// IPv4 puts zero+proto and a 16-bit length in the pseudo-header; IPv6 a 32-bit
	// length and 24 zero bits before the next header. Both sum the same way.
	s += uint64(proto) + uint64(uint32(length))
	return uint32(fold64(s))
}

// UpdateChecksum returns the checksum after one 16-bit word covered by oldCsum
// changes from oldVal to newVal, using RFC 1624 eqn. 3:
//
//	HC' = ~(~HC + ~m + m')
//
// Unlike RFC 1141's eqn. 2, eqn. 3 gives the same value as recomputing the
// checksum over the changed data, including when the new sum is 0xFFFF (RFC 1624
// §4). The one exception is data that becomes all zeros (recomputation gives
// 0xFFFF, eqn. 3 gives 0x0000), which no IP, TCP or UDP header can be.
func UpdateChecksum(oldCsum, oldVal, newVal uint16) uint16 {
	s := uint64(^oldCsum) + uint64(^oldVal) + uint64(newVal)
	return ^fold64(s)
}
