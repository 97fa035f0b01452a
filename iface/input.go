package iface

import (
	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Input processes one received frame (Ethernet when L2, else a bare IPv4 or
// IPv6 packet).
//
// It answers ARP requests and neighbor solicitations for our addresses and
// learns from ARP (RFC 826) and NDP (RFC 4861), releasing packets that waited
// for the sender; it answers ICMP and ICMPv6 echo requests; it holds fragments
// until their datagram is whole (see Config.Reassembly*); frames it sends go to
// out. A TCP, UDP, ICMP or ICMPv6 (other than echo request and NDP) packet for
// us is returned with ok=true, described by in, after its transport checksum is
// verified (unless Config.RxChecksumTrusted, or frame.Meta.Checksum says the
// device verified it or it was never completed by a local sender; a
// reassembled datagram is always verified). An ICMP error about a packet we
// sent comes with in.Error set. Everything else is dropped and counted in
// Stats.
//
// The frame stays owned by the caller: Input neither releases nor keeps it, and
// in.Payload aliases it, or, for a reassembled datagram, in.Frame (see
// Inbound.Frame). Input does not allocate (the reassembly pool grows to its
// bound on first use).
func (i *Interface) Input(now clock.Instant, frame *pkt.Buffer, out Sender) (in Inbound, ok bool) {
	i.reasm.reclaim()
	i.st.RxFrames++
	b := frame.Bytes()
	off := 0
	var srcMAC wire.MAC
	linkBcast, linkMcast := false, false
	if i.l2 {
		eth, err := wire.ParseEthernet(b)
		if err != nil {
			i.st.RxBadEthernet++
			return in, false
		}
		if d := eth.Dst(); d != i.mac {
			switch {
			case d.IsBroadcast():
				linkBcast = true
			case d[0] == 0x33 && d[1] == 0x33 && len(i.addrs6) > 0:
				// IPv6 multicast (RFC 2464 §7); which groups are ours is
				// decided on the IPv6 destination.
				linkMcast = true
			default:
				// No other multicast groups are joined.
				i.st.RxNotOurMAC++
				return in, false
			}
		}
		srcMAC = eth.Src()
		if srcMAC.IsMulticast() {
			// IEEE 802: a source address is always an individual address.
			i.st.RxBadEthernet++
			return in, false
		}
		tci, tagged := eth.VLAN()
		if tagged != (i.vlan != 0) || (tagged && tci&0x0FFF != i.vlan) {
			i.st.RxVLAN++
			return in, false
		}
		off = eth.HeaderLen()
		switch eth.EtherType() {
		case wire.EtherTypeARP:
			i.inputARP(now, eth.Payload(), out)
			return in, false
		case wire.EtherTypeIPv4:
			if linkMcast {
				i.st.RxNotOurMAC++
				return in, false
			}
			b = eth.Payload()
		case wire.EtherTypeIPv6:
			if linkBcast {
				// IPv6 has no broadcast (RFC 4291 §2).
				i.st.RxNotOurMAC++
				return in, false
			}
			return i.inputIPv6(now, frame, eth.Payload(), off, frame.Meta.Checksum, srcMAC, linkMcast, out)
		default:
			i.st.RxUnsupported++
			return in, false
		}
	} else if len(b) > 0 && b[0]>>4 == 6 {
		return i.inputIPv6(now, frame, b, off, frame.Meta.Checksum, srcMAC, false, out)
	}
	return i.inputIPv4(now, frame, b, off, frame.Meta.Checksum, srcMAC, linkBcast, out)
}

func (i *Interface) inputIPv4(now clock.Instant, frame *pkt.Buffer, b []byte, off int, csum pkt.ChecksumState, srcMAC wire.MAC, linkBcast bool, out Sender) (in Inbound, ok bool) {
	if len(i.addrs) == 0 {
		i.st.RxUnsupported++
		return in, false
	}
	p, err := wire.ParseIPv4(b)
	if err != nil {
		if err == wire.ErrChecksum {
			i.st.RxBadIPChecksum++
		} else {
			i.st.RxBadIP++
		}
		return in, false
	}
	src, dst := v4(p.Src()), v4(p.Dst())
	bcast := false
	if !i.ownAddr(dst) {
		if !i.broadcastAddr(dst) {
			// No forwarding (RFC 1122 §3.3.1 is for routers) and no multicast groups.
			i.st.RxNotForUs++
			return in, false
		}
		bcast = true
	} else if linkBcast {
		// RFC 1122 §3.3.6: a unicast datagram in a link-layer broadcast is bogus
		// (and a classic way to make every host on a segment answer).
		i.st.RxBroadcast++
		return in, false
	}
	if i.martianSource(src) {
		i.st.RxMartian++
		return in, false
	}
	var whole *pkt.Buffer
	if p.IsFragment() {
		i.st.RxFragments++
		k := i.reassemble4(now, p, frame.Bytes()[:off])
		if k < 0 {
			return in, false
		}
		// The datagram is whole: carry on with it in place of the fragment.
		whole = i.reasm.slots[k].buf
		if p, err = wire.ParseIPv4(whole.Bytes()[i.ethLen:]); err != nil {
			i.st.RxBadIP++ // reassemble4 builds a valid header: not reached
			return in, false
		}
		csum = pkt.ChecksumUnknown // nobody verified the whole
	}
	proto := p.Protocol()
	payload := p.Payload()
	trusted := whole == nil && (i.trustRx || csum == pkt.ChecksumVerified || csum == pkt.ChecksumPartial)
	switch proto {
	case wire.ProtoTCP:
		// RFC 1122 §4.2.3.10: a SYN to a broadcast or multicast address must be
		// ignored; no TCP segment can belong to a connection with one.
		if bcast {
			i.st.RxBroadcast++
			return in, false
		}
		if src == 0 {
			i.st.RxMartian++
			return in, false
		}
		if len(payload) < wire.TCPHeaderSize || (!trusted && !wire.TCPChecksumValid(payload, p.Src(), p.Dst())) {
			i.st.RxBadTransport++
			return in, false
		}
	case wire.ProtoUDP:
		// 0.0.0.0 is a legal UDP source (a DHCP client before it has an address).
		u, err := wire.ParseUDP(payload)
		if err != nil || (!trusted && !wire.UDPChecksumValid(u.Bytes(), p.Src(), p.Dst())) {
			i.st.RxBadTransport++
			return in, false
		}
	case wire.ProtoICMP:
		if bcast {
			// Echo to broadcast is a smurf amplifier (RFC 1122 §3.2.2.6 lets hosts
			// ignore it), and no ICMP error is legitimately sent to a broadcast
			// address (RFC 1122 §3.2.2).
			i.st.RxBroadcast++
			return in, false
		}
		if src == 0 {
			i.st.RxMartian++
			return in, false
		}
		// ICMP checksums are never offloaded: always verified (RFC 1122 §3.2.2).
		m, err := wire.ParseICMPv4(payload)
		if err != nil {
			i.st.RxBadTransport++
			return in, false
		}
		switch m.Type() {
		case wire.ICMPv4EchoRequest:
			i.st.ICMPEchoRequests++
			i.echoReply(p, m, srcMAC, out)
			return in, false
		case wire.ICMPv4DestUnreachable, wire.ICMPv4TimeExceeded, icmpv4ParamProblem:
			e, ok := i.icmpError4(p, m)
			if !ok {
				i.st.RxBadICMPError++
				return in, false
			}
			in.Error = e
		}
	default:
		// RFC 1122 §3.2.2.1: a host SHOULD answer with protocol unreachable
		// (rate limited; never about a broadcast, RFC 1122 §3.2.2).
		i.st.RxUnknownProto++
		if !bcast && src != 0 {
			i.sendUnreachable(now, p, srcMAC, wire.ICMPv4ProtoUnreachable, out)
		}
		return in, false
	}
	i.st.Delivered++
	if whole != nil {
		i.st.ReasmDelivered++
	}
	return Inbound{
		Proto:         proto,
		Src:           p.Src(),
		Dst:           p.Dst(),
		TTL:           p.TTL(),
		TOS:           p.TOS(),
		Broadcast:     bcast,
		Payload:       payload,
		PayloadOffset: off + p.HeaderLen(),
		IPOffset:      off,
		Frame:         whole,
		Error:         in.Error,
	}, true
}

// echoReply answers an ICMP echo request (RFC 792; RFC 1122 §3.2.2.6: same
// identifier, sequence and data, source address = the request's specific
// destination). The reply goes straight back to the frame's source MAC, which
// is the requester or the router that brought the request, so no ARP is needed.
func (i *Interface) echoReply(req wire.IPv4, m wire.ICMPv4, srcMAC wire.MAC, out Sender) {
	body := m.Body()
	ipLen := wire.IPv4HeaderSize + wire.ICMPv4HeaderSize + len(body)
	if ipLen > i.mtu {
		// The request was larger than our MTU (a super-frame, or a misconfigured
		// peer); a reply would need fragmentation, which we do not do.
		i.st.TxTooBig++
		return
	}
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return
	}
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + ipLen)
	if i.l2 {
		i.emitEth(f, srcMAC, wire.EtherTypeIPv4)
	}
	src, dst := v4(req.Dst()), v4(req.Src())
	ip := f[i.ethLen:]
	wire.EmitIPv4(ip, &wire.IPv4Fields{
		TOS:        req.TOS(),
		ID:         i.nextID(src, dst, wire.ProtoICMP),
		TTL:        i.ttl,
		Protocol:   wire.ProtoICMP,
		Src:        req.Dst(),
		Dst:        req.Src(),
		PayloadLen: wire.ICMPv4HeaderSize + len(body),
	})
	wire.EmitICMPv4(ip[wire.IPv4HeaderSize:], &wire.ICMPv4Fields{
		Type: wire.ICMPv4EchoReply,
		ID:   m.ID(),
		Seq:  m.Seq(),
	}, body)
	i.st.ICMPEchoReplies++
	i.send(rb, out)
}

// emitEth writes our Ethernet header (with our VLAN tag, if any) into f.
func (i *Interface) emitEth(f []byte, dst wire.MAC, etherType uint16) {
	wire.EmitEthernet(f, &wire.EthernetFields{
		Dst:       dst,
		Src:       i.mac,
		EtherType: etherType,
		HasVLAN:   i.vlan != 0,
		VLAN:      i.vlan,
	})
}

func (i *Interface) send(buf *pkt.Buffer, out Sender) {
	i.st.TxFrames++
	out.SendFrame(buf)
}
