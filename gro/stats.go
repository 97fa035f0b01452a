package gro

// Reason is why a held aggregate was flushed: one per Linux GRO rule, plus the
// table's own events. See the package documentation for each rule.
type Reason uint8

const (
	FlushBatchEnd    Reason = iota // FlushAll: the end of a receive round
	FlushTimer                     // Poll: held longer than Config.FlushTimeout
	FlushEvicted                   // the table was full and this was the oldest flow
	FlushTTL                       // TTL / hop limit differs
	FlushTOS                       // TOS / traffic class differs
	FlushDF                        // IPv4 DF bit differs
	FlushIPID                      // IPv4 ID neither incrementing nor fixed with DF
	FlushCWR                       // CWR set in a later segment
	FlushFlags                     // flags other than CWR/PSH/FIN (or reserved bits) differ
	FlushAck                       // ACK number differs
	FlushOptions                   // option bytes or header length differ
	FlushSeq                       // sequence number is not the next expected
	FlushLarger                    // payload larger than the first segment's
	FlushNoPayload                 // a segment of the flow without payload (pure ACK)
	FlushUnmergeable               // a frame of the flow that cannot be merged at all
	FlushShort                     // merged segment shorter than the first
	FlushPSH                       // merged segment carried PSH
	FlushFIN                       // merged segment carried FIN
	FlushByteCap                   // Config.MaxBytes reached
	FlushSegCap                    // Config.MaxSegments reached
	NumReasons
)

var reasonNames = [NumReasons]string{
	"batch-end", "timer", "evicted", "ttl", "tos", "df", "ip-id", "cwr", "flags",
	"ack", "options", "seq", "larger", "no-payload", "unmergeable", "short", "psh",
	"fin", "byte-cap", "seg-cap",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "invalid"
}

// Stats are a Table's counters since New.
//
// Every frame given to Input leaves exactly once, delivered: FramesIn ==
// FramesOut + the frames held right now (zero after FlushAll).
type Stats struct {
	FramesIn  uint64 // frames given to Input
	FramesOut uint64 // frames delivered (in aggregates of either kind)

	SegmentsIn    uint64 // TCP segments parsed and verified (delivered as KindTCP)
	Merged        uint64 // segments appended to a held aggregate
	AggregatesOut uint64 // KindTCP deliveries, merged or single
	SegmentsOut   uint64 // wire segments in KindTCP deliveries (sum of Segs)
	OtherOut      uint64 // KindOther deliveries

	// Frames passed on alone, by reason.
	PassNotTCP      uint64 // not IPv4/IPv6 TCP (ARP, ICMP, UDP, other EtherTypes)
	PassMalformed   uint64 // a header the wire parsers refused
	PassFragment    uint64 // IPv4 fragment
	PassIPOptions   uint64 // IPv4 header with options (IHL != 5), as Linux
	PassIPv6Ext     uint64 // IPv6 extension headers before TCP
	PassBadChecksum uint64 // TCP checksum wrong: never merged
	PassGSO         uint64 // a GSO super-frame from the device, already large
	PassNoPayload   uint64 // no TCP payload (pure ACK, bare SYN/FIN/RST)
	PassFlags       uint64 // payload with URG, PSH, RST, SYN or FIN and nothing to join
	PassDisabled    uint64 // Config.Disabled: every TCP segment delivered alone

	// Flushes counts held aggregates ended, one counter per Reason.
	Flushes [NumReasons]uint64

	// HandlerLeaks counts frames a Handler neither released nor detached; the
	// Table released them. Nonzero means a bug in the handler.
	HandlerLeaks uint64
}

// AvgSegmentsPerAggregate returns SegmentsOut / AggregatesOut (0 when none).
func (s Stats) AvgSegmentsPerAggregate() float64 {
	if s.AggregatesOut == 0 {
		return 0
	}
	return float64(s.SegmentsOut) / float64(s.AggregatesOut)
}

// TotalFlushes returns the sum of Flushes.
func (s Stats) TotalFlushes() uint64 {
	var t uint64
	for _, v := range s.Flushes {
		t += v
	}
	return t
}
