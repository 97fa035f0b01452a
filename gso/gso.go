// Package gso is transmit segmentation in software: it cuts a TCP super-frame
// (up to 64 KiB of payload behind one set of headers, marked with pkt.Meta.GSO and
// GSOSize, the way the stack's TCP emits it) into MSS-sized frames for a device
// that cannot segment (no link.Capabilities.TSO), and finishes partial checksums
// for a device that cannot fill them (no TxChecksumOffload).
//
// Each segment is a copy of the super-frame's headers (Ethernet when Config.L2,
// IPv4 with its options or IPv6 with its extension headers, TCP with its options,
// so timestamps are in every segment) followed by its share of the payload, in a
// new buffer from the Segmenter's pool. The rules are those of Linux's
// tcp_gso_segment and inet_gso_segment / ipv6_gso_segment:
//
//   - sequence numbers advance by the payload of the segments before;
//   - IPv4 total length and IPv6 payload length are per segment; IPv4 IDs
//     increment from the super-frame's (iface reserves that many IDs for a
//     super-frame); the IPv4 header checksum is recomputed;
//   - CWR only on the first segment (it reports one congestion-window reduction,
//     RFC 3168 §6.1.2), PSH and FIN only on the last (they belong to the end of
//     the data); other flags on every segment;
//   - URG on the segments that start before the urgent pointer, with the pointer
//     made relative to each (RFC 9293 §3.8.5);
//   - the TCP checksum filled completely, or, with Config.ChecksumOffload, left
//     as the pseudo-header sum with Meta.Checksum = ChecksumPartial and
//     CsumStart/CsumOffset pointing at it (virtio-net semantics) for the device.
//
// A Segmenter belongs to one goroutine (a device queue's owner). Segment and
// FinishChecksum do not allocate.
package gso

import (
	"encoding/binary"
	"errors"
	"fmt"

	"offload/pkt"
	"offload/wire"
)

// Errors from Segment. On any error nothing was added to the batch and every
// buffer taken for the super-frame was released; the super-frame itself stays
// the caller's.
var (
	// ErrNotGSO: the frame's Meta.GSO is GSONone, GSOSize is 0, or the GSO type
	// does not match the IP version.
	ErrNotGSO = errors.New("gso: frame is not a TCP super-frame")
	// ErrMalformed: the headers do not parse as Ethernet/IP/TCP, or the IP
	// packet is a fragment or not TCP.
	ErrMalformed = errors.New("gso: malformed super-frame")
	// ErrTooBig: headers plus one segment do not fit a pool buffer.
	ErrTooBig = errors.New("gso: segment larger than a pool buffer")
	// ErrTooManySegments: the super-frame would need more than
	// Config.MaxSegments segments (a tiny GSOSize).
	ErrTooManySegments = errors.New("gso: too many segments")
	// ErrNoRoom: the output batch has less free room than segments are needed;
	// send the batch and retry.
	ErrNoRoom = errors.New("gso: output batch full")
	// ErrNoBuffers: the pool ran dry midway; the segments built were released.
	ErrNoBuffers = errors.New("gso: buffer pool exhausted")
	// ErrBadChecksumOffsets: FinishChecksum was given CsumStart/CsumOffset
	// outside the frame.
	ErrBadChecksumOffsets = errors.New("gso: checksum offsets outside the frame")
)

// DefaultMaxSegments bounds the segments of one super-frame: 64 KiB at an MSS
// of 256 bytes.
const DefaultMaxSegments = 256

// Config describes a Segmenter.
type Config struct {
	// L2: frames start with an Ethernet header (with at most one 802.1Q tag).
	L2 bool
	// Pool supplies the segments' buffers. Required.
	Pool *pkt.Pool
	// ChecksumOffload: the device fills TCP checksums (TxChecksumOffload), so
	// segments leave with the pseudo-header sum and Meta.Checksum =
	// ChecksumPartial. When false the checksum is filled here.
	ChecksumOffload bool
	// MaxSegments bounds the work for one super-frame (default 256).
	MaxSegments int
	// ResetHeadroom: start each segment Headroom bytes into its buffer (a
	// device's Capabilities.Headroom) rather than at the pool's headroom.
	// A stack's transmit pool reserves room in front for the IP and Ethernet
	// headers it prepends later; a segment arrives with those headers already
	// in place, so it needs only the device's room, and with this it fits a
	// buffer of that same pool.
	ResetHeadroom bool
	Headroom      int
}

// Stats are a Segmenter's counters.
type Stats struct {
	SuperFrames   uint64 // super-frames segmented
	Segments      uint64 // segments produced
	PoolExhausted uint64 // super-frames abandoned because the pool ran dry
	NoRoom        uint64 // calls refused for want of batch room
	Refused       uint64 // malformed, not GSO, too big or too many segments
}

// Segmenter cuts super-frames. Owned by one goroutine.
type Segmenter struct {
	cfg     Config
	scratch []*pkt.Buffer
	st      Stats
}

