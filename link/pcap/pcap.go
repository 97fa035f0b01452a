// Package pcap wraps a link.Device and records every frame it receives and sends
// as a pcapng stream that Wireshark and tshark read.
//
// The stream is one section: a Section Header Block, one Interface Description
// Block (LINKTYPE_ETHERNET for L2 devices, LINKTYPE_RAW for L3; nanosecond
// timestamps via if_tsresol = 9; the snap length), then one Enhanced Packet Block
// per frame with its direction in epb_flags and, on multi-queue devices, its
// queue in epb_queue. See draft-ietf-opsawg-pcapng.
//
// Frames are recorded as the stack sees them: a sent frame when it is handed to
// Send (before the inner device may drop it), a received one when Recv returns
// it. Frames with offloaded checksums (ChecksumPartial) therefore show the
// partial checksum, and GSO super-frames appear whole, as tcpdump shows them on
// a Linux device with offloads on.
//
// Writing goes through a bufio.Writer and allocates nothing per frame. A failed
// write stops the capture (Err reports why) but never the traffic.
package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"offload/clock"
	"offload/link"
	"offload/pkt"
)

// Link types (tcpdump.org/linktypes.html).
const (
	LinkTypeEthernet = 1
	LinkTypeRaw      = 101
)

// Block types and option codes (pcapng).
const (
	blockSHB      = 0x0A0D0D0A
	blockIDB      = 0x00000001
	blockEPB      = 0x00000006
	byteOrderMark = 0x1A2B3C4D

	optEnd        = 0
	optShbUserApp = 4
	optIfName     = 2
	optIfTsresol  = 9
	optEpbFlags   = 2
	optEpbQueue   = 6

	flagInbound  = 1
	flagOutbound = 2
)

// DefaultSnapLen is the most bytes recorded per frame when Options.SnapLen is 0:
// enough for a 64 KiB super-frame with its headers, as tcpdump's default.
const DefaultSnapLen = 262144

// Options configure a capture.
type Options struct {
	// Clock stamps frames; default clock.NewMonotonic().
	Clock clock.Clock
	// Epoch is the wall time the clock's reading at New stands for; default
	// time.Now(). Fix it (with a fake clock) for reproducible captures.
	Epoch time.Time
	// SnapLen is the most bytes of a frame recorded; default DefaultSnapLen.
	SnapLen int
	// Name is recorded as the interface name; default the device's Caps().Name.
	Name string
	// BufferSize is the bufio buffer size; default 64 KiB.
	BufferSize int
}

// Device records the traffic of an inner link.Device.
type Device struct {
	inner link.Device
	clk   clock.Clock
	base  int64 // wall-clock ns since 1970 at clock reading zero
	snap  int
	nq    int  // inner queues
	queue bool // record epb_queue

	mu      sync.Mutex // guards everything below: queues write from their own goroutines
	w       *bufio.Writer
	err     error
	frames  uint64
	scratch [32]byte
}

// New wraps inner and writes the capture's header blocks to w.
func New(inner link.Device, w io.Writer, opts Options) (*Device, error) {
	if w == nil {
		return nil, errors.New("pcap: nil writer")
	}
	if opts.Clock == nil {
		opts.Clock = clock.NewMonotonic()
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = time.Now()
	}
	if opts.SnapLen <= 0 {
		opts.SnapLen = DefaultSnapLen
	}
	opts.SnapLen = min(opts.SnapLen, 1<<31-1) // a 32-bit field
	if opts.BufferSize <= 0 {
		opts.BufferSize = 64 << 10
	}
	caps := inner.Caps()
	if opts.Name == "" {
		opts.Name = caps.Name
	}
	d := &Device{
		inner: inner,
		clk:   opts.Clock,
		base:  opts.Epoch.UnixNano() - int64(opts.Clock.Now()),
		snap:  opts.SnapLen,
		nq:    caps.Queues,
		queue: caps.Queues > 1,
		w:     bufio.NewWriterSize(w, opts.BufferSize),
	}
	linkType := uint16(LinkTypeRaw)
	if caps.L2 {
		linkType = LinkTypeEthernet
	}
	d.writeHeader(linkType, opts.Name)
	if err := d.w.Flush(); err != nil {
		return nil, err
	}
	return d, nil
}

var le = binary.LittleEndian

// option appends a pcapng option (code, length, value padded to 4 bytes).
func option(b []byte, code uint16, val []byte) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for i := len(val); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

// block completes a block whose body (after type and length) is body.
func block(typ uint32, body []byte) []byte {
	total := uint32(12 + len(body))
	b := make([]byte, 0, total)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, total)
	b = append(b, body...)
	return le.AppendUint32(b, total)
}

