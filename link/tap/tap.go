//go:build linux

// Package tap is a link.Device on a Linux TAP interface with a virtio-net header
// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).
//
// The kernel side of the TAP interface is the other host: the kernel routes and
// answers through it as through any Ethernet port, and our stack sits at the
// far end of the cable with its own MAC address. With Config.Checksum and
// Config.TSO the device announces TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6|
// TUN_F_TSO_ECN), so in both directions neither side segments TCP or computes
// checksums that the other can finish: the kernel hands over TCP super-frames of
// up to 64 KiB whose checksums are left partial, and takes ours the same way.
//
// The header is 10 bytes (struct virtio_net_hdr, set with TUNSETVNETHDRSZ).
// The 12-byte form only adds num_buffers, which matters to virtio drivers that
// merge receive buffers; a TAP reader gets one whole frame per read, so the
// field would always be 1. 10 bytes is also what AF_PACKET's PACKET_VNET_HDR
// uses, so both drivers share one codec.
//
// One frame moves per read(2) or write(2): TAP has no batched I/O. With
// Config.Queues above 1 the interface is multi-queue (IFF_MULTI_QUEUE): one
// descriptor per queue, the kernel spreading what it sends over them by flow,
// so the stack runs one owner goroutine per queue. Each descriptor is
// non-blocking; Wait parks in the Go runtime's poller (not in a
// blocking poll(2), whose thread would keep its P while the goroutines the
// owner just woke wait for one), and Wake ends it without a system call.
package tap

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"offload/internal/sys"
	"offload/link"
	"offload/pkt"
)

const (
	// vnetLen is the virtio-net header length in front of every frame.
	vnetLen = sys.VnetHdrLen
	// rxHeadroom is where received frames start in their buffers: room for the
	// header we read in front plus some for whoever forwards the frame.
	rxHeadroom = 64
	// maxGSOFrame is the largest frame with RxGSO: the kernel's legacy GSO limit
	// (64 KiB for the whole skb) plus an Ethernet header and a VLAN tag of slack.
	maxGSOFrame = 65536 + 14 + 4
	// maxGSOSize bounds a TSO super-frame we send so that, with its Ethernet
	// header and a VLAN tag, it fits the kernel's 64 KiB GSO limit whether the
	// stack counts MaxGSOSize as IP-packet or frame bytes (AF_PACKET on a veth
	// refuses 65536-byte frames; TAP is given the same bound for uniformity).
	maxGSOSize = 65535 - 14 - 4
)

// Config describes the TAP device to open.
type Config struct {
	// Name of the interface; "" lets the kernel choose (tap0, tap1, ...). An
	// existing persistent TAP interface of that name is attached to.
	Name string
	// Netns, if set, is the path of a network namespace (such as
	// /run/netns/NAME, see netns.Host.Path) to create the interface in. The
	// descriptor keeps working from any goroutine and namespace.
	Netns string
	// MTU of the interface (1500 if 0).
	MTU int
	// HardwareAddr is our side's MAC, the source of frames the stack sends. Zero
	// picks a random locally administered unicast address. It must differ from
	// the kernel interface's own MAC (PeerHardwareAddr).
	HardwareAddr [6]byte
	// Checksum lets both sides leave transport checksums partial (TUN_F_CSUM).
	Checksum bool
	// TSO exchanges TCP super-frames in both directions (TUN_F_TSO4/6, ECN);
	// it implies Checksum.
	TSO bool
	// Buffers is the number of receive buffers each queue owns (256 if 0).
	// Each holds a whole frame: 64 KiB with TSO, an MTU-sized frame without.
	Buffers int
	// Queues is the number of queues (1 if 0; at most 16): above 1 the
	// interface is opened multi-queue, one descriptor per queue.
	Queues int
}

// Errors a person may meet when opening a device.
var (
	ErrNoTunDevice   = errors.New("tap: " + sys.TunDevicePath + " does not exist: load the tun module (`modprobe tun`), or start the container with `--device /dev/net/tun`")
	ErrNotPrivileged = errors.New("tap: creating a TAP interface needs root or CAP_NET_ADMIN: run as root, or `setcap cap_net_admin+ep` the binary")
	ErrNameInUse     = errors.New("tap: the interface name is taken")
	errQueue         = errors.New("tap: no such queue (see Config.Queues)")
)

// Device is an open TAP interface. See link.Device for the contract.
type Device struct {
	q      []*queue
	ifname string
	peer   [6]byte
	caps   link.Capabilities
	stats  link.Counters
	mu     sync.RWMutex // Close takes it exclusively to retire the descriptors
	closed atomic.Bool
	once   sync.Once
}

// queue is one descriptor of the interface, owned by one goroutine.
type queue struct {
	fd     int
	waiter *sys.Waiter // Wait and Wake, on a duplicate of fd
	pool   *pkt.Pool
	spare  *pkt.Buffer // a buffer kept from the last Recv that found nothing
}

var _ link.Device = (*Device)(nil)

