//go:build linux

package sys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Busy-polling socket options (SOL_SOCKET), set one by one with
// SetSocketInt so that a kernel refusing one leaves the others in effect.
const (
	SO_BUSY_POLL        = unix.SO_BUSY_POLL
	SO_PREFER_BUSY_POLL = unix.SO_PREFER_BUSY_POLL
	SO_BUSY_POLL_BUDGET = unix.SO_BUSY_POLL_BUDGET
)

// SetSocketInt sets the integer SOL_SOCKET option opt of fd to v.
func SetSocketInt(fd, opt, v int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, v); err != nil {
		return os.NewSyscallError(fmt.Sprintf("setsockopt %s", SockoptName(opt)), err)
	}
	return nil
}

// SockoptName names a SOL_SOCKET option for messages.
func SockoptName(opt int) string {
	switch opt {
	case SO_BUSY_POLL:
		return "SO_BUSY_POLL"
	case SO_PREFER_BUSY_POLL:
		return "SO_PREFER_BUSY_POLL"
	case SO_BUSY_POLL_BUDGET:
		return "SO_BUSY_POLL_BUDGET"
	}
	return fmt.Sprintf("SOL_SOCKET %d", opt)
}
