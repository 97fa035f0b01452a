// Package clock gives protocol code a notion of time without reading the wall clock.
//
// Protocol cores (tcp, iface, gro) never call time.Now: they are handed an Instant
// and report the Instant at which they next need attention. Only the stack reads a
// Clock. Tests drive a Fake clock and so run deterministically and instantly.
package clock

import (
	"sync"
	"time"
)

// Instant is a point in time in nanoseconds since an arbitrary, clock-specific epoch.
// Instants from different clocks cannot be compared.
type Instant int64

// Never is an Instant later than any real one; a core returns it when it needs no timer.
const Never Instant = 1<<63 - 1

// Add returns i+d, saturating at Never.
func (i Instant) Add(d time.Duration) Instant {
	if i == Never {
		return Never
	}
	r := i + Instant(d)
	if d > 0 && r < i {
		return Never
	}
	return r
}

// Sub returns the duration i-j.
func (i Instant) Sub(j Instant) time.Duration { return time.Duration(i - j) }

// Before reports whether i is strictly earlier than j.
func (i Instant) Before(j Instant) bool { return i < j }

// After reports whether i is strictly later than j.
func (i Instant) After(j Instant) bool { return i > j }

// Min returns the earlier of i and j.
func Min(i, j Instant) Instant {
	if i < j {
		return i
	}
	return j
}

// Millis returns the instant in whole milliseconds (for TCP timestamps).
func (i Instant) Millis() int64 { return int64(i) / int64(time.Millisecond) }

// Clock reads the current time.
type Clock interface {
	Now() Instant
}

// Monotonic is the real clock: monotonic time since the Clock was created.
type Monotonic struct{ start time.Time }

// NewMonotonic returns a real clock whose epoch is now.
func NewMonotonic() *Monotonic { return &Monotonic{start: time.Now()} }

// Now returns the monotonic time elapsed since the clock was created.
func (m *Monotonic) Now() Instant { return Instant(time.Since(m.start)) }

// Fake is a clock that only moves when told to. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now Instant
}

// NewFake returns a fake clock reading start.
func NewFake(start Instant) *Fake { return &Fake{now: start} }

// Now returns the fake clock's current reading.
func (f *Fake) Now() Instant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d (d < 0 is ignored: time never runs backwards).
func (f *Fake) Advance(d time.Duration) Instant {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d > 0 {
		f.now = f.now.Add(d)
	}
	return f.now
}

// Set moves the clock to t if t is later than its current reading.
func (f *Fake) Set(t Instant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t > f.now {
		f.now = t
	}
}
