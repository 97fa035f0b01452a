//go:build linux

package sys

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newPipeWaiter returns a Waiter on the read end of a pipe and the write end.
func newPipeWaiter(t *testing.T) (*Waiter, int, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	w, err := NewWaiter(p[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, p[0], p[1]
}

// waitReturns runs Wait(timeout) in a goroutine and reports its result, or
// fails the test if it is still parked after limit.
func waitReturns(t *testing.T, w *Waiter, timeout, limit time.Duration, during func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Wait(timeout) }()
	if during != nil {
		time.Sleep(20 * time.Millisecond) // let it park
		during()
	}
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Wait(%v) still parked after %v", timeout, limit)
		return nil
	}
}

func TestWaiterWakeBeforeWaitEndsTheNextWait(t *testing.T) {
	w, _, _ := newPipeWaiter(t)
	w.Wake()
	if err := waitReturns(t, w, -1, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	// The wake-up was used up: the next wait sleeps until its timeout.
	start := time.Now()
	if err := w.Wait(30 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("a consumed wake-up ended the next wait after %v", d)
	}
}

func TestWaiterWakeEndsAParkedWait(t *testing.T) {
	w, _, _ := newPipeWaiter(t)
	if err := waitReturns(t, w, -1, 10*time.Second, w.Wake); err != nil {
		t.Fatal(err)
	}
}

func TestWaiterReadableDescriptorEndsAParkedWait(t *testing.T) {
	w, _, wr := newPipeWaiter(t)
	err := waitReturns(t, w, -1, 10*time.Second, func() {
		if _, err := unix.Write(wr, []byte{1}); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The runtime's poller is edge-triggered and forgets an edge when a wait is
// armed: input that arrived before the wait and is still unread must end it
// at once, or a frame that came just after the device's last receive would
// be slept through.
func TestWaiterReturnsAtOnceWhileInputIsUnread(t *testing.T) {
	w, _, wr := newPipeWaiter(t)
	if _, err := unix.Write(wr, []byte{1}); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the edge is used up by the first; the byte stays unread
		if err := waitReturns(t, w, -1, 10*time.Second, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// A device with its input on a shared ring says so itself.
func TestWaiterAsksTheDeviceForPendingInput(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	pending := true
	w, err := NewWaiter(p[0], func() bool { return pending })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := waitReturns(t, w, -1, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	pending = false
	start := time.Now()
	if err := w.Wait(30 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("with nothing pending the wait ended after %v", d)
	}
}

func TestWaiterTimeoutEndsAWaitWithoutError(t *testing.T) {
	w, _, _ := newPipeWaiter(t)
	start := time.Now()
	if err := waitReturns(t, w, 20*time.Millisecond, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Wait(20ms) returned after %v", d)
	}
	if err := w.Wait(0); err != nil {
		t.Fatalf("Wait(0) = %v", err)
	}
}

func TestWaiterCloseEndsAParkedWaitAndKeepsTheOriginalOpen(t *testing.T) {
	w, rd, wr := newPipeWaiter(t)
	err := waitReturns(t, w, -1, 10*time.Second, func() { w.Close() })
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Wait after Close = %v, want os.ErrClosed", err)
	}
	if err := w.Wait(time.Second); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("a later Wait = %v, want os.ErrClosed", err)
	}
	// The caller's descriptor still works.
	if _, err := unix.Write(wr, []byte{7}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, err := unix.Read(rd, b[:]); n != 1 || err != nil || b[0] != 7 {
		t.Fatalf("reading the original descriptor after Close: %d %v", n, err)
	}
}

func TestWaiterRefusesADescriptorThePollerCannotWatch(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if w, err := NewWaiter(int(f.Fd()), nil); err == nil {
		w.Close()
		t.Fatal("NewWaiter accepted a regular file, which epoll cannot watch")
	}
}

// The owner goroutine waits once per idle period: that must not allocate.
func TestWaiterWaitAndWakeAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	w, _, _ := newPipeWaiter(t)
	if n := testing.AllocsPerRun(100, func() {
		w.Wake()
		w.Wait(-1)
		w.Wait(time.Microsecond)
	}); n != 0 {
		t.Fatalf("Wait and Wake allocate %v times per run", n)
	}
}
