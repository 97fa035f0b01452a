package gro

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Defaults for zero Config fields.
const (
	DefaultMaxFlows = 64
	DefaultMaxBytes = 65535 // the largest IPv4 datagram; Linux's GRO_LEGACY_MAX_SIZE bound
	maxMaxFlows     = 1 << 14
	minMaxBytes     = 576
)

// ErrConfig is returned by New for a Config outside the documented ranges.
var ErrConfig = errors.New("gro: invalid config")

// Config describes one Table. Zero values take the defaults.
type Config struct {
	// L2: frames start with an Ethernet header (with at most one 802.1Q tag);
	// false for raw IP devices, where frames are bare IPv4 or IPv6 packets.
	L2 bool
	// MaxFlows bounds the flows holding an aggregate at once (default 64, at most
	// 16384). When a new flow finds the table full, the oldest is flushed.
	MaxFlows int
	// MaxSegments bounds the frames in one aggregate (1..MaxSegmentsLimit,
	// default MaxSegmentsLimit).
	MaxSegments int
	// MaxBytes bounds the IP packet an aggregate stands for: IP header, TCP header
	// and all payload (576..65535, default 65535).
	MaxBytes int
	// FlushTimeout, when nonzero, lets aggregates outlive a receive round: Poll
	// flushes those older than this and Deadline says when to call it. When zero
	// the owner must call FlushAll at the end of every round (the usual way).
	FlushTimeout time.Duration
	// RxChecksumTrusted: the device vouches for TCP checksums
	// (link.Capabilities.RxChecksumTrusted), so they are not verified. Frames
	// whose Meta.Checksum is ChecksumVerified or ChecksumPartial are trusted
	// either way (Partial: a local peer never completed the checksum; the kernel
	// trusts CHECKSUM_PARTIAL the same way).
	RxChecksumTrusted bool
	// Disabled turns aggregation off: every frame is still parsed and delivered,
	// at once and alone, through the same Handler (for A/B measurements and the
	// per-link off switch).
	Disabled bool
}