// Open creates (or attaches to) a TAP interface, configures its header and
// offloads, sets its MTU and brings it up.
func Open(cfg Config) (*Device, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 || cfg.MTU > 65521 {
		return nil, fmt.Errorf("tap: MTU %d outside [68, 65521]", cfg.MTU)
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 256
	}
	if cfg.Buffers < 1 {
		return nil, fmt.Errorf("tap: %d receive buffers", cfg.Buffers)
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Queues < 1 || cfg.Queues > 16 {
		return nil, fmt.Errorf("tap: %d queues: want 1 to 16", cfg.Queues)
	}
	if cfg.TSO {
		cfg.Checksum = true
	}
	if cfg.HardwareAddr == [6]byte{} {
		rand.Read(cfg.HardwareAddr[:])
		cfg.HardwareAddr[0] = cfg.HardwareAddr[0]&^1 | 2 // unicast, locally administered
	} else if cfg.HardwareAddr[0]&1 != 0 {
		return nil, fmt.Errorf("tap: hardware address %x is multicast", cfg.HardwareAddr)
	}
	if _, err := os.Stat(sys.TunDevicePath); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoTunDevice
	}
	offload := 0
	if cfg.Checksum {
		offload |= sys.TUN_F_CSUM
	}
	if cfg.TSO {
		offload |= sys.TUN_F_TSO4 | sys.TUN_F_TSO6 | sys.TUN_F_TSO_ECN
	}

	d := &Device{}
	flags := uint16(sys.IFF_TAP | sys.IFF_NO_PI | sys.IFF_VNET_HDR)
	if cfg.Queues > 1 {
		flags |= sys.IFF_MULTI_QUEUE
	}
	closeAll := func() {
		for _, q := range d.q {
			if q.waiter != nil {
				q.waiter.Close()
			}
			sys.Close(q.fd)
		}
	}
	open := func() error {
		name := cfg.Name
		for i := range cfg.Queues {
			fd, got, err := sys.OpenTun(name, flags)
			if err != nil {
				return explainOpenError(name, err)
			}
			d.q = append(d.q, &queue{fd: fd})
			name = got // the other queues attach to the interface the first made
			if err := sys.TunSetVnetHdrSize(fd, vnetLen); err != nil {
				return err
			}
			if err := sys.TunSetOffload(fd, offload); err != nil {
				return err
			}
			if i == 0 {
				d.ifname = got
			}
		}
		if err := sys.SetLinkMTU(d.ifname, cfg.MTU); err != nil {
			return err
		}
		// Writes fail with EIO until the interface is up.
		if err := sys.SetLinkUp(d.ifname); err != nil {
			return err
		}
		var err error
		d.peer, err = sys.LinkHardwareAddr(d.ifname)
		return err
	}
	var err error
	if cfg.Netns != "" {
		err = sys.RunInNetns(cfg.Netns, open)
	} else {
		err = open()
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	if d.peer == cfg.HardwareAddr {
		closeAll()
		return nil, fmt.Errorf("tap: our hardware address %x equals the kernel interface's", cfg.HardwareAddr)
	}
	maxFrame := cfg.MTU + 14 + 4 // a VLAN tag may ride on an MTU-sized packet
	if cfg.TSO {
		maxFrame = maxGSOFrame
	}
	for _, q := range d.q {
		if q.waiter, err = sys.NewWaiter(q.fd, nil); err != nil {
			closeAll()
			return nil, fmt.Errorf("tap: %w", err)
		}
		q.pool = pkt.NewPool(cfg.Buffers, rxHeadroom+maxFrame, rxHeadroom)
	}
	d.caps = link.Capabilities{
		Name:              d.ifname,
		L2:                true,
		HardwareAddr:      cfg.HardwareAddr,
		MTU:               cfg.MTU,
		MaxFrame:          maxFrame,
		Headroom:          vnetLen,
		RxChecksumTrusted: false, // only frames marked in Meta are vouched for
		TxChecksumOffload: cfg.Checksum,
		TSO:               cfg.TSO,
		RxGSO:             cfg.TSO,
		Queues:            cfg.Queues,
	}
	if cfg.TSO {
		d.caps.MaxGSOSize = maxGSOSize
	}
	return d, nil
}

func explainOpenError(name string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, sys.ENODEV), errors.Is(err, sys.ENXIO):
		return fmt.Errorf("%w (%v)", ErrNoTunDevice, err)
	case errors.Is(err, sys.EPERM), errors.Is(err, sys.EACCES):
		return fmt.Errorf("%w (%v)", ErrNotPrivileged, err)
	case errors.Is(err, sys.EBUSY):
		return fmt.Errorf("%w: TAP interface %q is already open in another process or device: %v", ErrNameInUse, name, err)
	case errors.Is(err, sys.EINVAL) && name != "":
		return fmt.Errorf("%w: %q exists and is not a TAP interface, or does not take these flags: %v", ErrNameInUse, name, err)
	}
	return fmt.Errorf("tap: open %q: %w", name, err)
}

// Caps returns the device's capabilities.
func (d *Device) Caps() link.Capabilities { return d.caps }

