package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPv6HeaderSize is the size of the fixed IPv6 header (RFC 8200 §3).
const IPv6HeaderSize = 40

// IPv6 extension header numbers (RFC 8200 §4) and the no-next-header value.
const (
	IPv6HopByHop     = 0
	IPv6Routing      = 43
	IPv6Fragment     = 44
	IPv6DestOptions  = 60
	IPv6NoNextHeader = 59
)

// IPv6Fields is the fixed IPv6 header as values (RFC 8200 §3).
type IPv6Fields struct {
	TrafficClass uint8  // DSCP and ECN
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16 // bytes after the fixed header, extension headers included
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// IPv6 is a parsed IPv6 packet, trimmed to its payload length.
type IPv6 struct {
	b []byte // b[:40+PayloadLen]
}

// ParseIPv6 checks that b starts with an IPv6 header (version 6) and that the
// payload length fits in b (else ErrTruncated). Bytes past the payload length
// (Ethernet padding) are not part of the view. Jumbograms (RFC 2675: payload length
// 0 with a hop-by-hop jumbo option) are not supported; their payload reads as empty.
// Extension headers are not walked here: see IPv6.UpperLayer.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderSize {
		return IPv6{}, ErrTruncated
	}
	if b[0]>>4 != 6 {
		return IPv6{}, ErrMalformed
	}
	n := IPv6HeaderSize + int(binary.BigEndian.Uint16(b[4:6]))
	if n > len(b) {
		return IPv6{}, ErrTruncated
	}
	return IPv6{b: b[:n]}, nil
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (p IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(p.b[0:2]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (p IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(p.b[0:4]) & 0xFFFFF }

// PayloadLen returns the payload length field.
func (p IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(p.b[4:6]) }

// NextHeader returns the type of the header after the fixed header.
func (p IPv6) NextHeader() uint8 { return p.b[6] }

// HopLimit returns the hop limit.
func (p IPv6) HopLimit() uint8 { return p.b[7] }

// Src returns the source address.
func (p IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(p.b[8:24])) }

// Dst returns the destination address.
func (p IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(p.b[24:40])) }

// HeaderLen returns 40, the fixed header's size.
func (p IPv6) HeaderLen() int { return IPv6HeaderSize }

// Payload returns the bytes after the fixed header, extension headers included.
func (p IPv6) Payload() []byte { return p.b[IPv6HeaderSize:] }

// Bytes returns the whole packet, trimmed to the payload length.
func (p IPv6) Bytes() []byte { return p.b }

// Fields decodes the fixed header.
func (p IPv6) Fields() IPv6Fields {
	return IPv6Fields{
		TrafficClass: p.TrafficClass(),
		FlowLabel:    p.FlowLabel(),
		PayloadLen:   p.PayloadLen(),
		NextHeader:   p.NextHeader(),
		HopLimit:     p.HopLimit(),
		Src:          p.Src(),
		Dst:          p.Dst(),
	}
}

// maxIPv6ExtHeaders bounds the extension-header walk. Each header takes at least 8
// bytes, so the walk is bounded anyway; this stops a packet of nothing but
// destination options from costing 8000 iterations.
const maxIPv6ExtHeaders = 8

// UpperLayer walks the hop-by-hop, routing and destination-options extension headers
// (RFC 8200 §4) and returns the first other header type with the bytes from its
// start. A fragment header (44) is returned as such, for reassembly to handle.
// Returns ErrTruncated when an extension header runs past the payload, and
// ErrMalformed when there are more than 8 of them or a hop-by-hop header is not
// first (RFC 8200 §4.3).
func (p IPv6) UpperLayer() (proto uint8, payload []byte, err error) {
	proto, b := p.NextHeader(), p.Payload()
	for i := 0; ; i++ {
		switch proto {
		case IPv6HopByHop, IPv6Routing, IPv6DestOptions:
		default:
			return proto, b, nil
		}
		if proto == IPv6HopByHop && i != 0 {
			return 0, nil, ErrMalformed
		}
		if i == maxIPv6ExtHeaders {
			return 0, nil, ErrMalformed
		}
		if len(b) < 8 {
			return 0, nil, ErrTruncated
		}
		n := (int(b[1]) + 1) * 8 // Hdr Ext Len in 8-octet units, not counting the first 8
		if n > len(b) {
			return 0, nil, ErrTruncated
		}
		proto, b = b[0], b[n:]
	}
}

// EmitIPv6 writes the fixed 40-byte header from f into b and returns
// IPv6HeaderSize. Src and Dst must be IPv6 addresses (IPv4 ones are written
// IPv4-mapped; the zero Addr as ::).
func EmitIPv6(b []byte, f *IPv6Fields) int {
	_ = b[IPv6HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xFFFFF)
	binary.BigEndian.PutUint16(b[4:6], f.PayloadLen)
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	return IPv6HeaderSize
}
