package iface

import (
	"fmt"
	"net/netip"

	"offload/wire"
)

// ifAddr6 is one of our IPv6 addresses with its on-link prefix.
type ifAddr6 struct {
	pfx       netip.Prefix // our address and its prefix length (not masked)
	key       nkey
	linkLocal bool
	derived   bool // the link-local address New added from the MAC
	snm       nkey // its solicited-node multicast group (RFC 4291 §2.7.1)
}

var (
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesKey = key6(allNodes)
	llPrefix    = netip.MustParsePrefix("fe80::/10")
)

// checkAddr6 refuses an IPv6 prefix that cannot be an interface address.
func checkAddr6(p netip.Prefix) error {
	a := p.Addr()
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.Is4In6() {
		return fmt.Errorf("iface: %v is not a usable unicast address", a)
	}
	return nil
}

// solicitedNode returns the solicited-node multicast address of a: ff02::1:ff
// followed by a's low 24 bits (RFC 4291 §2.7.1).
func solicitedNode(a nkey) nkey {
	return nkey{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// multicastMAC6 maps an IPv6 multicast address to its Ethernet group address:
// 33:33 followed by the low 32 bits (RFC 2464 §7).
func multicastMAC6(a nkey) wire.MAC { return wire.MAC{0x33, 0x33, a[12], a[13], a[14], a[15]} }

// linkLocalFromMAC derives fe80::/64 with a modified EUI-64 interface
// identifier: the MAC with ff:fe in the middle and the universal/local bit
// inverted (RFC 4291 §2.5.1 and App. A, RFC 2464 §4-5).
func linkLocalFromMAC(m wire.MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]})
}

// initIPv6 records our IPv6 addresses, derives the link-local one and checks
// Gateway6.
func (i *Interface) initIPv6(ps []netip.Prefix) error {
	g := i.cfg.Gateway6
	if len(ps) == 0 {
		if g.IsValid() {
			return fmt.Errorf("iface: IPv6 gateway %v needs an IPv6 address", g)
		}
		return nil
	}
	for _, p := range ps {
		i.addrs6 = append(i.addrs6, newIfAddr6(p, false))
	}
	for k := range i.addrs6 {
		if i.addrs6[k].linkLocal {
			i.ll = i.addrs6[k].pfx.Addr()
			break
		}
	}
	if !i.ll.IsValid() && i.cfg.L2 {
		i.ll = linkLocalFromMAC(i.cfg.HardwareAddr)
		i.addrs6 = append(i.addrs6, newIfAddr6(netip.PrefixFrom(i.ll, 64), true))
	}
	if g.IsValid() {
		if g.Zone() != "" || !g.Is6() || g.Is4In6() || g.IsMulticast() || g.IsUnspecified() || g.IsLoopback() || i.own6(key6(g)) {
			return fmt.Errorf("iface: IPv6 gateway %v is not a usable unicast neighbour", g)
		}
		i.gw6, i.hasGW6 = g, true
	}
	return nil
}

func newIfAddr6(p netip.Prefix, derived bool) ifAddr6 {
	k := key6(p.Addr())
	return ifAddr6{pfx: p, key: k, linkLocal: llPrefix.Contains(p.Addr()), derived: derived, snm: solicitedNode(k)}
}

// own6 reports whether k is one of our IPv6 unicast addresses.
func (i *Interface) own6(k nkey) bool {
	for j := range i.addrs6 {
		if i.addrs6[j].key == k {
			return true
		}
	}
	return false
}

// joined6 reports whether k is a multicast group we listen to: all-nodes and
// the solicited-node groups of our addresses (RFC 4861 §7.2.1; no MLD is sent,
// which a switch without MLD snooping does not need).
func (i *Interface) joined6(k nkey) bool {
	if k == allNodesKey {
		return true
	}
	for j := range i.addrs6 {
		if i.addrs6[j].snm == k {
			return true
		}
	}
	return false
}

// prefixOf6 returns the index of our address with the longest on-link prefix
// holding a, or -1.
func (i *Interface) prefixOf6(a netip.Addr) int {
	best, bits := -1, -1
	for j := range i.addrs6 {
		if p := i.addrs6[j].pfx; p.Bits() > bits && p.Contains(a) {
			best, bits = j, p.Bits()
		}
	}
	return best
}

// global6 returns our first address that is not link-local, if any.
func (i *Interface) global6() (netip.Addr, bool) {
	for j := range i.addrs6 {
		if !i.addrs6[j].linkLocal {
			return i.addrs6[j].pfx.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// src6For picks our source address for talking to the on-link neighbour a:
// the address of the longest matching prefix, else link-local (RFC 6724's
// scope rule, reduced to what one interface needs).
func (i *Interface) src6For(a netip.Addr) netip.Addr {
	if j := i.prefixOf6(a); j >= 0 {
		return netip.AddrFrom16(i.addrs6[j].key)
	}
	if i.ll.IsValid() {
		return i.ll
	}
	return netip.AddrFrom16(i.addrs6[0].key)
}

// learnable6 reports whether a neighbour at a may enter the cache: a unicast
// address that is on-link (in one of our prefixes, link-local, or the default
// router) and not ours.
func (i *Interface) learnable6(a netip.Addr) bool {
	if !a.Is6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Is4In6() || i.own6(key6(a)) {
		return false
	}
	return llPrefix.Contains(a) || i.prefixOf6(a) >= 0 || (i.hasGW6 && a == i.gw6)
}

// route6 picks the source address and next hop for an IPv6 destination:
// link-local and multicast destinations are on-link (multicast leaves from the
// link-local address when it is link-scoped); the longest matching on-link
// prefix sends directly from its address; anything else goes to Gateway6 from
// the first global address. There is no route to ::, ::1, IPv4-mapped
// addresses or our own addresses.
func (i *Interface) route6(dst netip.Addr) (src, nextHop netip.Addr, ok bool) {
	dst = dst.WithZone("")
	if len(i.addrs6) == 0 || dst.IsUnspecified() || dst.IsLoopback() || dst.Is4In6() || i.own6(key6(dst)) {
		return netip.Addr{}, netip.Addr{}, false
	}
	if dst.IsMulticast() {
		switch {
		case dst.IsInterfaceLocalMulticast():
			return netip.Addr{}, netip.Addr{}, false // never leaves the node (RFC 4291 §2.7)
		case dst.IsLinkLocalMulticast():
			return i.src6For(dst), dst, true
		}
		if g, ok := i.global6(); ok {
			return g, dst, true
		}
		return i.src6For(dst), dst, true
	}
	if llPrefix.Contains(dst) {
		if !i.ll.IsValid() {
			return netip.Addr{}, netip.Addr{}, false
		}
		return i.ll, dst, true
	}
	if j := i.prefixOf6(dst); j >= 0 {
		return netip.AddrFrom16(i.addrs6[j].key), dst, true
	}
	if i.hasGW6 {
		if g, ok := i.global6(); ok {
			return g, i.gw6, true
		}
	}
	return netip.Addr{}, netip.Addr{}, false
}