// IfName returns the kernel interface's name.
func (d *Device) IfName() string { return d.ifname }

// PeerHardwareAddr returns the MAC of the kernel's side of the interface, the
// address our frames to the kernel are sent to.
func (d *Device) PeerHardwareAddr() [6]byte { return d.peer }

// Recv reads frames until the batch is full, the kernel has none left, or the
// device's buffers are all out (the kernel then queues, and drops when its
// queue is full).
func (d *Device) Recv(queue int, batch *pkt.Batch) (int, error) {
	if queue < 0 || queue >= len(d.q) {
		return 0, errQueue
	}
	q := d.q[queue]
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	n := 0
	for !batch.Full() {
		buf := q.spare
		q.spare = nil
		if buf == nil {
			if buf = q.pool.Get(); buf == nil {
				break
			}
		}
		st := buf.Storage()
		r, err := sys.Read(q.fd, st[rxHeadroom-vnetLen:])
		if err != nil {
			q.spare = buf
			if err == sys.EINTR {
				continue
			}
			if err == sys.EAGAIN {
				break
			}
			return n, fmt.Errorf("tap: read %s: %w", d.ifname, err)
		}
		if r < vnetLen+14 || r > len(st)-(rxHeadroom-vnetLen) {
			// Too short to be Ethernet, or longer than the buffer: the kernel
			// reports a frame's whole length even when it had to cut it.
			q.spare = buf
			d.stats.RxDropped.Add(1)
			continue
		}
		buf.SetRange(rxHeadroom, rxHeadroom+r-vnetLen)
		if err := sys.VnetHdrToMeta(st[rxHeadroom-vnetLen:rxHeadroom], buf.Bytes(), &buf.Meta); err != nil {
			buf.Reset(rxHeadroom)
			q.spare = buf
			d.stats.RxDropped.Add(1)
			continue
		}
		batch.Add(buf)
		n++
		d.stats.RxFrames.Add(1)
		d.stats.RxBytes.Add(uint64(buf.Len()))
	}
	return n, nil
}

// Send writes each frame with its virtio-net header, built in the frame's
// headroom from its Meta (so a frame needs Caps().Headroom bytes of headroom).
// Frames that cannot be described or written are dropped and counted. Send
// returns an error only if no frame went out and the kernel refused with one
// (EIO: the interface is down).
func (d *Device) Send(queue int, batch *pkt.Batch) (int, error) {
	defer batch.ReleaseAll()
	if queue < 0 || queue >= len(d.q) {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, errQueue
	}
	fd := d.q[queue].fd
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, link.ErrClosed
	}
	sent := 0
	var lastErr error
	for _, buf := range batch.Buffers() {
		if buf.Headroom() < vnetLen || buf.Len() < 14 {
			d.stats.TxDropped.Add(1)
			continue
		}
		frameLen := buf.Len()
		hdr := buf.Prepend(vnetLen)
		if err := sys.MetaToVnetHdr(&buf.Meta, buf.Bytes()[vnetLen:], hdr); err != nil {
			d.stats.TxDropped.Add(1)
			continue
		}
		for {
			_, err := sys.Write(fd, buf.Bytes())
			if err == sys.EINTR {
				continue
			}
			if err != nil {
				lastErr = err
				d.stats.TxDropped.Add(1)
			} else {
				sent++
				d.stats.TxFrames.Add(1)
				d.stats.TxBytes.Add(uint64(frameLen))
			}
			break
		}
	}
	if sent == 0 && lastErr != nil {
		return 0, fmt.Errorf("tap: write %s: %w", d.ifname, lastErr)
	}
	return sent, nil
}

// Wait parks the calling goroutine until the interface has a frame, Wake is
// called, or timeout passes (< 0 waits without limit).
func (d *Device) Wait(queue int, timeout time.Duration) error {
	if queue < 0 || queue >= len(d.q) {
		return errQueue
	}
	if d.closed.Load() {
		return link.ErrClosed
	}
	// d.mu is not held while parked: the waiter has its own descriptor,
	// which Close closes first to end the wait.
	err := d.q[queue].waiter.Wait(timeout)
	if d.closed.Load() {
		return link.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("tap: wait: %w", err)
	}
	return nil
}

// Wake makes a current or the next Wait return.
func (d *Device) Wake(queue int) {
	if queue < 0 || queue >= len(d.q) {
		return
	}
	d.q[queue].waiter.Wake() // after Close a no-op: the waiter's descriptor is closed
}

// Stats returns the device's counters.
func (d *Device) Stats() link.Stats { return d.stats.Snapshot() }

// Close ends blocked Waits with link.ErrClosed and closes the interface; a
// non-persistent TAP interface disappears with it.
func (d *Device) Close() error {
	d.once.Do(func() {
		d.closed.Store(true)
		for _, q := range d.q {
			q.waiter.Close() // ends a parked Wait
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, q := range d.q {
			if q.spare != nil {
				q.spare.Release()
				q.spare = nil
			}
			sys.Close(q.fd)
		}
	})
	return nil
}
