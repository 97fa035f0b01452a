package stack

import (
	"math/bits"
	"time"

	"offload/clock"
)

// timer is an entry in a wheel, embedded in whatever owns it (an endpoint), so
// scheduling never allocates. A timer is in at most one slot at a time.
type timer struct {
	when       clock.Instant
	prev, next *timer // slot list links; nil when not scheduled
	slot       int
	ep         *Conn
}

func (t *timer) scheduled() bool { return t.next != nil }

// wheel is a hashed timing wheel (Varghese & Lauck): a ring of slots, each
// slot one tick wide; an entry lands in the slot of its deadline's tick modulo
// the ring size, and entries further out than one revolution simply stay put
// until their round comes (their deadline is checked on every visit).
// Scheduling and cancelling are O(1); advancing costs O(slots passed + entries due).
//
// TCP timers are coarse (delayed ACK 40 ms, RTO ≥ 200 ms, TIME-WAIT 60 s), so
// a millisecond tick and 1024 slots (a one-second revolution) fit them well.
type wheel struct {
	tick  time.Duration
	slots []timer  // sentinel heads of circular lists
	used  []uint64 // bit i set: slot i is not empty (so next() skips empty runs a word at a time)
	mask  int
	cur   int64 // the tick number processed last
	count int   // scheduled entries
}

func newWheel(tick time.Duration, slots int, now clock.Instant) *wheel {
	if slots&(slots-1) != 0 || slots <= 0 {
		panic("stack: wheel slots must be a power of two")
	}
	w := &wheel{tick: tick, slots: make([]timer, slots), used: make([]uint64, (slots+63)/64), mask: slots - 1}
	for i := range w.slots {
		h := &w.slots[i]
		h.next, h.prev = h, h
	}
	w.cur = w.tickOf(now)
	return w
}

func (w *wheel) tickOf(t clock.Instant) int64 { return int64(t) / int64(w.tick) }

// schedule (re)arms t to fire at when; clock.Never cancels it.
func (w *wheel) schedule(t *timer, when clock.Instant) {
	if t.scheduled() {
		if t.when == when {
			return
		}
		w.cancel(t)
	}
	if when == clock.Never {
		return
	}
	t.when = when
	// The current tick's slot is visited by every advance, so an entry that is
	// already due, or due later within this tick, goes there.
	tk := max(w.tickOf(when), w.cur)
	t.slot = int(tk) & w.mask
	h := &w.slots[t.slot]
	t.prev, t.next = h.prev, h
	h.prev.next = t
	h.prev = t
	w.used[t.slot>>6] |= 1 << (t.slot & 63)
	w.count++
}

// cancel removes t if it is scheduled.
func (w *wheel) cancel(t *timer) {
	if !t.scheduled() {
		return
	}
	t.prev.next = t.next
	t.next.prev = t.prev
	if h := &w.slots[t.slot]; h.next == h {
		w.used[t.slot>>6] &^= 1 << (t.slot & 63)
	}
	t.prev, t.next = nil, nil
	w.count--
}

// advance fires, in no particular order, every timer whose deadline is ≤ now.
// A fired timer is unscheduled before fire runs, so fire may re-arm it.
func (w *wheel) advance(now clock.Instant, fire func(*timer)) {
	target := w.tickOf(now)
	if target < w.cur {
		return
	}
	if w.count == 0 {
		w.cur = target
		return
	}
	// Visit the slots of ticks cur..target: the current tick's slot again,
	// since entries due later within it may have been skipped last time.
	steps := min(target-w.cur, int64(len(w.slots)-1))
	for i := int64(0); i <= steps; i++ {
		h := &w.slots[int(w.cur+i)&w.mask]
		for t := h.next; t != h; {
			next := t.next
			if t.when <= now {
				w.cancel(t)
				fire(t)
			}
			t = next
		}
	}
	w.cur = target
}

// next returns an instant by which advance should be called again: the
// earliest deadline in the first occupied slot from the current tick on, or
// the end of that slot's tick if its entries all belong to later rounds (the
// caller then just wakes once more), or clock.Never if the wheel is empty.
func (w *wheel) next() clock.Instant {
	if w.count == 0 {
		return clock.Never
	}
	// Find the first occupied slot from the current tick on, a word of the
	// bitmap at a time, wrapping around once.
	n := len(w.slots)
	start := int(w.cur) & w.mask
	for off := 0; off < n; {
		slot := (start + off) & w.mask
		word := w.used[slot>>6] >> (slot & 63)
		if word == 0 {
			off += 64 - slot&63
			continue
		}
		off += bits.TrailingZeros64(word)
		if off >= n {
			break
		}
		i := int64(off)
		h := &w.slots[int(w.cur+i)&w.mask]
		earliest := clock.Never
		for t := h.next; t != h; t = t.next {
			earliest = clock.Min(earliest, t.when)
		}
		// An entry from a later round wakes us one revolution later at most.
		return clock.Min(earliest, clock.Instant((w.cur+i+1)*int64(w.tick)))
	}
	return clock.Never
}
