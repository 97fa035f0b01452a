//go:build linux

// Package afpacket is a link.Device on an AF_PACKET socket bound to one
// interface: a receive ring shared with the kernel (mmap), and batched
// transmission with sendmmsg(2).
//
// Receive, by default: a TPACKET_V2 ring of small fixed-size slots, one frame
// each, handed to us frame by frame (the kernel wakes the socket for every
// frame), so a quiet link answers in microseconds. A frame larger than its
// slot (a TCP super-frame from a peer with TSO, or after the interface's GRO)
// is also queued whole on the socket (PACKET_COPY_THRESH), its slot marked
// TP_STATUS_COPY, and Recv reads it from there, in ring order.
//
// Receive with Config.Blocks: a TPACKET_V3 ring, where the kernel packs frames
// into large blocks and hands a block to us when it is full or RetireTimeout
// after its first frame: fewer wake-ups under load, but the retire timeout is
// the latency floor of a quiet link (1 ms by default): a 64-byte round trip
// over a veth measured 1000 µs at p50 against ~8 µs with the frame ring.
//
// Either way Recv copies frames out into the device's own buffers.
//
// Config.Queues > 1 opens one socket and ring per queue, joined in a
// PACKET_FANOUT group with a kernel-chosen id: the kernel spreads received
// frames over them by flow hash (a flow stays on one queue, and the fragments
// of a datagram share a hash), so the stack runs one owner goroutine per
// queue. Each queue transmits on its own socket.
//
// Every frame travels with a virtio-net header (PACKET_VNET_HDR) in both
// directions, so TCP super-frames from a peer with TSO arrive whole with their
// GSO size and partial checksum in pkt.Meta, and we may send super-frames and
// partial checksums for the kernel to finish.
//
// Transmit uses sendmmsg, one syscall per batch, not a TX ring. Measured on a
// veth pair (BenchmarkSend, BenchmarkSendTxRing; CPU time per frame, medians of
// 5, 64/1514-byte frames): sendmmsg 703/734 ns, a TPACKET_V3 TX ring 721/798 ns,
// one sendto per frame 808/887 ns. The ring saves nothing over sendmmsg (the
// kernel's per-frame work dominates), and its slots are fixed-size: carrying
// 64 KiB super-frames would need 64 KiB per slot.
//
// The socket bypasses the qdisc (PACKET_QDISC_BYPASS: a full device queue drops
// and counts, which the link contract allows) and does not see its own frames
// (PACKET_IGNORE_OUTGOING).
//
// Namespaces: the socket belongs to the network namespace of the thread that
// creates it and stays bound to its interface afterwards. Set Config.Netns, or
// call Open from inside netns.Host.Run.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"offload/internal/sys"
	"offload/link"
	"offload/pkt"
)

const (
	vnetLen    = sys.VnetHdrLen
	rxHeadroom = 64
	maxFrame   = 65536 + 14 + 4 // a whole GSO skb (64 KiB legacy limit) plus a re-inserted VLAN tag
	// maxGSOSize keeps a super-frame we send, with its Ethernet header and a
	// VLAN tag, within 65535 bytes: on a veth the kernel refuses (ENOBUFS) a
	// 65536-byte one (measured, TestSuperFrameOfMaxGSOSizeIsSent). The margin
	// holds whether the stack counts MaxGSOSize as IP-packet or frame bytes.
	maxGSOSize  = 65535 - 14 - 4
	sendChunk   = 64 // frames per sendmmsg
	ringFrameSz = 2048

	// TPACKET_V2 slot layout (kernel ABI).
	slotStatus   = sys.Tp2Status
	slotLen      = sys.Tp2Len
	slotSnaplen  = sys.Tp2Snaplen
	slotMac      = sys.Tp2Mac
	slotVlanTCI  = sys.Tp2VlanTCI
	slotVlanTPID = sys.Tp2VlanTPID
	slotHdrLen   = sys.Tp2HdrLen
	// copyQueueBytes is the socket receive buffer holding TP_STATUS_COPY
	// frames until Recv reads them: room for 64 super-frames.
	copyQueueBytes = 64 * 80 << 10

	// Ring layout (kernel ABI), named for readability.
	blkStatus    = sys.TpBlockStatus
	blkNumPkts   = sys.TpBlockNumPkts
	blkFirstPkt  = sys.TpBlockFirstPkt
	blkHeaderLen = sys.TpBlockDescLen
	pktNext      = sys.Tp3NextOffset
	pktSnaplen   = sys.Tp3Snaplen
	pktLen       = sys.Tp3Len
	pktStatus    = sys.Tp3Status
	pktMac       = sys.Tp3Mac
	pktVlanTCI   = sys.Tp3VlanTCI
	pktVlanTP    = sys.Tp3VlanTPID
	pktHdrLen    = sys.Tp3HdrLen
)