// Handler receives what a Table delivers.
type Handler interface {
	// Deliver hands over one aggregate, in arrival order within its flow. The
	// handler owns its frames: before returning it must Release the aggregate or
	// Detach the frames. It must not call the Table's methods, and must not keep
	// a after it returns.
	Deliver(a *Aggregate)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(a *Aggregate)

// Deliver calls f(a).
func (f HandlerFunc) Deliver(a *Aggregate) { f(a) }

// keyLen: MACs (12), VLAN TCI (2), tag/version bits (1), pad (1), source and
// destination address (16+16, IPv4 in the first 4), ports (4), flow label (4).
const keyLen = 56

type flowKey [keyLen]byte

// IPv4 ID patterns of a held flow (Linux: count-based flush_id and ip_fixedid).
const (
	idUndecided uint8 = iota
	idIncrement
	idFixed
)

type flow struct {
	agg       Aggregate
	key       flowKey
	hash      uint64
	next      int32 // hash chain, -1 ends it
	older     int32 // age list, -1 ends it
	newer     int32
	nextSeq   wire.Seq
	headFlags wire.TCPFlags
	hdr12     byte // TCP byte 12: data offset and reserved bits
	idMode    uint8
	hdrLen    int // IP + TCP header bytes, for the byte cap
}

// seg is one parsed frame (scratch, reused for every Input).
type seg struct {
	key       flowKey
	keyOK     bool
	ipv6      bool
	hasVLAN   bool
	vlan      uint16
	dstMAC    wire.MAC
	srcMAC    wire.MAC
	ipOff     int
	tcpOff    int
	payOff    int
	payLen    int
	optEnd    int
	ttl, tos  uint8
	df        bool
	id        uint16
	flowLabel uint32
	src, dst  netip.Addr
	pseudo    uint32 // pseudo-header sum of the addresses and protocol
	tcp       wire.TCP
	seq, ack  wire.Seq
	flags     wire.TCPFlags
	hdr12     byte
	window    uint16
	opts      []byte
	idMode    uint8 // the ID pattern a merge commits the flow to
}

// frame classes from parse.
type class uint8

const (
	clsTCP class = iota
	clsNotTCP
	clsMalformed
	clsFragment
	clsIPOptions
	clsIPv6Ext
)

// Table aggregates the frames of one device queue. It is owned by one goroutine;
// only PublishedStats may be called from others.
type Table struct {
	cfg      Config
	h        Handler
	timeout  time.Duration
	maxSegs  int
	maxBytes int
	seed     uint64 // per-table hash key, so flows cannot be aimed at one chain

	flows   []flow
	buckets []int32
	mask    uint64
	free    []int32
	oldest  int32
	newest  int32
	held    int

	s      seg
	single Aggregate
	st     Stats

	pubMu sync.Mutex
	pub   Stats
}

// New returns a Table that delivers to h.
func New(cfg Config, h Handler) (*Table, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrConfig)
	}
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.MaxSegments == 0 {
		cfg.MaxSegments = MaxSegmentsLimit
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxFlows < 1 || cfg.MaxFlows > maxMaxFlows {
		return nil, fmt.Errorf("%w: MaxFlows %d outside 1..%d", ErrConfig, cfg.MaxFlows, maxMaxFlows)
	}
	if cfg.MaxSegments < 1 || cfg.MaxSegments > MaxSegmentsLimit {
		return nil, fmt.Errorf("%w: MaxSegments %d outside 1..%d", ErrConfig, cfg.MaxSegments, MaxSegmentsLimit)
	}
	if cfg.MaxBytes < minMaxBytes || cfg.MaxBytes > DefaultMaxBytes {
		return nil, fmt.Errorf("%w: MaxBytes %d outside %d..%d", ErrConfig, cfg.MaxBytes, minMaxBytes, DefaultMaxBytes)
	}
	if cfg.FlushTimeout < 0 {
		return nil, fmt.Errorf("%w: negative FlushTimeout", ErrConfig)
	}
	nb := 1
	for nb < 2*cfg.MaxFlows {
		nb <<= 1
	}
	t := &Table{
		cfg:      cfg,
		h:        h,
		timeout:  cfg.FlushTimeout,
		maxSegs:  cfg.MaxSegments,
		maxBytes: cfg.MaxBytes,
		seed:     maphash.Comparable(maphash.MakeSeed(), 0) | 1,
		flows:    make([]flow, cfg.MaxFlows),
		buckets:  make([]int32, nb),
		mask:     uint64(nb - 1),
		free:     make([]int32, cfg.MaxFlows),
		oldest:   -1,
		newest:   -1,
	}
	for i := range t.buckets {
		t.buckets[i] = -1
	}
	for i := range t.free {
		// Pop from the end: flow 0 is used first.
		t.free[i] = int32(cfg.MaxFlows - 1 - i)
	}
	return t, nil
}

// Input takes ownership of one received frame: it joins a held aggregate, starts
// one, or is delivered (after its flow's held aggregate, if any). Deliveries
// happen inside Input, through the Handler. Input does not allocate.
func (t *Table) Input(now clock.Instant, frame *pkt.Buffer) {
	t.st.FramesIn++
	s := &t.s
	switch t.parse(frame, s) {
	case clsTCP:
	case clsNotTCP:
		t.st.PassNotTCP++
		t.other(frame, s)
		return
	case clsMalformed:
		t.st.PassMalformed++
		t.other(frame, s)
		return
	case clsFragment:
		t.st.PassFragment++
		t.other(frame, s)
		return
	case clsIPOptions:
		t.st.PassIPOptions++
		t.other(frame, s)
		return
	case clsIPv6Ext:
		t.st.PassIPv6Ext++
		t.other(frame, s)
		return
	}
	if !t.cfg.RxChecksumTrusted && frame.Meta.Checksum == pkt.ChecksumUnknown {
		if !s.checksumValid() {
			// Never merged; iface sees it unverified, drops and counts it.
			t.st.PassBadChecksum++
			t.other(frame, s)
			return
		}
		frame.Meta.Checksum = pkt.ChecksumVerified
	}
	t.st.SegmentsIn++
	if t.cfg.Disabled {
		t.st.PassDisabled++
		t.single1(now, frame, s)
		return
	}
	if frame.Meta.GSO != pkt.GSONone {
		t.flushKey(s, FlushUnmergeable)
		t.st.PassGSO++
		t.single1(now, frame, s)
		return
	}
	h := t.hash(&s.key)
	fi := t.lookup(s, h)
	if s.payLen == 0 {
		if fi >= 0 {
			t.flush(fi, FlushNoPayload)
		}
		t.st.PassNoPayload++
		t.single1(now, frame, s)
		return
	}
	if fi >= 0 {
		f := &t.flows[fi]
		r := t.mismatch(f, s)
		if r == NumReasons {
			t.merge(fi, frame, s)
			return
		}
		t.flush(fi, r)
	}
	if s.flags&(wire.FlagURG|wire.FlagPSH|wire.FlagRST|wire.FlagSYN|wire.FlagFIN) != 0 {
		// Linux: such a segment ends aggregation at once, so with nothing held
		// to join it goes up alone.
		t.st.PassFlags++
		t.single1(now, frame, s)
		return
	}
	t.start(now, frame, s, h)
}

