package wire

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6HeaderSize is the size of the ICMPv6 header plus the first 4 bytes of the
// message body, which every message offload handles has (RFC 4443 §2.1).
const ICMPv6HeaderSize = 8

// ICMPv6 message types (RFC 4443, RFC 4861).
const (
	ICMPv6DestUnreachable       = 1
	ICMPv6PacketTooBig          = 2
	ICMPv6TimeExceeded          = 3
	ICMPv6ParamProblem          = 4
	ICMPv6EchoRequest           = 128
	ICMPv6EchoReply             = 129
	ICMPv6RouterSolicitation    = 133
	ICMPv6RouterAdvertisement   = 134
	ICMPv6NeighborSolicitation  = 135
	ICMPv6NeighborAdvertisement = 136
)

// ICMPv6 destination-unreachable codes (RFC 4443 §3.1).
const (
	ICMPv6NoRoute         = 0
	ICMPv6AdminProhibited = 1
	ICMPv6AddrUnreachable = 3
	ICMPv6PortUnreachable = 4
)

// ICMPv6Fields is an ICMPv6 header as values. ID and Seq are meaningful for echo
// request and reply only, MTU for packet-too-big only (RFC 4443 §3.2); other
// messages keep their 4-byte field in the body's first bytes (NDP: see ParseNDP).
type ICMPv6Fields struct {
	Type, Code uint8
	ID, Seq    uint16
	MTU        uint32
}

// ICMPv6 is a parsed ICMPv6 message.
type ICMPv6 struct {
	b []byte
}

// ParseICMPv6 checks that b (the upper-layer payload, after any extension headers)
// holds at least ICMPv6HeaderSize bytes and that the checksum, which covers the
// IPv6 pseudo-header for src and dst (RFC 4443 §2.3), is correct.
func ParseICMPv6(b []byte, src, dst netip.Addr) (ICMPv6, error) {
	if len(b) < ICMPv6HeaderSize {
		return ICMPv6{}, ErrTruncated
	}
	if FoldChecksum(Checksum(b, PseudoHeaderSum(ProtoICMPv6, src, dst, len(b)))) != 0 {
		return ICMPv6{}, ErrChecksum
	}
	return ICMPv6{b: b}, nil
}

// Type returns the message type.
func (m ICMPv6) Type() uint8 { return m.b[0] }

// Code returns the message code.
func (m ICMPv6) Code() uint8 { return m.b[1] }

// Checksum returns the checksum field.
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m.b[2:4]) }

// ID returns the echo identifier (bytes 4-5).
func (m ICMPv6) ID() uint16 { return binary.BigEndian.Uint16(m.b[4:6]) }

// Seq returns the echo sequence number (bytes 6-7).
func (m ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(m.b[6:8]) }

// MTU returns the MTU of a packet-too-big message (bytes 4-7).
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m.b[4:8]) }

// Body returns the bytes after the first 8: echo data, the invoking packet of an
// error message, or an NDP message's target and options.
func (m ICMPv6) Body() []byte { return m.b[ICMPv6HeaderSize:] }

// Bytes returns the whole message.
func (m ICMPv6) Bytes() []byte { return m.b }

// Fields decodes the header.
func (m ICMPv6) Fields() ICMPv6Fields {
	f := ICMPv6Fields{Type: m.Type(), Code: m.Code()}
	switch f.Type {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		f.ID, f.Seq = m.ID(), m.Seq()
	case ICMPv6PacketTooBig:
		f.MTU = m.MTU()
	}
	return f
}

// EmitICMPv6 writes the header from f followed by body into b (at least
// ICMPv6HeaderSize+len(body) bytes), computes the checksum with the pseudo-header
// for src and dst, and returns the number of bytes written. body may already sit at
// b[ICMPv6HeaderSize:].
func EmitICMPv6(b []byte, f *ICMPv6Fields, body []byte, src, dst netip.Addr) int {
	n := ICMPv6HeaderSize + len(body)
	_ = b[n-1]
	copy(b[ICMPv6HeaderSize:n], body)
	b[0], b[1] = f.Type, f.Code
	clear(b[2:8])
	switch f.Type {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		binary.BigEndian.PutUint16(b[4:6], f.ID)
		binary.BigEndian.PutUint16(b[6:8], f.Seq)
	case ICMPv6PacketTooBig:
		binary.BigEndian.PutUint32(b[4:8], f.MTU)
	}
	setICMPv6Checksum(b[:n], src, dst)
	return n
}

func setICMPv6Checksum(m []byte, src, dst netip.Addr) {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:4], FoldChecksum(Checksum(m, PseudoHeaderSum(ProtoICMPv6, src, dst, len(m)))))
}
