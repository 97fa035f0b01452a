package wire

import (
	"encoding/binary"
	"net/netip"
)

// ARP operation codes (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARPSize is the size of an ARP packet for Ethernet and IPv4.
const ARPSize = 28

const arpHWEthernet = 1 // hardware type for Ethernet (IANA ARP parameters)

// ARPFields is an ARP packet for IPv4 over Ethernet (RFC 826).
type ARPFields struct {
	Op        uint16
	SenderMAC MAC
	SenderIP  netip.Addr
	TargetMAC MAC
	TargetIP  netip.Addr
}

// ParseARP decodes an ARP packet. Only Ethernet hardware addresses and IPv4
// protocol addresses are accepted (anything else is ErrMalformed); the operation is
// returned as is, so the caller decides what to do with codes other than request
// and reply. Bytes after the 28-byte packet (Ethernet padding) are ignored.
func ParseARP(b []byte) (ARPFields, error) {
	if len(b) < ARPSize {
		return ARPFields{}, ErrTruncated
	}
	b = b[:ARPSize]
	if binary.BigEndian.Uint16(b[0:2]) != arpHWEthernet ||
		binary.BigEndian.Uint16(b[2:4]) != EtherTypeIPv4 ||
		b[4] != 6 || b[5] != 4 {
		return ARPFields{}, ErrMalformed
	}
	return ARPFields{
		Op:        binary.BigEndian.Uint16(b[6:8]),
		SenderMAC: MAC(b[8:14]),
		SenderIP:  netip.AddrFrom4([4]byte(b[14:18])),
		TargetMAC: MAC(b[18:24]),
		TargetIP:  netip.AddrFrom4([4]byte(b[24:28])),
	}, nil
}

// EmitARP writes f into b (at least ARPSize bytes) and returns ARPSize. SenderIP and
// TargetIP must be IPv4 addresses; an invalid (zero) Addr is written as 0.0.0.0,
// as in an ARP probe's sender address (RFC 5227 §2.1.1).
func EmitARP(b []byte, f *ARPFields) int {
	_ = b[ARPSize-1]
	binary.BigEndian.PutUint16(b[0:2], arpHWEthernet)
	binary.BigEndian.PutUint16(b[2:4], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], f.Op)
	copy(b[8:14], f.SenderMAC[:])
	putIPv4(b[14:18], f.SenderIP)
	copy(b[18:24], f.TargetMAC[:])
	putIPv4(b[24:28], f.TargetIP)
	return ARPSize
}

// putIPv4 writes a as 4 bytes. The zero Addr is written as 0.0.0.0; an IPv6
// address is a programming error and panics (netip.Addr.As4).
func putIPv4(b []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(b[:4])
		return
	}
	v := a.As4()
	copy(b[:4], v[:])
}
