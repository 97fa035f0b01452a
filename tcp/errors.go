package tcp

import (
	"errors"
	"net"
	"syscall"
)

// Terminal connection errors. They are the syscall errnos so that errors.Is works
// against both these names and syscall.ECONNRESET etc.
var (
	// ErrConnectionRefused: the peer answered our SYN with a RST (RFC 9293 §3.10.7.3).
	ErrConnectionRefused error = syscall.ECONNREFUSED
	// ErrConnectionReset: the peer reset a synchronized connection (RFC 9293 §3.10.7.4).
	ErrConnectionReset error = syscall.ECONNRESET
	// ErrTimedOut: retransmissions, keepalive probes or the user timeout ran out.
	ErrTimedOut error = syscall.ETIMEDOUT
	// ErrWriteClosed: Write after CloseWrite/Close (the write side is shut).
	ErrWriteClosed error = syscall.EPIPE
	// ErrClosed: the application closed or aborted the connection and then used it.
	ErrClosed = net.ErrClosed
	// ErrNotSYN: Accept was handed a segment that cannot open a connection.
	ErrNotSYN = errors.New("tcp: segment is not a valid SYN")
)
