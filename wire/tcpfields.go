package wire

// TCPFlags are the TCP header's control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
type TCPFlags uint8

const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether all bits of m are set.
func (f TCPFlags) Has(m TCPFlags) bool { return f&m == m }

// SACKBlock is one selective acknowledgment block [Start, End) (RFC 2018).
type SACKBlock struct {
	Start, End Seq
}

// MaxSACKBlocks is the most SACK blocks a TCP header can carry (4 without
// timestamps, 3 with them; RFC 2018 §3).
const MaxSACKBlocks = 4

// TCPOptions are the TCP options offload understands, decoded. Unknown options
// are skipped by their length when parsing and never emitted.
type TCPOptions struct {
	MSS           uint16 // 0: absent (RFC 9293 §3.7.1)
	HasWScale     bool
	WScale        uint8 // as received; the receiver clamps values > 14 (RFC 7323 §2.3)
	SACKPermitted bool  // RFC 2018 §2
	HasTimestamp  bool  // RFC 7323 §3
	TSVal, TSEcr  uint32
	NumSACK       uint8 // valid entries in SACK
	SACK          [MaxSACKBlocks]SACKBlock
}

// TCPFields is the TCP header as values (the "Repr"): what ParseTCP yields and
// what EmitTCP writes. The data offset is derived from the options when emitting.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	Flags            TCPFlags
	Window           uint16 // raw header value, not yet scaled
	Urgent           uint16
	Options          TCPOptions
}
