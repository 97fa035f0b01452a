package wire

import (
	"math"
	"testing"
)

func TestSeqComparisonAcrossWrap_RFC9293_3_4(t *testing.T) {
	near := Seq(math.MaxUint32 - 9) // 10 before the wrap
	past := near.Add(20)            // 10 after it
	if past != 10 {
		t.Fatalf("Add across wrap = %d, want 10", past)
	}
	if !near.LessThan(past) || past.LessThan(near) {
		t.Error("0xFFFFFFF6 must be before 10")
	}
	if !past.GreaterThan(near) || near.GreaterThan(past) {
		t.Error("10 must be after 0xFFFFFFF6")
	}
	if !near.LessEq(past) || !past.GreaterEq(near) || !near.LessEq(near) || !near.GreaterEq(near) {
		t.Error("LessEq/GreaterEq")
	}
	if near.LessThan(near) || near.GreaterThan(near) {
		t.Error("strict comparisons must be false for equal numbers")
	}
	if d := past.Sub(near); d != 20 {
		t.Errorf("past-near = %d, want 20", d)
	}
	if d := near.Sub(past); d != -20 {
		t.Errorf("near-past = %d, want -20", d)
	}
	if MaxSeq(near, past) != past || MaxSeq(past, near) != past {
		t.Error("MaxSeq across wrap")
	}
	if MinSeq(near, past) != near || MinSeq(past, near) != near {
		t.Error("MinSeq across wrap")
	}
}

func TestSeqHalfSpaceBoundary(t *testing.T) {
	// Within 2^31 - 1 the order is defined and antisymmetric. At exactly 2^31
	// apart the signed distance is -2^31 both ways, so each reads as before the
	// other: numbers that far apart cannot be ordered, which is why windows must
	// stay below 2^30 (RFC 7323 §2.3).
	a := Seq(5)
	b := a.Add(math.MaxInt32)
	if !a.LessThan(b) || b.LessThan(a) {
		t.Error("a < a + (2^31 - 1), and not the reverse")
	}
	c := a.Add(1 << 31)
	if !a.LessThan(c) || !c.LessThan(a) {
		t.Error("at 2^31 apart both compare as less (documented ambiguity)")
	}
}

func TestSeqInWindowAcrossWrap(t *testing.T) {
	start := Seq(math.MaxUint32 - 99) // window [start, start+200) wraps
	cases := []struct {
		s    Seq
		size uint32
		want bool
	}{
		{start, 200, true},
		{start.Add(199), 200, true}, // last byte, past the wrap (99)
		{start.Add(200), 200, false},
		{start.Add(100), 200, true}, // 0
		{start - 1, 200, false},
		{start, 0, false}, // a zero window holds nothing
		{start.Add(1 << 31), 200, false},
		{start.Add(math.MaxUint32), math.MaxUint32, false}, // start-1 with the largest window
	}
	for _, c := range cases {
		if got := c.s.InWindow(start, c.size); got != c.want {
			t.Errorf("%d in [%d,+%d) = %v, want %v", c.s, start, c.size, got, c.want)
		}
	}
}

func TestSeqSubIsInverseOfAdd(t *testing.T) {
	for _, base := range []Seq{0, 1, 1 << 31, math.MaxUint32, math.MaxUint32 - 1500} {
		for _, n := range []uint32{0, 1, 1460, 65535, 1<<31 - 1} {
			if d := base.Add(n).Sub(base); d != int32(n) {
				t.Errorf("(%d+%d)-%d = %d", base, n, base, d)
			}
		}
	}
}
