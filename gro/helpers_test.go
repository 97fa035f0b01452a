package gro

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = netip.MustParseAddr("198.18.0.1")
	ip4B = netip.MustParseAddr("198.18.0.2")
	ip6A = netip.MustParseAddr("2001:db8::1")
	ip6B = netip.MustParseAddr("2001:db8::2")
)

// spec describes one TCP segment to build.
type spec struct {
	l2         bool
	v6         bool
	dstMAC     wire.MAC
	srcMAC     wire.MAC
	vlan       uint16 // nonzero: tagged
	src, dst   netip.Addr
	sport      uint16
	dport      uint16
	ttl, tos   uint8
	df         bool
	id         uint16
	flowLabel  uint32
	seq, ack   uint32
	flags      wire.TCPFlags
	window     uint16
	urgent     uint16
	opts       wire.TCPOptions
	payload    []byte
	ipOptions  int  // IPv4 option bytes (multiple of 4)
	badCsum    bool // corrupt the TCP checksum
	ipv6ExtHdr bool // put a destination-options header before TCP
}

// base returns a full-sized IPv4 segment of flow A→B with timestamps.
func base(seq uint32, n int) spec {
	return spec{
		l2: true, dstMAC: macB, srcMAC: macA, src: ip4A, dst: ip4B,
		sport: 40000, dport: 80, ttl: 64, df: true, id: 100,
		seq: seq, ack: 5000, flags: wire.FlagACK, window: 1000,
		opts:    wire.TCPOptions{HasTimestamp: true, TSVal: 7, TSEcr: 9},
		payload: pattern(seq, n),
	}
}

func base6(seq uint32, n int) spec {
	s := base(seq, n)
	s.v6, s.src, s.dst, s.flowLabel = true, ip6A, ip6B, 0x12345
	return s
}

// pattern returns n bytes whose values depend on their sequence number, so a
// misplaced byte shows.
func pattern(seq uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := seq + uint32(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	return b
}

// bytes builds the frame.
func (s spec) bytes() []byte {
	var out []byte
	if s.l2 {
		ef := wire.EthernetFields{Dst: s.dstMAC, Src: s.srcMAC, EtherType: wire.EtherTypeIPv4}
		if s.v6 {
			ef.EtherType = wire.EtherTypeIPv6
		}
		if s.vlan != 0 {
			ef.HasVLAN, ef.VLAN = true, s.vlan
		}
		h := make([]byte, wire.EthernetHeaderLen(&ef))
		wire.EmitEthernet(h, &ef)
		out = h
	}
	tf := wire.TCPFields{SrcPort: s.sport, DstPort: s.dport, Seq: wire.Seq(s.seq), Ack: wire.Seq(s.ack),
		Flags: s.flags, Window: s.window, Urgent: s.urgent, Options: s.opts}
	tcp := make([]byte, wire.TCPHeaderLen(&tf)+len(s.payload))
	wire.EmitTCP(tcp, &tf)
	copy(tcp[wire.TCPHeaderLen(&tf):], s.payload)
	// The pseudo-header from raw address bytes: wire.SetTCPChecksum would take an
	// IPv4-mapped source in an IPv6 packet for IPv4.
	var ph uint32
	if s.v6 {
		a, b := s.src.As16(), s.dst.As16()
		ph = pseudoSum(a[:], b[:])
	} else {
		a, b := s.src.As4(), s.dst.As4()
		ph = pseudoSum(a[:], b[:])
	}
	binary.BigEndian.PutUint16(tcp[16:], wire.FoldChecksum(wire.Checksum(tcp, ph+uint32(len(tcp)))))
	if s.badCsum {
		tcp[17] ^= 0x55
	}
	if s.v6 {
		ip := make([]byte, wire.IPv6HeaderSize)
		nh := uint8(wire.ProtoTCP)
		var ext []byte
		if s.ipv6ExtHdr {
			nh = wire.IPv6DestOptions
			ext = []byte{wire.ProtoTCP, 0, 1, 4, 0, 0, 0, 0} // PadN
		}
		wire.EmitIPv6(ip, &wire.IPv6Fields{TrafficClass: s.tos, FlowLabel: s.flowLabel,
			PayloadLen: uint16(len(ext) + len(tcp)), NextHeader: nh, HopLimit: s.ttl, Src: s.src, Dst: s.dst})
		out = append(out, ip...)
		out = append(out, ext...)
		return append(out, tcp...)
	}
	ip := make([]byte, wire.IPv4HeaderSize+s.ipOptions)
	wire.EmitIPv4(ip, &wire.IPv4Fields{TOS: s.tos, ID: s.id, DontFragment: s.df, TTL: s.ttl,
		Protocol: wire.ProtoTCP, Src: s.src, Dst: s.dst, TotalLen: uint16(len(ip) + len(tcp))})
	if s.ipOptions > 0 {
		ip[0] = 4<<4 | byte(len(ip)/4)
		for i := wire.IPv4HeaderSize; i < len(ip); i++ {
			ip[i] = 1 // NOP
		}
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:12], wire.FoldChecksum(wire.Checksum(ip, 0)))
	}
	out = append(out, ip...)
	return append(out, tcp...)
}

