package wire

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderSize is the size of the UDP header.
const UDPHeaderSize = 8

// UDPFields is a UDP header as values (RFC 768). The checksum is not a field: it
// depends on the payload and pseudo-header, see SetUDPChecksum.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // header plus payload
}

// UDP is a parsed UDP datagram, trimmed to its length field.
type UDP struct {
	b []byte
}

// ParseUDP checks that b starts with a UDP header whose length field is at least 8
// (else ErrMalformed) and at most len(b) (else ErrTruncated). Bytes beyond the length
// field are not part of the view. The checksum is not verified here because it needs
// the IP addresses: see UDPChecksumValid.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderSize {
		return UDP{}, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < UDPHeaderSize {
		return UDP{}, ErrMalformed
	}
	if n > len(b) {
		return UDP{}, ErrTruncated
	}
	return UDP{b: b[:n]}, nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u.b[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u.b[2:4]) }

// Length returns the length field (header plus payload).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u.b[4:6]) }

// Checksum returns the checksum field; 0 means the sender computed none (IPv4 only).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u.b[6:8]) }

// Payload returns the data after the header, up to the length field.
func (u UDP) Payload() []byte { return u.b[UDPHeaderSize:] }

// Bytes returns the datagram, header included, trimmed to the length field.
func (u UDP) Bytes() []byte { return u.b }

// Fields decodes the header.
func (u UDP) Fields() UDPFields {
	return UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Length: u.Length()}
}

// ChecksumValid is UDPChecksumValid over the view's bytes.
func (u UDP) ChecksumValid(src, dst netip.Addr) bool { return UDPChecksumValid(u.b, src, dst) }

// EmitUDP writes f into b with a zero checksum and returns UDPHeaderSize.
func EmitUDP(b []byte, f *UDPFields) int {
	_ = b[UDPHeaderSize-1]
	binary.BigEndian.PutUint16(b[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], f.DstPort)
	binary.BigEndian.PutUint16(b[4:6], f.Length)
	b[6], b[7] = 0, 0
	return UDPHeaderSize
}

// SetUDPChecksum computes the checksum of the datagram dgram (header and payload,
// len(dgram) bytes) with the pseudo-header for src and dst, and stores it. A computed
// 0 is sent as 0xFFFF, since 0 means "no checksum" (RFC 768).
func SetUDPChecksum(dgram []byte, src, dst netip.Addr) {
	dgram[6], dgram[7] = 0, 0
	c := FoldChecksum(Checksum(dgram, PseudoHeaderSum(ProtoUDP, src, dst, len(dgram))))
	if c == 0 {
		c = 0xFFFF
	}
	binary.BigEndian.PutUint16(dgram[6:8], c)
}

// UDPChecksumValid verifies the checksum of dgram (header and payload, len(dgram)
// bytes). A zero checksum field means none was sent: valid over IPv4 (RFC 768),
// invalid over IPv6 (RFC 8200 §8.1). A dgram shorter than the header is invalid.
func UDPChecksumValid(dgram []byte, src, dst netip.Addr) bool {
	if len(dgram) < UDPHeaderSize {
		return false
	}
	if dgram[6] == 0 && dgram[7] == 0 {
		return src.Is4() || src.Is4In6()
	}
	return FoldChecksum(Checksum(dgram, PseudoHeaderSum(ProtoUDP, src, dst, len(dgram)))) == 0
}
