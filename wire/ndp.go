package wire

import "net/netip"

// NDP option types (RFC 4861 §4.6).
const (
	NDPOptSourceLinkAddr = 1
	NDPOptTargetLinkAddr = 2
)

const (
	ndpNSNASize      = ICMPv6HeaderSize + 16 // header, reserved/flags, target
	ndpLinkAddrOptSz = 8                     // type, length, 6-byte MAC
	ndpFlagRouter    = 0x80
	ndpFlagSolicited = 0x40
	ndpFlagOverride  = 0x20
)

// NDPFields is a neighbor solicitation or advertisement (RFC 4861 §4.3, §4.4) with
// its link-layer address option: the source link-layer address in a solicitation,
// the target link-layer address in an advertisement. Other options are skipped.
type NDPFields struct {
	Type                        uint8 // ICMPv6NeighborSolicitation or ICMPv6NeighborAdvertisement
	Router, Solicited, Override bool  // advertisement flags
	Target                      netip.Addr
	HasLinkAddr                 bool
	LinkAddr                    MAC
}

// ParseNDP decodes a neighbor solicitation or advertisement from a checksum-verified
// ICMPv6 message. It applies the message checks of RFC 4861 §7.1.1 and §7.1.2 that
// do not need the IP header: code 0, at least 24 bytes, a target that is not
// multicast, and options that all have a nonzero length and end within the message
// (else ErrMalformed or ErrTruncated). The caller checks the IP hop limit is 255 and
// the addressing rules. Other ICMPv6 types are ErrMalformed.
func ParseNDP(m ICMPv6) (NDPFields, error) {
	t := m.Type()
	if t != ICMPv6NeighborSolicitation && t != ICMPv6NeighborAdvertisement || m.Code() != 0 {
		return NDPFields{}, ErrMalformed
	}
	b := m.Bytes()
	if len(b) < ndpNSNASize {
		return NDPFields{}, ErrTruncated
	}
	f := NDPFields{Type: t, Target: netip.AddrFrom16([16]byte(b[8:24]))}
	if f.Target.IsMulticast() {
		return NDPFields{}, ErrMalformed
	}
	if t == ICMPv6NeighborAdvertisement {
		f.Router = b[4]&ndpFlagRouter != 0
		f.Solicited = b[4]&ndpFlagSolicited != 0
		f.Override = b[4]&ndpFlagOverride != 0
	}
	want := uint8(NDPOptSourceLinkAddr)
	if t == ICMPv6NeighborAdvertisement {
		want = NDPOptTargetLinkAddr
	}
	// Options are type, length in units of 8 octets, data (RFC 4861 §4.6). A zero
	// length must cause the whole packet to be discarded.
	for opts := b[ndpNSNASize:]; len(opts) > 0; {
		if len(opts) < 2 {
			return NDPFields{}, ErrTruncated
		}
		n := int(opts[1]) * 8
		if n == 0 {
			return NDPFields{}, ErrMalformed
		}
		if n > len(opts) {
			return NDPFields{}, ErrTruncated
		}
		// A link-layer address option for Ethernet is exactly 8 bytes (RFC 2464 §6).
		if opts[0] == want && n == ndpLinkAddrOptSz {
			f.HasLinkAddr = true
			f.LinkAddr = MAC(opts[2:8])
		}
		opts = opts[n:]
	}
	return f, nil
}

// NDPSize returns the size of the ICMPv6 message EmitNDP writes for f.
func NDPSize(f *NDPFields) int {
	if f.HasLinkAddr {
		return ndpNSNASize + ndpLinkAddrOptSz
	}
	return ndpNSNASize
}

// EmitNDP writes the whole ICMPv6 neighbor solicitation or advertisement for f into
// b (NDPSize(f) bytes), checksum computed for src and dst, and returns NDPSize(f).
func EmitNDP(b []byte, f *NDPFields, src, dst netip.Addr) int {
	n := NDPSize(f)
	_ = b[n-1]
	b[0], b[1] = f.Type, 0
	clear(b[2:8])
	if f.Type == ICMPv6NeighborAdvertisement {
		var fl byte
		if f.Router {
			fl |= ndpFlagRouter
		}
		if f.Solicited {
			fl |= ndpFlagSolicited
		}
		if f.Override {
			fl |= ndpFlagOverride
		}
		b[4] = fl
	}
	tgt := f.Target.As16()
	copy(b[8:24], tgt[:])
	if f.HasLinkAddr {
		b[24] = NDPOptSourceLinkAddr
		if f.Type == ICMPv6NeighborAdvertisement {
			b[24] = NDPOptTargetLinkAddr
		}
		b[25] = 1
		copy(b[26:32], f.LinkAddr[:])
	}
	setICMPv6Checksum(b[:n], src, dst)
	return n
}
