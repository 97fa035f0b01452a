package wire

import (
	"encoding/binary"
	"net/netip"
)

const (
	// TCPHeaderSize is the size of a TCP header without options.
	TCPHeaderSize = 20
	// TCPMaxOptionsLen is the most option bytes a header can carry (data offset 15).
	TCPMaxOptionsLen = 40
)

// TCP option kinds (IANA; RFC 9293 §3.2, RFC 7323, RFC 2018).
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWScale        = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamp     = 8
)

// Option lengths, kind and length octets included.
const (
	tcpOptLenMSS     = 4
	tcpOptLenWScale  = 3
	tcpOptLenSACKOK  = 2
	tcpOptLenTS      = 10
	tcpOptLenSACKHdr = 2
	tcpSACKBlockLen  = 8
)

// TCP is a parsed TCP segment: header, options and payload.
type TCP struct {
	b    []byte
	hlen int
}

// ParseTCP checks that b (the whole IP payload) starts with a TCP header whose data
// offset is at least 5 (else ErrMalformed) and whose header, options included, fits
// in b (else ErrTruncated; RFC 9293 §3.1). Options are not decoded here (see
// ParseTCPOptions or Fields), and the checksum is not verified because it needs the
// IP addresses (see TCPChecksumValid).
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPHeaderSize {
		return TCP{}, ErrTruncated
	}
	hlen := int(b[12]>>4) * 4
	if hlen < TCPHeaderSize {
		return TCP{}, ErrMalformed
	}
	if hlen > len(b) {
		return TCP{}, ErrTruncated
	}
	return TCP{b: b, hlen: hlen}, nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t.b[0:2]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t.b[2:4]) }

// Seq returns the sequence number.
func (t TCP) Seq() Seq { return Seq(binary.BigEndian.Uint32(t.b[4:8])) }

// Ack returns the acknowledgment number (meaningful only with FlagACK).
func (t TCP) Ack() Seq { return Seq(binary.BigEndian.Uint32(t.b[8:12])) }

// Flags returns the control bits. The retired NS bit (RFC 8311 §3) is ignored.
func (t TCP) Flags() TCPFlags { return TCPFlags(t.b[13]) }

// Window returns the raw, unscaled window field.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t.b[14:16]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t.b[16:18]) }

// Urgent returns the urgent pointer (meaningful only with FlagURG).
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t.b[18:20]) }

// HeaderLen returns the header length in bytes, options included.
func (t TCP) HeaderLen() int { return t.hlen }

// Options returns the raw option bytes (empty when the data offset is 5).
func (t TCP) Options() []byte { return t.b[TCPHeaderSize:t.hlen] }

// Payload returns the segment data after the header.
func (t TCP) Payload() []byte { return t.b[t.hlen:] }

// Bytes returns the whole segment, header included.
func (t TCP) Bytes() []byte { return t.b }

// ChecksumValid is TCPChecksumValid over the view's bytes.
func (t TCP) ChecksumValid(src, dst netip.Addr) bool { return TCPChecksumValid(t.b, src, dst) }

// Fields decodes the header and its options.
func (t TCP) Fields() TCPFields {
	f := TCPFields{
		SrcPort: t.SrcPort(),
		DstPort: t.DstPort(),
		Seq:     t.Seq(),
		Ack:     t.Ack(),
		Flags:   t.Flags(),
		Window:  t.Window(),
		Urgent:  t.Urgent(),
	}
	ParseTCPOptions(t.Options(), &f.Options)
	return f
}