// InputBatch gives every frame of b to Input, in order, and empties b.
func (t *Table) InputBatch(now clock.Instant, b *pkt.Batch) {
	for _, f := range b.Buffers() {
		t.Input(now, f)
	}
	b.Clear()
}

// FlushAll delivers every held aggregate, oldest first (FlushBatchEnd). Call it
// at the end of every receive round, before running TCP's timers and sending,
// so nothing waits for more frames that may never come.
func (t *Table) FlushAll() {
	for t.oldest >= 0 {
		t.flush(t.oldest, FlushBatchEnd)
	}
	t.publish()
}

// Poll delivers the aggregates held since before now-FlushTimeout (FlushTimer).
// It does nothing when FlushTimeout is zero.
func (t *Table) Poll(now clock.Instant) {
	if t.timeout > 0 {
		for t.oldest >= 0 && !now.Before(t.flows[t.oldest].agg.Arrived.Add(t.timeout)) {
			t.flush(t.oldest, FlushTimer)
		}
	}
	t.publish()
}

// Deadline returns when Poll next has work: the oldest held aggregate's arrival
// plus FlushTimeout, or clock.Never (nothing held, or no timer configured).
func (t *Table) Deadline() clock.Instant {
	if t.timeout == 0 || t.oldest < 0 {
		return clock.Never
	}
	return t.flows[t.oldest].agg.Arrived.Add(t.timeout)
}

// SetDisabled switches aggregation off (every frame delivered alone, as with
// Config.Disabled) or back on, at run time: the per-link switch, and A/B
// measurements in one run. Switching off first flushes what is held
// (FlushBatchEnd), so order is kept.
func (t *Table) SetDisabled(off bool) {
	if off {
		t.FlushAll()
	}
	t.cfg.Disabled = off
}

// Held returns the number of flows holding an aggregate.
func (t *Table) Held() int { return t.held }

// Stats returns the counters, exact. Owner goroutine only.
func (t *Table) Stats() Stats { return t.st }

// PublishedStats returns the counters as of the last FlushAll or Poll; safe from
// any goroutine.
func (t *Table) PublishedStats() Stats {
	t.pubMu.Lock()
	defer t.pubMu.Unlock()
	return t.pub
}

func (t *Table) publish() {
	t.pubMu.Lock()
	t.pub = t.st
	t.pubMu.Unlock()
}

