package wire

import "encoding/binary"

// ICMPv4HeaderSize is the size of the fixed ICMP header: type, code, checksum and
// the 4-byte "rest of header" (RFC 792).
const ICMPv4HeaderSize = 8

// ICMPv4 message types (RFC 792).
const (
	ICMPv4EchoReply       = 0
	ICMPv4DestUnreachable = 3
	ICMPv4EchoRequest     = 8
	ICMPv4TimeExceeded    = 11
)

// ICMPv4 destination-unreachable codes (RFC 792, RFC 1191).
const (
	ICMPv4NetUnreachable   = 0
	ICMPv4HostUnreachable  = 1
	ICMPv4ProtoUnreachable = 2
	ICMPv4PortUnreachable  = 3
	ICMPv4FragNeeded       = 4 // "fragmentation needed and DF set"; carries the next-hop MTU
)

// ICMPv4 time-exceeded codes (RFC 792).
const (
	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

// ICMPv4Fields is an ICMPv4 header as values. ID and Seq are meaningful for echo
// request and reply only, MTU for destination unreachable / fragmentation needed
// only (RFC 1191 §4); Fields leaves them zero for other messages and Emit writes
// the rest-of-header as zero for them.
type ICMPv4Fields struct {
	Type, Code uint8
	ID, Seq    uint16
	MTU        uint16
}

// ICMPv4 is a parsed ICMPv4 message.
type ICMPv4 struct {
	b []byte
}

// ParseICMPv4 checks that b (the whole IP payload) holds an ICMP header and that the
// checksum over all of b is correct.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4HeaderSize {
		return ICMPv4{}, ErrTruncated
	}
	if FoldChecksum(Checksum(b, 0)) != 0 {
		return ICMPv4{}, ErrChecksum
	}
	return ICMPv4{b: b}, nil
}

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m.b[0] }

// Code returns the message code.
func (m ICMPv4) Code() uint8 { return m.b[1] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m.b[2:4]) }

// ID returns the echo identifier (bytes 4-5).
func (m ICMPv4) ID() uint16 { return binary.BigEndian.Uint16(m.b[4:6]) }

// Seq returns the echo sequence number (bytes 6-7).
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m.b[6:8]) }

// MTU returns the next-hop MTU of a fragmentation-needed message (bytes 6-7,
// RFC 1191 §4). It is 0 from routers that predate RFC 1191.
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m.b[6:8]) }

// Body returns the bytes after the 8-byte header: echo data, or for error messages
// the start of the datagram that caused them.
func (m ICMPv4) Body() []byte { return m.b[ICMPv4HeaderSize:] }

// Fields decodes the header.
func (m ICMPv4) Fields() ICMPv4Fields {
	f := ICMPv4Fields{Type: m.Type(), Code: m.Code()}
	switch {
	case f.Type == ICMPv4EchoRequest || f.Type == ICMPv4EchoReply:
		f.ID, f.Seq = m.ID(), m.Seq()
	case f.Type == ICMPv4DestUnreachable && f.Code == ICMPv4FragNeeded:
		f.MTU = m.MTU()
	}
	return f
}

// EmitICMPv4 writes the header from f followed by body into b (at least
// ICMPv4HeaderSize+len(body) bytes), computes the checksum over both and returns the
// number of bytes written. body may already sit at b[ICMPv4HeaderSize:]; the copy
// then moves nothing.
func EmitICMPv4(b []byte, f *ICMPv4Fields, body []byte) int {
	n := ICMPv4HeaderSize + len(body)
	_ = b[n-1]
	copy(b[ICMPv4HeaderSize:n], body)
	b[0], b[1] = f.Type, f.Code
	clear(b[2:8])
	switch {
	case f.Type == ICMPv4EchoRequest || f.Type == ICMPv4EchoReply:
		binary.BigEndian.PutUint16(b[4:6], f.ID)
		binary.BigEndian.PutUint16(b[6:8], f.Seq)
	case f.Type == ICMPv4DestUnreachable && f.Code == ICMPv4FragNeeded:
		binary.BigEndian.PutUint16(b[6:8], f.MTU)
	}
	binary.BigEndian.PutUint16(b[2:4], FoldChecksum(Checksum(b[:n], 0)))
	return n
}
