package stack

import (
	"math/rand/v2"
	"testing"
	"time"

	"offload/clock"
)

// The wheel against a brute-force reference: under random scheduling,
// re-arming, cancelling and advancing, every timer fires at the first advance
// at or after its deadline and never before, and next() is never later than
// the earliest pending deadline (a late next() would oversleep a timer).
func TestWheelFiresEveryTimerOnTimeAndNextNeverOversleeps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := clock.Instant(5 * time.Second)
	w := newWheel(time.Millisecond, 64, start)
	timers := make([]timer, 200)
	want := map[*timer]clock.Instant{}
	now := start
	for step := 0; step < 20000; step++ {
		tm := &timers[rng.IntN(len(timers))]
		switch rng.IntN(4) {
		case 0, 1: // arm or re-arm, from "now" to several revolutions out
			d := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
			when := now.Add(d)
			w.schedule(tm, when)
			want[tm] = when
		case 2:
			w.cancel(tm)
			delete(want, tm)
		case 3:
			earliest := clock.Never
			for _, when := range want {
				earliest = clock.Min(earliest, when)
			}
			// next() must be at least one tick early enough for the deadline.
			if n := w.next(); n > earliest && earliest != clock.Never {
				t.Fatalf("step %d: next() = %v is after the earliest deadline %v", step, n, earliest)
			}
			now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
			w.advance(now, func(f *timer) {
				when, ok := want[f]
				if !ok {
					t.Fatalf("step %d: a cancelled or unscheduled timer fired", step)
				}
				if when > now {
					t.Fatalf("step %d: timer due %v fired early at %v", step, when, now)
				}
				delete(want, f)
			})
			for f, when := range want {
				// Anything due in a tick that has fully passed must have fired.
				if w.tickOf(when) < w.tickOf(now) {
					t.Fatalf("step %d: timer due %v did not fire by %v", step, when, now)
				}
				_ = f
			}
		}
		if w.count != len(want) {
			t.Fatalf("step %d: wheel holds %d timers, reference %d", step, w.count, len(want))
		}
	}
}

func TestWheelNextIsNeverWhenEmpty(t *testing.T) {
	w := newWheel(time.Millisecond, 1024, 0)
	if w.next() != clock.Never {
		t.Fatal("empty wheel reported a deadline")
	}
	var tm timer
	w.schedule(&tm, clock.Instant(3*time.Second)) // three revolutions out
	if n := w.next(); n == clock.Never || n > clock.Instant(3*time.Second) {
		t.Fatalf("next() = %v with one timer due at 3s", n)
	}
	w.cancel(&tm)
	if w.next() != clock.Never {
		t.Fatal("wheel reported a deadline after its only timer was cancelled")
	}
}