// Config describes the device to open.
type Config struct {
	// Interface to bind to, in the namespace the socket is created in.
	Interface string
	// Netns, if set, is the path of the network namespace that owns Interface
	// (such as /run/netns/NAME); empty means the calling thread's namespace.
	Netns string
	// HardwareAddr is our MAC; zero means the interface's own.
	HardwareAddr [6]byte
	// Frames is the number of slots of the default frame ring (4096 if 0),
	// each big enough for an MTU-sized frame (2 KiB at MTU 1500): 8 MiB.
	Frames int
	// Blocks selects the TPACKET_V3 block ring instead (see the package
	// documentation): BlockSize (256 KiB if 0; a multiple of the page size, at
	// least 128 KiB so a 64 KiB super-frame fits), BlockCount (16 if 0), and
	// RetireTimeout, after which a partly filled block is handed to us (1 ms
	// if 0; the kernel counts whole milliseconds).
	Blocks                bool
	BlockSize, BlockCount int
	RetireTimeout         time.Duration
	// Buffers is the number of receive buffers each queue owns (256 if 0),
	// each large enough for a 64 KiB super-frame.
	Buffers int
	// Queues is the number of queues (1 if 0, at most 16): one socket and ring
	// each, joined in a PACKET_FANOUT group that spreads received frames over
	// them by flow hash, so that the stack runs one owner per queue and a
	// flow stays on one. Each queue sends on its own socket.
	Queues int
}

var (
	// ErrNotPrivileged: AF_PACKET sockets need CAP_NET_RAW.
	ErrNotPrivileged = errors.New("afpacket: opening a packet socket needs root or CAP_NET_RAW: run as root, or `setcap cap_net_raw,cap_net_admin+ep` the binary")
	// ErrNoInterface: the interface does not exist in the socket's namespace.
	ErrNoInterface = errors.New("afpacket: no such interface in this network namespace (open the device inside the namespace that owns it: set Config.Netns or call Open within netns.Host.Run)")
	errQueue       = errors.New("afpacket: no such queue")
)

// Device is one AF_PACKET socket with a receive ring per queue.
type Device struct {
	qs    []*queue
	bsize int // V3: block size and count
	bnum  int
	fsize int // V2 (bsize == 0): slot size and count
	fnum  int
	caps  link.Capabilities
	stats link.Counters

	statsMu sync.Mutex
	mu      sync.RWMutex // Close takes it exclusively to retire the socket
	closed  atomic.Bool
	once    sync.Once
}

var _ link.Device = (*Device)(nil)

// queue is one socket and its ring; all but its waker is used by the queue's
// goroutine alone.
type queue struct {
	fd    int
	waker *sys.Waiter // Wait and Wake, on a duplicate of fd
	ring  []byte

	// receive position
	cur    int    // block (V3) or slot (V2) being read
	blkPkt uint32 // frames of it already taken
	blkOff uint32 // offset of the next frame in it

	pool *pkt.Pool
	msgs [sendChunk]sys.Mmsghdr
	iovs [sendChunk]sys.Iovec
}

