package wire

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv4QuoteMinData is the least of the original datagram's data an ICMPv4 error
// quotes after its IP header: 64 bits (RFC 792), enough for the TCP/UDP ports and
// the TCP sequence number.
const ICMPv4QuoteMinData = 8

// IPv4Quote is the start of the datagram quoted in the body of an ICMPv4 error
// (destination unreachable, time exceeded, ...). It is parsed separately from IPv4
// because a quote is usually cut short: its total length field describes the
// original datagram, not the bytes quoted, and its checksum is not ours to verify.
type IPv4Quote struct {
	b    []byte
	hlen int
}

// ParseIPv4Quote checks that body (ICMPv4.Body of an error message) starts with an
// IPv4 header (version 4, IHL at least 5) followed by at least ICMPv4QuoteMinData
// bytes of transport header. The total length field must cover that much, but the
// quote may end before it (RFC 792; RFC 1812 §4.3.2.3 lets routers quote more, up
// to 576 bytes in all). The quoted header checksum is not verified: like Linux,
// the transport layer validates a quote against its own state (ports, sequence
// numbers in the window; RFC 5927 §4.1) instead.
func ParseIPv4Quote(body []byte) (IPv4Quote, error) {
	if len(body) < IPv4HeaderSize {
		return IPv4Quote{}, ErrTruncated
	}
	if body[0]>>4 != 4 {
		return IPv4Quote{}, ErrMalformed
	}
	hlen := int(body[0]&0xf) * 4
	if hlen < IPv4HeaderSize {
		return IPv4Quote{}, ErrMalformed
	}
	total := int(binary.BigEndian.Uint16(body[2:4]))
	if total < hlen+ICMPv4QuoteMinData {
		return IPv4Quote{}, ErrMalformed
	}
	if len(body) < hlen+ICMPv4QuoteMinData {
		return IPv4Quote{}, ErrTruncated
	}
	return IPv4Quote{b: body[:min(total, len(body))], hlen: hlen}, nil
}

// Protocol returns the quoted datagram's protocol number.
func (q IPv4Quote) Protocol() uint8 { return q.b[9] }

// Src returns the quoted datagram's source address (ours, for a datagram we sent).
func (q IPv4Quote) Src() netip.Addr { return netip.AddrFrom4([4]byte(q.b[12:16])) }

// Dst returns the quoted datagram's destination address.
func (q IPv4Quote) Dst() netip.Addr { return netip.AddrFrom4([4]byte(q.b[16:20])) }

// ID returns the quoted datagram's identification field.
func (q IPv4Quote) ID() uint16 { return binary.BigEndian.Uint16(q.b[4:6]) }

// FragOffset returns the quoted datagram's fragment offset in bytes. Only a quote
// of offset 0 holds a transport header.
func (q IPv4Quote) FragOffset() uint16 { return (binary.BigEndian.Uint16(q.b[6:8]) & ipv4OffMsk) * 8 }

// TotalLen returns the original datagram's total length field.
func (q IPv4Quote) TotalLen() uint16 { return binary.BigEndian.Uint16(q.b[2:4]) }

// HeaderLen returns the quoted IP header's length in bytes.
func (q IPv4Quote) HeaderLen() int { return q.hlen }

// SrcPort returns the first 16 bits of the quoted transport header: the source
// port for TCP and UDP.
func (q IPv4Quote) SrcPort() uint16 { return binary.BigEndian.Uint16(q.b[q.hlen : q.hlen+2]) }

// DstPort returns bits 16-31 of the quoted transport header: the destination port
// for TCP and UDP.
func (q IPv4Quote) DstPort() uint16 { return binary.BigEndian.Uint16(q.b[q.hlen+2 : q.hlen+4]) }

// TCPSeq returns bits 32-63 of the quoted transport header: the sequence number
// for TCP.
func (q IPv4Quote) TCPSeq() Seq { return Seq(binary.BigEndian.Uint32(q.b[q.hlen+4 : q.hlen+8])) }

// Transport returns the quoted transport bytes: at least ICMPv4QuoteMinData, at
// most up to the original total length.
func (q IPv4Quote) Transport() []byte { return q.b[q.hlen:] }
