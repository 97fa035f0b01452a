package iface

import (
	"encoding/binary"
	"net/netip"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

const icmpv4ParamProblem = 12 // RFC 792

// PMTU floors: the smallest next-hop MTU an ICMP error may make a transport
// use. An ICMPv4 frag-needed or ICMPv6 packet-too-big reporting less is raised
// to the floor (ICMPError.Clamped says so), so a forged "MTU 68" (RFC 5927 §7)
// cannot make a connection crawl at 28-byte segments.
const (
	// MinPMTU4 is 576, the datagram size every IPv4 host must accept (RFC 791,
	// RFC 1122 §3.3.3) and the one TCP's default MSS of 536 is derived from
	// (RFC 9293 §3.7.1): an MSS never has to go below the size every path is
	// assumed to carry when nothing is known. RFC 1191's 68 is the floor of
	// what links may have, but trusting it lets anyone who can guess a 4-tuple
	// cut a connection's segments to nothing; Linux makes the same trade with
	// its min_pmtu of 552.
	MinPMTU4 = 576
	// MinPMTU6 is IPv6's minimum link MTU: a node must not reduce its path MTU
	// below it (RFC 8200 §5, RFC 8201 §4).
	MinPMTU6 = 1280
)

// ICMPError describes an ICMP or ICMPv6 error about a packet we sent
// (Inbound.Error). It only reports what the quote claims: the transport must
// find the endpoint and check Seq against its send window (RFC 5927 §4.1:
// SND.UNA <= Seq < SND.NXT for TCP) before believing it.
type ICMPError struct {
	// Type and Code as received; Inbound.Proto says whether they are ICMPv4 or
	// ICMPv6 numbers.
	Type, Code uint8
	// MTU is the next-hop MTU of an ICMPv4 fragmentation-needed (RFC 1191) or
	// an ICMPv6 packet-too-big (RFC 8201), raised to MinPMTU4 / MinPMTU6; 0 for
	// other errors and for a frag-needed from a router that predates RFC 1191.
	MTU uint32
	// Clamped: the reported MTU was below the floor and MTU holds the floor.
	Clamped bool
	// Proto is the quoted packet's transport: wire.ProtoTCP or wire.ProtoUDP.
	Proto uint8
	// Local is the quoted source (one of our addresses) and port, Remote the
	// quoted destination and port.
	Local, Remote netip.AddrPort
	// Seq is the quoted TCP sequence number (0 for UDP).
	Seq wire.Seq
}

// icmpError4 decodes an ICMPv4 error about one of our TCP or UDP packets into
// i.icmpErr. It refuses quotes it cannot read, quotes of non-first fragments,
// and quotes whose source is not the address the error came to (an error goes
// back to the source of the packet it is about, RFC 792).
func (i *Interface) icmpError4(p wire.IPv4, m wire.ICMPv4) (*ICMPError, bool) {
	q, err := wire.ParseIPv4Quote(m.Body())
	if err != nil || q.Src() != p.Dst() || q.FragOffset() != 0 {
		return nil, false
	}
	proto := q.Protocol()
	if proto != wire.ProtoTCP && proto != wire.ProtoUDP {
		return nil, true // about something no transport of ours sent: plain ICMP
	}
	e := &i.icmpErr
	*e = ICMPError{
		Type:   m.Type(),
		Code:   m.Code(),
		Proto:  proto,
		Local:  netip.AddrPortFrom(q.Src(), q.SrcPort()),
		Remote: netip.AddrPortFrom(q.Dst(), q.DstPort()),
	}
	if proto == wire.ProtoTCP {
		e.Seq = q.TCPSeq()
	}
	if m.Type() == wire.ICMPv4DestUnreachable && m.Code() == wire.ICMPv4FragNeeded {
		e.MTU = uint32(m.MTU())
		if e.MTU != 0 && e.MTU < MinPMTU4 {
			e.MTU, e.Clamped = MinPMTU4, true
			i.st.PMTUClamped++
		}
	}
	i.st.ICMPErrorsIn++
	return e, true
}

// icmpError6 is icmpError4 for ICMPv6 (RFC 4443 §3).
func (i *Interface) icmpError6(dst netip.Addr, m wire.ICMPv6) (*ICMPError, bool) {
	q, err := wire.ParseIPv6Quote(m.Body())
	if err != nil || q.Src() != dst {
		return nil, false
	}
	proto := q.Protocol()
	if proto != wire.ProtoTCP && proto != wire.ProtoUDP {
		return nil, true
	}
	e := &i.icmpErr
	*e = ICMPError{
		Type:   m.Type(),
		Code:   m.Code(),
		Proto:  proto,
		Local:  netip.AddrPortFrom(q.Src(), q.SrcPort()),
		Remote: netip.AddrPortFrom(q.Dst(), q.DstPort()),
	}
	if proto == wire.ProtoTCP {
		e.Seq = q.TCPSeq()
	}
	if m.Type() == wire.ICMPv6PacketTooBig {
		e.MTU = m.MTU()
		if e.MTU < MinPMTU6 {
			e.MTU, e.Clamped = MinPMTU6, true
			i.st.PMTUClamped++
		}
	}
	i.st.ICMPErrorsIn++
	return e, true
}

// allowError applies the ICMP error rate limit (GCRA: allowed unless the
// schedule runs more than one burst ahead of now) and, if allowed, books it.
func (i *Interface) allowError(now clock.Instant) bool {
	tat := i.icmpTAT
	if tat < now {
		tat = now
	}
	if tat.Sub(now) > i.icmpBurst-i.icmpEvery {
		i.st.ICMPRateLimited++
		return false
	}
	i.icmpTAT = tat.Add(i.icmpEvery)
	return true
}

// icmp6QuoteMax keeps an ICMPv6 error within the IPv6 minimum MTU (RFC 4443
// §2.4(c)).
const icmp6QuoteMax = minMTU6 - wire.IPv6HeaderSize - wire.ICMPv6HeaderSize

// sendICMPv6Error sends an ICMPv6 error (param is the pointer of a parameter
// problem, else unused) about p, which arrived from srcMAC, following RFC 4443
// §2.4: never about an error message, a packet from :: or a multicast source,
// or (for the errors we send) a packet to a multicast address; rate limited.
func (i *Interface) sendICMPv6Error(now clock.Instant, p wire.IPv6, srcMAC wire.MAC, typ, code uint8, param uint32, out Sender) bool {
	src, dst := p.Src(), p.Dst()
	if src.IsUnspecified() || src.IsMulticast() || dst.IsMulticast() || !i.own6(key6(dst)) {
		return false
	}
	if proto, l4, err := p.UpperLayer(); err == nil && proto == wire.ProtoICMPv6 && len(l4) > 0 && l4[0] < 128 {
		return false
	}
	if !i.allowError(now) {
		return false
	}
	quote := p.Bytes()
	if lim := min(icmp6QuoteMax, i.mtu-wire.IPv6HeaderSize-wire.ICMPv6HeaderSize); len(quote) > lim {
		quote = quote[:lim]
	}
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return false
	}
	n := wire.ICMPv6HeaderSize + len(quote)
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + wire.IPv6HeaderSize + n)
	if i.l2 {
		i.emitEth(f, srcMAC, wire.EtherTypeIPv6)
	}
	ip := f[i.ethLen:]
	wire.EmitIPv6(ip, &wire.IPv6Fields{PayloadLen: uint16(n), NextHeader: wire.ProtoICMPv6, HopLimit: i.ttl, Src: dst, Dst: src})
	m := ip[wire.IPv6HeaderSize:]
	m[0], m[1], m[2], m[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(m[4:8], param)
	copy(m[wire.ICMPv6HeaderSize:], quote)
	binary.BigEndian.PutUint16(m[2:4], wire.FoldChecksum(wire.Checksum(m, wire.PseudoHeaderSum(wire.ProtoICMPv6, dst, src, n))))
	i.st.ICMPErrorsOut++
	i.send(rb, out)
	return true
}

