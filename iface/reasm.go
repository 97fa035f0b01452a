package iface

import (
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Fragment reassembly (RFC 791 §3.2, RFC 815, RFC 8200 §4.5), bounded in every
// dimension an attacker controls:
//
//   - at most Config.ReassemblyDatagrams datagrams at once, each reassembled in
//     place in one buffer large enough for any datagram (so memory is at most
//     that many buffers, allocated on first use and reused, never freed);
//   - at most Config.ReassemblyBytes of fragment data held over all datagrams;
//   - at most Config.ReassemblyFragments fragments per datagram;
//   - each datagram dropped ReassemblyTimeout (IPv4) or ReassemblyTimeout6
//     (IPv6) after its first fragment arrived.
//
// When a new datagram finds no free slot or not enough free bytes, the oldest
// datagrams are dropped to make room: state a flood created is recycled rather
// than left to block every new datagram for a whole timeout.
//
// Overlapping fragments drop the whole datagram: RFC 5722 requires it for
// IPv6, and doing the same for IPv4 (where RFC 791 would let later data
// overwrite earlier) removes the ambiguity overlap attacks on IDSs and
// firewalls exploit (RFC 1858, RFC 3128). An exact duplicate of a fragment
// already held (same offset and length, as a network duplication produces) is
// dropped alone and the datagram kept, as Linux does. A fragment that would
// make the datagram larger than 65,535 bytes (IPv4 total length; IPv6 payload
// length, jumbograms not supported), a non-final fragment whose length is not
// a multiple of 8, and fragments inconsistent with an already known end drop
// the whole datagram. No ICMP time exceeded or parameter problem is sent for
// any of these (RFC 792 and RFC 8200 allow it, but a host gains nothing from
// answering a flood).
//
// A completed datagram is handed out in its slot's buffer (Inbound.Frame); the
// slot is reclaimed at the next Input or Poll.

type fragKey struct {
	src, dst nkey
	id       uint32
	proto    uint8 // IPv4 only: part of the key (RFC 791); 0 for IPv6 (RFC 8200 §4.5)
	v6       bool
}

type span struct{ start, end int32 }

type reasmSlot struct {
	key    fragKey
	inUse  bool
	buf    *pkt.Buffer // allocated on first use, reused afterwards
	spans  []span      // received fragments, at most maxFrags
	got    int         // payload bytes held
	total  int         // payload length of the whole; -1 until the last fragment arrived
	hdrLen int         // IP header length kept from the offset-0 fragment; 0 until it arrived
	proto  uint8       // IPv6: next header of the fragmentable part, from the offset-0 fragment
	born   clock.Instant
	due    clock.Instant
}

type reassembler struct {
	slots    []reasmSlot
	idx      map[fragKey]int32
	maxFrags int
	maxBytes int
	held     int // bytes held over all slots
	timeout  time.Duration
	timeout6 time.Duration
	front    int // payload offset in a slot buffer: link header + largest IP header
	linkLen  int
	lent     int32 // slot handed out through Inbound.Frame, reclaimed next call
	earliest clock.Instant
}

// maxIPHeader is the most room a rebuilt IP header needs: a 60-byte IPv4 header
// with options, or IPv6's 40 bytes.
const maxIPHeader = 60

func newReassembler(cfg *Config, linkLen int) *reassembler {
	return &reassembler{
		slots:    make([]reasmSlot, cfg.ReassemblyDatagrams),
		idx:      make(map[fragKey]int32),
		maxFrags: cfg.ReassemblyFragments,
		maxBytes: cfg.ReassemblyBytes,
		timeout:  cfg.ReassemblyTimeout,
		timeout6: cfg.ReassemblyTimeout6,
		front:    linkLen + maxIPHeader,
		linkLen:  linkLen,
		lent:     nilIdx,
		earliest: clock.Never,
	}
}

// reclaim frees the slot whose datagram was handed out by the previous call.
func (r *reassembler) reclaim() {
	if r.lent != nilIdx {
		r.free(r.lent)
		r.lent = nilIdx
	}
}

func (r *reassembler) free(k int32) {
	s := &r.slots[k]
	if !s.inUse {
		return
	}
	if j, ok := r.idx[s.key]; ok && j == k {
		delete(r.idx, s.key)
	}
	r.held -= s.got
	s.inUse = false
	s.spans = s.spans[:0]
}

// dropDatagram discards slot k's datagram and counts one more fragment drop
// for the fragment that caused it.
func (i *Interface) dropDatagram(k int32) {
	i.reasm.free(k)
	i.st.RxFragDrops++
}

// makeRoom drops the oldest datagrams (never keep, nor the one lent out)
// until a slot is free, when slot is set, and need more bytes fit. It returns
// a free slot (or nilIdx if slot was not asked for) and whether room was made.
func (i *Interface) makeRoom(need int, keep int32, slot bool) (int32, bool) {
	r := i.reasm
	if need > r.maxBytes {
		return nilIdx, false
	}
	for {
		free, oldest := int32(nilIdx), int32(nilIdx)
		for k := range r.slots {
			s := &r.slots[k]
			if !s.inUse {
				if free == nilIdx {
					free = int32(k)
				}
				continue
			}
			if int32(k) != r.lent && int32(k) != keep && (oldest == nilIdx || s.born < r.slots[oldest].born) {
				oldest = int32(k)
			}
		}
		if (free != nilIdx || !slot) && r.held+need <= r.maxBytes {
			return free, true
		}
		if oldest == nilIdx {
			return nilIdx, false
		}
		r.free(oldest)
		i.st.ReasmEvicted++
	}
}

// slotFor finds or creates the slot for key, making room by dropping the
// oldest datagrams. It returns nilIdx when the fragment cannot be held.
func (i *Interface) slotFor(now clock.Instant, key fragKey, need int) int32 {
	r := i.reasm
	if k, ok := r.idx[key]; ok {
		return k
	}
	free, ok := i.makeRoom(need, nilIdx, true)
	if !ok {
		return nilIdx
	}
	s := &r.slots[free]
	if s.buf == nil {
		s.buf = pkt.NewBuffer(r.front+65535, 0)
		s.spans = make([]span, 0, r.maxFrags)
	}
	timeout := r.timeout
	if key.v6 {
		timeout = r.timeout6
	}
	s.key, s.inUse, s.got, s.total, s.hdrLen, s.proto = key, true, 0, -1, 0, 0
	s.spans = s.spans[:0]
	s.born, s.due = now, now.Add(timeout)
	if s.due < r.earliest {
		r.earliest = s.due
	}
	r.idx[key] = free
	return free
}

// addFragment puts data at offset off of the datagram in slot k. more is the
// fragment's MF/M flag; limit the largest payload end the datagram may have.
// It returns false when the fragment was not kept (an exact duplicate) or the
// datagram was dropped; either is counted.
func (i *Interface) addFragment(k int32, off int, data []byte, more bool, limit int) bool {
	r := i.reasm
	s := &r.slots[k]
	end := off + len(data)
	switch {
	case more && len(data)%8 != 0, more && len(data) == 0:
		// RFC 791 §3.2 / RFC 8200 §4.5: every fragment but the last carries a
		// multiple of 8 bytes (and some).
		i.st.ReasmBadFragment++
	case end > limit:
		i.st.ReasmTooBig++
	case !more && s.total >= 0 && end != s.total, s.total >= 0 && end > s.total,
		!more && end < s.maxEnd():
		// A second, different end, or data past the end.
		i.st.ReasmBadFragment++
	case len(s.spans) == r.maxFrags:
		i.st.ReasmTooManyFragments++
	default:
		for _, sp := range s.spans {
			if int(sp.start) == off && int(sp.end) == end {
				// An exact duplicate: keep the first copy and the datagram.
				i.st.ReasmDuplicates++
				i.st.RxFragDrops++
				return false
			}
			if off < int(sp.end) && int(sp.start) < end {
				i.st.ReasmOverlaps++ // RFC 5722
				i.dropDatagram(k)
				return false
			}
		}
		if r.held+len(data) > r.maxBytes {
			if _, ok := i.makeRoom(len(data), k, false); !ok {
				i.st.ReasmNoRoom++
				i.dropDatagram(k)
				return false
			}
		}
		copy(s.buf.Storage()[r.front+off:], data)
		s.spans = append(s.spans, span{int32(off), int32(end)})
		s.got += len(data)
		r.held += len(data)
		if !more {
			s.total = end
		}
		return true
	}
	i.dropDatagram(k)
	return false
}

func (s *reasmSlot) maxEnd() int {
	m := 0
	for _, sp := range s.spans {
		m = max(m, int(sp.end))
	}
	return m
}

// complete reports whether slot k holds every byte of its datagram. Since no
// two fragments overlap, the byte count alone says so.
func (r *reassembler) complete(k int32) bool {
	s := &r.slots[k]
	return s.total >= 0 && s.got == s.total && s.hdrLen > 0
}

// finish lays the frame of a completed datagram out in its slot (link header,
// then the IP header at s.buf.Bytes()[linkLen:]) and marks it lent.
func (r *reassembler) finish(k int32, link []byte) {
	s := &r.slots[k]
	start := r.front - s.hdrLen - r.linkLen
	st := s.buf.Storage()
	copy(st[start:], link[:min(len(link), r.linkLen)])
	s.buf.SetRange(start, r.front+s.total)
	s.buf.Meta = pkt.Meta{}
	delete(r.idx, s.key) // a late duplicate starts a new datagram, not this one
	r.lent = k
}

// reassemble4 adds an IPv4 fragment. It returns the slot of the datagram it
// completed (its buffer holds link header, IPv4 header and payload), or -1.
func (i *Interface) reassemble4(now clock.Instant, p wire.IPv4, link []byte) int32 {
	data := p.Payload()
	off := int(p.FragOffset())
	key := fragKey{src: key4(v4(p.Src())), dst: key4(v4(p.Dst())), id: uint32(p.ID()), proto: p.Protocol()}
	k := i.slotFor(now, key, len(data))
	if k == nilIdx {
		i.st.ReasmNoRoom++
		i.st.RxFragDrops++
		return nilIdx
	}
	r := i.reasm
	s := &r.slots[k]
	// The whole's total length (header of the first fragment included) may
	// not pass 65,535; fragments may carry headers of different lengths.
	limit := 65535 - max(p.HeaderLen(), s.hdrLen)
	if !i.addFragment(k, off, data, p.MoreFragments(), limit) {
		return nilIdx
	}
	if off == 0 && s.hdrLen == 0 {
		// RFC 791: the first fragment's header (options included) heads the whole.
		if s.maxEnd() > 65535-p.HeaderLen() {
			i.st.ReasmTooBig++
			i.dropDatagram(k)
			return nilIdx
		}
		s.hdrLen = p.HeaderLen()
		copy(s.buf.Storage()[r.front-s.hdrLen:], p.Bytes()[:s.hdrLen])
	}
	if !r.complete(k) {
		i.st.FragmentsHeld++
		return nilIdx
	}
	h := s.buf.Storage()[r.front-s.hdrLen : r.front]
	total := s.hdrLen + s.total
	h[2], h[3] = byte(total>>8), byte(total)
	h[6], h[7] = h[6]&0x40, 0 // keep DF, clear MF and the offset
	h[10], h[11] = 0, 0
	c := wire.FoldChecksum(wire.Checksum(h, 0))
	h[10], h[11] = byte(c>>8), byte(c)
	r.finish(k, link)
	i.st.ReasmDone++
	return k
}

// reassemble6 adds an IPv6 fragment: fh is its fragment header, data the
// fragmentable part it carries, unfrag the length of the extension headers in
// front of the fragment header. It returns the slot of the datagram it
// completed (link header, a fixed IPv6 header whose next header is the
// fragmentable part's, and that part), or -1.
func (i *Interface) reassemble6(now clock.Instant, p wire.IPv6, fh wire.IPv6FragmentFields, data []byte, unfrag int, link []byte) int32 {
	if fh.Offset == 0 && !headerChainComplete(fh.NextHeader, data) {
		// RFC 7112 §5: a first fragment must hold the whole header chain, or
		// filters cannot see the ports; it is dropped.
		i.st.ReasmBadFragment++
		i.st.RxFragDrops++
		return nilIdx
	}
	key := fragKey{src: nkey(p.Bytes()[8:24]), dst: nkey(p.Bytes()[24:40]), id: fh.ID, v6: true}
	k := i.slotFor(now, key, len(data))
	if k == nilIdx {
		i.st.ReasmNoRoom++
		i.st.RxFragDrops++
		return nilIdx
	}
	r := i.reasm
	// RFC 8200 §4.5: the reassembled payload length (the unfragmentable
	// extension headers plus the fragmentable part) may not pass 65,535.
	if !i.addFragment(k, int(fh.Offset), data, fh.More, 65535-unfrag) {
		return nilIdx
	}
	s := &r.slots[k]
	if fh.Offset == 0 && s.hdrLen == 0 {
		s.hdrLen = wire.IPv6HeaderSize
		s.proto = fh.NextHeader
		copy(s.buf.Storage()[r.front-s.hdrLen:], p.Bytes()[:wire.IPv6HeaderSize])
	}
	if !r.complete(k) {
		i.st.FragmentsHeld++
		return nilIdx
	}
	h := s.buf.Storage()[r.front-s.hdrLen : r.front]
	h[4], h[5] = byte(s.total>>8), byte(s.total)
	h[6] = s.proto
	r.finish(k, link)
	i.st.ReasmDone++
	return k
}

// expire drops the datagrams whose time is up.
func (i *Interface) expireFragments(now clock.Instant) {
	r := i.reasm
	if now < r.earliest {
		return
	}
	r.earliest = clock.Never
	for k := range r.slots {
		s := &r.slots[k]
		if !s.inUse || int32(k) == r.lent {
			continue
		}
		if now >= s.due {
			r.free(int32(k))
			i.st.ReasmTimeouts++
			continue
		}
		if s.due < r.earliest {
			r.earliest = s.due
		}
	}
}

// ReassemblyInUse returns the datagrams currently in reassembly and the
// fragment bytes they hold (for monitoring and tests).
func (i *Interface) ReassemblyInUse() (datagrams, bytes int) {
	return len(i.reasm.idx), i.reasm.held
}

// headerChainComplete reports whether b, the fragmentable part of a first
// fragment starting with header type nh, holds every extension header and the
// upper-layer header (TCP's 20 bytes, UDP's and ICMPv6's 8) in full.
func headerChainComplete(nh uint8, b []byte) bool {
	for n := 0; n < 8; n++ {
		switch nh {
		case wire.IPv6HopByHop, wire.IPv6DestOptions, wire.IPv6Routing:
			if len(b) < 8 || (int(b[1])+1)*8 > len(b) {
				return false
			}
			nh, b = b[0], b[(int(b[1])+1)*8:]
			continue
		case wire.ProtoTCP:
			return len(b) >= wire.TCPHeaderSize
		case wire.ProtoUDP:
			return len(b) >= wire.UDPHeaderSize
		case wire.ProtoICMPv6:
			return len(b) >= wire.ICMPv6HeaderSize
		}
		return true
	}
	return false
}