// parse decodes frame into s with the wire parsers and classifies it. s.keyOK
// says whether the flow key is known (to keep a flow's order when its frame is
// passed on).
func (t *Table) parse(frame *pkt.Buffer, s *seg) class {
	s.key = flowKey{}
	s.keyOK = false
	b := frame.Bytes()
	off := 0
	var ipv6 bool
	if t.cfg.L2 {
		eth, err := wire.ParseEthernet(b)
		if err != nil {
			return clsMalformed
		}
		s.dstMAC, s.srcMAC = eth.Dst(), eth.Src()
		s.vlan, s.hasVLAN = eth.VLAN()
		switch eth.EtherType() {
		case wire.EtherTypeIPv4:
		case wire.EtherTypeIPv6:
			ipv6 = true
		default:
			return clsNotTCP
		}
		off = eth.HeaderLen()
		copy(s.key[0:6], s.dstMAC[:])
		copy(s.key[6:12], s.srcMAC[:])
		if s.hasVLAN {
			s.key[12], s.key[13] = byte(s.vlan>>8), byte(s.vlan)
			s.key[14] = 1
		}
	} else {
		s.dstMAC, s.srcMAC, s.vlan, s.hasVLAN = wire.MAC{}, wire.MAC{}, 0, false
		if len(b) == 0 {
			return clsMalformed
		}
		switch b[0] >> 4 {
		case 4:
		case 6:
			ipv6 = true
		default:
			return clsMalformed
		}
	}
	s.ipv6 = ipv6
	s.ipOff = off
	ipb := b[off:]
	var l4 []byte
	cls := clsTCP
	if !ipv6 {
		p, err := wire.ParseIPv4(ipb)
		if err != nil {
			return clsMalformed
		}
		if p.Protocol() != wire.ProtoTCP {
			return clsNotTCP
		}
		if p.IsFragment() {
			return clsFragment
		}
		if p.HeaderLen() != wire.IPv4HeaderSize {
			// Linux GRO takes only IHL 5; the flow is still identified below
			// so that a held aggregate of it goes first.
			cls = clsIPOptions
		}
		s.ttl, s.tos, s.df, s.id = p.TTL(), p.TOS(), p.DontFragment(), p.ID()
		s.flowLabel = 0
		s.src, s.dst = p.Src(), p.Dst()
		s.pseudo = pseudoSum(ipb[12:16], ipb[16:20])
		copy(s.key[16:20], ipb[12:16])
		copy(s.key[32:36], ipb[16:20])
		l4 = p.Payload()
		s.tcpOff = off + p.HeaderLen()
	} else {
		p, err := wire.ParseIPv6(ipb)
		if err != nil {
			return clsMalformed
		}
		switch p.NextHeader() {
		case wire.ProtoTCP:
		case wire.IPv6HopByHop, wire.IPv6Routing, wire.IPv6Fragment, wire.IPv6DestOptions:
			return clsIPv6Ext
		default:
			return clsNotTCP
		}
		s.ttl, s.tos, s.df, s.id = p.HopLimit(), p.TrafficClass(), false, 0
		s.flowLabel = p.FlowLabel()
		s.src, s.dst = p.Src(), p.Dst()
		s.pseudo = pseudoSum(ipb[8:24], ipb[24:40])
		s.key[14] |= 2
		copy(s.key[16:32], ipb[8:24])
		copy(s.key[32:48], ipb[24:40])
		s.key[52], s.key[53], s.key[54] = byte(s.flowLabel>>16), byte(s.flowLabel>>8), byte(s.flowLabel)
		l4 = p.Payload()
		s.tcpOff = off + wire.IPv6HeaderSize
	}
	tcp, err := wire.ParseTCP(l4)
	if err != nil {
		return clsMalformed
	}
	s.tcp = tcp
	th := tcp.Bytes()
	copy(s.key[48:52], th[0:4])
	s.keyOK = true
	s.seq, s.ack, s.flags, s.window = tcp.Seq(), tcp.Ack(), tcp.Flags(), tcp.Window()
	s.hdr12 = th[12]
	s.opts = tcp.Options()
	s.optEnd = s.tcpOff + tcp.HeaderLen()
	s.payOff = s.optEnd
	s.payLen = len(tcp.Payload())
	return cls
}

// hash mixes the key's words with the table's secret seed (multiply-xorshift
// rounds). A chain holds at most MaxFlows flows whatever the hash does, so the
// seed only keeps a peer from lining all its flows up on one chain.
func (t *Table) hash(k *flowKey) uint64 {
	h := t.seed
	for i := 0; i < keyLen; i += 8 {
		h ^= binary.LittleEndian.Uint64(k[i : i+8])
		h *= 0x9E3779B97F4A7C15
		h ^= h >> 29
	}
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>32
}

// pseudoSum is the TCP pseudo-header sum without the length, from the raw
// address bytes (RFC 9293 §3.1; RFC 8200 §8.1 for IPv6, where all 16 bytes count
// even for an IPv4-mapped address).
func pseudoSum(src, dst []byte) uint32 {
	return wire.Checksum(dst, wire.Checksum(src, 0)) + wire.ProtoTCP
}

// checksumValid verifies the TCP checksum of s.
func (s *seg) checksumValid() bool {
	b := s.tcp.Bytes()
	return wire.FoldChecksum(wire.Checksum(b, s.pseudo+uint32(len(b)))) == 0
}

