package iface

import (
	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// inputIPv6 handles an IPv6 packet (RFC 8200). off is where it starts in the
// frame; linkMcast says it came in an Ethernet multicast frame.
func (i *Interface) inputIPv6(now clock.Instant, frame *pkt.Buffer, b []byte, off int, csum pkt.ChecksumState, srcMAC wire.MAC, linkMcast bool, out Sender) (in Inbound, ok bool) {
	if len(i.addrs6) == 0 {
		i.st.RxUnsupported++
		return in, false
	}
	p, err := wire.ParseIPv6(b)
	if err != nil {
		i.st.RxBadIP++
		return in, false
	}
	raw := p.Bytes()
	dk := nkey(raw[24:40])
	mcast := false
	if !i.own6(dk) {
		if !i.joined6(dk) {
			i.st.RxNotForUs++
			return in, false
		}
		mcast = true
	} else if linkMcast {
		// A unicast destination in a link-layer multicast frame: as for IPv4
		// (RFC 1122 §3.3.6), someone is trying to make every host answer.
		i.st.RxBroadcast++
		return in, false
	}
	src := p.Src()
	// RFC 4291 §2.5.2, §2.5.3, §2.7: no packet comes from a multicast or
	// loopback address; IPv4-mapped sources are a known spoofing vector (RFC
	// 4942 §2.1.4); our own address coming back is a reflection or a spoof.
	// The unspecified source is judged later: only DAD solicitations use it.
	if src.IsMulticast() || src.IsLoopback() || src.Is4In6() || i.own6(nkey(raw[8:24])) {
		i.st.RxMartian++
		return in, false
	}
	return i.upper6(now, p, frame.Bytes()[:off], off, csum, srcMAC, mcast, nil, out)
}

// extVerdict says what walk6 found.
type extVerdict uint8

const (
	extOK       extVerdict = iota
	extDrop                // drop silently
	extParamErr            // drop and send a parameter problem (code, pointer)
)

// walk6 walks the extension headers of p (RFC 8200 §4) up to the upper-layer
// header, the first non-atomic fragment header, or a reason to drop. It
// returns the header type reached, its offset in p.Bytes(), the offset of the
// next-header byte that named it, and, for a fragment header, the offset of
// the fragment header itself (reported as proto 44).
//
// Hop-by-hop and destination options are checked (RFC 8200 §4.2): an unknown
// option is skipped or makes us drop the packet, with or without a parameter
// problem, as the two high bits of its type say. A routing header with
// segments left is dropped: only a router may act on it (RFC 8200 §4.4; type 0
// is deprecated anyway, RFC 5095). An atomic fragment (RFC 6946) is stepped
// over: the packet is whole.
func (i *Interface) walk6(p wire.IPv6, mcast bool) (proto uint8, at, nhAt int, v extVerdict, code uint8, ptr uint32) {
	b := p.Bytes()
	proto, at, nhAt = p.NextHeader(), wire.IPv6HeaderSize, 6
	for n := 0; ; n++ {
		switch proto {
		case wire.IPv6HopByHop, wire.IPv6DestOptions, wire.IPv6Routing, wire.IPv6Fragment:
		default:
			return proto, at, nhAt, extOK, 0, 0
		}
		if n == 8 || (proto == wire.IPv6HopByHop && n != 0) || len(b)-at < 8 {
			// More than 8 headers is an attack, not a packet; hop-by-hop must
			// come first (RFC 8200 §4.3).
			return proto, at, nhAt, extDrop, 0, 0
		}
		h := b[at:]
		size := (int(h[1]) + 1) * 8
		switch proto {
		case wire.IPv6Fragment:
			fh, _ := wire.ParseIPv6Fragment(h)
			if !fh.IsAtomic() {
				return proto, at, nhAt, extOK, 0, 0
			}
			i.st.FragAtomic++
			size = wire.IPv6FragmentHeaderSize
		case wire.IPv6Routing:
			if size > len(h) {
				return proto, at, nhAt, extDrop, 0, 0
			}
			if h[3] != 0 {
				return proto, at, nhAt, extDrop, 0, 0
			}
		default:
			if size > len(h) {
				return proto, at, nhAt, extDrop, 0, 0
			}
			if v, optAt := checkOptions(h[2:size]); v != extOK {
				if v == extParamErr || (v == extParamErr+1 && !mcast) {
					return proto, at, nhAt, extParamErr, 2, uint32(at + 2 + optAt)
				}
				return proto, at, nhAt, extDrop, 0, 0
			}
		}
		proto, nhAt, at = h[0], at, at+size
	}
}

// checkOptions walks the TLV options of a hop-by-hop or destination-options
// header (RFC 8200 §4.2). It returns extOK, or the action an unrecognised
// option asks for (extDrop; extParamErr; extParamErr+1: parameter problem
// unless the destination was multicast) with the option's offset. Pad1, PadN
// and router alert (RFC 2711, meaningless to a host) are the options we know.
func checkOptions(o []byte) (extVerdict, int) {
	for k := 0; k < len(o); {
		t := o[k]
		if t == 0 { // Pad1
			k++
			continue
		}
		if len(o)-k < 2 || int(o[k+1]) > len(o)-k-2 {
			return extDrop, k
		}
		if t != 1 && t != 5 {
			switch t >> 6 {
			case 1:
				return extDrop, k
			case 2:
				return extParamErr, k
			case 3:
				return extParamErr + 1, k
			}
		}
		k += 2 + int(o[k+1])
	}
	return extOK, 0
}

// upper6 delivers or consumes an IPv6 packet addressed to us once its
// addresses have passed: extension headers, reassembly, then the transport.
// whole is nil, or the reassembly buffer p lives in.
func (i *Interface) upper6(now clock.Instant, p wire.IPv6, link []byte, off int, csum pkt.ChecksumState, srcMAC wire.MAC, mcast bool, whole *pkt.Buffer, out Sender) (in Inbound, ok bool) {
	proto, at, nhAt, v, code, ptr := i.walk6(p, mcast)
	switch v {
	case extParamErr:
		i.sendICMPv6Error(now, p, srcMAC, wire.ICMPv6ParamProblem, code, ptr, out)
		fallthrough
	case extDrop:
		i.st.RxExtHeader++
		return in, false
	}
	b := p.Bytes()
	if proto == wire.IPv6Fragment {
		if whole != nil {
			// A fragment header inside a reassembled packet: nested fragmentation
			// is not a thing any sender does.
			i.st.RxExtHeader++
			return in, false
		}
		i.st.RxFragments++
		fh, _ := wire.ParseIPv6Fragment(b[at:])
		k := i.reassemble6(now, p, fh, b[at+wire.IPv6FragmentHeaderSize:], at-wire.IPv6HeaderSize, link)
		if k < 0 {
			return in, false
		}
		whole = i.reasm.slots[k].buf
		p, err := wire.ParseIPv6(whole.Bytes()[i.ethLen:])
		if err != nil {
			i.st.RxBadIP++ // reassemble6 builds a valid header: not reached
			return in, false
		}
		return i.upper6(now, p, link, i.ethLen, pkt.ChecksumUnknown, srcMAC, mcast, whole, out)
	}
	src, dst := p.Src(), p.Dst()
	payload := b[at:]
	if src.IsUnspecified() && !(proto == wire.ProtoICMPv6 && len(payload) > 0 && payload[0] == wire.ICMPv6NeighborSolicitation) {
		// RFC 4291 §2.5.2: only a node still verifying its address (DAD) may
		// send from ::.
		i.st.RxMartian++
		return in, false
	}
	trusted := whole == nil && (i.trustRx || csum == pkt.ChecksumVerified || csum == pkt.ChecksumPartial)
	switch proto {
	case wire.ProtoTCP:
		if mcast {
			i.st.RxBroadcast++
			return in, false
		}
		if len(payload) < wire.TCPHeaderSize || (!trusted && !wire.TCPChecksumValid(payload, src, dst)) {
			i.st.RxBadTransport++
			return in, false
		}
	case wire.ProtoUDP:
		// A zero UDP checksum is invalid over IPv6 (RFC 8200 §8.1).
		u, err := wire.ParseUDP(payload)
		if err != nil || (!trusted && !wire.UDPChecksumValid(u.Bytes(), src, dst)) {
			i.st.RxBadTransport++
			return in, false
		}
	case wire.ProtoICMPv6:
		// ICMPv6 checksums are always verified (they cover the pseudo-header).
		m, err := wire.ParseICMPv6(payload, src, dst)
		if err != nil {
			i.st.RxBadTransport++
			return in, false
		}
		switch m.Type() {
		case wire.ICMPv6NeighborSolicitation, wire.ICMPv6NeighborAdvertisement:
			i.inputNDP(now, p, m, srcMAC, mcast, out)
			return in, false
		case wire.ICMPv6EchoRequest:
			if mcast {
				// RFC 4443 §4.1 allows answering multicast echo, but a
				// request to all-nodes is an amplifier: like IPv4's smurf rule.
				i.st.RxBroadcast++
				return in, false
			}
			i.st.ICMPEchoRequests++
			i.echoReply6(p, m, srcMAC, out)
			return in, false
		case wire.ICMPv6DestUnreachable, wire.ICMPv6PacketTooBig, wire.ICMPv6TimeExceeded, wire.ICMPv6ParamProblem:
			if mcast {
				i.st.RxBroadcast++
				return in, false
			}
			e, ok := i.icmpError6(dst, m)
			if !ok {
				i.st.RxBadICMPError++
				return in, false
			}
			in.Error = e
		}
	case wire.IPv6NoNextHeader:
		i.st.RxUnknownProto++
		return in, false
	default:
		// RFC 8200 §4: an unrecognised next header gets a parameter problem,
		// code 1, pointing at the field that named it (rate limited, never
		// about multicast, RFC 4443 §2.4).
		i.st.RxUnknownProto++
		if !mcast {
			i.sendICMPv6Error(now, p, srcMAC, wire.ICMPv6ParamProblem, 1, uint32(nhAt), out)
		}
		return in, false
	}
	i.st.Delivered++
	if whole != nil {
		i.st.ReasmDelivered++
	}
	return Inbound{
		Proto:         proto,
		Src:           src,
		Dst:           dst,
		TTL:           p.HopLimit(),
		TOS:           p.TrafficClass(),
		Broadcast:     mcast,
		Payload:       payload,
		PayloadOffset: off + at,
		IPOffset:      off,
		Frame:         whole,
		Error:         in.Error,
	}, true
}