// Open creates the socket and ring and binds to cfg.Interface.
func Open(cfg Config) (*Device, error) {
	if cfg.Interface == "" {
		return nil, errors.New("afpacket: Config.Interface is empty")
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 256 << 10
	}
	if cfg.BlockCount == 0 {
		cfg.BlockCount = 16
	}
	if cfg.Frames == 0 {
		cfg.Frames = 4096
	}
	if cfg.BlockSize < 128<<10 || cfg.BlockSize%4096 != 0 || cfg.BlockSize > 16<<20 {
		return nil, fmt.Errorf("afpacket: block size %d: want a multiple of 4096 in [128 KiB, 16 MiB]", cfg.BlockSize)
	}
	if cfg.BlockCount < 2 || cfg.BlockCount > 4096 {
		return nil, fmt.Errorf("afpacket: %d blocks: want 2 to 4096", cfg.BlockCount)
	}
	if cfg.Frames < 64 || cfg.Frames > 1<<20 {
		return nil, fmt.Errorf("afpacket: %d frame slots: want 64 to 1048576", cfg.Frames)
	}
	if cfg.RetireTimeout == 0 {
		cfg.RetireTimeout = time.Millisecond
	}
	retire := (cfg.RetireTimeout + time.Millisecond - 1) / time.Millisecond
	if cfg.RetireTimeout < 0 || retire > 10000 {
		return nil, fmt.Errorf("afpacket: retire timeout %v outside (0, 10s]", cfg.RetireTimeout)
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 256
	}
	if cfg.Buffers < 1 {
		return nil, fmt.Errorf("afpacket: %d receive buffers", cfg.Buffers)
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Queues < 1 || cfg.Queues > 16 {
		return nil, fmt.Errorf("afpacket: %d queues: want 1 to 16", cfg.Queues)
	}
	if cfg.HardwareAddr[0]&1 != 0 {
		return nil, fmt.Errorf("afpacket: hardware address %x is multicast", cfg.HardwareAddr)
	}

	d := &Device{}
	if cfg.Blocks {
		d.bsize, d.bnum = cfg.BlockSize, cfg.BlockCount
	}
	var mtu int
	var mac [6]byte
	open := func() error {
		idx, err := sys.LinkIndex(cfg.Interface)
		if err != nil {
			return fmt.Errorf("%w: %q (%v)", ErrNoInterface, cfg.Interface, err)
		}
		if mtu, err = sys.LinkMTU(cfg.Interface); err != nil {
			return err
		}
		if mac, err = sys.LinkHardwareAddr(cfg.Interface); err != nil {
			return err
		}
		if !cfg.Blocks {
			d.fsize, d.fnum = slotSize(mtu), cfg.Frames
		}
		fanout := 0
		for i := range cfg.Queues {
			q := &queue{fd: -1}
			d.qs = append(d.qs, q)
			if err := d.openQueue(q, cfg, idx, uint32(retire)); err != nil {
				return err
			}
			if cfg.Queues == 1 {
				break
			}
			// The first socket asks the kernel for a group id no other
			// socket uses; the others join that group. Frames are spread by
			// flow hash, so a flow stays on one queue.
			if i == 0 {
				fanout, err = sys.PacketFanoutUnique(q.fd)
			} else {
				err = sys.PacketFanoutJoin(q.fd, fanout)
			}
			if err != nil {
				return fmt.Errorf("afpacket: PACKET_FANOUT for %d queues: %w", cfg.Queues, err)
			}
		}
		return nil
	}
	var err error
	if cfg.Netns != "" {
		err = sys.RunInNetns(cfg.Netns, open)
	} else {
		err = open()
	}
	for _, q := range d.qs {
		if err != nil {
			break
		}
		q.waker, err = sys.NewWaiter(q.fd, func() bool { return d.rxReady(q) })
	}
	if err != nil {
		for _, q := range d.qs {
			if q.waker != nil {
				q.waker.Close()
			}
			if q.ring != nil {
				sys.Munmap(q.ring)
			}
			if q.fd >= 0 {
				sys.Close(q.fd)
			}
		}
		return nil, err
	}
	if cfg.HardwareAddr == [6]byte{} {
		cfg.HardwareAddr = mac
	}
	for _, q := range d.qs {
		q.pool = pkt.NewPool(cfg.Buffers, rxHeadroom+maxFrame, rxHeadroom)
	}
	d.caps = link.Capabilities{
		Name:              cfg.Interface + "/afpacket",
		L2:                true,
		HardwareAddr:      cfg.HardwareAddr,
		MTU:               mtu,
		MaxFrame:          maxFrame,
		Headroom:          vnetLen,
		RxChecksumTrusted: false, // frames say what is known in Meta
		TxChecksumOffload: true,  // the kernel finishes partial checksums
		TSO:               true,  // the kernel segments if the interface cannot
		MaxGSOSize:        maxGSOSize,
		RxGSO:             true,
		Queues:            cfg.Queues,
	}
	return d, nil
}

// openQueue creates q's socket and ring (of d's geometry) and binds it to
// interface idx, in the calling thread's network namespace.
func (d *Device) openQueue(q *queue, cfg Config, idx int, retire uint32) error {
	var err error
	if q.fd, err = sys.PacketSocket(); err != nil {
		if errors.Is(err, sys.EPERM) || errors.Is(err, sys.EACCES) {
			return fmt.Errorf("%w (%v)", ErrNotPrivileged, err)
		}
		return err
	}
	// Version and header before the ring: the ring's layout depends on both.
	version := sys.TPACKET_V2
	if cfg.Blocks {
		version = sys.TPACKET_V3
	}
	if err := sys.PacketSetInt(q.fd, sys.PACKET_VERSION, version); err != nil {
		return fmt.Errorf("afpacket: TPACKET_V%d: %w", version+1, err)
	}
	if err := sys.PacketSetInt(q.fd, sys.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("afpacket: PACKET_VNET_HDR: %w", err)
	}
	if cfg.Blocks {
		if err := sys.PacketSetRxRingV3(q.fd, uint32(cfg.BlockSize), uint32(cfg.BlockCount), ringFrameSz, retire); err != nil {
			return fmt.Errorf("afpacket: receive ring of %d x %d bytes: %w", cfg.BlockCount, cfg.BlockSize, err)
		}
		if q.ring, err = sys.Mmap(q.fd, cfg.BlockSize*cfg.BlockCount); err != nil {
			return err
		}
	} else {
		// Frames too large for a slot are queued whole on the socket.
		if err := sys.PacketSetInt(q.fd, sys.PACKET_COPY_THRESH, 1); err != nil {
			return fmt.Errorf("afpacket: PACKET_COPY_THRESH: %w", err)
		}
		if err := sys.SetRecvBufferForce(q.fd, copyQueueBytes); err != nil {
			return fmt.Errorf("afpacket: receive buffer: %w", err)
		}
		block := max(d.fsize, 64<<10) // a page multiple the slot size divides
		if err := sys.PacketSetRxRingV2(q.fd, uint32(block), uint32(d.fsize), uint32(d.fnum)); err != nil {
			return fmt.Errorf("afpacket: receive ring of %d x %d bytes: %w", d.fnum, d.fsize, err)
		}
		if q.ring, err = sys.Mmap(q.fd, d.fsize*d.fnum); err != nil {
			return err
		}
	}
	// Best effort: older kernels lack these; the device still works.
	sys.PacketSetInt(q.fd, sys.PACKET_QDISC_BYPASS, 1)
	sys.PacketSetInt(q.fd, sys.PACKET_IGNORE_OUTGOING, 1)
	return sys.PacketBind(q.fd, idx)
}

// Caps returns the device's capabilities.
func (d *Device) Caps() link.Capabilities { return d.caps }

func (d *Device) block(q *queue, i int) []byte { return q.ring[i*d.bsize : (i+1)*d.bsize] }

func (d *Device) blockStatus(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[blkStatus])) }

