package sys

import (
	"testing"
	"time"
)

func TestPollTimeoutRoundsUpAndCaps(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int
	}{
		{-1, -1}, {0, 0}, {time.Nanosecond, 1}, {time.Millisecond, 1},
		{time.Millisecond + 1, 2}, {time.Duration(1 << 62), 1 << 30},
	} {
		if got := PollTimeout(tc.in); got != tc.want {
			t.Errorf("PollTimeout(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// A wake-up ends the wait at once and is drained, so the next wait sleeps.
func TestPollWaitReturnsOnWakeAndDrainsIt(t *testing.T) {
	ev, err := NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	fds := []PollFd{{Fd: int32(ev.FD()), Events: POLLIN}}
	ev.Signal()
	start := time.Now()
	if err := PollWait(fds, ev, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a signalled wait took %v", d)
	}
	start = time.Now()
	if err := PollWait(fds, ev, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("the wake-up was not drained: the next wait returned after %v", d)
	}
}
