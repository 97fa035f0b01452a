package wire

import (
	"encoding/binary"
	"fmt"
)

// MAC is an IEEE 802 48-bit MAC address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as six colon-separated lowercase hex bytes.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var s [17]byte
	for i, v := range m {
		if i > 0 {
			s[3*i-1] = ':'
		}
		s[3*i] = hex[v>>4]
		s[3*i+1] = hex[v&0xf]
	}
	return string(s[:])
}

// ParseMAC parses a MAC address written as six two-digit hex bytes separated by
// colons or hyphens ("02:00:5e:10:00:01", "02-00-5E-10-00-01"). It is for
// configuration, not the packet path.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("wire: MAC %q: %w", s, ErrMalformed)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, fmt.Errorf("wire: MAC %q: %w", s, ErrMalformed)
	}
	for i := range m {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != sep) {
			return MAC{}, fmt.Errorf("wire: MAC %q: %w", s, ErrMalformed)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsBroadcast reports whether m is the broadcast address.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether m is a group address (the I/G bit, the least
// significant bit of the first octet, is set). Broadcast is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// EtherType values (IEEE registry) offload handles.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86DD
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag
)

const (
	// EthernetHeaderSize is the size of an untagged Ethernet II header.
	EthernetHeaderSize = 14
	// VLANTagSize is the size of one 802.1Q tag (TPID + TCI).
	VLANTagSize = 4
)

// EthernetFields is an Ethernet II header, optionally with one 802.1Q tag.
type EthernetFields struct {
	Dst, Src  MAC
	EtherType uint16 // of the payload (the inner type when tagged)
	HasVLAN   bool
	VLAN      uint16 // the 802.1Q TCI: PCP (3 bits), DEI (1), VID (12)
}

// Ethernet is a parsed Ethernet II frame. Only one 802.1Q tag is decoded: in a
// double-tagged frame EtherType reports the second TPID (0x8100), which upper
// layers do not handle and drop.
type Ethernet struct {
	b    []byte
	hlen int
}

// ParseEthernet checks that b holds an Ethernet header (with its 802.1Q tag, if the
// EtherType says one follows).
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderSize {
		return Ethernet{}, ErrTruncated
	}
	hlen := EthernetHeaderSize
	if binary.BigEndian.Uint16(b[12:14]) == EtherTypeVLAN {
		hlen += VLANTagSize
		if len(b) < hlen {
			return Ethernet{}, ErrTruncated
		}
	}
	return Ethernet{b: b, hlen: hlen}, nil
}

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e.b[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e.b[6:12]) }

// EtherType returns the payload's EtherType, past the VLAN tag if there is one.
func (e Ethernet) EtherType() uint16 {
	return binary.BigEndian.Uint16(e.b[e.hlen-2 : e.hlen])
}

// VLAN returns the 802.1Q tag control information, if the frame is tagged.
func (e Ethernet) VLAN() (tci uint16, ok bool) {
	if e.hlen == EthernetHeaderSize {
		return 0, false
	}
	return binary.BigEndian.Uint16(e.b[14:16]), true
}

// HeaderLen returns 14, or 18 with a VLAN tag.
func (e Ethernet) HeaderLen() int { return e.hlen }

// Payload returns the bytes after the header, including any trailing padding.
func (e Ethernet) Payload() []byte { return e.b[e.hlen:] }

// Fields decodes the header.
func (e Ethernet) Fields() EthernetFields {
	tci, ok := e.VLAN()
	return EthernetFields{
		Dst:       e.Dst(),
		Src:       e.Src(),
		EtherType: e.EtherType(),
		HasVLAN:   ok,
		VLAN:      tci,
	}
}

// EthernetHeaderLen returns the number of bytes EmitEthernet writes for f.
func EthernetHeaderLen(f *EthernetFields) int {
	if f.HasVLAN {
		return EthernetHeaderSize + VLANTagSize
	}
	return EthernetHeaderSize
}

// EmitEthernet writes f into b and returns EthernetHeaderLen(f).
func EmitEthernet(b []byte, f *EthernetFields) int {
	n := EthernetHeaderLen(f)
	_ = b[n-1]
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	if f.HasVLAN {
		binary.BigEndian.PutUint16(b[12:14], EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[14:16], f.VLAN)
	}
	binary.BigEndian.PutUint16(b[n-2:n], f.EtherType)
	return n
}