// slotSize is the V2 slot for an interface MTU: the slot header, the
// virtio-net header, an Ethernet header with a VLAN tag and the MTU, rounded
// up to a power of two (2 KiB at MTU 1500) so that it divides the ring's
// 64 KiB blocks. Larger frames take the copy path.
func slotSize(mtu int) int {
	need := slotHdrLen + 16 + vnetLen + 18 + mtu
	s := 2048
	for s < need && s < 64<<10 {
		s <<= 1
	}
	return s
}

// Recv copies frames out of the ring until the batch is full, no frame is
// left, or the device's buffers are all out.
func (d *Device) Recv(queue int, batch *pkt.Batch) (int, error) {
	if queue < 0 || queue >= len(d.qs) {
		return 0, errQueue
	}
	q := d.qs[queue]
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	if d.bsize == 0 {
		return d.recvSlots(q, batch), nil
	}
	ne := binary.NativeEndian
	n := 0
	for !batch.Full() {
		b := d.block(q, q.cur)
		// Acquire: the block's contents are ours once we see TP_STATUS_USER.
		if atomic.LoadUint32(d.blockStatus(b))&sys.TP_STATUS_USER == 0 {
			break
		}
		num := ne.Uint32(b[blkNumPkts:])
		if q.blkPkt == 0 {
			q.blkOff = ne.Uint32(b[blkFirstPkt:])
		}
		for q.blkPkt < num && !batch.Full() {
			off := int(q.blkOff)
			if off < blkHeaderLen || off > len(b)-pktHdrLen {
				d.stats.RxDropped.Add(uint64(num - q.blkPkt))
				q.blkPkt = num // a block we cannot walk: give it back
				break
			}
			buf := q.pool.Get()
			if buf == nil {
				return n, nil // keep our place; the kernel queues meanwhile
			}
			if d.copyFrame(b[off:], buf) {
				batch.Add(buf)
				n++
				d.stats.RxFrames.Add(1)
				d.stats.RxBytes.Add(uint64(buf.Len()))
			} else {
				buf.Release()
				d.stats.RxDropped.Add(1)
			}
			q.blkPkt++
			next := ne.Uint32(b[off+pktNext:])
			if next == 0 && q.blkPkt < num {
				d.stats.RxDropped.Add(uint64(num - q.blkPkt))
				q.blkPkt = num
				break
			}
			q.blkOff += next
		}
		if q.blkPkt >= num {
			// Release: hand the block back after we are done reading it.
			atomic.StoreUint32(d.blockStatus(b), sys.TP_STATUS_KERNEL)
			q.cur = (q.cur + 1) % d.bnum
			q.blkPkt, q.blkOff = 0, 0
		}
	}
	return n, nil
}