func (d *Device) writeHeader(linkType uint16, name string) {
	// Section Header Block: byte-order magic, version 1.0, section length unknown.
	var shb []byte
	shb = le.AppendUint32(shb, byteOrderMark)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	shb = option(shb, optShbUserApp, []byte("offload"))
	shb = option(shb, optEnd, nil)
	d.w.Write(block(blockSHB, shb))

	// Interface Description Block 0.
	var idb []byte
	idb = le.AppendUint16(idb, linkType)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, uint32(d.snap))
	if len(name) > 0 && len(name) < 1<<15 {
		idb = option(idb, optIfName, []byte(name))
	}
	idb = option(idb, optIfTsresol, []byte{9}) // 10^-9 s
	idb = option(idb, optEnd, nil)
	d.w.Write(block(blockIDB, idb))
}

// record writes the Enhanced Packet Blocks of frames. Callers hold no lock.
func (d *Device) record(frames []*pkt.Buffer, flags uint32, q int) {
	if len(frames) == 0 {
		return
	}
	ts := uint64(d.base + int64(d.clk.Now()))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return
	}
	for _, f := range frames {
		d.writeEPB(f.Bytes(), ts, flags, q)
	}
	d.err = d.bufErr()
}

// bufErr reports the writer's sticky error, without writing anything.
func (d *Device) bufErr() error {
	if _, err := d.w.Write(nil); err != nil {
		return err
	}
	return nil
}

func (d *Device) writeEPB(data []byte, ts uint64, flags uint32, q int) {
	capLen := min(len(data), d.snap)
	pad := (4 - capLen%4) % 4
	opts := 8 + 4 // epb_flags + end of options
	if d.queue {
		opts += 8
	}
	total := uint32(28 + capLen + pad + opts + 4)

	s := d.scratch[:0]
	s = le.AppendUint32(s, blockEPB)
	s = le.AppendUint32(s, total)
	s = le.AppendUint32(s, 0) // interface 0
	s = le.AppendUint32(s, uint32(ts>>32))
	s = le.AppendUint32(s, uint32(ts))
	s = le.AppendUint32(s, uint32(capLen))
	s = le.AppendUint32(s, uint32(len(data)))
	d.w.Write(s)
	d.w.Write(data[:capLen])

	s = d.scratch[:pad]
	clear(s)
	s = le.AppendUint16(s, optEpbFlags)
	s = le.AppendUint16(s, 4)
	s = le.AppendUint32(s, flags)
	if d.queue {
		s = le.AppendUint16(s, optEpbQueue)
		s = le.AppendUint16(s, 4)
		s = le.AppendUint32(s, uint32(q))
	}
	s = le.AppendUint32(s, optEnd) // code 0, length 0
	s = le.AppendUint32(s, total)
	d.w.Write(s)
	d.frames++
}

// Caps returns the inner device's capabilities.
func (d *Device) Caps() link.Capabilities { return d.inner.Caps() }

// Stats returns the inner device's counters.
func (d *Device) Stats() link.Stats { return d.inner.Stats() }

// Recv receives from the inner device and records what it returned.
func (d *Device) Recv(q int, batch *pkt.Batch) (int, error) {
	n, err := d.inner.Recv(q, batch)
	if n > 0 {
		all := batch.Buffers()
		d.record(all[len(all)-n:], flagInbound, q)
	}
	return n, err
}

// Send records the frames and hands them to the inner device.
func (d *Device) Send(q int, batch *pkt.Batch) (int, error) {
	if q >= 0 && q < d.nq { // the inner device refuses other queues
		d.record(batch.Buffers(), flagOutbound, q)
	}
	return d.inner.Send(q, batch)
}

// Wait waits on the inner device.
func (d *Device) Wait(q int, timeout time.Duration) error { return d.inner.Wait(q, timeout) }

// Wake wakes the inner device's Wait.
func (d *Device) Wake(q int) { d.inner.Wake(q) }

// Flush writes buffered blocks to the underlying writer.
func (d *Device) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	d.err = d.w.Flush()
	return d.err
}

// Frames returns how many frames have been recorded.
func (d *Device) Frames() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frames
}

// Err returns the write error that stopped the capture, if any.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Close closes the inner device and flushes the capture. It does not close the
// writer, which belongs to the caller.
func (d *Device) Close() error {
	err := d.inner.Close()
	if ferr := d.Flush(); err == nil {
		err = ferr
	}
	return err
}

var _ link.Device = (*Device)(nil)