// ParseTCPOptions decodes the option bytes b into o, overwriting all of o. It never
// fails and never reads outside b. The policy for bad input follows Linux
// (tcp_parse_options):
//
//   - EOL ends the list; NOP is skipped (RFC 9293 §3.2).
//   - An option whose length octet is missing, is 0 or 1, or runs past the end of b
//     ends parsing: the rest of the list is ignored, options decoded before it are
//     kept. (A length below 2 cannot advance, so continuing would loop forever.)
//   - A known kind with the wrong length (MSS not 4, window scale not 3,
//     SACK-permitted not 2, timestamps not 10, SACK not 2+8n with n >= 1) is ignored
//     and parsing continues after it, since its length still says where the next
//     option starts.
//   - Unknown kinds are skipped by their length (RFC 9293 §3.2, MUST-68).
//   - When a kind appears twice the later one wins. SACK blocks beyond
//     MaxSACKBlocks are dropped (they cannot occur within 40 option bytes).
//
// Whether an option is acceptable in this segment (MSS, window scale and
// SACK-permitted only on SYN; values to clamp) is for the TCP layer to decide. An
// MSS option carrying 0 decodes as MSS 0, which TCPOptions reads as "absent".
func ParseTCPOptions(b []byte, o *TCPOptions) {
	*o = TCPOptions{}
	for len(b) > 0 {
		kind := b[0]
		if kind == TCPOptEOL {
			return
		}
		if kind == TCPOptNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			return
		}
		size := int(b[1])
		if size < 2 || size > len(b) {
			return
		}
		opt := b[:size]
		b = b[size:]
		switch kind {
		case TCPOptMSS:
			if size == tcpOptLenMSS {
				o.MSS = binary.BigEndian.Uint16(opt[2:4])
			}
		case TCPOptWScale:
			if size == tcpOptLenWScale {
				o.HasWScale = true
				o.WScale = opt[2]
			}
		case TCPOptSACKPermitted:
			if size == tcpOptLenSACKOK {
				o.SACKPermitted = true
			}
		case TCPOptTimestamp:
			if size == tcpOptLenTS {
				o.HasTimestamp = true
				o.TSVal = binary.BigEndian.Uint32(opt[2:6])
				o.TSEcr = binary.BigEndian.Uint32(opt[6:10])
			}
		case TCPOptSACK:
			blocks := opt[tcpOptLenSACKHdr:]
			if len(blocks) == 0 || len(blocks)%tcpSACKBlockLen != 0 {
				continue
			}
			o.NumSACK = 0
			for len(blocks) >= tcpSACKBlockLen && o.NumSACK < MaxSACKBlocks {
				o.SACK[o.NumSACK] = SACKBlock{
					Start: Seq(binary.BigEndian.Uint32(blocks[0:4])),
					End:   Seq(binary.BigEndian.Uint32(blocks[4:8])),
				}
				o.NumSACK++
				blocks = blocks[tcpSACKBlockLen:]
			}
		}
	}
}

// tcpOptionLayout returns the padded length of the options EmitTCPOptions writes for o
// and how many SACK blocks fit.
func tcpOptionLayout(o *TCPOptions) (n, nsack int) {
	if o.MSS != 0 {
		n += tcpOptLenMSS
	}
	if o.HasTimestamp {
		n += 2 + tcpOptLenTS // SACKOK+TS, or NOP NOP TS
	} else if o.SACKPermitted {
		n += 4 // NOP NOP SACKOK
	}
	if o.HasWScale {
		n += 4 // NOP WS
	}
	nsack = min(int(o.NumSACK), MaxSACKBlocks)
	if nsack > 0 {
		room := (TCPMaxOptionsLen - n - 4) / tcpSACKBlockLen
		nsack = max(min(nsack, room), 0)
		if nsack > 0 {
			n += 4 + nsack*tcpSACKBlockLen // NOP NOP SACK
		}
	}
	return n, nsack
}

// TCPOptionsLen returns the number of option bytes EmitTCP writes for o, a multiple
// of 4 and at most TCPMaxOptionsLen.
//
// The layout is the one Linux uses (tcp_options_write), so that peers and
// middleboxes see familiar headers and every multi-byte option is 4-byte aligned:
//
//	MSS                 kind 2, len 4
//	SACKOK TS           when both (kind 4 len 2, kind 8 len 10)
//	NOP NOP TS          timestamps without SACK-permitted
//	NOP NOP SACKOK      SACK-permitted without timestamps
//	NOP WS              window scale
//	NOP NOP SACK        up to NumSACK blocks, as many as still fit in 40 bytes
//	                    (3 with timestamps, 4 without); the first blocks are kept,
//	                    which RFC 2018 §4 says are the most recent.
//
// MSS 0 means no MSS option.
func TCPOptionsLen(o *TCPOptions) int {
	n, _ := tcpOptionLayout(o)
	return n
}