// New returns a Segmenter.
func New(cfg Config) (*Segmenter, error) {
	if cfg.Pool == nil {
		return nil, errors.New("gso: Config.Pool is nil")
	}
	if cfg.MaxSegments == 0 {
		cfg.MaxSegments = DefaultMaxSegments
	}
	if cfg.MaxSegments < 1 || cfg.MaxSegments > 1<<16 {
		return nil, fmt.Errorf("gso: MaxSegments %d outside 1..65536", cfg.MaxSegments)
	}
	if !cfg.ResetHeadroom {
		cfg.Headroom = cfg.Pool.Headroom()
	} else if cfg.Headroom < 0 || cfg.Headroom > cfg.Pool.BufferSize() {
		return nil, fmt.Errorf("gso: Headroom %d outside the pool's %d-byte buffers", cfg.Headroom, cfg.Pool.BufferSize())
	}
	return &Segmenter{cfg: cfg, scratch: make([]*pkt.Buffer, 0, cfg.MaxSegments)}, nil
}

// Stats returns the counters.
func (s *Segmenter) Stats() Stats { return s.st }

// layout is where the headers of a super-frame are.
type layout struct {
	ipOff  int // IP header start
	tcpOff int // TCP header start
	payOff int // payload start (end of all headers)
	payEnd int // end of the TCP payload (IP length; trailing padding excluded)
	ipv6   bool
}

// parse checks the super-frame with the wire parsers and finds its headers.
func parse(b []byte, l2 bool) (layout, error) {
	var l layout
	var ipv6 bool
	if l2 {
		eth, err := wire.ParseEthernet(b)
		if err != nil {
			return l, ErrMalformed
		}
		switch eth.EtherType() {
		case wire.EtherTypeIPv4:
		case wire.EtherTypeIPv6:
			ipv6 = true
		default:
			return l, ErrMalformed
		}
		l.ipOff = eth.HeaderLen()
	} else if len(b) > 0 && b[0]>>4 == 6 {
		ipv6 = true
	}
	var l4 []byte
	if ipv6 {
		p, err := wire.ParseIPv6(b[l.ipOff:])
		if err != nil {
			return l, ErrMalformed
		}
		proto, up, err := p.UpperLayer()
		if err != nil || proto != wire.ProtoTCP {
			return l, ErrMalformed
		}
		l4 = up
		l.tcpOff = l.ipOff + len(p.Bytes()) - len(up)
		l.payEnd = l.ipOff + len(p.Bytes())
	} else {
		p, err := wire.ParseIPv4(b[l.ipOff:])
		if err != nil || p.Protocol() != wire.ProtoTCP || p.IsFragment() {
			return l, ErrMalformed
		}
		l4 = p.Payload()
		l.tcpOff = l.ipOff + p.HeaderLen()
		l.payEnd = l.ipOff + len(p.Bytes())
	}
	t, err := wire.ParseTCP(l4)
	if err != nil {
		return l, ErrMalformed
	}
	l.ipv6 = ipv6
	l.payOff = l.tcpOff + t.HeaderLen()
	return l, nil
}