// copyFrame copies the frame whose tpacket3_hdr starts h into buf and fills its
// Meta; false means the frame is dropped (cut short, or a header that does not fit).
func (d *Device) copyFrame(h []byte, buf *pkt.Buffer) bool {
	ne := binary.NativeEndian
	snap := int(ne.Uint32(h[pktSnaplen:]))
	wire := int(ne.Uint32(h[pktLen:]))
	status := ne.Uint32(h[pktStatus:])
	mac := int(ne.Uint16(h[pktMac:]))
	if snap != wire || snap < 14 || mac < pktHdrLen+vnetLen || mac+snap > len(h) {
		return false
	}
	return fillFrame(buf, h[mac-vnetLen:mac], h[mac:mac+snap], status, uint16(ne.Uint32(h[pktVlanTCI:])), ne.Uint16(h[pktVlanTP:]))
}

// fillFrame puts frame (with its virtio-net header vnet and the ring's status
// bits and VLAN fields) into buf at rxHeadroom and fills buf.Meta; frame may
// already be there (the copy path reads it in place). false: dropped.
func fillFrame(buf *pkt.Buffer, vnet, frame []byte, status uint32, tci, tpid uint16) bool {
	if len(frame) < 14 {
		return false
	}
	if err := sys.VnetHdrToMeta(vnet, frame, &buf.Meta); err != nil {
		return false
	}
	if buf.Meta.Checksum == pkt.ChecksumUnknown && status&sys.TP_STATUS_CSUM_VALID != 0 {
		buf.Meta.Checksum = pkt.ChecksumVerified
	}
	out := buf.Storage()[rxHeadroom:]
	if status&sys.TP_STATUS_VLAN_VALID == 0 {
		if len(frame) > len(out) {
			return false
		}
		copy(out, frame)
		buf.SetRange(rxHeadroom, rxHeadroom+len(frame))
		return true
	}
	// The kernel took the 802.1Q tag out of the frame into the header; put it
	// back where it was so the stack sees the frame as it was on the wire.
	if len(frame)+4 > len(out) {
		return false
	}
	if status&sys.TP_STATUS_VLAN_TPID_VALID == 0 {
		tpid = 0x8100
	}
	n := len(frame)
	copy(out[16:], frame[12:]) // the tail first: frame may be out itself
	copy(out, frame[:12])
	binary.BigEndian.PutUint16(out[12:], tpid)
	binary.BigEndian.PutUint16(out[14:], tci)
	buf.SetRange(rxHeadroom, rxHeadroom+n+4)
	if buf.Meta.Checksum == pkt.ChecksumPartial {
		buf.Meta.CsumStart += 4
	}
	return true
}

