//go:build linux

package afxdp

import (
	"testing"
	"time"
)

// TestSpinBudgetHalvesWhenIdleDoublesOnWorkWithinBounds: the adaptive spin
// of BusyPoll.Spin halves after each empty spin down to Spin/64, doubles
// after each spin that found work up to Spin, and never leaves those bounds
// (nor reaches zero, from which doubling could not bring it back).
func TestSpinBudgetHalvesWhenIdleDoublesOnWorkWithinBounds(t *testing.T) {
	const max = 64 * time.Microsecond
	b := newSpinBudget(max)
	if b.cur != max {
		t.Fatalf("starts at %v, want %v", b.cur, max)
	}
	want := max
	for range 10 {
		b.idle()
		want = want / 2
		if want < max/64 {
			want = max / 64
		}
		if b.cur != want {
			t.Fatalf("after an idle spin: %v, want %v", b.cur, want)
		}
	}
	if b.cur != time.Microsecond {
		t.Fatalf("floor %v, want %v", b.cur, time.Microsecond)
	}
	for range 10 {
		b.found()
		want = min(want*2, max)
		if b.cur != want {
			t.Fatalf("after a spin that found work: %v, want %v", b.cur, want)
		}
	}
	if b.cur != max {
		t.Fatalf("ceiling %v, want %v", b.cur, max)
	}
	// A budget below 64 ns still keeps a floor above zero.
	tiny := newSpinBudget(10)
	for range 10 {
		tiny.idle()
	}
	if tiny.cur != 1 {
		t.Fatalf("tiny budget's floor: %v, want 1ns", tiny.cur)
	}
	tiny.found()
	if tiny.cur != 2 {
		t.Fatalf("tiny budget after work: %v, want 2ns", tiny.cur)
	}
	// No spin asked for: it stays off whatever happens.
	off := newSpinBudget(0)
	off.found()
	off.idle()
	if off.cur != 0 {
		t.Fatalf("no spin asked for, yet %v", off.cur)
	}
}
