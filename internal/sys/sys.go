//go:build linux

// Package sys is the one place that talks to the Linux kernel through
// golang.org/x/sys/unix. It holds small, documented wrappers for what the link
// drivers and test hosts need: file descriptors, poll and eventfd, TUN/TAP ioctls,
// AF_PACKET sockets and rings, interface ioctls, legacy ethtool feature switches,
// network-namespace entry, waiting in the Go runtime's poller (Waiter), and
// the virtio-net header ABI.
//
// Nothing here allocates on the paths a driver calls per frame or per batch
// (Read, Write, Poll, Sendmmsg, Event.Signal, Event.Drain, Waiter.Wait,
// Waiter.Wake).
package sys

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errno is a raw kernel error number; compare with errors.Is(err, sys.EAGAIN).
type Errno = unix.Errno

// Error numbers the drivers act on.
const (
	EAGAIN   = unix.EAGAIN
	EINTR    = unix.EINTR
	EPERM    = unix.EPERM
	EACCES   = unix.EACCES
	EBUSY    = unix.EBUSY
	EEXIST   = unix.EEXIST
	ENOENT   = unix.ENOENT
	ENODEV   = unix.ENODEV
	ENXIO    = unix.ENXIO
	EIO      = unix.EIO
	EINVAL   = unix.EINVAL
	ENOBUFS  = unix.ENOBUFS
	EMSGSIZE = unix.EMSGSIZE
	ENETDOWN = unix.ENETDOWN
	EBADF    = unix.EBADF
)

// Read is read(2).
func Read(fd int, p []byte) (int, error) { return unix.Read(fd, p) }

// Write is write(2).
func Write(fd int, p []byte) (int, error) { return unix.Write(fd, p) }

// Close is close(2).
func Close(fd int) error { return unix.Close(fd) }

// PollFd is struct pollfd.
type PollFd = unix.PollFd

// Poll event bits.
const (
	POLLIN  = unix.POLLIN
	POLLOUT = unix.POLLOUT
	POLLERR = unix.POLLERR
	POLLHUP = unix.POLLHUP
)

// Poll is poll(2); timeoutMs < 0 waits without limit. EINTR is returned as is:
// callers treat it as a spurious wake-up.
func Poll(fds []PollFd, timeoutMs int) (int, error) { return unix.Poll(fds, timeoutMs) }

// Event is a non-blocking eventfd used to wake a goroutine blocked in Poll.
type Event struct{ fd int }

// NewEvent creates an eventfd with a zero counter.
func NewEvent() (Event, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return Event{fd: -1}, os.NewSyscallError("eventfd", err)
	}
	return Event{fd: fd}, nil
}

// FD returns the descriptor, to be polled for POLLIN.
func (e Event) FD() int { return e.fd }

// Signal adds one to the counter, making the descriptor readable. A saturated
// counter (EAGAIN) is already readable, so that error is ignored.
func (e Event) Signal() {
	one := uint64(1)
	unix.Write(e.fd, (*[8]byte)(unsafe.Pointer(&one))[:]) //nolint:errcheck // see above
}

// Drain resets the counter to zero so the descriptor is no longer readable.
func (e Event) Drain() {
	var v uint64
	unix.Read(e.fd, (*[8]byte)(unsafe.Pointer(&v))[:]) //nolint:errcheck // EAGAIN: already zero
}

// Close closes the eventfd.
func (e Event) Close() error { return unix.Close(e.fd) }

// Capability numbers from linux/capability.h.
const (
	CapNetAdmin = 12
	CapNetRaw   = 13
	CapSysAdmin = 21
)

// HasCapability reports whether the calling process has capability c in its
// effective set (read from /proc/self/status, which needs no privilege).
func HasCapability(c int) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && v&(1<<uint(c)) != 0
		}
	}
	return false
}

// ProcessCPUTime returns the user and system CPU time the process has used:
// with softirq work done in the sending thread's context, it measures a send
// path's cost even on a busy machine where wall time is noise.
func ProcessCPUTime() (user, system time.Duration) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