// TCPHeaderLen returns the number of bytes EmitTCP writes for f.
func TCPHeaderLen(f *TCPFields) int { return TCPHeaderSize + TCPOptionsLen(&f.Options) }

// EmitTCP writes the header from f, options included, into b with a zero checksum
// and returns TCPHeaderLen(f). Fill the checksum with SetTCPChecksum once the payload
// is in place.
func EmitTCP(b []byte, f *TCPFields) int {
	optLen, nsack := tcpOptionLayout(&f.Options)
	hlen := TCPHeaderSize + optLen
	_ = b[hlen-1]
	binary.BigEndian.PutUint16(b[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], f.DstPort)
	binary.BigEndian.PutUint32(b[4:8], uint32(f.Seq))
	binary.BigEndian.PutUint32(b[8:12], uint32(f.Ack))
	b[12] = uint8(hlen/4) << 4
	b[13] = uint8(f.Flags)
	binary.BigEndian.PutUint16(b[14:16], f.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], f.Urgent)

	o := &f.Options
	p := b[TCPHeaderSize:hlen]
	if o.MSS != 0 {
		p[0], p[1] = TCPOptMSS, tcpOptLenMSS
		binary.BigEndian.PutUint16(p[2:4], o.MSS)
		p = p[4:]
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			p[0], p[1] = TCPOptSACKPermitted, tcpOptLenSACKOK
		} else {
			p[0], p[1] = TCPOptNOP, TCPOptNOP
		}
		p[2], p[3] = TCPOptTimestamp, tcpOptLenTS
		binary.BigEndian.PutUint32(p[4:8], o.TSVal)
		binary.BigEndian.PutUint32(p[8:12], o.TSEcr)
		p = p[12:]
	} else if o.SACKPermitted {
		p[0], p[1], p[2], p[3] = TCPOptNOP, TCPOptNOP, TCPOptSACKPermitted, tcpOptLenSACKOK
		p = p[4:]
	}
	if o.HasWScale {
		p[0], p[1], p[2], p[3] = TCPOptNOP, TCPOptWScale, tcpOptLenWScale, o.WScale
		p = p[4:]
	}
	if nsack > 0 {
		p[0], p[1], p[2] = TCPOptNOP, TCPOptNOP, TCPOptSACK
		p[3] = uint8(tcpOptLenSACKHdr + nsack*tcpSACKBlockLen)
		p = p[4:]
		for i := 0; i < nsack; i++ {
			binary.BigEndian.PutUint32(p[0:4], uint32(o.SACK[i].Start))
			binary.BigEndian.PutUint32(p[4:8], uint32(o.SACK[i].End))
			p = p[8:]
		}
	}
	return hlen
}

// SetTCPChecksum computes the checksum of the segment seg (header and payload,
// len(seg) bytes) with the pseudo-header for src and dst (IPv4 or IPv6) and stores it
// in the header (RFC 9293 §3.1).
func SetTCPChecksum(seg []byte, src, dst netip.Addr) {
	seg[16], seg[17] = 0, 0
	c := FoldChecksum(Checksum(seg, PseudoHeaderSum(ProtoTCP, src, dst, len(seg))))
	binary.BigEndian.PutUint16(seg[16:18], c)
}

// TCPChecksumValid reports whether the checksum of seg (header and payload,
// len(seg) bytes) is correct for src and dst. A seg shorter than the header is
// invalid.
func TCPChecksumValid(seg []byte, src, dst netip.Addr) bool {
	if len(seg) < TCPHeaderSize {
		return false
	}
	return FoldChecksum(Checksum(seg, PseudoHeaderSum(ProtoTCP, src, dst, len(seg)))) == 0
}