// frame builds the frame in a buffer from pool (or a pool-less one).
func (s spec) frame(p *pkt.Pool) *pkt.Buffer {
	b := s.bytes()
	var buf *pkt.Buffer
	if p != nil {
		buf = p.Get()
		if buf == nil {
			panic("test pool empty")
		}
	} else {
		buf = pkt.NewBuffer(len(b)+64, 64)
	}
	copy(buf.Append(len(b)), b)
	return buf
}

// got is what the recorder saw of one aggregate.
type got struct {
	kind     Kind
	segs     int
	n        int
	segSize  int
	seq      wire.Seq
	flags    wire.TCPFlags
	window   uint16
	payload  []byte
	frames   []*pkt.Buffer
	hdr      Header
	checksum []pkt.ChecksumState
}

// recorder is a Handler that copies what it sees and releases the frames.
type recorder struct {
	out []got
}

func (r *recorder) Deliver(a *Aggregate) {
	g := got{kind: a.Kind, segs: a.Segs, n: a.Len(), segSize: a.SegSize, seq: a.TCP.Seq,
		flags: a.TCP.Flags, window: a.TCP.Window, hdr: a.Header}
	buf := make([]byte, a.PayloadLen)
	if a.CopyPayload(buf) != a.PayloadLen {
		panic("CopyPayload short")
	}
	g.payload = buf
	for i := 0; i < a.Len(); i++ {
		g.frames = append(g.frames, a.Frame(i))
		g.checksum = append(g.checksum, a.Frame(i).Meta.Checksum)
	}
	r.out = append(r.out, g)
	a.Release()
}

func newTable(t testing.TB, cfg Config) (*Table, *recorder) {
	t.Helper()
	r := &recorder{}
	tb, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	return tb, r
}

// feed gives the specs to the table as frames at time 0 and flushes.
func feed(t testing.TB, tb *Table, specs ...spec) {
	t.Helper()
	for _, s := range specs {
		tb.Input(0, s.frame(nil))
	}
	tb.FlushAll()
}

// shape returns the segment counts of the outputs, for compact expectations.
func shape(r *recorder) []int {
	var s []int
	for _, g := range r.out {
		s = append(s, g.segs)
	}
	return s
}

func eqInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// expectFlush feeds the specs and checks the output shape and that reason was
// counted (exactly want times).
func expectFlush(t *testing.T, cfg Config, reason Reason, want int, wantShape []int, specs ...spec) *recorder {
	t.Helper()
	tb, r := newTable(t, cfg)
	feed(t, tb, specs...)
	if got := shape(r); !eqInts(got, wantShape) {
		t.Fatalf("aggregates of %v segments, want %v", got, wantShape)
	}
	if n := tb.Stats().Flushes[reason]; n != uint64(want) {
		t.Fatalf("Flushes[%v] = %d, want %d (all: %v)", reason, n, want, tb.Stats().Flushes)
	}
	// Whatever the shape, the payload must come out whole and in order.
	var all, in []byte
	for _, g := range r.out {
		all = append(all, g.payload...)
	}
	for _, s := range specs {
		in = append(in, s.payload...)
	}
	if !bytes.Equal(all, in) {
		t.Fatalf("payload out differs from payload in")
	}
	return r
}

var _ = clock.Never
