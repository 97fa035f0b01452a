package wire

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6QuoteMinData is the least of the quoted packet's upper-layer header an
// ICMPv6 error must hold for offload to use it: the TCP/UDP ports and the TCP
// sequence number. RFC 4443 §2.4(c) has errors quote as much of the invoking
// packet as fits in 1280 bytes, so any real error quotes far more.
const ICMPv6QuoteMinData = 8

// IPv6Quote is the start of the packet quoted in the body of an ICMPv6 error
// (RFC 4443 §3). Like IPv4Quote it is parsed apart from IPv6: the quote may end
// before the payload length says, and nothing in it is ours to verify.
type IPv6Quote struct {
	b     []byte
	proto uint8
	l4    int // offset of the upper-layer header within b
}

// ParseIPv6Quote checks that body (ICMPv6.Body of an error message) starts with
// an IPv6 header followed, after any hop-by-hop, routing, destination-options
// and offset-0 fragment headers (at most 8 in all), by at least
// ICMPv6QuoteMinData bytes of upper-layer header. It returns ErrTruncated when
// the quote ends first, ErrMalformed for a version other than 6, too many
// extension headers, or a quoted non-first fragment (which holds no transport
// header). The view stops at the quoted payload length when the quote is longer.
func ParseIPv6Quote(body []byte) (IPv6Quote, error) {
	if len(body) < IPv6HeaderSize {
		return IPv6Quote{}, ErrTruncated
	}
	if body[0]>>4 != 6 {
		return IPv6Quote{}, ErrMalformed
	}
	b := body[:min(len(body), IPv6HeaderSize+int(binary.BigEndian.Uint16(body[4:6])))]
	proto, off := body[6], IPv6HeaderSize
	for n := 0; ; n++ {
		switch proto {
		case IPv6HopByHop, IPv6Routing, IPv6DestOptions, IPv6Fragment:
		default:
			if len(b)-off < ICMPv6QuoteMinData {
				return IPv6Quote{}, ErrTruncated
			}
			return IPv6Quote{b: b, proto: proto, l4: off}, nil
		}
		if n == maxIPv6ExtHeaders {
			return IPv6Quote{}, ErrMalformed
		}
		if len(b)-off < 8 {
			return IPv6Quote{}, ErrTruncated
		}
		h := b[off:]
		size := (int(h[1]) + 1) * 8
		if proto == IPv6Fragment {
			if binary.BigEndian.Uint16(h[2:4])&^7 != 0 {
				return IPv6Quote{}, ErrMalformed
			}
			size = IPv6FragmentHeaderSize
		}
		if size > len(b)-off {
			return IPv6Quote{}, ErrTruncated
		}
		proto, off = h[0], off+size
	}
}

// Protocol returns the quoted packet's upper-layer protocol (after extension
// headers).
func (q IPv6Quote) Protocol() uint8 { return q.proto }

// Src returns the quoted packet's source address (ours, for a packet we sent).
func (q IPv6Quote) Src() netip.Addr { return netip.AddrFrom16([16]byte(q.b[8:24])) }

// Dst returns the quoted packet's destination address.
func (q IPv6Quote) Dst() netip.Addr { return netip.AddrFrom16([16]byte(q.b[24:40])) }

// HeaderLen returns the bytes before the upper-layer header: the fixed header
// and any extension headers.
func (q IPv6Quote) HeaderLen() int { return q.l4 }

// SrcPort returns the first 16 bits of the quoted upper-layer header: the source
// port for TCP and UDP.
func (q IPv6Quote) SrcPort() uint16 { return binary.BigEndian.Uint16(q.b[q.l4:]) }

// DstPort returns bits 16-31 of the quoted upper-layer header: the destination
// port for TCP and UDP.
func (q IPv6Quote) DstPort() uint16 { return binary.BigEndian.Uint16(q.b[q.l4+2:]) }

// TCPSeq returns bits 32-63 of the quoted upper-layer header: the sequence
// number for TCP.
func (q IPv6Quote) TCPSeq() Seq { return Seq(binary.BigEndian.Uint32(q.b[q.l4+4:])) }

// Transport returns the quoted upper-layer bytes: at least ICMPv6QuoteMinData.
func (q IPv6Quote) Transport() []byte { return q.b[q.l4:] }
