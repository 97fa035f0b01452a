package iface

import (
	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Output sends a transport packet. buf holds the transport header and payload
// with at least Headroom() bytes free in front; Output prepends a 20-byte IPv4
// header and, on an L2 interface, the Ethernet header for the next hop's MAC. A
// packet to a neighbour not resolved yet is queued (bounded: the neighbour's
// oldest queued packet is dropped and counted when full) while ARP runs; Poll
// retries and eventually gives up.
//
// Output takes ownership of buf in every case: on error it has been released.
// The transport checksum is the caller's business (fill it, or mark the buffer
// ChecksumPartial for the device); for a ChecksumPartial buffer, Meta.CsumStart
// counts from the start of buf's bytes as given and Output moves it by the
// headers it prepends.
//
// A packet above the MTU is refused with ErrTooBig unless buf.Meta.GSO marks it
// as a super-frame for segmentation further down (up to 65535 bytes of IP).
// IP IDs follow RFC 6864 (see nextID). Output to a resolved neighbour does not
// allocate.
func (i *Interface) Output(now clock.Instant, buf *pkt.Buffer, f *OutFields, out Sender) error {
	dst := f.Dst.Unmap()
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
	if buf.Headroom() < i.Headroom() {
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
	i.resolveAndSend(now, buf, src, nh, out)
	return nil
}
