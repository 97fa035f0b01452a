package iface

import (
	"encoding/binary"
	"net/netip"
)

// ifAddr is one of our IPv4 addresses with its connected subnet, precomputed as
// integers so routing and address checks are a few compares.
type ifAddr struct {
	addr  uint32
	bits  int
	mask  uint32
	net   uint32
	bcast uint32 // directed broadcast; only meaningful when hasBcast
	// hasBcast: /31 (RFC 3021) and /32 subnets have no network or broadcast address.
	hasBcast bool
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addrFrom(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

func newIfAddr(p netip.Prefix) ifAddr {
	a := ifAddr{addr: v4(p.Addr()), bits: p.Bits()}
	if a.bits > 0 {
		a.mask = ^uint32(0) << (32 - a.bits)
	}
	a.net = a.addr & a.mask
	a.bcast = a.net | ^a.mask
	a.hasBcast = a.bits <= 30
	return a
}

func (a *ifAddr) contains(u uint32) bool { return u&a.mask == a.net }

const limitedBroadcast = 0xFFFFFFFF

// isMulticast4 reports 224.0.0.0/4 (RFC 5771).
func isMulticast4(u uint32) bool { return u>>28 == 0xE }

// ownAddr reports whether u is one of our addresses.
func (i *Interface) ownAddr(u uint32) bool {
	for k := range i.addrs {
		if i.addrs[k].addr == u {
			return true
		}
	}
	return false
}

// broadcastAddr reports whether u is the limited broadcast address or the
// directed broadcast address of one of our subnets (RFC 919, RFC 922).
func (i *Interface) broadcastAddr(u uint32) bool {
	if u == limitedBroadcast {
		return true
	}
	for k := range i.addrs {
		if a := &i.addrs[k]; a.hasBcast && a.bcast == u {
			return true
		}
	}
	return false
}

// martianSource reports a source address no host may use (RFC 1122 §3.2.1.3):
// broadcast, multicast, loopback, class E reserved, "this network" 0.0.0.0/8
// other than 0.0.0.0 itself, or one of our own addresses (our own packets
// reflected back, or spoofed). 0.0.0.0 is judged by the caller, since it is
// legal for some protocols (a DHCP client's UDP).
func (i *Interface) martianSource(u uint32) bool {
	return i.broadcastAddr(u) || isMulticast4(u) || u>>24 == 127 || u>>28 == 0xF ||
		(u>>24 == 0 && u != 0) || i.ownAddr(u)
}

// subnetOf returns the index of our address with the longest prefix containing
// u, or -1.
func (i *Interface) subnetOf(u uint32) int {
	best, bestBits := -1, -1
	for k := range i.addrs {
		a := &i.addrs[k]
		if a.contains(u) && a.bits > bestBits {
			best, bestBits = k, a.bits
		}
	}
	return best
}

// learnable reports whether a neighbour at u may enter the cache: a unicast
// address inside one of our subnets that is not ours (RFC 826 only needs
// entries for hosts we can reach directly).
func (i *Interface) learnable(u uint32) bool {
	if u>>24 == 0 || u>>24 == 127 || isMulticast4(u) || i.broadcastAddr(u) || i.ownAddr(u) {
		return false
	}
	k := i.subnetOf(u)
	if k < 0 {
		return u == i.gw && i.hasGW // an on-link gateway outside every subnet
	}
	a := &i.addrs[k]
	return !a.hasBcast || u != a.net
}

// route picks the source address and next hop for dst (all IPv4 as integers).
func (i *Interface) route(dst uint32) (src, nextHop uint32, ok bool) {
	// RFC 1122 §3.2.1.3: 0.0.0.0/8 ("this network") is never a destination.
	if len(i.addrs) == 0 || dst>>24 == 0 || dst>>24 == 127 || i.ownAddr(dst) {
		return 0, 0, false
	}
	if dst == limitedBroadcast || isMulticast4(dst) {
		// Link-local by nature: the first address speaks for the interface.
		return i.addrs[0].addr, dst, true
	}
	if k := i.subnetOf(dst); k >= 0 {
		a := &i.addrs[k]
		if a.hasBcast && dst == a.net {
			// The network address names the subnet, not a host (RFC 1122 §3.2.1.3).
			return 0, 0, false
		}
		return a.addr, dst, true
	}
	if i.hasGW {
		return i.gwSrc, i.gw, true
	}
	return 0, 0, false
}

// Route selects the source address and next hop for a packet to dst: the
// longest matching connected subnet sends directly with that subnet's address as
// source; anything else goes to the default gateway, if configured. Limited
// broadcast and multicast go out directly from the first address. There is no
// route to the unspecified address, loopback, a subnet's network address, or
// our own addresses (the stack loops packets to itself back without the
// interface). IPv6 destinations follow route6's rules.
func (i *Interface) Route(dst netip.Addr) (src, nextHop netip.Addr, ok bool) {
	dst = dst.Unmap()
	if dst.Is6() {
		return i.route6(dst)
	}
	if !dst.Is4() {
		return netip.Addr{}, netip.Addr{}, false
	}
	s, nh, ok := i.route(v4(dst))
	if !ok {
		return netip.Addr{}, netip.Addr{}, false
	}
	return addrFrom(s), addrFrom(nh), true
}

// HasAddr reports whether a is one of the interface's addresses (the derived
// IPv6 link-local address included; zones are ignored).
func (i *Interface) HasAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() {
		return i.own6(key6(a))
	}
	return a.Is4() && i.ownAddr(v4(a))
}

// Addrs returns the interface's addresses with their prefixes: the configured
// ones, then the derived IPv6 link-local address if one was added.
func (i *Interface) Addrs() []netip.Prefix {
	a := append([]netip.Prefix(nil), i.cfg.Addrs...)
	for k := range i.addrs6 {
		if i.addrs6[k].derived {
			a = append(a, i.addrs6[k].pfx)
		}
	}
	return a
}