// Segment cuts frame into segments of at most frame.Meta.GSOSize payload bytes,
// appends them to out in sequence order and returns how many. The frame stays
// the caller's (release it after a successful call, or keep it to retry after
// ErrNoRoom). A super-frame whose payload fits one segment yields one segment.
func (s *Segmenter) Segment(frame *pkt.Buffer, out *pkt.Batch) (int, error) {
	m := frame.Meta
	b := frame.Bytes()
	if m.GSO == pkt.GSONone || m.GSOSize == 0 {
		s.st.Refused++
		return 0, ErrNotGSO
	}
	l, err := parse(b, s.cfg.L2)
	if err != nil {
		s.st.Refused++
		return 0, err
	}
	if (m.GSO == pkt.GSOTCPv6) != l.ipv6 {
		s.st.Refused++
		return 0, ErrNotGSO
	}
	mss := int(m.GSOSize)
	payLen := l.payEnd - l.payOff
	nseg := max((payLen+mss-1)/mss, 1)
	if nseg > s.cfg.MaxSegments {
		s.st.Refused++
		return 0, ErrTooManySegments
	}
	pool := s.cfg.Pool
	if l.payOff+min(mss, payLen) > pool.BufferSize()-s.cfg.Headroom {
		s.st.Refused++
		return 0, ErrTooBig
	}
	if out.Cap()-out.Len() < nseg {
		s.st.NoRoom++
		return 0, ErrNoRoom
	}

	hdr := b[:l.payOff]
	payload := b[l.payOff:l.payEnd]
	tcp0 := b[l.tcpOff:]
	seq0 := binary.BigEndian.Uint32(tcp0[4:8])
	flags := wire.TCPFlags(tcp0[13])
	urg := binary.BigEndian.Uint16(tcp0[18:20])
	var id0 uint16
	var src, dst []byte
	if l.ipv6 {
		src, dst = b[l.ipOff+8:l.ipOff+24], b[l.ipOff+24:l.ipOff+40]
	} else {
		id0 = binary.BigEndian.Uint16(b[l.ipOff+4 : l.ipOff+6])
		src, dst = b[l.ipOff+12:l.ipOff+16], b[l.ipOff+16:l.ipOff+20]
	}
	ph := pseudoSum(src, dst)
	tcpHdrLen := l.payOff - l.tcpOff

	bufs := s.scratch[:0]
	for i := 0; i < nseg; i++ {
		buf := pool.Get()
		if buf == nil {
			for _, x := range bufs {
				x.Release()
			}
			clear(bufs)
			s.st.PoolExhausted++
			return 0, ErrNoBuffers
		}
		if s.cfg.ResetHeadroom {
			buf.Reset(s.cfg.Headroom)
		}
		bufs = append(bufs, buf)
		start := i * mss
		n := min(mss, payLen-start)
		d := buf.Append(l.payOff + n)
		copy(d, hdr)
		copy(d[l.payOff:], payload[start:start+n])
		tcpLen := tcpHdrLen + n
		if l.ipv6 {
			binary.BigEndian.PutUint16(d[l.ipOff+4:], uint16(l.tcpOff-l.ipOff-wire.IPv6HeaderSize+tcpLen))
		} else {
			ip := d[l.ipOff:l.tcpOff]
			binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+tcpLen))
			binary.BigEndian.PutUint16(ip[4:], id0+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], wire.FoldChecksum(wire.Checksum(ip, 0)))
		}
		t := d[l.tcpOff:]
		seq := seq0 + uint32(start)
		binary.BigEndian.PutUint32(t[4:], seq)
		f := flags
		if i > 0 {
			f &^= wire.FlagCWR
		}
		if i < nseg-1 {
			f &^= wire.FlagPSH | wire.FlagFIN
		}
		up := uint16(0)
		if flags&wire.FlagURG != 0 {
			// The urgent pointer is an offset from each segment's sequence
			// number to the end of the urgent data.
			if rel := int32(seq0 + uint32(urg) - seq); rel > 0 {
				up = uint16(min(rel, 0xFFFF))
			} else {
				f &^= wire.FlagURG
			}
		}
		t[13] = byte(f)
		binary.BigEndian.PutUint16(t[18:], up)
		sum := ph + uint32(tcpLen)
		buf.Meta = pkt.Meta{Queue: m.Queue}
		if s.cfg.ChecksumOffload {
			binary.BigEndian.PutUint16(t[16:], ^wire.FoldChecksum(foldSum(sum)))
			buf.Meta.Checksum = pkt.ChecksumPartial
			buf.Meta.CsumStart = uint16(l.tcpOff)
			buf.Meta.CsumOffset = 16
		} else {
			// Summed after the copy, from L1: measured faster than one
			// fused copy-and-sum loop, which loses memmove's wide moves.
			t[16], t[17] = 0, 0
			binary.BigEndian.PutUint16(t[16:], wire.FoldChecksum(wire.Checksum(t[:tcpLen], foldSum(sum))))
		}
	}
	for _, x := range bufs {
		out.Add(x)
	}
	clear(bufs)
	s.st.SuperFrames++
	s.st.Segments += uint64(nseg)
	return nseg, nil
}

// pseudoSum is the pseudo-header sum without the length (RFC 9293 §3.1, RFC 8200
// §8.1), from the raw address bytes (4 or 16 each).
func pseudoSum(src, dst []byte) uint32 {
	s := wire.Checksum(src, 0)
	s = wire.Checksum(dst, s)
	return s + wire.ProtoTCP
}

// foldSum reduces a sum of a few 16-bit partial sums to 16 bits.
func foldSum(s uint32) uint32 {
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	return s
}

// FinishChecksum completes a ChecksumPartial frame's transport checksum in
// software, for a device without TxChecksumOffload: the field at
// CsumStart+CsumOffset holds the pseudo-header sum, and the one's-complement sum
// from CsumStart to the end of the frame is stored there (virtio-net
// VIRTIO_NET_HDR_F_NEEDS_CSUM semantics). The frame is then marked
// ChecksumUnknown (complete; nothing for the device to do). Frames in any other
// state are left alone. The frame must end where the IP packet ends (no
// Ethernet padding), as every frame the stack builds does.
func FinishChecksum(frame *pkt.Buffer) error {
	m := &frame.Meta
	if m.Checksum != pkt.ChecksumPartial {
		return nil
	}
	b := frame.Bytes()
	start, at := int(m.CsumStart), int(m.CsumStart)+int(m.CsumOffset)
	if at+2 > len(b) || m.CsumOffset%2 != 0 {
		return ErrBadChecksumOffsets
	}
	c := wire.FoldChecksum(wire.Checksum(b[start:], 0))
	binary.BigEndian.PutUint16(b[at:], c)
	m.Checksum = pkt.ChecksumUnknown
	m.CsumStart, m.CsumOffset = 0, 0
	return nil
}
