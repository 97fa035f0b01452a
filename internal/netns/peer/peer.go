// Package peer is a tiny hand-built Ethernet/IPv4 host for frame-level tests of
// link devices against the Linux kernel: it answers ARP (RFC 826) and ICMP echo
// (RFC 792) for one address, can accept a TCP connection far enough for the
// kernel to start sending data (SYN-ACK only), and hands every other frame to
// the test. It builds frames with encoding/binary only, so device tests do not
// depend on the real stack.
package peer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"offload/link"
	"offload/pkt"
)

// Ethernet types and IP protocols used here.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	ProtoICMP     = 1
	ProtoTCP      = 6
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Frame is a received frame the peer did not answer itself (a copy).
type Frame struct {
	Data []byte
	Meta pkt.Meta
}

// Peer runs a receive loop on a device (it owns queue 0) and answers for IP.
type Peer struct {
	dev  link.Device
	MAC  [6]byte
	IP   netip.Addr
	pool *pkt.Pool

	// AcceptPort, if set before Start, makes the peer answer SYNs to this TCP port with a SYN-ACK.
	acceptPort uint16

	out     chan []byte // frames to send, built by other goroutines
	outMeta chan framed // frames with metadata to send
	frames  chan Frame
	stop    chan struct{}
	done    chan struct{}

	ARPReplies, EchoReplies, SynAcks atomic.Int64
}

// Start runs a peer with address ip on dev's queue 0 until the test ends.
// acceptPort (0: none) is a TCP port whose SYNs get a SYN-ACK.
func Start(t testing.TB, dev link.Device, ip netip.Addr, acceptPort uint16) *Peer {
	c := dev.Caps()
	p := &Peer{
		dev: dev, MAC: c.HardwareAddr, IP: ip, acceptPort: acceptPort,
		pool:    pkt.NewPool(64, c.Headroom+max(c.MTU+14, min(c.MaxFrame, 65536+14)), c.Headroom),
		out:     make(chan []byte, 64),
		outMeta: make(chan framed, 8),
		frames:  make(chan Frame, 1024),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.loop(t)
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the loop; safe to call twice.
func (p *Peer) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		p.dev.Wake(0)
	}
	<-p.done
}

// Send queues a frame for the loop to send.
func (p *Peer) Send(frame []byte) {
	p.out <- frame
	p.dev.Wake(0)
}

// Next returns the next unanswered frame for which match returns true (nil
// matches all), skipping others, or false after timeout.
func (p *Peer) Next(timeout time.Duration, match func(Frame) bool) (Frame, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case f := <-p.frames:
			if match == nil || match(f) {
				return f, true
			}
		case <-deadline:
			return Frame{}, false
		}
	}
}

func (p *Peer) loop(t testing.TB) {
	defer close(p.done)
	batch := pkt.NewBatch(32)
	replies := pkt.NewBatch(32)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		for more := true; more; {
			select {
			case f := <-p.out:
				p.queue(replies, f, pkt.Meta{})
			case f := <-p.outMeta:
				p.queue(replies, f.data, f.meta)
			default:
				more = false
			}
		}
		if _, err := p.dev.Recv(0, batch); err != nil {
			if !errors.Is(err, link.ErrClosed) { // closed under us: the test is ending
				t.Errorf("peer: Recv: %v", err)
			}
			return
		}
		for _, b := range batch.Buffers() {
			if r := p.answer(b.Bytes()); r != nil {
				p.queue(replies, r, pkt.Meta{})
				continue
			}
			f := Frame{Data: append([]byte(nil), b.Bytes()...), Meta: b.Meta}
			select {
			case p.frames <- f:
			default: // the test is not reading: drop
			}
		}
		batch.ReleaseAll()
		if replies.Len() > 0 {
			if _, err := p.dev.Send(0, replies); err != nil {
				t.Logf("peer: Send: %v", err)
			}
			continue
		}
		if err := p.dev.Wait(0, 50*time.Millisecond); err != nil {
			if !errors.Is(err, link.ErrClosed) {
				t.Errorf("peer: Wait: %v", err)
			}
			return
		}
	}
}

func (p *Peer) queue(b *pkt.Batch, frame []byte, m pkt.Meta) {
	buf := p.pool.Get()
	if buf == nil || len(frame) > buf.Tailroom() {
		if buf != nil {
			buf.Release()
		}
		return
	}
	copy(buf.Append(len(frame)), frame)
	buf.Meta = m
	if !b.Add(buf) {
		buf.Release()
	}
}

