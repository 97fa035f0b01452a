package afxdp

import (
	"encoding/binary"

	"offload/pkt"
)

// classifyChecksum looks at a received frame's transport checksum field and
// marks the frame pkt.ChecksumPartial when the field holds exactly the
// pseudo-header sum: the form a local sender with checksum offload (a veth
// peer, a container, the host itself) leaves unfinished, which AF_XDP hands
// over without the kernel's CHECKSUM_PARTIAL flag. Such a frame never crossed
// a wire; verifying it would fail and drop every segment. Any other field
// value leaves the checksum Unknown, so the stack verifies it: frames from a
// real NIC carry full checksums and are checked as usual.
//
// The trade-off: a frame from a wire whose payload happens to sum to zero
// carries a full checksum equal to its pseudo-header sum; it is marked
// Partial and goes unverified (about 1 in 65536 frames, each of which passed
// the NIC's Ethernet FCS anyway). Config.VerifyChecksums turns this off.
//
// It looks at untagged or single-tagged Ethernet, IPv4 without fragmentation
// and IPv6 without extension headers, TCP and UDP; anything else stays
// Unknown. It never reads outside f.
func classifyChecksum(f []byte, m *pkt.Meta) {
	if len(f) < 14 {
		return
	}
	l3 := 14
	et := binary.BigEndian.Uint16(f[12:])
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < 18 {
			return
		}
		et = binary.BigEndian.Uint16(f[16:])
		l3 = 18
	}
	var sum uint32
	var proto uint8
	var l4, l4len int
	switch et {
	case 0x0800:
		ip := f[l3:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return
		}
		ihl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
			return
		}
		proto = ip[9]
		sum = sum16(ip[12:20], 0)
		l4, l4len = l3+ihl, total-ihl
	case 0x86dd:
		ip := f[l3:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if plen > len(ip)-40 {
			return
		}
		proto = ip[6]
		sum = sum16(ip[8:40], 0)
		l4, l4len = l3+40, plen
	default:
		return
	}
	var off int
	switch proto {
	case 6:
		off = 16
		if l4len < 20 {
			return
		}
	case 17:
		off = 6
		if l4len < 8 {
			return
		}
	default:
		return
	}
	sum += uint32(proto) + uint32(l4len)
	if binary.BigEndian.Uint16(f[l4+off:]) != fold(sum) {
		return
	}
	m.Checksum = pkt.ChecksumPartial
	m.CsumStart = uint16(l4)
	m.CsumOffset = uint16(off)
}

// finishChecksum completes a ChecksumPartial frame in software: the sum from
// CsumStart to the end (the field already holds the pseudo-header sum) goes,
// complemented, into the field (RFC 1071). False if Meta points outside f.
func finishChecksum(f []byte, m *pkt.Meta) bool {
	start, at := int(m.CsumStart), int(m.CsumStart)+int(m.CsumOffset)
	if start >= len(f) || at+2 > len(f) || at < start {
		return false
	}
	c := ^fold(sum16(f[start:], 0))
	if c == 0 && m.CsumOffset == 6 {
		c = 0xffff // UDP: a computed zero is sent as all ones (RFC 768)
	}
	binary.BigEndian.PutUint16(f[at:], c)
	m.Checksum = pkt.ChecksumUnknown
	return true
}

func sum16(b []byte, s uint32) uint32 {
	for len(b) >= 8 {
		s += uint32(binary.BigEndian.Uint16(b)) + uint32(binary.BigEndian.Uint16(b[2:])) +
			uint32(binary.BigEndian.Uint16(b[4:])) + uint32(binary.BigEndian.Uint16(b[6:]))
		b = b[8:]
		if s >= 1<<30 {
			s = s&0xffff + s>>16
		}
	}
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
