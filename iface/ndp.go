package iface

import (
	"net/netip"

	"offload/clock"
	"offload/wire"
)

// NDP (RFC 4861) over the neighbour cache ARP uses, with the same bounds,
// queues, retries and expiry. The cache's three states stand for RFC 4861's
// five: INCOMPLETE is neighIncomplete; REACHABLE is neighReachable; STALE and
// DELAY are folded into neighReachable past its expiry (the old address keeps
// being used, and re-confirmation starts when a packet is sent, as for ARP);
// PROBE is neighProbe (unicast solicitations). An entry learned from a
// solicitation's source link-layer option is made reachable rather than
// STALE: it is re-confirmed on expiry like any other. Duplicate Address
// Detection (RFC 4862 §5.4) is not performed for our addresses (they are
// configured, not autoconfigured); an advertisement for one of them is counted
// in NDPConflicts. Router and redirect messages are not acted on (routes are
// configured), and MLD reports are not sent: the groups we listen to are
// all-nodes and our solicited-node groups, which switches without MLD snooping
// flood anyway.

// inputNDP handles a neighbor solicitation or advertisement whose ICMPv6
// checksum was verified.
func (i *Interface) inputNDP(now clock.Instant, p wire.IPv6, m wire.ICMPv6, srcMAC wire.MAC, mcast bool, out Sender) {
	// RFC 4861 §7.1.1/§7.1.2: a hop limit of 255 proves the message was not
	// forwarded by a router, i.e. was sent on this link.
	if !i.l2 || p.HopLimit() != 255 {
		i.st.RxBadNDP++
		return
	}
	nd, err := wire.ParseNDP(m) // code 0, length, target not multicast, option lengths
	if err != nil {
		i.st.RxBadNDP++
		return
	}
	if nd.HasLinkAddr && (nd.LinkAddr.IsMulticast() || nd.LinkAddr == (wire.MAC{}) || nd.LinkAddr == i.mac) {
		i.st.RxBadNDP++
		return
	}
	src := p.Src()
	if nd.Type == wire.ICMPv6NeighborSolicitation {
		if src.IsUnspecified() && (!mcast || key6(p.Dst()) != solicitedNode(key6(nd.Target)) || nd.HasLinkAddr) {
			// §7.1.1: a DAD probe goes to the target's solicited-node group and
			// carries no source link-layer address.
			i.st.RxBadNDP++
			return
		}
		i.st.NDPSolicitsIn++
		i.inputNS(now, src, nd, srcMAC, out)
		return
	}
	if mcast && nd.Solicited {
		// §7.1.2: a solicited advertisement is never multicast.
		i.st.RxBadNDP++
		return
	}
	i.st.NDPAdvertsIn++
	i.inputNA(now, nd, out)
}

// inputNS answers a solicitation for one of our addresses and learns the
// solicitor's link-layer address (RFC 4861 §7.2.3, §7.2.4).
func (i *Interface) inputNS(now clock.Instant, src netip.Addr, nd wire.NDPFields, srcMAC wire.MAC, out Sender) {
	tk := key6(nd.Target)
	if !i.own6(tk) {
		return // not for us: silently ignored (§7.2.3)
	}
	dst, dstMAC, solicited := src, srcMAC, true
	if src.IsUnspecified() {
		// §7.2.4: answer a DAD probe to all-nodes, unsolicited (the prober
		// will find its address taken).
		dst, dstMAC, solicited = allNodes, multicastMAC6(allNodesKey), false
	} else if nd.HasLinkAddr {
		dstMAC = nd.LinkAddr
		if i.learnable6(src) {
			sk := key6(src)
			k := i.neigh.find(sk)
			if k == nilIdx {
				k = i.insertNeighbor(sk, neighReachable)
			}
			i.confirm(now, k, nd.LinkAddr, out)
		}
	}
	i.sendNA(tk, dst, dstMAC, solicited, out)
}

// inputNA updates the cache from an advertisement (RFC 4861 §7.2.5): it never
// creates an entry; an incomplete entry takes the target link-layer address
// and sends what waited; a known entry changes address only when the Override
// flag says so, and is confirmed only by a solicited advertisement.
func (i *Interface) inputNA(now clock.Instant, nd wire.NDPFields, out Sender) {
	tk := key6(nd.Target)
	if i.own6(tk) {
		i.st.NDPConflicts++
		return
	}
	k := i.neigh.find(tk)
	if k == nilIdx {
		return
	}
	e := &i.neigh.ents[k]
	if e.state == neighIncomplete {
		if nd.HasLinkAddr {
			i.confirm(now, k, nd.LinkAddr, out)
		}
		return
	}
	changed := nd.HasLinkAddr && nd.LinkAddr != wire.MAC(e.mac)
	if changed && !nd.Override {
		return // §7.2.5: keep the address we have
	}
	if changed {
		e.mac = nd.LinkAddr
	}
	if nd.Solicited {
		i.confirm(now, k, e.mac, out)
	}
}

// sendNS sends a neighbor solicitation for target from our address src (RFC
// 4861 §7.2.2): to the target's solicited-node group while resolving, to the
// target itself at mac while re-confirming; always with our link-layer address.
func (i *Interface) sendNS(src, target nkey, unicast bool, mac wire.MAC, out Sender) {
	dst, dstMAC := solicitedNode(target), multicastMAC6(solicitedNode(target))
	if unicast {
		dst, dstMAC = target, mac
	}
	nd := wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: netip.AddrFrom16(target), HasLinkAddr: true, LinkAddr: i.mac}
	if i.sendNDP(&nd, src, dst, dstMAC, out) {
		i.st.NDPSolicitsOut++
	}
}

// sendNA advertises our address target (RFC 4861 §7.2.4): override set, with
// our link-layer address.
func (i *Interface) sendNA(target nkey, dst netip.Addr, dstMAC wire.MAC, solicited bool, out Sender) {
	nd := wire.NDPFields{
		Type:        wire.ICMPv6NeighborAdvertisement,
		Solicited:   solicited,
		Override:    true,
		Target:      netip.AddrFrom16(target),
		HasLinkAddr: true,
		LinkAddr:    i.mac,
	}
	if i.sendNDP(&nd, target, key6(dst), dstMAC, out) {
		i.st.NDPAdvertsOut++
	}
}

func (i *Interface) sendNDP(nd *wire.NDPFields, src, dst nkey, dstMAC wire.MAC, out Sender) bool {
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return false
	}
	n := wire.NDPSize(nd)
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + wire.IPv6HeaderSize + n)
	i.emitEth(f, dstMAC, wire.EtherTypeIPv6)
	s, d := netip.AddrFrom16(src), netip.AddrFrom16(dst)
	ip := f[i.ethLen:]
	wire.EmitIPv6(ip, &wire.IPv6Fields{PayloadLen: uint16(n), NextHeader: wire.ProtoICMPv6, HopLimit: 255, Src: s, Dst: d})
	wire.EmitNDP(ip[wire.IPv6HeaderSize:], nd, s, d)
	i.send(rb, out)
	return true
}
