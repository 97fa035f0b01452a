package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"offload/clock"
)

// vanishedPeer is an established pair (20 ms RTT) whose B then disappears:
// from now on every segment either way is lost. A has written data just
// before, so it is outstanding from the returned instant.
func vanishedPeer(t *testing.T, cfg Config) (*pair, clock.Instant) {
	t.Helper()
	p := newPair(t, cfg, cfg, 1, 2, 10*time.Millisecond)
	p.traceOn = false
	p.connect()
	p.filter = func(bool, *seg) bool { return true }
	if n, err := p.a.Write(make([]byte, 10000)); n != 10000 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	start := p.now
	p.pollAll()
	if p.a.Info().BytesInFlight == 0 {
		t.Fatal("nothing in flight")
	}
	return p, start
}

// failsAt runs the pair event by event until A fails or limit passes, and
// returns how long after start it failed (or limit+1 if it did not).
func (p *pair) failsAt(start clock.Instant, limit time.Duration) time.Duration {
	for p.a.Err() == nil {
		next := p.nextEvent()
		if next == clock.Never || next.Sub(start) > limit {
			return limit + 1
		}
		p.runUntil(next)
	}
	return p.now.Sub(start)
}

// A connection whose peer vanishes fails with ETIMEDOUT once its data has
// gone unacknowledged for the user timeout set on it (RFC 9293 §3.10.8,
// RFC 5482 §2; Linux TCP_USER_TIMEOUT), not after MaxRetries backed-off
// retransmissions (15: over 15 minutes); set while data is outstanding, a
// shorter bound takes effect at once; zero switches the bound off.
func TestSetUserTimeoutFailsVanishedPeerAfterD_RFC5482(t *testing.T) {
	const d = 3 * time.Second
	t.Run("set-after-write", func(t *testing.T) {
		p, start := vanishedPeer(t, DefaultConfig())
		p.a.SetUserTimeout(d)
		// Set after the data left: the running RTO is already within d,
		// and the bound is counted from when the data went out.
		got := p.failsAt(start, time.Minute)
		if !errors.Is(p.a.Err(), ErrTimedOut) || !errors.Is(p.a.Err(), syscall.ETIMEDOUT) {
			t.Fatalf("error %v, want ETIMEDOUT", p.a.Err())
		}
		if got < d || got > d+time.Millisecond {
			t.Fatalf("failed %v after the data went out, want %v", got, d)
		}
		if p.a.State() != StateClosed {
			t.Fatalf("state %v after the user timeout", p.a.State())
		}
	})
	t.Run("unset-control", func(t *testing.T) {
		// The same without a user timeout is still trying after a minute.
		p, start := vanishedPeer(t, DefaultConfig())
		if got := p.failsAt(start, time.Minute); got <= time.Minute {
			t.Fatalf("failed after %v (%v) with no user timeout", got, p.a.Err())
		}
		if p.a.Info().Timeouts < 5 {
			t.Fatalf("%d retransmission timeouts in a minute", p.a.Info().Timeouts)
		}
	})
	t.Run("shortened-while-backing-off", func(t *testing.T) {
		// 10 s in, the backed-off RTO is due seconds later; a user timeout
		// of 3 s, already passed, fails the connection at the next Poll.
		p, start := vanishedPeer(t, DefaultConfig())
		p.runFor(10 * time.Second)
		if p.a.Err() != nil {
			t.Fatal(p.a.Err())
		}
		at := p.now.Sub(start)
		if due := p.a.Deadline().Sub(start); due <= at+time.Millisecond {
			t.Fatalf("RTO due at %v, right after %v: the test needs one due later", due, at)
		}
		p.a.SetUserTimeout(d)
		if got := p.failsAt(start, time.Minute); got != at || !errors.Is(p.a.Err(), ErrTimedOut) {
			t.Fatalf("failed at %v (%v), want at once (%v)", got, p.a.Err(), at)
		}
	})
	t.Run("zero-switches-off", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.UserTimeout = d
		p, start := vanishedPeer(t, cfg)
		p.a.SetUserTimeout(0)
		if got := p.failsAt(start, 30*time.Second); got <= 30*time.Second {
			t.Fatalf("failed after %v (%v) with the user timeout switched off", got, p.a.Err())
		}
	})
}
