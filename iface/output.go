package iface

import (
	"encoding/binary"
	"net/netip"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Output sends a transport packet. buf holds the transport header and payload
// with at least Headroom() bytes free in front; Output prepends a 20-byte IPv4
// header, or a 40-byte IPv6 header for an IPv6 destination, and, on an L2
// interface, the Ethernet header for the next hop's MAC. A packet to a
// neighbour not resolved yet is queued (bounded: the neighbour's oldest queued
// packet is dropped and counted when full) while ARP or NDP runs; Poll retries
// and eventually gives up.
//
// Output takes ownership of buf in every case: on error it has been released.
// The transport checksum is the caller's business (fill it, or mark the buffer
// ChecksumPartial for the device); for a ChecksumPartial buffer, Meta.CsumStart
// counts from the start of buf's bytes as given and Output moves it by the
// headers it prepends.
//
// A packet above the MTU is refused with ErrTooBig unless buf.Meta.GSO marks it
// as a super-frame for segmentation further down (up to 65535 bytes of IP).
// IP IDs follow RFC 6864 (see nextID); IPv6 flow labels RFC 6437 (see
// flowLabel). Output to a resolved neighbour does not allocate.
func (i *Interface) Output(now clock.Instant, buf *pkt.Buffer, f *OutFields, out Sender) error {
	dst := f.Dst.Unmap()
	if dst.Is6() {
		return i.output6(now, buf, f, dst, out)
	}
	if !dst.Is4() {
		i.st.TxNoRoute++
		buf.Release()
		return ErrNoRoute
	}
	src, nh, ok := i.route(v4(dst))
	if !ok {
		i.st.TxNoRoute++
		buf.Release()
		return ErrNoRoute
	}
	if f.Src.IsValid() {
		s := f.Src.Unmap()
		if !s.Is4() || !i.ownAddr(v4(s)) {
			i.st.TxBadSource++
			buf.Release()
			return ErrBadSource
		}
		src = v4(s)
	}
	if buf.Headroom() < i.devHead+i.ethLen+wire.IPv4HeaderSize {
		i.st.TxBadArgs++
		buf.Release()
		return ErrNoHeadroom
	}
	ipLen := wire.IPv4HeaderSize + buf.Len()
	limit := i.mtu
	if buf.Meta.GSO != pkt.GSONone {
		limit = 65535
	}
	if ipLen > limit {
		i.st.TxTooBig++
		buf.Release()
		return ErrTooBig
	}
	ttl := f.TTL
	if ttl == 0 {
		ttl = i.ttl
		if isMulticast4(v4(dst)) {
			ttl = 1 // RFC 1112 §6.1: multicast stays on the local network by default
		}
	}
	ids := 1
	if m := &buf.Meta; m.GSO != pkt.GSONone {
		if m.Segs > 1 {
			ids = int(m.Segs)
		} else if m.GSOSize > 0 {
			ids = (buf.Len() + int(m.GSOSize) - 1) / int(m.GSOSize) // an upper bound
		}
	}
	wire.EmitIPv4(buf.Prepend(wire.IPv4HeaderSize), &wire.IPv4Fields{
		TOS:          f.TOS,
		TotalLen:     uint16(ipLen),
		ID:           i.reserveIDs(src, v4(dst), f.Proto, ids),
		DontFragment: f.DontFragment,
		TTL:          ttl,
		Protocol:     f.Proto,
		Src:          addrFrom(src),
		Dst:          dst,
	})
	if buf.Meta.Checksum == pkt.ChecksumPartial {
		buf.Meta.CsumStart += wire.IPv4HeaderSize
	}
	if !i.l2 {
		i.send(buf, out)
		return nil
	}
	i.resolveAndSend4(now, buf, src, nh, out)
	return nil
}

func (i *Interface) output6(now clock.Instant, buf *pkt.Buffer, f *OutFields, dst netip.Addr, out Sender) error {
	src, nh, ok := i.route6(dst)
	if !ok {
		i.st.TxNoRoute++
		buf.Release()
		return ErrNoRoute
	}
	if f.Src.IsValid() {
		s := f.Src.Unmap().WithZone("")
		if !s.Is6() || !i.own6(key6(s)) {
			i.st.TxBadSource++
			buf.Release()
			return ErrBadSource
		}
		src = s
	}
	if buf.Headroom() < i.devHead+i.ethLen+wire.IPv6HeaderSize {
		i.st.TxBadArgs++
		buf.Release()
		return ErrNoHeadroom
	}
	n := buf.Len()
	limit := i.mtu - wire.IPv6HeaderSize
	if buf.Meta.GSO != pkt.GSONone {
		limit = 65535 // no jumbograms
	}
	if n > limit {
		i.st.TxTooBig++
		buf.Release()
		return ErrTooBig
	}
	hop := f.TTL
	if hop == 0 {
		hop = i.ttl
		if dst.IsMulticast() {
			hop = 1 // RFC 3493 §5.2: multicast hop limit defaults to 1
		}
	}
	wire.EmitIPv6(buf.Prepend(wire.IPv6HeaderSize), &wire.IPv6Fields{
		TrafficClass: f.TOS,
		FlowLabel:    i.flowLabel(src, dst, f.Proto, buf.Bytes()[wire.IPv6HeaderSize:]),
		PayloadLen:   uint16(n),
		NextHeader:   f.Proto,
		HopLimit:     hop,
		Src:          src,
		Dst:          dst,
	})
	if buf.Meta.Checksum == pkt.ChecksumPartial {
		buf.Meta.CsumStart += wire.IPv6HeaderSize
	}
	if !i.l2 {
		i.send(buf, out)
		return nil
	}
	if dst.IsMulticast() {
		i.sendIP(buf, multicastMAC6(key6(dst)), out)
		return nil
	}
	i.resolveAndSend(now, buf, key6(src), key6(nh), out)
	return nil
}

// flowLabel returns the flow label for a packet (RFC 6437 §3): a keyed hash of
// the addresses, protocol and, for TCP and UDP, the ports, so every packet of
// a flow carries the same label, labels of different flows are uniformly
// spread (ECMP and RSS hash on them), and they cannot be predicted from outside.
// Never 0, which means "no label".
func (i *Interface) flowLabel(src, dst netip.Addr, proto uint8, l4 []byte) uint32 {
	s, d := src.As16(), dst.As16()
	h := i.flowKey ^ uint64(proto)
	for k := 0; k < 16; k += 8 {
		h = mix64(h ^ binary.BigEndian.Uint64(s[k:]))
		h = mix64(h ^ binary.BigEndian.Uint64(d[k:]))
	}
	if (proto == wire.ProtoTCP || proto == wire.ProtoUDP) && len(l4) >= 4 {
		h = mix64(h ^ uint64(binary.BigEndian.Uint32(l4)))
	}
	if l := uint32(h) & 0xFFFFF; l != 0 {
		return l
	}
	return 1
}