// lookup returns the index of the flow holding s's key, or -1.
func (t *Table) lookup(s *seg, h uint64) int32 {
	for i := t.buckets[h&t.mask]; i >= 0; i = t.flows[i].next {
		f := &t.flows[i]
		if f.hash == h && f.key == s.key {
			return i
		}
	}
	return -1
}

// flushKey flushes the held aggregate of s's flow, if its key is known and one
// is held, so that the frame passed on next keeps its place in the flow.
func (t *Table) flushKey(s *seg, r Reason) {
	if !s.keyOK || t.held == 0 {
		return
	}
	if fi := t.lookup(s, t.hash(&s.key)); fi >= 0 {
		t.flush(fi, r)
	}
}

// mismatch applies the Linux rules that stop s from joining flow f's aggregate.
// It returns the first that applies, or NumReasons when s may be merged.
func (t *Table) mismatch(f *flow, s *seg) Reason {
	a := &f.agg
	if s.ttl != a.TTL {
		return FlushTTL
	}
	if s.tos != a.TOS {
		return FlushTOS
	}
	if !s.ipv6 {
		if s.df != a.DontFragment {
			return FlushDF
		}
		// Linux inet_gro_flush: the ID must be the first segment's plus the
		// count so far, or, with DF, equal to the first's; which of the two a
		// flow follows is decided by its second segment.
		inc := a.IPID + uint16(a.n)
		s.idMode = f.idMode
		switch f.idMode {
		case idUndecided:
			switch {
			case s.id == inc:
				s.idMode = idIncrement
			case s.df && s.id == a.IPID:
				s.idMode = idFixed
			default:
				return FlushIPID
			}
		case idIncrement:
			if s.id != inc {
				return FlushIPID
			}
		case idFixed:
			if s.id != a.IPID {
				return FlushIPID
			}
		}
	}
	if s.flags&wire.FlagCWR != 0 {
		return FlushCWR
	}
	if (s.flags^f.headFlags)&^(wire.FlagCWR|wire.FlagPSH|wire.FlagFIN) != 0 || (s.hdr12^f.hdr12)&0x0F != 0 {
		return FlushFlags
	}
	if s.ack != a.TCP.Ack {
		return FlushAck
	}
	if s.hdr12>>4 != f.hdr12>>4 || !bytes.Equal(s.opts, a.Options()) {
		return FlushOptions
	}
	if s.payLen > a.SegSize {
		return FlushLarger
	}
	if s.seq != f.nextSeq {
		return FlushSeq
	}
	if a.n >= t.maxSegs {
		return FlushSegCap
	}
	if f.hdrLen+a.PayloadLen+s.payLen > t.maxBytes {
		return FlushByteCap
	}
	return NumReasons
}

// merge appends s to flow fi's aggregate and flushes it if s ends it.
func (t *Table) merge(fi int32, frame *pkt.Buffer, s *seg) {
	f := &t.flows[fi]
	a := &f.agg
	a.add(frame, s.payOff, s.payLen)
	a.TCP.Flags |= s.flags & (wire.FlagPSH | wire.FlagFIN)
	a.TCP.Window = s.window
	f.nextSeq = s.seq.Add(uint32(s.payLen))
	f.idMode = s.idMode
	t.st.Merged++
	switch {
	case s.flags&wire.FlagPSH != 0:
		t.flush(fi, FlushPSH)
	case s.flags&wire.FlagFIN != 0:
		t.flush(fi, FlushFIN)
	case s.payLen < a.SegSize:
		t.flush(fi, FlushShort)
	default:
		t.capFlush(fi)
	}
}

// capFlush flushes flow fi when no further full-sized segment can join it.
// Linux waits for the segment that does not fit; flushing now delivers the same
// aggregate sooner.
func (t *Table) capFlush(fi int32) {
	f := &t.flows[fi]
	a := &f.agg
	switch {
	case a.n >= t.maxSegs:
		t.flush(fi, FlushSegCap)
	case f.hdrLen+a.PayloadLen+a.SegSize > t.maxBytes:
		t.flush(fi, FlushByteCap)
	}
}