// slot returns V2 slot i.
func (d *Device) slot(q *queue, i int) []byte { return q.ring[i*d.fsize : (i+1)*d.fsize] }

func slotStatusWord(s []byte) *uint32 { return (*uint32)(unsafe.Pointer(&s[slotStatus])) }

// recvSlots is Recv on the frame ring: one frame per slot, in order; a slot
// marked TP_STATUS_COPY stands for a frame too large for it, read whole from
// the socket's queue.
func (d *Device) recvSlots(q *queue, batch *pkt.Batch) int {
	ne := binary.NativeEndian
	n := 0
	for !batch.Full() {
		s := d.slot(q, q.cur)
		// Acquire: the slot's contents are ours once we see TP_STATUS_USER.
		status := atomic.LoadUint32(slotStatusWord(s))
		if status&sys.TP_STATUS_USER == 0 {
			break
		}
		buf := q.pool.Get()
		if buf == nil {
			break // keep our place; the kernel queues meanwhile
		}
		ok := false
		tci, tpid := ne.Uint16(s[slotVlanTCI:]), ne.Uint16(s[slotVlanTPID:])
		if status&sys.TP_STATUS_COPY != 0 {
			ok = d.readCopied(q, buf, status, tci, tpid, int(ne.Uint32(s[slotLen:])))
		} else {
			snap, wire, mac := int(ne.Uint32(s[slotSnaplen:])), int(ne.Uint32(s[slotLen:])), int(ne.Uint16(s[slotMac:]))
			// A frame cut short without a copy (the copy queue was full) is lost.
			ok = snap == wire && mac >= slotHdrLen+vnetLen && mac+snap <= len(s) &&
				fillFrame(buf, s[mac-vnetLen:mac], s[mac:mac+snap], status, tci, tpid)
		}
		// Release: hand the slot back after we are done reading it.
		atomic.StoreUint32(slotStatusWord(s), sys.TP_STATUS_KERNEL)
		q.cur++
		if q.cur == d.fnum {
			q.cur = 0
		}
		if !ok {
			buf.Release()
			d.stats.RxDropped.Add(1)
			continue
		}
		batch.Add(buf)
		n++
		d.stats.RxFrames.Add(1)
		d.stats.RxBytes.Add(uint64(buf.Len()))
	}
	return n
}

// readCopied reads the whole frame a TP_STATUS_COPY slot stands for from the
// socket (the kernel queues them in ring order) into buf, in place.
func (d *Device) readCopied(q *queue, buf *pkt.Buffer, status uint32, tci, tpid uint16, wireLen int) bool {
	st := buf.Storage()
	for {
		k, err := sys.Read(q.fd, st[rxHeadroom-vnetLen:])
		if err == sys.EINTR {
			continue
		}
		if err != nil || k-vnetLen != wireLen {
			// Nothing queued (or another frame): the copy was lost.
			return false
		}
		return fillFrame(buf, st[rxHeadroom-vnetLen:rxHeadroom], st[rxHeadroom:rxHeadroom+wireLen], status, tci, tpid)
	}
}

