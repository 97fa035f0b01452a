package clock

import (
	"testing"
	"time"
)

func TestAddSaturatesAtNever(t *testing.T) {
	if got := Never.Add(time.Second); got != Never {
		t.Fatalf("Never + 1s = %v, want Never", got)
	}
	if got := Instant(Never - 5).Add(time.Hour); got != Never {
		t.Fatalf("near-Never + 1h = %v, want Never (no wrap to negative)", got)
	}
	if got := Instant(10).Add(5); got != 15 {
		t.Fatalf("10 + 5ns = %v", got)
	}
}

func TestFakeClockOnlyMovesForward(t *testing.T) {
	f := NewFake(100)
	f.Advance(-time.Second)
	f.Set(50)
	if f.Now() != 100 {
		t.Fatalf("fake clock went back to %v", f.Now())
	}
	f.Advance(time.Millisecond)
	if f.Now() != 100+Instant(time.Millisecond) {
		t.Fatalf("Advance(1ms) gave %v", f.Now())
	}
	f.Set(1 << 40)
	if f.Now() != 1<<40 {
		t.Fatalf("Set gave %v", f.Now())
	}
}

func TestMonotonicNeverDecreases(t *testing.T) {
	m := NewMonotonic()
	prev := m.Now()
	for range 1000 {
		now := m.Now()
		if now < prev {
			t.Fatalf("monotonic clock went back from %v to %v", prev, now)
		}
		prev = now
	}
}

func TestMillisAndMin(t *testing.T) {
	if got := Instant(2500 * time.Microsecond).Millis(); got != 2 {
		t.Fatalf("2.5ms in millis = %d", got)
	}
	if Min(3, 7) != 3 || Min(7, 3) != 3 {
		t.Fatal("Min picked the later instant")
	}
}