// answer returns the reply to an ARP request, echo request or SYN for us, or nil.
func (p *Peer) answer(f []byte) []byte {
	if len(f) < 14 {
		return nil
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case EtherTypeARP:
		a, ok := ParseARP(f)
		if ok && a.Op == 1 && a.TargetIP == p.IP {
			p.ARPReplies.Add(1)
			return ARP(2, p.MAC, p.IP, a.SenderMAC, a.SenderIP)
		}
	case EtherTypeIPv4:
		ip, ok := ParseIPv4(f)
		if !ok || ip.Dst != p.IP {
			return nil
		}
		switch {
		case ip.Proto == ProtoICMP && len(ip.Payload) >= 8 && ip.Payload[0] == 8:
			if Checksum(ip.Payload, 0) != 0 {
				return nil // RFC 792: a bad checksum is not answered
			}
			reply := append([]byte(nil), ip.Payload...)
			reply[0] = 0
			reply[2], reply[3] = 0, 0
			binary.BigEndian.PutUint16(reply[2:], Checksum(reply, 0))
			p.EchoReplies.Add(1)
			return IPv4(p.MAC, [6]byte(f[6:12]), p.IP, ip.Src, ProtoICMP, reply)
		case ip.Proto == ProtoTCP && p.acceptPort != 0 && len(ip.Payload) >= 20:
			tcp := ip.Payload
			if binary.BigEndian.Uint16(tcp[2:]) == p.acceptPort && tcp[13]&0x12 == 0x02 { // SYN, no ACK
				p.SynAcks.Add(1)
				return SynAck(p.MAC, [6]byte(f[6:12]), p.IP, ip.Src, tcp, 1460)
			}
		}
	}
	return nil
}

// ARPFields is a parsed ARP packet (Ethernet/IPv4 only).
type ARPFields struct {
	Op                   uint16
	SenderMAC, TargetMAC [6]byte
	SenderIP, TargetIP   netip.Addr
}

// ParseARP parses an Ethernet frame holding an Ethernet/IPv4 ARP packet.
func ParseARP(f []byte) (ARPFields, bool) {
	if len(f) < 14+28 || binary.BigEndian.Uint16(f[12:]) != EtherTypeARP {
		return ARPFields{}, false
	}
	a := f[14:]
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != EtherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return ARPFields{}, false
	}
	return ARPFields{
		Op:        binary.BigEndian.Uint16(a[6:]),
		SenderMAC: [6]byte(a[8:14]), SenderIP: netip.AddrFrom4([4]byte(a[14:18])),
		TargetMAC: [6]byte(a[18:24]), TargetIP: netip.AddrFrom4([4]byte(a[24:28])),
	}, true
}

// ARP builds an ARP frame: op 1 (request, broadcast) or 2 (reply, to target).
func ARP(op uint16, srcMAC [6]byte, srcIP netip.Addr, dstMAC [6]byte, dstIP netip.Addr) []byte {
	f := make([]byte, 14+28, 60)
	eth := dstMAC
	if op == 1 {
		eth, dstMAC = Broadcast, [6]byte{}
	}
	copy(f[0:], eth[:])
	copy(f[6:], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], EtherTypeARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:], srcMAC[:])
	s4, d4 := srcIP.As4(), dstIP.As4()
	copy(a[14:], s4[:])
	copy(a[18:], dstMAC[:])
	copy(a[24:], d4[:])
	return f[:60] // pad to the Ethernet minimum
}

// IPv4Fields is a parsed IPv4 packet.
type IPv4Fields struct {
	Src, Dst netip.Addr
	Proto    uint8
	Payload  []byte
}

// ParseIPv4 parses an Ethernet frame holding an IPv4 packet with a valid header.
func ParseIPv4(f []byte) (IPv4Fields, bool) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != EtherTypeIPv4 {
		return IPv4Fields{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) || Checksum(ip[:ihl], 0) != 0 {
		return IPv4Fields{}, false
	}
	return IPv4Fields{
		Src: netip.AddrFrom4([4]byte(ip[12:16])), Dst: netip.AddrFrom4([4]byte(ip[16:20])),
		Proto: ip[9], Payload: ip[ihl:total],
	}, true
}

// IPv4 builds an Ethernet frame with an IPv4 header (no options, DF) around payload.
func IPv4(srcMAC, dstMAC [6]byte, src, dst netip.Addr, proto uint8, payload []byte) []byte {
	f := make([]byte, 14+20+len(payload))
	copy(f[0:], dstMAC[:])
	copy(f[6:], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, proto
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:20], 0))
	copy(ip[20:], payload)
	if len(f) < 60 {
		f = append(f, make([]byte, 60-len(f))...)
	}
	return f
}