// unreachable6 maps an ICMPv4 destination-unreachable code to ICMPv6 (RFC 4443
// §3.1) for Unreachable.
func unreachable6(code uint8) (typ, code6 uint8) {
	switch code {
	case wire.ICMPv4PortUnreachable:
		return wire.ICMPv6DestUnreachable, wire.ICMPv6PortUnreachable
	case wire.ICMPv4HostUnreachable:
		return wire.ICMPv6DestUnreachable, wire.ICMPv6AddrUnreachable
	case wire.ICMPv4NetUnreachable:
		return wire.ICMPv6DestUnreachable, wire.ICMPv6NoRoute
	case wire.ICMPv4ProtoUnreachable:
		return wire.ICMPv6ParamProblem, 1 // unrecognized next header
	}
	return wire.ICMPv6DestUnreachable, wire.ICMPv6AdminProhibited
}

// echoReply6 answers an ICMPv6 echo request (RFC 4443 §4.2: same identifier,
// sequence and data; source = the unicast address the request was sent to).
// Like the IPv4 reply it goes back to the frame's source MAC.
func (i *Interface) echoReply6(p wire.IPv6, m wire.ICMPv6, srcMAC wire.MAC, out Sender) {
	body := m.Body()
	n := wire.ICMPv6HeaderSize + len(body)
	if wire.IPv6HeaderSize+n > i.mtu {
		i.st.TxTooBig++
		return
	}
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return
	}
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + wire.IPv6HeaderSize + n)
	if i.l2 {
		i.emitEth(f, srcMAC, wire.EtherTypeIPv6)
	}
	src, dst := p.Dst(), p.Src()
	ip := f[i.ethLen:]
	wire.EmitIPv6(ip, &wire.IPv6Fields{
		TrafficClass: p.TrafficClass(),
		PayloadLen:   uint16(n),
		NextHeader:   wire.ProtoICMPv6,
		HopLimit:     i.ttl,
		Src:          src,
		Dst:          dst,
	})
	wire.EmitICMPv6(ip[wire.IPv6HeaderSize:], &wire.ICMPv6Fields{Type: wire.ICMPv6EchoReply, ID: m.ID(), Seq: m.Seq()}, body, src, dst)
	i.st.ICMPEchoReplies++
	i.send(rb, out)
}

// frameFor returns the buffer in's offsets refer to.
func frameFor(frame *pkt.Buffer, in *Inbound) *pkt.Buffer {
	if in.Frame != nil {
		return in.Frame
	}
	return frame
}
