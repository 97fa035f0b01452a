//go:build linux

package sys

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Waiter parks a goroutine in the Go runtime's network poller until a
// descriptor becomes readable, Wake is called, or a timeout passes.
//
// It replaces a poll(2) on the descriptor plus an eventfd for a device's
// owner goroutine, because a blocking system call costs latency twice over
// in Go: the thread holds its P while it sleeps, so a goroutine the owner
// has just made runnable (an application reader it woke) sits on that P's
// run queue until another thread steals it or sysmon retakes the P (tens of
// µs); and every Wake is an eventfd write plus an OS-thread wake-up. Parked
// in the poller instead, the owner frees its P at once (the woken reader
// runs on the same thread), and Wake is a goroutine hand-off with no system
// call.
//
// One goroutine at a time may Wait; Wake may be called from any goroutine.
type Waiter struct {
	f  *os.File // a duplicate of the device's descriptor, registered with the poller
	rc syscall.RawConn

	woken    atomic.Bool // a Wake is pending: the next or current Wait returns
	sleeping atomic.Bool // a Wait is (about to be) parked: Wake must end it
	closed   atomic.Bool

	// pending reports input the device has not read yet (see NewWaiter).
	pending func() bool
	pfd     [1]PollFd // for pollPending

	// Owner only: the RawConn callback and its state, made once so that a
	// Wait allocates nothing.
	ready    func(uintptr) bool
	rawCalls int
}

// longAgo is a deadline in the past: setting it ends a parked read at once.
var longAgo = time.Unix(1, 0)

// NewWaiter makes a Waiter for fd, which must support poll (a TAP, packet or
// XDP socket descriptor). It waits on a duplicate, so fd stays the caller's
// to use and close; fd's open file is switched to non-blocking mode, which
// the poller needs and which a device reading until EAGAIN uses anyway.
//
// pending, if not nil, reports whether input is already waiting (frames on a
// ring in shared memory); without it, Wait asks poll(2) with a zero timeout.
// The runtime's poller is edge-triggered and forgets an edge when a wait
// begins, so a frame that arrived after the device's last receive but before
// the wait would otherwise be slept through: Wait looks once more after the
// wait is armed.
func NewWaiter(fd int, pending func() bool) (*Waiter, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	f := os.NewFile(uintptr(dup), "offload-waiter")
	// A descriptor the poller refused (it supports no poll) cannot take a
	// deadline: better to fail here than to block forever later.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("descriptor cannot wait in the Go poller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Waiter{f: f, rc: rc, pending: pending}
	if w.pending == nil {
		w.pfd[0] = PollFd{Fd: int32(dup), Events: POLLIN}
		w.pending = w.pollPending
	}
	w.ready = w.readyCallback
	return w, nil
}

// readyCallback is the RawConn.Read callback. The first call comes after
// the poller's readiness was reset and before it parks: it ends the wait only
// if input is already pending. The next, made after the poller reported the
// descriptor readable, ends it. Nothing is read: the device's Recv does that.
func (w *Waiter) readyCallback(uintptr) bool {
	w.rawCalls++
	return w.rawCalls > 1 || w.pending()
}

func (w *Waiter) pollPending() bool {
	w.pfd[0].Revents = 0
	n, err := Poll(w.pfd[:], 0)
	return n > 0 || (err != nil && err != EINTR) // an error: let the caller find it
}

// Wait parks until the descriptor is readable, Wake is called (also before
// Wait began), or timeout passes; timeout < 0 waits without limit, 0 returns
// at once. It may return early (a readiness edge from frames the caller has
// already read): the caller polls its device and waits again. After Close it
// returns os.ErrClosed.
func (w *Waiter) Wait(timeout time.Duration) error {
	if w.woken.Swap(false) || timeout == 0 {
		return nil
	}
	w.sleeping.Store(true)
	defer w.sleeping.Store(false)
	var dl time.Time
	if timeout > 0 {
		dl = time.Now().Add(timeout)
	}
	// Set the deadline before the last look at woken: a Wake that came
	// between the two either set its own (past) deadline after ours, or is
	// seen here.
	if err := w.f.SetReadDeadline(dl); err != nil {
		return w.closedErr(err)
	}
	if w.woken.Swap(false) {
		return nil
	}
	w.rawCalls = 0
	err := w.rc.Read(w.ready)
	// Whatever ended the wait, the caller now polls its device, which covers
	// a Wake that raced with the end too.
	w.woken.Store(false)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return w.closedErr(err)
}

// closedErr reports a failure after Close as os.ErrClosed (a RawConn's read
// returns the poller's own "use of closed file").
func (w *Waiter) closedErr(err error) error {
	if w.closed.Load() || errors.Is(err, os.ErrClosed) {
		return os.ErrClosed
	}
	return err
}

// Wake makes a current or the next Wait return. Only the first Wake after a
// Wait touches the poller; the rest are one atomic operation.
func (w *Waiter) Wake() {
	if w.woken.Swap(true) {
		return
	}
	if w.sleeping.Load() {
		w.f.SetReadDeadline(longAgo) // an error means closed: Wait returns anyway
	}
}

// Close ends a parked Wait (which returns os.ErrClosed) and closes the
// duplicate descriptor; the original stays open.
func (w *Waiter) Close() error {
	w.closed.Store(true)
	return w.f.Close()
}