// Send transmits the batch with sendmmsg, each frame behind a virtio-net
// header built in its headroom from its Meta. Frames the kernel refuses (a full
// device queue, a frame too large) are dropped and counted; Send returns an
// error only if no frame went out and the kernel gave one.
func (d *Device) Send(queue int, batch *pkt.Batch) (int, error) {
	defer batch.ReleaseAll()
	if queue < 0 || queue >= len(d.qs) {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, errQueue
	}
	q := d.qs[queue]
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, link.ErrClosed
	}
	bufs := batch.Buffers()
	sent := 0
	var lastErr error
	for len(bufs) > 0 {
		// Build up to sendChunk messages; frames that cannot be described are dropped here.
		var lens [sendChunk]int
		k := 0
		used := 0
		for used < len(bufs) && k < sendChunk {
			buf := bufs[used]
			used++
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
			sys.SetIovec(&q.iovs[k], buf.Bytes())
			sys.SetMsgIovecs(&q.msgs[k], &q.iovs[k], 1)
			lens[k] = frameLen
			k++
		}
		bufs = bufs[used:]
		for i := 0; i < k; {
			m, err := sys.Sendmmsg(q.fd, q.msgs[i:k])
			if err == sys.EINTR {
				continue
			}
			if err != nil {
				// The frame at i was refused: drop it and go on with the rest.
				lastErr = err
				d.stats.TxDropped.Add(1)
				i++
				continue
			}
			for j := i; j < i+m; j++ {
				d.stats.TxBytes.Add(uint64(lens[j]))
			}
			d.stats.TxFrames.Add(uint64(m))
			sent += m
			i += m
		}
	}
	clear(q.iovs[:]) // drop references to buffers going back to their pools
	if sent == 0 && lastErr != nil {
		return 0, fmt.Errorf("afpacket: send on %s: %w", d.caps.Name, lastErr)
	}
	return sent, nil
}

// Wait parks the calling goroutine in the Go runtime's poller (not in a
// blocking poll(2), whose thread would keep its P while goroutines the owner
// just woke wait for one) until a block is ready, Wake is called, or timeout
// passes (< 0 waits without limit).
func (d *Device) Wait(queue int, timeout time.Duration) error {
	if queue < 0 || queue >= len(d.qs) {
		return errQueue
	}
	q := d.qs[queue]
	// Held while parked so that the ring stays mapped for blockReady; Close
	// ends the wait (closing the waiter) before it takes the lock.
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return link.ErrClosed
	}
	// A block or frame already ours (left by a full batch) needs no sleep.
	if d.rxReady(q) {
		return nil
	}
	err := q.waker.Wait(timeout)
	if d.closed.Load() {
		return link.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("afpacket: wait: %w", err)
	}
	return nil
}

// rxReady reports whether the block or slot Recv reads next is ours. Called
// by the queue's goroutine with d.mu held.
func (d *Device) rxReady(q *queue) bool {
	if d.bsize == 0 {
		return atomic.LoadUint32(slotStatusWord(d.slot(q, q.cur)))&sys.TP_STATUS_USER != 0
	}
	return atomic.LoadUint32(d.blockStatus(d.block(q, q.cur)))&sys.TP_STATUS_USER != 0
}

// Wake makes a current or the next Wait return.
func (d *Device) Wake(queue int) {
	if queue < 0 || queue >= len(d.qs) {
		return
	}
	d.qs[queue].waker.Wake() // after Close a no-op: the waiter's descriptor is closed
}

// Stats returns the device's counters, including frames the kernel dropped
// because the ring was full.
func (d *Device) Stats() link.Stats {
	d.mu.RLock()
	if !d.closed.Load() {
		d.statsMu.Lock()
		for _, q := range d.qs {
			if _, drops, err := sys.PacketStats(q.fd); err == nil { // reads and resets
				d.stats.RxDropped.Add(uint64(drops))
			}
		}
		d.statsMu.Unlock()
	}
	d.mu.RUnlock()
	return d.stats.Snapshot()
}

// Close ends blocked Waits with link.ErrClosed and releases the socket and ring.
func (d *Device) Close() error {
	d.once.Do(func() {
		d.closed.Store(true)
		for _, q := range d.qs {
			q.waker.Close() // ends a parked Wait, which then lets go of d.mu
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, q := range d.qs {
			sys.Munmap(q.ring)
			sys.Close(q.fd)
		}
	})
	return nil
}
