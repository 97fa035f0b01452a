package iface

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

var (
	ourMAC  = wire.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerMAC = wire.MAC{0x02, 0, 0, 0, 0, 0x02}
	gwMAC   = wire.MAC{0x02, 0, 0, 0, 0, 0xfe}
	ourIP   = netip.MustParseAddr("198.18.0.1")
	peerIP  = netip.MustParseAddr("198.18.0.2")
	gwIP    = netip.MustParseAddr("198.18.0.254")
	farIP   = netip.MustParseAddr("198.19.7.7")
	bcastIP = netip.MustParseAddr("198.18.0.255")
)

const t0 = clock.Instant(1_000_000_000)

func baseConfig() Config {
	return Config{
		L2:           true,
		HardwareAddr: ourMAC,
		MTU:          1500,
		Addrs:        []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		Gateway:      gwIP,
	}
}

func newIface(t testing.TB, mod func(*Config)) *Interface {
	t.Helper()
	cfg := baseConfig()
	if mod != nil {
		mod(&cfg)
	}
	i, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return i
}

// capture is a Sender that keeps what it is given.
type capture struct{ frames []*pkt.Buffer }

func (c *capture) SendFrame(b *pkt.Buffer) { c.frames = append(c.frames, b) }

// take returns and forgets the captured frames.
func (c *capture) take() []*pkt.Buffer {
	f := c.frames
	c.frames = nil
	return f
}

func (c *capture) releaseAll() {
	for _, b := range c.take() {
		b.Release()
	}
}

// discard is a Sender that releases at once.
type discard struct{ n int }

func (d *discard) SendFrame(b *pkt.Buffer) { d.n++; b.Release() }

// frameOf wraps bytes in a buffer with some headroom, as a driver would.
func frameOf(b []byte) *pkt.Buffer {
	buf := pkt.NewBuffer(len(b)+64, 64)
	copy(buf.Append(len(b)), b)
	return buf
}

func ethHdr(dst, src wire.MAC, et uint16) []byte {
	b := make([]byte, wire.EthernetHeaderSize)
	wire.EmitEthernet(b, &wire.EthernetFields{Dst: dst, Src: src, EtherType: et})
	return b
}

func arpFrame(op uint16, ethDst, sMAC wire.MAC, sIP netip.Addr, tMAC wire.MAC, tIP netip.Addr) []byte {
	b := ethHdr(ethDst, sMAC, wire.EtherTypeARP)
	a := make([]byte, wire.ARPSize)
	wire.EmitARP(a, &wire.ARPFields{Op: op, SenderMAC: sMAC, SenderIP: sIP, TargetMAC: tMAC, TargetIP: tIP})
	return append(b, a...)
}

// ipPacket builds an IPv4 packet around payload.
func ipPacket(f wire.IPv4Fields, payload []byte) []byte {
	b := make([]byte, wire.IPv4HeaderSize+len(payload))
	if f.TTL == 0 {
		f.TTL = 64
	}
	f.PayloadLen = len(payload)
	wire.EmitIPv4(b, &f)
	copy(b[wire.IPv4HeaderSize:], payload)
	return b
}

func ethIP(dst wire.MAC, ip []byte) []byte {
	return append(ethHdr(dst, peerMAC, wire.EtherTypeIPv4), ip...)
}

// tcpSegment builds a TCP segment with a correct checksum for src→dst.
func tcpSegment(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	b := make([]byte, 20+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	b[12] = 5 << 4
	b[13] = 0x18 // PSH|ACK
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], data)
	c := wire.FoldChecksum(wire.Checksum(b, wire.PseudoHeaderSum(wire.ProtoTCP, src, dst, len(b))))
	binary.BigEndian.PutUint16(b[16:], c)
	return b
}

func udpDatagram(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	b := make([]byte, wire.UDPHeaderSize+len(data))
	wire.EmitUDP(b, &wire.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(b))})
	copy(b[8:], data)
	wire.SetUDPChecksum(b, src, dst)
	return b
}

func echoRequest(id, seq uint16, data []byte) []byte {
	b := make([]byte, wire.ICMPv4HeaderSize+len(data))
	wire.EmitICMPv4(b, &wire.ICMPv4Fields{Type: wire.ICMPv4EchoRequest, ID: id, Seq: seq}, data)
	return b
}

// tcpFrame is an Ethernet frame carrying a valid TCP segment from peer to us.
func tcpFrame(data []byte) []byte {
	seg := tcpSegment(peerIP, ourIP, 40000, 80, data)
	return ethIP(ourMAC, ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP, DontFragment: true}, seg))
}

// transportBuf returns a buffer holding a transport payload with room for headers.
func transportBuf(i *Interface, payload []byte) *pkt.Buffer {
	buf := pkt.NewBuffer(i.Headroom()+len(payload), i.Headroom())
	copy(buf.Append(len(payload)), payload)
	return buf
}

// learn makes ip→mac a reachable neighbour by feeding an ARP reply.
func learn(t testing.TB, i *Interface, now clock.Instant, ip netip.Addr, mac wire.MAC) {
	t.Helper()
	var c capture
	f := frameOf(arpFrame(wire.ARPReply, ourMAC, mac, ip, ourMAC, ourIP))
	i.Input(now, f, &c)
	c.releaseAll()
	if k := i.neigh.find(keyOf(ip)); k == nilIdx || i.neigh.ents[k].state != neighReachable {
		t.Fatalf("neighbour %v not learned", ip)
	}
}

func mustEth(t testing.TB, b []byte) wire.Ethernet {
	t.Helper()
	e, err := wire.ParseEthernet(b)
	if err != nil {
		t.Fatalf("ParseEthernet: %v", err)
	}
	return e
}

func mustIPv4(t testing.TB, b []byte) wire.IPv4 {
	t.Helper()
	p, err := wire.ParseIPv4(b)
	if err != nil {
		t.Fatalf("ParseIPv4: %v", err)
	}
	return p
}

func checkCounters(t testing.TB, i *Interface) {
	t.Helper()
	s := i.Stats()
	if s.RxFrames != s.Delivered+s.Consumed()+s.RxDropped() {
		t.Fatalf("counters inconsistent: rx %d != delivered %d + consumed %d + dropped %d",
			s.RxFrames, s.Delivered, s.Consumed(), s.RxDropped())
	}
}

const sec = time.Second
