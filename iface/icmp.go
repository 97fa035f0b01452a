package iface

import (
	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// icmpErrorQuoteMax bounds how much of the offending datagram an ICMP error
// quotes: as much as keeps the error within 576 bytes (RFC 1812 §4.3.2.3; RFC
// 792's minimum is the IP header plus 8 bytes).
const icmpErrorQuoteMax = 576 - wire.IPv4HeaderSize - wire.ICMPv4HeaderSize

// Unreachable sends an ICMP destination unreachable with the given code (for
// example wire.ICMPv4PortUnreachable for a UDP datagram no socket wanted, RFC
// 1122 §4.1.3.1) about a packet Input delivered as in from frame. frame must be
// the same, unmodified frame. It reports whether an error was sent.
//
// Following RFC 1122 §3.2.2, no error is sent about an ICMP message, a
// broadcast, or a datagram from 0.0.0.0; errors are rate limited
// (Config.ICMPErrorRate). The reply goes back to the frame's source MAC, like an
// echo reply, so no ARP is needed.
//
// For an IPv6 packet the error is the ICMPv6 equivalent of code (RFC 4443
// §3.1: port unreachable is code 4, and so on; see unreachable6), under RFC
// 4443 §2.4's rules: nothing about a multicast destination or an ICMPv6 error.
// For a reassembled datagram the error quotes the reassembled datagram
// (in.Frame is used in place of frame).
func (i *Interface) Unreachable(now clock.Instant, frame *pkt.Buffer, in *Inbound, code uint8, out Sender) bool {
	frame = frameFor(frame, in)
	b := frame.Bytes()
	if in.IPOffset < 0 || in.IPOffset > len(b) {
		return false
	}
	if in.Src.Is6() {
		return i.unreachable6(now, b, in, code, out)
	}
	if in.Proto == wire.ProtoICMP || in.Broadcast || !in.Src.Is4() || in.Src.IsUnspecified() {
		return false
	}
	p, err := wire.ParseIPv4(b[in.IPOffset:])
	if err != nil || p.Src() != in.Src || !i.HasAddr(p.Dst()) {
		return false
	}
	var srcMAC wire.MAC
	if i.l2 {
		e, err := wire.ParseEthernet(b)
		if err != nil {
			return false
		}
		srcMAC = e.Src()
	}
	return i.sendUnreachable(now, p, srcMAC, code, out)
}

// sendUnreachable sends a destination unreachable about p, which arrived from
// srcMAC, if the rate limit allows.
func (i *Interface) sendUnreachable(now clock.Instant, p wire.IPv4, srcMAC wire.MAC, code uint8, out Sender) bool {
	if !i.allowError(now) {
		return false
	}
	quote := p.Bytes()
	if len(quote) > icmpErrorQuoteMax {
		quote = quote[:icmpErrorQuoteMax]
	}
	ipLen := wire.IPv4HeaderSize + wire.ICMPv4HeaderSize + len(quote)
	if ipLen > i.mtu {
		quote = quote[:i.mtu-wire.IPv4HeaderSize-wire.ICMPv4HeaderSize]
		ipLen = i.mtu
	}
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return false
	}
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + ipLen)
	if i.l2 {
		i.emitEth(f, srcMAC, wire.EtherTypeIPv4)
	}
	src, dst := v4(p.Dst()), v4(p.Src())
	ip := f[i.ethLen:]
	wire.EmitIPv4(ip, &wire.IPv4Fields{
		ID:         i.nextID(src, dst, wire.ProtoICMP),
		TTL:        i.ttl,
		Protocol:   wire.ProtoICMP,
		Src:        p.Dst(),
		Dst:        p.Src(),
		PayloadLen: wire.ICMPv4HeaderSize + len(quote),
	})
	wire.EmitICMPv4(ip[wire.IPv4HeaderSize:], &wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: code}, quote)
	i.st.ICMPErrorsOut++
	i.send(rb, out)
	return true
}

func (i *Interface) unreachable6(now clock.Instant, b []byte, in *Inbound, code uint8, out Sender) bool {
	if in.Proto == wire.ProtoICMPv6 || in.Broadcast || in.Src.IsUnspecified() {
		return false
	}
	p, err := wire.ParseIPv6(b[in.IPOffset:])
	if err != nil || p.Src() != in.Src || !i.own6(key6(p.Dst())) {
		return false
	}
	var srcMAC wire.MAC
	if i.l2 {
		e, err := wire.ParseEthernet(b)
		if err != nil {
			return false
		}
		srcMAC = e.Src()
	}
	typ, code6 := unreachable6(code)
	var ptr uint32
	if typ == wire.ICMPv6ParamProblem {
		ptr = 6 // the next header field of the fixed header
	}
	return i.sendICMPv6Error(now, p, srcMAC, typ, code6, ptr, out)
}
