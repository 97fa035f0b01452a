package wire

// Seq is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293 §3.4): a is
// "less than" b when the signed 32-bit distance from a to b is positive, which is
// right as long as the two are within 2^31 of each other.
type Seq uint32

// Add returns s advanced by n bytes.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the signed distance s - t.
func (s Seq) Sub(t Seq) int32 { return int32(s - t) }

// LessThan reports s < t modulo 2^32.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessEq reports s <= t modulo 2^32.
func (s Seq) LessEq(t Seq) bool { return int32(s-t) <= 0 }

// GreaterThan reports s > t modulo 2^32.
func (s Seq) GreaterThan(t Seq) bool { return int32(s-t) > 0 }

// GreaterEq reports s >= t modulo 2^32.
func (s Seq) GreaterEq(t Seq) bool { return int32(s-t) >= 0 }

// InWindow reports start <= s < start+size modulo 2^32. A zero-size window holds nothing.
func (s Seq) InWindow(start Seq, size uint32) bool { return uint32(s-start) < size }

// MaxSeq returns the later of a and b.
func MaxSeq(a, b Seq) Seq {
	if a.GreaterThan(b) {
		return a
	}
	return b
}

// MinSeq returns the earlier of a and b.
func MinSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}