// start makes s the first segment of a new aggregate.
func (t *Table) start(now clock.Instant, frame *pkt.Buffer, s *seg, h uint64) {
	if len(t.free) == 0 {
		t.flush(t.oldest, FlushEvicted)
	}
	fi := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	f := &t.flows[fi]
	f.key = s.key
	f.hash = h
	b := h & t.mask
	f.next = t.buckets[b]
	t.buckets[b] = fi
	f.newer = -1
	f.older = t.newest
	if t.newest >= 0 {
		t.flows[t.newest].newer = fi
	} else {
		t.oldest = fi
	}
	t.newest = fi
	t.held++

	f.nextSeq = s.seq.Add(uint32(s.payLen))
	f.headFlags = s.flags
	f.hdr12 = s.hdr12
	f.idMode = idUndecided
	f.hdrLen = s.payOff - s.ipOff
	a := &f.agg
	fillHeader(&a.Header, s, now)
	a.optEnd = s.optEnd
	a.add(frame, s.payOff, s.payLen)
	t.capFlush(fi)
}

// flush delivers flow fi's aggregate and frees the flow.
func (t *Table) flush(fi int32, r Reason) {
	f := &t.flows[fi]
	// Unlink from the hash chain.
	b := f.hash & t.mask
	if t.buckets[b] == fi {
		t.buckets[b] = f.next
	} else {
		for i := t.buckets[b]; i >= 0; i = t.flows[i].next {
			if t.flows[i].next == fi {
				t.flows[i].next = f.next
				break
			}
		}
	}
	// Unlink from the age list.
	if f.older >= 0 {
		t.flows[f.older].newer = f.newer
	} else {
		t.oldest = f.newer
	}
	if f.newer >= 0 {
		t.flows[f.newer].older = f.older
	} else {
		t.newest = f.older
	}
	t.held--
	t.st.Flushes[r]++
	a := &f.agg
	a.Segs = a.n
	t.deliver(a)
	t.free = append(t.free, fi)
}

// single1 delivers s's frame alone as a KindTCP aggregate.
func (t *Table) single1(now clock.Instant, frame *pkt.Buffer, s *seg) {
	a := &t.single
	fillHeader(&a.Header, s, now)
	a.optEnd = s.optEnd
	a.add(frame, s.payOff, s.payLen)
	a.Segs = 1
	if m := frame.Meta; m.GSO != pkt.GSONone && m.GSOSize > 0 && s.payLen > int(m.GSOSize) {
		a.SegSize = int(m.GSOSize)
		a.Segs = (s.payLen + a.SegSize - 1) / a.SegSize
	}
	t.deliver(a)
}

// other delivers frame alone as KindOther, after its flow's held aggregate.
func (t *Table) other(frame *pkt.Buffer, s *seg) {
	t.flushKey(s, FlushUnmergeable)
	a := &t.single
	a.Header = Header{Kind: KindOther}
	a.optEnd = 0
	a.frames[0] = frame
	a.spans[0] = span{}
	a.n = 1
	t.deliver(a)
}

// deliver hands a to the handler and releases whatever it left behind.
func (t *Table) deliver(a *Aggregate) {
	t.st.FramesOut += uint64(a.n)
	if a.Kind == KindTCP {
		t.st.AggregatesOut++
		t.st.SegmentsOut += uint64(a.Segs)
	} else {
		t.st.OtherOut++
	}
	t.h.Deliver(a)
	if a.n != 0 {
		t.st.HandlerLeaks += uint64(a.n)
		a.Release()
	}
}

// fillHeader sets h from the parsed segment s.
func fillHeader(h *Header, s *seg, now clock.Instant) {
	*h = Header{
		Kind:         KindTCP,
		DstMAC:       s.dstMAC,
		SrcMAC:       s.srcMAC,
		HasVLAN:      s.hasVLAN,
		VLAN:         s.vlan,
		IPv6:         s.ipv6,
		Src:          s.src,
		Dst:          s.dst,
		TTL:          s.ttl,
		TOS:          s.tos,
		DontFragment: s.df,
		IPID:         s.id,
		FlowLabel:    s.flowLabel,
		IPOffset:     s.ipOff,
		TCPOffset:    s.tcpOff,
		SegSize:      s.payLen,
		Arrived:      now,
	}
	h.TCP.SrcPort = s.tcp.SrcPort()
	h.TCP.DstPort = s.tcp.DstPort()
	h.TCP.Seq = s.seq
	h.TCP.Ack = s.ack
	h.TCP.Flags = s.flags
	h.TCP.Window = s.window
	h.TCP.Urgent = s.tcp.Urgent()
	wire.ParseTCPOptions(s.opts, &h.TCP.Options)
}