// SynAck answers the SYN segment syn (a TCP header) from peer with a SYN-ACK
// carrying an MSS option and the largest unscaled window (RFC 9293 §3.5).
func SynAck(srcMAC, dstMAC [6]byte, src, dst netip.Addr, syn []byte, mss uint16) []byte {
	t := make([]byte, 24)
	copy(t[0:], syn[2:4]) // our port
	copy(t[2:], syn[0:2]) // their port
	binary.BigEndian.PutUint32(t[4:], 0x10000000)
	binary.BigEndian.PutUint32(t[8:], binary.BigEndian.Uint32(syn[4:])+1)
	t[12] = 6 << 4
	t[13] = 0x12
	binary.BigEndian.PutUint16(t[14:], 65535)
	t[20], t[21] = 2, 4 // MSS option
	binary.BigEndian.PutUint16(t[22:], mss)
	binary.BigEndian.PutUint16(t[16:], TCPChecksum(src, dst, t))
	return IPv4(srcMAC, dstMAC, src, dst, ProtoTCP, t)
}

// TCPChecksum is the TCP checksum of segment t (checksum field zero) with the
// IPv4 pseudo-header (RFC 9293 §3.1).
func TCPChecksum(src, dst netip.Addr, t []byte) uint16 {
	var ph [12]byte
	s4, d4 := src.As4(), dst.As4()
	copy(ph[0:], s4[:])
	copy(ph[4:], d4[:])
	ph[9] = ProtoTCP
	binary.BigEndian.PutUint16(ph[10:], uint16(len(t)))
	return Checksum(t, sum(ph[:], 0))
}

func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// Checksum is the RFC 1071 Internet checksum of b on top of a partial sum.
// Over data that includes a correct checksum field it returns 0.
func Checksum(b []byte, partial uint32) uint16 {
	s := sum(b, partial)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// Segment describes a TCP segment to build.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Options          []byte // already padded to a multiple of 4
	Payload          []byte
	// PartialChecksum leaves only the pseudo-header sum in the checksum field
	// (the form a device with checksum offload finishes), instead of the full sum.
	PartialChecksum bool
}

// TCP builds an Ethernet/IPv4 frame carrying s.
func TCP(srcMAC, dstMAC [6]byte, src, dst netip.Addr, s Segment) []byte {
	hl := 20 + len(s.Options)
	t := make([]byte, hl+len(s.Payload))
	binary.BigEndian.PutUint16(t[0:], s.SrcPort)
	binary.BigEndian.PutUint16(t[2:], s.DstPort)
	binary.BigEndian.PutUint32(t[4:], s.Seq)
	binary.BigEndian.PutUint32(t[8:], s.Ack)
	t[12] = byte(hl/4) << 4
	t[13] = s.Flags
	binary.BigEndian.PutUint16(t[14:], s.Window)
	copy(t[20:], s.Options)
	copy(t[hl:], s.Payload)
	if s.PartialChecksum {
		binary.BigEndian.PutUint16(t[16:], ^PseudoHeaderChecksum(src, dst, len(t)))
	} else {
		binary.BigEndian.PutUint16(t[16:], TCPChecksum(src, dst, t))
	}
	return IPv4(srcMAC, dstMAC, src, dst, ProtoTCP, t)
}

// PseudoHeaderChecksum is the checksum of the IPv4/TCP pseudo-header alone;
// its complement is what a partial checksum field holds.
func PseudoHeaderChecksum(src, dst netip.Addr, tcpLen int) uint16 {
	var ph [12]byte
	s4, d4 := src.As4(), dst.As4()
	copy(ph[0:], s4[:])
	copy(ph[4:], d4[:])
	ph[9] = ProtoTCP
	binary.BigEndian.PutUint16(ph[10:], uint16(tcpLen))
	return Checksum(ph[:], 0)
}

// ParseTCP parses an Ethernet/IPv4/TCP frame.
func ParseTCP(f []byte) (ip IPv4Fields, s Segment, ok bool) {
	ip, ok = ParseIPv4(f)
	if !ok || ip.Proto != ProtoTCP || len(ip.Payload) < 20 {
		return ip, s, false
	}
	t := ip.Payload
	hl := int(t[12]>>4) * 4
	if hl < 20 || hl > len(t) {
		return ip, s, false
	}
	s = Segment{
		SrcPort: binary.BigEndian.Uint16(t[0:]), DstPort: binary.BigEndian.Uint16(t[2:]),
		Seq: binary.BigEndian.Uint32(t[4:]), Ack: binary.BigEndian.Uint32(t[8:]),
		Flags: t[13], Window: binary.BigEndian.Uint16(t[14:]),
		Options: t[20:hl], Payload: t[hl:],
	}
	return ip, s, true
}

// SendFrame queues a frame with metadata (GSO, partial checksum) for the loop to send.
func (p *Peer) SendFrame(frame []byte, m pkt.Meta) {
	p.outMeta <- framed{frame, m}
	p.dev.Wake(0)
}

type framed struct {
	data []byte
	meta pkt.Meta
}
