package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPv4HeaderSize is the size of an IPv4 header without options.
const IPv4HeaderSize = 20

// IP protocol numbers (IANA).
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

const (
	ipv4FlagDF = 0x4000
	ipv4FlagMF = 0x2000
	ipv4OffMsk = 0x1FFF
)

// IPv4Fields is an IPv4 header as values (RFC 791 §3.1). Options are not
// represented: parse skips them (IPv4.Options exposes the bytes), emit writes none.
type IPv4Fields struct {
	TOS           uint8  // DSCP and ECN (RFC 2474, RFC 3168)
	TotalLen      uint16 // on emit, 0 means IPv4HeaderSize+PayloadLen
	ID            uint16
	DontFragment  bool
	MoreFragments bool
	FragOffset    uint16 // in bytes; a multiple of 8
	TTL           uint8
	Protocol      uint8
	Src, Dst      netip.Addr
	PayloadLen    int // parse: TotalLen minus header length; emit: used when TotalLen is 0 (at most 65515)
}

// IPv4 is a parsed IPv4 packet, trimmed to its total length.
type IPv4 struct {
	b    []byte // b[:TotalLen]
	hlen int
}

// ParseIPv4 checks that b starts with a valid IPv4 header: version 4, IHL at least 5
// and within b, total length covering the header and not beyond b, and a correct
// header checksum. Bytes after the total length (Ethernet padding) are not part of
// the view. Returns ErrTruncated when b is shorter than a length field claims,
// ErrMalformed for a bad version or a length field below its minimum, ErrChecksum
// for a bad checksum.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4HeaderSize {
		return IPv4{}, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return IPv4{}, ErrMalformed
	}
	hlen := int(b[0]&0xf) * 4
	if hlen < IPv4HeaderSize {
		return IPv4{}, ErrMalformed
	}
	if hlen > len(b) {
		return IPv4{}, ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hlen {
		return IPv4{}, ErrMalformed
	}
	if total > len(b) {
		return IPv4{}, ErrTruncated
	}
	if FoldChecksum(Checksum(b[:hlen], 0)) != 0 {
		return IPv4{}, ErrChecksum
	}
	return IPv4{b: b[:total], hlen: hlen}, nil
}

// TOS returns the type-of-service byte (DSCP and ECN).
func (p IPv4) TOS() uint8 { return p.b[1] }

// TotalLen returns the total length field, which is also len(view bytes).
func (p IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(p.b[2:4]) }

// ID returns the identification field.
func (p IPv4) ID() uint16 { return binary.BigEndian.Uint16(p.b[4:6]) }

func (p IPv4) flagsOff() uint16 { return binary.BigEndian.Uint16(p.b[6:8]) }

// DontFragment reports the DF flag.
func (p IPv4) DontFragment() bool { return p.flagsOff()&ipv4FlagDF != 0 }

// MoreFragments reports the MF flag.
func (p IPv4) MoreFragments() bool { return p.flagsOff()&ipv4FlagMF != 0 }

// FragOffset returns the fragment offset in bytes.
func (p IPv4) FragOffset() uint16 { return (p.flagsOff() & ipv4OffMsk) * 8 }

// IsFragment reports whether the packet is a fragment (MF set or a nonzero offset)
// rather than a whole datagram.
func (p IPv4) IsFragment() bool { return p.flagsOff()&(ipv4FlagMF|ipv4OffMsk) != 0 }

// TTL returns the time-to-live.
func (p IPv4) TTL() uint8 { return p.b[8] }

// Protocol returns the payload's protocol number.
func (p IPv4) Protocol() uint8 { return p.b[9] }

// Checksum returns the header checksum field.
func (p IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(p.b[10:12]) }

// Src returns the source address.
func (p IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(p.b[12:16])) }

// Dst returns the destination address.
func (p IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(p.b[16:20])) }

// HeaderLen returns the header length in bytes, options included.
func (p IPv4) HeaderLen() int { return p.hlen }

// Options returns the raw option bytes (empty when IHL is 5).
func (p IPv4) Options() []byte { return p.b[IPv4HeaderSize:p.hlen] }

// Payload returns the bytes after the header, up to the total length.
func (p IPv4) Payload() []byte { return p.b[p.hlen:] }

// Bytes returns the whole packet, header included, trimmed to the total length.
func (p IPv4) Bytes() []byte { return p.b }

// Fields decodes the header.
func (p IPv4) Fields() IPv4Fields {
	return IPv4Fields{
		TOS:           p.TOS(),
		TotalLen:      p.TotalLen(),
		ID:            p.ID(),
		DontFragment:  p.DontFragment(),
		MoreFragments: p.MoreFragments(),
		FragOffset:    p.FragOffset(),
		TTL:           p.TTL(),
		Protocol:      p.Protocol(),
		Src:           p.Src(),
		Dst:           p.Dst(),
		PayloadLen:    len(p.b) - p.hlen,
	}
}

// EmitIPv4 writes a 20-byte IPv4 header (no options) with its checksum into b and
// returns IPv4HeaderSize. Src and Dst must be IPv4 addresses (the zero Addr is
// written as 0.0.0.0). FragOffset is truncated to a multiple of 8.
func EmitIPv4(b []byte, f *IPv4Fields) int {
	_ = b[IPv4HeaderSize-1]
	total := f.TotalLen
	if total == 0 {
		total = uint16(IPv4HeaderSize + f.PayloadLen)
	}
	fo := (f.FragOffset / 8) & ipv4OffMsk
	if f.DontFragment {
		fo |= ipv4FlagDF
	}
	if f.MoreFragments {
		fo |= ipv4FlagMF
	}
	b[0] = 4<<4 | IPv4HeaderSize/4
	b[1] = f.TOS
	binary.BigEndian.PutUint16(b[2:4], total)
	binary.BigEndian.PutUint16(b[4:6], f.ID)
	binary.BigEndian.PutUint16(b[6:8], fo)
	b[8] = f.TTL
	b[9] = f.Protocol
	b[10], b[11] = 0, 0
	putIPv4(b[12:16], f.Src)
	putIPv4(b[16:20], f.Dst)
	binary.BigEndian.PutUint16(b[10:12], FoldChecksum(Checksum(b[:IPv4HeaderSize], 0)))
	return IPv4HeaderSize
}
