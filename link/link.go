// Package link defines the Device: what the stack needs from anything that moves
// frames (an in-memory pipe, TAP, AF_PACKET, AF_XDP, an engine's shared-memory port).
//
// A device has one or more queues. Exactly one goroutine owns each queue and calls
// Recv, Send and Wait on it; Wake and Stats may be called from anywhere. Frames move
// in batches, and ownership of every buffer moves with them (see package pkt).
package link

import (
	"errors"
	"sync/atomic"
	"time"

	"offload/pkt"
)

// ErrClosed is returned by a device's methods after Close.
var ErrClosed = errors.New("link: device closed")

// Capabilities describe a device to the stack. They are fixed once the device is open.
type Capabilities struct {
	Name string // for logs and errors: "pipe0", "tap0", "veth1/afxdp"

	// L2 is true when frames carry an Ethernet header, false for raw IP devices.
	L2           bool
	HardwareAddr [6]byte // the device's MAC when L2

	// MTU is the largest IP packet the wire carries, without the Ethernet header.
	MTU int
	// MaxFrame is the largest frame Recv may return (a super-frame with RxGSO).
	MaxFrame int
	// Headroom is the bytes a sender must leave free in front of each frame it
	// gives to Send (for a virtio-net header, say). The stack reserves at least this.
	Headroom int

	// RxChecksumTrusted: the device vouches for received transport checksums
	// (verified them, or the frame came from a local peer that never filled them);
	// frames may still say more in Meta.Checksum. When false the stack verifies.
	RxChecksumTrusted bool
	// TxChecksumOffload: the device fills transport checksums of frames whose
	// Meta.Checksum is ChecksumPartial.
	TxChecksumOffload bool
	// TSO: the device segments TCP super-frames (Meta.GSO) of up to MaxGSOSize bytes.
	TSO        bool
	MaxGSOSize int
	// RxGSO: the device may deliver TCP super-frames larger than the MTU.
	RxGSO bool

	// Queues is the number of receive/transmit queue pairs (at least 1).
	Queues int
}

// Device moves frames. Implementations must not allocate per frame in steady state.
type Device interface {
	// Caps returns the device's fixed capabilities.
	Caps() Capabilities

	// Recv adds received frames to batch without blocking, at most until the batch
	// is full, and returns how many it added. Ownership of each frame passes to the
	// caller, who releases it when done.
	Recv(queue int, batch *pkt.Batch) (int, error)

	// Send transmits the frames in batch and empties it. Ownership of every frame
	// passes to the device whether it was sent or dropped (a full queue drops and
	// counts). It returns the number sent.
	Send(queue int, batch *pkt.Batch) (int, error)

	// Wait blocks until frames may be ready on queue, Wake(queue) is called, or
	// timeout passes (timeout < 0 waits without limit). Spurious returns are
	// allowed; a Wake before Wait makes the next Wait return at once.
	Wait(queue int, timeout time.Duration) error

	// Wake makes a current or the next Wait on queue return. Safe from any goroutine.
	Wake(queue int)

	// Stats returns a snapshot of the device's counters.
	Stats() Stats

	// Close releases the device; blocked Waits return ErrClosed.
	Close() error
}

// Stats are a device's counters since it was opened.
type Stats struct {
	RxFrames, RxBytes, RxDropped uint64
	TxFrames, TxBytes, TxDropped uint64
}

// Counters is a lock-free Stats accumulator for device implementations.
type Counters struct {
	RxFrames, RxBytes, RxDropped atomic.Uint64
	TxFrames, TxBytes, TxDropped atomic.Uint64
}

// Snapshot returns the current counter values.
func (c *Counters) Snapshot() Stats {
	return Stats{
		RxFrames: c.RxFrames.Load(), RxBytes: c.RxBytes.Load(), RxDropped: c.RxDropped.Load(),
		TxFrames: c.TxFrames.Load(), TxBytes: c.TxBytes.Load(), TxDropped: c.TxDropped.Load(),
	}
}
