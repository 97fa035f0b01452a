//go:build linux

// Package afxdp is a link.Device on AF_XDP sockets: frames go from the NIC's
// receive queues straight into user space, without the kernel's network stack.
//
// An XDP program, assembled in Go with cilium/ebpf (no clang), redirects to
// the stack only the frames meant for it (its IPv4/IPv6 addresses, ARP and
// NDP for them) through an XSKMAP keyed by receive queue, and passes
// everything else to the kernel, so the host keeps using the interface. The
// program is attached through a BPF link: it goes away when the process dies,
// even by SIGKILL.
//
// Each receive queue of the interface gets its own socket with its own UMEM
// (frames in memory shared with the kernel), fill, completion, RX and TX
// rings. Queue q of the device is the interface's queue q; exactly one
// goroutine owns it (link.Device's rule), so a queue's rings need no locks.
//
// Receive copies each frame out of the UMEM into a buffer from a bounded pool
// the device owns, and gives the UMEM chunk back to the fill ring at once.
// Frames that span several descriptors (XDP_USE_SG multi-buffer: jumbo
// frames, or the ~64 KiB GSO frames generic mode passes on veth) are gathered
// into one buffer from a second pool of 64 KiB buffers. Handing UMEM chunks
// to the stack without the copy would need a pkt.Buffer that wraps foreign
// memory and, on Release, returns its chunk to this queue's fill ring (from
// any goroutine: an MPSC return list the owner drains), a bound on chunks the
// stack may hold (else the fill ring runs dry and the kernel drops), a copy
// fallback under pressure, and a gather list for multi-buffer frames.
//
// Several queues: the interface's receive queues each get a socket, and the
// XSKMAP sends each frame to the socket of the queue it arrived on, so the
// NIC's flow hashing (RSS) spreads flows over the device's queues. One
// goroutine owns each queue (Recv, Send, Wait); WaitAny serves a goroutine
// that owns them all. On veth, native mode spreads by the sender's transmit
// queue; generic mode delivers everything on queue 0.
//
// Transmit copies each frame into free UMEM chunks (several, chained with
// XDP_PKT_CONTD, when it is larger than one) and kicks the kernel with one
// sendto per batch when the ring asks for it (copy mode always does).
//
// Modes: the program is attached in native (driver) mode if the driver can,
// else in generic (skb) mode; sockets bind zero-copy where the driver offers
// it, else in copy mode. Mode() says what was chosen. On veth, native mode
// turns off the peer's TSO (MTU-sized frames); generic mode keeps it and
// delivers super-frames as multi-buffer descriptors (see PLATFORM.md).
//
// Checksums: AF_XDP carries no checksum metadata. See classifyChecksum for
// how received frames are marked, and Send finishes partial checksums in
// software; the device offers no checksum offload or TSO.
package afxdp

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"

	"offload/internal/sys"
	"offload/link"
	"offload/pkt"
)

// AttachMode is how the XDP program hooks into the interface.
type AttachMode uint8

const (
	// AttachAuto tries native mode, then generic mode; on veth generic mode
	// first (Mode.Why says so): native XDP on a veth turns off its peer's
	// TSO, so the kernel's side cuts everything it sends, ours and the
	// host's own traffic, into MTU-sized frames in software (measured: a
	// kernel sender reached offload at 4.9 Gbit/s native, 6.8 generic).
	AttachAuto AttachMode = iota
	// AttachNative runs the program in the driver (fails if it cannot).
	AttachNative
	// AttachGeneric runs the program on socket buffers, after the driver
	// (works on every interface; slower; on veth it keeps the peer's TSO).
	AttachGeneric
)

// attachGenericFirst is AttachAuto on a veth (see AttachAuto).
const attachGenericFirst AttachMode = 255

func (m AttachMode) String() string {
	switch m {
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return "auto"
}

// ZeroCopyPolicy says whether sockets bind in zero-copy mode.
type ZeroCopyPolicy uint8

const (
	// ZeroCopyAuto asks for zero-copy and falls back to copy mode when the
	// driver refuses (veth always does).
	ZeroCopyAuto ZeroCopyPolicy = iota
	// ZeroCopyOff binds in copy mode.
	ZeroCopyOff
	// ZeroCopyRequire fails Open if the driver refuses zero-copy.
	ZeroCopyRequire
)

// BusyPoll makes Wait spin before it sleeps, trading a CPU for latency
// (a cross-CPU wake-up costs ~20 µs on this machine kind, see PLATFORM.md).
// The zero value sleeps in poll(2) at once: friendly to a shared machine.
type BusyPoll struct {
	// Spin is the longest Wait checks the RX ring in a loop before it sleeps.
	// It adapts: a spin that found nothing halves the next one (down to
	// Spin/64), a spin that found frames doubles it back.
	Spin time.Duration
	// KernelUsecs, if > 0, sets SO_BUSY_POLL (and SO_PREFER_BUSY_POLL) on
	// each socket: while spinning, each check runs the driver's receive
	// loop in this thread instead of waiting for an interrupt. Budget is
	// SO_BUSY_POLL_BUDGET (frames per driver poll; 0 keeps the kernel's).
	// An option the kernel refuses (an older kernel; raising SO_BUSY_POLL
	// above net.core.busy_read, or any budget above the default, needs
	// CAP_NET_ADMIN) is left out, and Mode says what took effect; without
	// SO_BUSY_POLL the other two are pointless and are not set.
	KernelUsecs int
	Budget      int
}

// Config describes the device to open.
type Config struct {
	// Interface to attach to, in the namespace the sockets are created in.
	Interface string
	// Netns, if set, is the path of the network namespace that owns
	// Interface (such as /run/netns/NAME); empty means the calling thread's.
	Netns string
	// Addrs are the stack's addresses: frames to them (and ARP/NDP for them)
	// come to the device; everything else stays with the host's kernel.
	Addrs []netip.Addr
	// RedirectAll takes every frame the interface receives (the host loses
	// the interface's receive side). Addrs is then ignored.
	RedirectAll bool
	// HardwareAddr is our MAC; zero means the interface's own.
	HardwareAddr [6]byte

	Attach   AttachMode
	ZeroCopy ZeroCopyPolicy
	// NoMultiBuffer turns off XDP_USE_SG: frames larger than a UMEM chunk
	// (3840 bytes of frame) are then dropped by the kernel.
	NoMultiBuffer bool
	// Queues is how many of the interface's receive queues to bind, from
	// queue 0 (0: all of them).
	Queues int
	// RxFrames and TxFrames are the 4 KiB UMEM chunks per queue for receive
	// (2048 if 0) and transmit (1024 if 0), each a power of two in [32, 2^17];
	// they also size the rings. The RX ring is what absorbs a receiver that
	// loses its CPU for a while: 2048 slots last 1.5 ms at 1.4 Mpps.
	RxFrames, TxFrames int
	// HugePages puts each UMEM on 2 MiB huge pages (which must be reserved).
	HugePages bool
	// Buffers is the number of MTU-sized receive buffers per queue (1024 if
	// 0) and LargeBuffers the number of 64 KiB ones for multi-buffer frames
	// (64 if 0).
	Buffers, LargeBuffers int
	// VerifyChecksums leaves every received checksum for the stack to
	// verify, even the pseudo-header-only sums of a local sender (which then
	// fail): see classifyChecksum.
	VerifyChecksums bool
	BusyPoll        BusyPoll

	hooks *hooks // tests only: see export_test.go
}

// hooks let tests make the kernel fail in ways a test machine does not.
type hooks struct {
	program func(asm.Instructions) asm.Instructions // replaces the XDP program
	sockopt func(opt int) error                     // a non-nil error: the kernel refuses opt
}

// busyPollGot is what setBusyPoll obtained on one socket.
type busyPollGot struct {
	usecs, prefer bool
	budget        int
	refused       []string
}

// setBusyPoll sets the busy-polling options of b on the socket one by one,
// leaving out what the kernel refuses.
func setBusyPoll(fd int, b BusyPoll, h *hooks) busyPollGot {
	var got busyPollGot
	if b.KernelUsecs <= 0 {
		return got
	}
	set := func(opt, v int) bool {
		var err error
		if h != nil && h.sockopt != nil {
			if err = h.sockopt(opt); err != nil {
				err = fmt.Errorf("setsockopt %s: %w", sys.SockoptName(opt), err)
			}
		}
		if err == nil {
			err = sys.SetSocketInt(fd, opt, v)
		}
		if err != nil {
			got.refused = append(got.refused, err.Error())
		}
		return err == nil
	}
	if got.usecs = set(sys.SO_BUSY_POLL, b.KernelUsecs); !got.usecs {
		return got
	}
	got.prefer = set(sys.SO_PREFER_BUSY_POLL, 1)
	if b.Budget > 0 && set(sys.SO_BUSY_POLL_BUDGET, b.Budget) {
		got.budget = b.Budget
	}
	return got
}

// Mode is what Open obtained from the kernel and driver.
type Mode struct {
	Attach      AttachMode // native or generic
	ZeroCopy    bool       // sockets bound with XDP_ZEROCOPY
	MultiBuffer bool       // program loaded with frags, sockets bound with XDP_USE_SG
	BusyPoll    bool       // SO_BUSY_POLL in effect on every socket
	Why         string     // why this attach mode, when not the obvious one

	PreferBusyPoll  bool   // SO_PREFER_BUSY_POLL in effect on every socket
	BusyPollBudget  int    // SO_BUSY_POLL_BUDGET in effect (0: the kernel's)
	BusyPollRefused string // the busy-polling options the kernel refused, and why
}

func (m Mode) String() string {
	s := m.Attach.String() + " XDP, "
	if m.ZeroCopy {
		s += "zero-copy"
	} else {
		s += "copy mode"
	}
	if m.MultiBuffer {
		s += ", multi-buffer"
	}
	if m.BusyPoll {
		s += ", busy polling"
		if m.PreferBusyPoll {
			s += ", preferred"
		}
		if m.BusyPollBudget > 0 {
			s += fmt.Sprintf(", budget %d", m.BusyPollBudget)
		}
	}
	if m.Why != "" {
		s += "; " + m.Why
	}
	if m.BusyPollRefused != "" {
		s += "; kernel refused " + m.BusyPollRefused
	}
	return s
}

// Errors Open returns; each matches ErrUnavailable too, so a caller can fall
// back to another link with one errors.Is.
var (
	// ErrUnavailable: AF_XDP cannot be used here; use AF_PACKET instead.
	ErrUnavailable = errors.New("afxdp: AF_XDP is not available")
	// ErrNotPrivileged: loading BPF programs and binding AF_XDP sockets needs
	// CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW.
	ErrNotPrivileged = errors.New("afxdp: loading an XDP program needs root or CAP_BPF+CAP_NET_ADMIN+CAP_NET_RAW: run as root, or `setcap cap_bpf,cap_net_admin,cap_net_raw+ep` the binary")
	// ErrNoInterface: the interface does not exist in the socket's namespace.
	ErrNoInterface = errors.New("afxdp: no such interface in this network namespace (set Config.Netns, or call Open within netns.Host.Run)")
	// ErrKernel: the kernel lacks AF_XDP (CONFIG_XDP_SOCKETS) or a feature
	// this driver needs (Linux 5.4+ for the ring layout, 5.11+ recommended).
	ErrKernel = errors.New("afxdp: this kernel does not support AF_XDP sockets (needs CONFIG_XDP_SOCKETS, Linux 5.4 or later)")
	// ErrAttach: no XDP program could be attached (another one is there,
	// or the driver refuses both modes).
	ErrAttach = errors.New("afxdp: cannot attach an XDP program to the interface")
	// ErrProgram: the kernel refused the XDP program for a reason other
	// than privileges: an older verifier or a kernel without a helper the
	// program calls.
	ErrProgram = errors.New("afxdp: the kernel refused the XDP program (an older kernel's verifier?)")
	// ErrLockedMemory: registering a UMEM failed. A UMEM is locked memory:
	// without CAP_IPC_LOCK it counts against RLIMIT_MEMLOCK (8 MiB for
	// non-root users on many systems; a queue's UMEM is 12 MiB by default).
	ErrLockedMemory = errors.New("afxdp: cannot register the UMEM: it is locked memory, bounded by RLIMIT_MEMLOCK without CAP_IPC_LOCK: raise the limit (`ulimit -l`, systemd LimitMEMLOCK=), grant CAP_IPC_LOCK, or use fewer Config.RxFrames/TxFrames")
	// ErrBind: an AF_XDP socket could not be bound to its queue, even after
	// waiting for a previous owner to let go of it.
	ErrBind = errors.New("afxdp: cannot bind an AF_XDP socket to the interface's queue")
	// ErrZeroCopy: ZeroCopyRequire and the driver refused zero-copy.
	ErrZeroCopy = errors.New("afxdp: the driver refuses zero-copy AF_XDP (use ZeroCopyAuto to fall back to copy mode)")

	errQueue = errors.New("afxdp: no such queue")
)

// unavailable wraps cause as one of the sentinels and ErrUnavailable.
type unavailable struct {
	kind  error
	cause error
}

func (e *unavailable) Error() string {
	if e.cause == nil {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.cause.Error()
}

func (e *unavailable) Unwrap() []error {
	errs := []error{e.kind, ErrUnavailable}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

const (
	chunkSize  = 4096
	rxHeadroom = 64
	// maxLarge is the largest frame gathered from multi-buffer descriptors:
	// a 64 KiB GSO super-frame with its Ethernet header and a VLAN tag.
	maxLarge = 65536 + 14 + 4
	// maxTxChunks bounds a transmitted frame's descriptors (the kernel's
	// MAX_SKB_FRAGS + 1 for copy mode).
	maxTxChunks = 17
	recvChunk   = 64 // RX descriptors looked at per ring read
)

// Device is a set of AF_XDP sockets, one per receive queue of an interface,
// fed by one XDP program.
type Device struct {
	caps   link.Capabilities
	mode   Mode
	queues []*queue

	pollAll []sys.PollFd // every queue's socket and event, for WaitAny
	anyWait atomic.Int32 // WaitAny calls under way: Wake signals the events too

	prog  *ebpf.Program
	xsks  *ebpf.Map
	xdp   ebpflink.Link
	stats link.Counters

	statsMu sync.Mutex
	mu      sync.RWMutex // Close takes it exclusively to retire the sockets
	closed  atomic.Bool
	once    sync.Once
}

var _ link.Device = (*Device)(nil)

// queue is one socket with its UMEM and rings, owned by one goroutine.
type queue struct {
	id    int
	fd    int
	umem  []byte
	rxEnd uint64 // chunks below rxEnd are for receive, the rest for transmit

	fill, comp, rx, tx ring

	event sys.Event   // Wake's signal to WaitAny (in poll(2) on every queue)
	waker *sys.Waiter // Wait and Wake for the queue's own goroutine
	woken atomic.Bool // set by Wake, seen by a spinning Wait
	poll  [2]sys.PollFd

	small, large *pkt.Pool
	partial      *pkt.Buffer // a multi-buffer frame being gathered
	dropping     bool        // the rest of the current frame is dropped

	txFree []uint64   // free TX chunks
	txKick bool       // descriptors on the TX ring the kernel has not taken
	spin   spinBudget // how long Wait spins (adaptive)
	lastSt sys.XDPStatistics
	zc     bool
	verify bool
	busy   busyPollGot   // the busy-polling options in effect on the socket
	stats  link.Counters // this queue's; Stats sums them with the device's
}

// Open loads and attaches the XDP program and binds one AF_XDP socket per
// receive queue of cfg.Interface. When AF_XDP cannot be used the error
// matches ErrUnavailable (and says why: ErrNotPrivileged, ErrNoInterface,
// ErrKernel, ErrProgram, ErrAttach, ErrLockedMemory, ErrBind, ErrZeroCopy),
// so the caller can fall back to AF_PACKET; a bad Config is not unavailability.
func Open(cfg Config) (*Device, error) {
	if cfg.Interface == "" {
		return nil, errors.New("afxdp: Config.Interface is empty")
	}
	if cfg.RxFrames == 0 {
		cfg.RxFrames = 2048
	}
	if cfg.TxFrames == 0 {
		cfg.TxFrames = 1024
	}
	for _, n := range []int{cfg.RxFrames, cfg.TxFrames} {
		if n < 32 || n&(n-1) != 0 || n > 1<<17 {
			return nil, fmt.Errorf("afxdp: %d UMEM frames: want a power of two in [32, 131072]", n)
		}
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 1024
	}
	if cfg.LargeBuffers == 0 {
		cfg.LargeBuffers = 64
	}
	if cfg.Buffers < 1 || cfg.LargeBuffers < 1 || cfg.Queues < 0 {
		return nil, fmt.Errorf("afxdp: bad buffer or queue counts (%d, %d, %d)", cfg.Buffers, cfg.LargeBuffers, cfg.Queues)
	}
	if cfg.HardwareAddr[0]&1 != 0 {
		return nil, fmt.Errorf("afxdp: hardware address %x is multicast", cfg.HardwareAddr)
	}
	if cfg.HugePages && (cfg.RxFrames+cfg.TxFrames)%512 != 0 {
		return nil, fmt.Errorf("afxdp: %d+%d frames of 4 KiB with huge pages: want a multiple of 512 in all (2 MiB)", cfg.RxFrames, cfg.TxFrames)
	}
	if cfg.BusyPoll.Spin < 0 || cfg.BusyPoll.KernelUsecs < 0 || cfg.BusyPoll.Budget < 0 {
		return nil, errors.New("afxdp: negative busy-poll settings")
	}
	d := &Device{}
	var mtu, nq int
	var mac [6]byte
	open := func() error {
		idx, err := sys.LinkIndex(cfg.Interface)
		if err != nil {
			return &unavailable{ErrNoInterface, fmt.Errorf("%q: %v", cfg.Interface, err)}
		}
		if mtu, err = sys.LinkMTU(cfg.Interface); err != nil {
			return err
		}
		if mac, err = sys.LinkHardwareAddr(cfg.Interface); err != nil {
			return err
		}
		if nq, err = sys.LinkRxQueues(cfg.Interface); err != nil {
			return err
		}
		if cfg.Queues > 0 {
			if cfg.Queues > nq {
				return fmt.Errorf("afxdp: %d queues asked, %s has %d", cfg.Queues, cfg.Interface, nq)
			}
			nq = cfg.Queues
		}
		// A socket first: it tells whether the kernel has AF_XDP at all
		// before we load anything.
		probe, err := sys.XDPSocket()
		if err != nil {
			if errors.Is(err, sys.EPERM) || errors.Is(err, sys.EACCES) {
				return &unavailable{ErrNotPrivileged, err}
			}
			return &unavailable{ErrKernel, err}
		}
		sys.Close(probe)
		if err := d.loadProgram(cfg, nq); err != nil {
			return err
		}
		if cfg.Attach == AttachAuto {
			if drv, err := sys.LinkDriver(cfg.Interface); err == nil && drv == "veth" {
				cfg.Attach = attachGenericFirst
			}
		}
		if err := d.attach(cfg, idx); err != nil {
			return err
		}
		zc := cfg.ZeroCopy != ZeroCopyOff
		for q := range nq {
			qu, err := newQueue(cfg, idx, q, zc, d.mode.MultiBuffer)
			if err != nil && zc && cfg.ZeroCopy == ZeroCopyRequire && refusedZeroCopy(err) {
				return &unavailable{ErrZeroCopy, err}
			}
			if err != nil && zc && refusedZeroCopy(err) {
				zc = false // veth, generic mode: copy mode it is
				qu, err = newQueue(cfg, idx, q, false, d.mode.MultiBuffer)
			}
			if err != nil && d.mode.MultiBuffer && errors.Is(err, sys.EINVAL) && q == 0 {
				// A kernel before 6.6 has no XDP_USE_SG: single buffers only.
				d.mode.MultiBuffer = false
				qu, err = newQueue(cfg, idx, q, zc, false)
			}
			if err != nil {
				return err
			}
			d.queues = append(d.queues, qu)
			if err := d.xsks.Put(uint32(q), uint32(qu.fd)); err != nil {
				return fmt.Errorf("afxdp: add queue %d's socket to the XSKMAP: %w", q, err)
			}
		}
		d.mode.ZeroCopy = zc
		d.noteBusyPoll(cfg.BusyPoll)
		return nil
	}
	var err error
	if cfg.Netns != "" {
		err = sys.RunInNetns(cfg.Netns, open)
	} else {
		err = open()
	}
	if err != nil {
		d.release()
		return nil, err
	}
	if cfg.HardwareAddr == [6]byte{} {
		cfg.HardwareAddr = mac
	}
	maxFrame := chunkSize - sys.XDP_PACKET_HEADROOM
	if d.mode.MultiBuffer {
		maxFrame = maxLarge
	}
	smallSize := rxHeadroom + min(max(mtu+14+4, 1518), chunkSize-sys.XDP_PACKET_HEADROOM)
	for _, q := range d.queues {
		q.small = pkt.NewPool(cfg.Buffers, smallSize, rxHeadroom)
		if d.mode.MultiBuffer || smallSize < rxHeadroom+chunkSize-sys.XDP_PACKET_HEADROOM {
			q.large = pkt.NewPool(cfg.LargeBuffers, rxHeadroom+maxFrame, rxHeadroom)
		}
		q.verify = cfg.VerifyChecksums
		q.spin = newSpinBudget(cfg.BusyPoll.Spin)
		d.pollAll = append(d.pollAll, q.poll[0], q.poll[1])
	}
	d.caps = link.Capabilities{
		Name:         cfg.Interface + "/afxdp",
		L2:           true,
		HardwareAddr: cfg.HardwareAddr,
		MTU:          mtu,
		MaxFrame:     maxFrame,
		Headroom:     0,
		// Not trusted: frames from a wire carry full checksums the stack must
		// verify; frames from a local sender are marked ChecksumPartial one by
		// one (classifyChecksum).
		RxChecksumTrusted: false,
		TxChecksumOffload: false,
		TSO:               false,
		RxGSO:             d.mode.MultiBuffer,
		Queues:            len(d.queues),
	}
	return d, nil
}

// refusedZeroCopy reports whether a bind failed because the driver has no
// zero-copy support (EOPNOTSUPP on veth; EINVAL from some drivers).
func refusedZeroCopy(err error) bool {
	return errors.Is(err, sys.EOPNOTSUPP) || errors.Is(err, sys.EINVAL) || errors.Is(err, sys.ENOTSUP)
}

// loadProgram creates the XSKMAP and loads the program, with the frags flag
// unless multi-buffer is off or the kernel refuses it (before Linux 5.18).
func (d *Device) loadProgram(cfg Config, nq int) error {
	var err error
	d.xsks, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "offload_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(max(nq, 1)),
	})
	if err != nil {
		if errors.Is(err, sys.EPERM) || errors.Is(err, sys.EACCES) {
			return &unavailable{ErrNotPrivileged, err}
		}
		return &unavailable{ErrKernel, fmt.Errorf("create XSKMAP: %w", err)}
	}
	insns, err := program(d.xsks.FD(), cfg.Addrs, cfg.RedirectAll, xdpPass)
	if err != nil {
		return err
	}
	if cfg.hooks != nil && cfg.hooks.program != nil {
		insns = cfg.hooks.program(insns)
	}
	load := func(flags uint32) (*ebpf.Program, error) {
		return ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "offload_xdp", Type: ebpf.XDP, License: "Dual MIT/GPL",
			Instructions: append(asm.Instructions(nil), insns...), Flags: flags,
		})
	}
	if !cfg.NoMultiBuffer {
		if d.prog, err = load(sys.BPF_F_XDP_HAS_FRAGS); err == nil {
			d.mode.MultiBuffer = true
			return nil
		}
	}
	if d.prog, err = load(0); err != nil {
		// The verifier answers EACCES for many programs it refuses; its log
		// (a VerifierError) tells that apart from a missing privilege.
		var ve *ebpf.VerifierError
		verifier := errors.As(err, &ve) && len(ve.Log) > 0
		if !verifier && (errors.Is(err, sys.EPERM) || errors.Is(err, sys.EACCES)) {
			return &unavailable{ErrNotPrivileged, err}
		}
		return &unavailable{ErrProgram, oneLineErr{err}}
	}
	return nil
}

// attach hooks the program to the interface through a BPF link, native
// first unless told otherwise.
func (d *Device) attach(cfg Config, ifindex int) error {
	try := []AttachMode{AttachNative, AttachGeneric}
	switch cfg.Attach {
	case AttachNative:
		try = try[:1]
	case AttachGeneric:
		try = try[1:]
	case attachGenericFirst:
		try = []AttachMode{AttachGeneric, AttachNative}
	}
	var errs []error
	for _, m := range try {
		flags := ebpflink.XDPDriverMode
		if m == AttachGeneric {
			flags = ebpflink.XDPGenericMode
		}
		l, err := ebpflink.AttachXDP(ebpflink.XDPOptions{Program: d.prog, Interface: ifindex, Flags: flags})
		if err == nil {
			d.xdp = l
			d.mode.Attach = m
			if cfg.Attach == attachGenericFirst && m == AttachGeneric {
				d.mode.Why = "generic first on veth: native XDP would turn off the peer's TSO"
			}
			return nil
		}
		if errors.Is(err, sys.EPERM) || errors.Is(err, sys.EACCES) {
			return &unavailable{ErrNotPrivileged, err}
		}
		errs = append(errs, fmt.Errorf("%v mode: %w", m, err))
	}
	return &unavailable{ErrAttach, fmt.Errorf("%s: %w", cfg.Interface, oneLine(errs))}
}

// lineErrors is errors.Join on one line: the reasons each attach mode
// failed end up in the one line a program prints about its link (link/choose),
// so they are separated by "; " instead of newlines.
type lineErrors []error

func (e lineErrors) Error() string {
	s := ""
	for i, err := range e {
		if i > 0 {
			s += "; "
		}
		s += strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return s
}

func (e lineErrors) Unwrap() []error { return e }

// oneLineErr is err with its message on one line (a verifier's log has many).
type oneLineErr struct{ err error }

func (e oneLineErr) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "; ") }
func (e oneLineErr) Unwrap() error { return e.err }

// oneLine joins errs as lineErrors (errs is not empty).
func oneLine(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return lineErrors(errs)
}

// noteBusyPoll records in the mode what busy polling every socket got.
func (d *Device) noteBusyPoll(b BusyPoll) {
	if b.KernelUsecs <= 0 || len(d.queues) == 0 {
		return
	}
	d.mode.BusyPoll, d.mode.PreferBusyPoll, d.mode.BusyPollBudget = true, true, b.Budget
	for _, q := range d.queues {
		d.mode.BusyPoll = d.mode.BusyPoll && q.busy.usecs
		d.mode.PreferBusyPoll = d.mode.PreferBusyPoll && q.busy.prefer
		if q.busy.budget != b.Budget {
			d.mode.BusyPollBudget = 0
		}
		if len(q.busy.refused) > 0 && d.mode.BusyPollRefused == "" {
			d.mode.BusyPollRefused = strings.Join(q.busy.refused, "; ")
		}
	}
	if !d.mode.BusyPoll {
		d.mode.PreferBusyPoll, d.mode.BusyPollBudget = false, 0
	}
}

// newQueue creates and binds the socket of one receive queue.
func newQueue(cfg Config, ifindex, id int, zc, sg bool) (q *queue, err error) {
	q = &queue{id: id, fd: -1, event: sys.Event{}}
	defer func() {
		if err != nil {
			q.close()
			q = nil
		}
	}()
	if q.fd, err = sys.XDPSocket(); err != nil {
		return q, &unavailable{ErrKernel, err}
	}
	nrx, ntx := uint32(cfg.RxFrames), uint32(cfg.TxFrames)
	n := nrx + ntx
	if q.umem, err = sys.AllocUMEM(int(n)*chunkSize, cfg.HugePages); err != nil {
		return q, fmt.Errorf("afxdp: UMEM of %d bytes (huge pages %v): %w", int(n)*chunkSize, cfg.HugePages, err)
	}
	if err = sys.XDPRegisterUMEM(q.fd, q.umem, chunkSize, 0); err != nil {
		// ENOBUFS is the kernel's answer when the UMEM would exceed
		// RLIMIT_MEMLOCK (xdp_umem_account_pages); ENOMEM or EAGAIN when
		// pinning the pages fails.
		kind := ErrKernel
		if errors.Is(err, sys.ENOBUFS) || errors.Is(err, sys.ENOMEM) || errors.Is(err, sys.EAGAIN) || errors.Is(err, sys.EPERM) {
			kind = ErrLockedMemory
		}
		return q, &unavailable{kind, fmt.Errorf("%d bytes: %w", int(n)*chunkSize, err)}
	}
	for _, r := range []struct {
		opt  int
		size uint32
	}{
		{sys.XDP_UMEM_FILL_RING, nrx}, {sys.XDP_UMEM_COMPLETION_RING, ntx},
		{sys.XDP_RX_RING, nrx}, {sys.XDP_TX_RING, ntx},
	} {
		if err = sys.XDPSetRingSize(q.fd, r.opt, int(r.size)); err != nil {
			return q, fmt.Errorf("afxdp: %w", err)
		}
	}
	off, err := sys.XDPGetMmapOffsets(q.fd)
	if err != nil {
		return q, &unavailable{ErrKernel, err}
	}
	if q.fill, err = mapRing(q.fd, off.Fr, sys.XDP_UMEM_PGOFF_FILL_RING, nrx, addrSize); err != nil {
		return q, err
	}
	if q.comp, err = mapRing(q.fd, off.Cr, sys.XDP_UMEM_PGOFF_COMPLETION_RING, ntx, addrSize); err != nil {
		return q, err
	}
	if q.rx, err = mapRing(q.fd, off.Rx, sys.XDP_PGOFF_RX_RING, nrx, descSize); err != nil {
		return q, err
	}
	if q.tx, err = mapRing(q.fd, off.Tx, sys.XDP_PGOFF_TX_RING, ntx, descSize); err != nil {
		return q, err
	}
	// Receive chunks come first in the UMEM, all given to the kernel; the
	// fill ring holds exactly as many, so returning a chunk always fits.
	q.rxEnd = uint64(nrx) * chunkSize
	for i := range nrx {
		q.fill.putAddr(uint64(i) * chunkSize)
	}
	q.fill.submit()
	q.txFree = make([]uint64, 0, ntx)
	for i := nrx; i < n; i++ {
		q.txFree = append(q.txFree, uint64(i)*chunkSize)
	}
	q.busy = setBusyPoll(q.fd, cfg.BusyPoll, cfg.hooks)
	sys.XDPSetTxBudget(q.fd, 256) // best effort: older kernels send 32 per kick
	flags := uint16(sys.XDP_USE_NEED_WAKEUP)
	if zc {
		flags |= sys.XDP_ZEROCOPY
	} else {
		flags |= sys.XDP_COPY
	}
	if sg {
		flags |= sys.XDP_USE_SG
	}
	// The previous owner of the queue may still be letting go of it: the
	// kernel answers EBUSY for about a second (PLATFORM.md).
	for tries := 0; ; tries++ {
		err = sys.XDPBind(q.fd, ifindex, id, flags)
		if err == nil || !errors.Is(err, sys.EBUSY) || tries == 30 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return q, &unavailable{ErrBind, fmt.Errorf("queue %d: %w", id, err)}
	}
	if zc {
		opts, err := sys.XDPGetOptions(q.fd)
		q.zc = err == nil && opts&sys.XDP_OPTIONS_ZEROCOPY != 0
	}
	if q.event, err = sys.NewEvent(); err != nil {
		q.event = sys.Event{}
		return q, err
	}
	q.poll = [2]sys.PollFd{{Fd: int32(q.fd), Events: sys.POLLIN}, {Fd: int32(q.event.FD()), Events: sys.POLLIN}}
	if q.waker, err = sys.NewWaiter(q.fd, q.rxPending); err != nil {
		return q, fmt.Errorf("afxdp: queue %d: %w", id, err)
	}
	return q, nil
}

// rxPending reports frames on the RX ring; the waiter asks it after arming
// the runtime's poller, whose edge-triggered readiness forgets earlier frames.
func (q *queue) rxPending() bool { return q.rx.avail() > 0 }

func (q *queue) close() {
	for _, r := range []*ring{&q.fill, &q.comp, &q.rx, &q.tx} {
		r.unmap()
	}
	if q.fd >= 0 {
		sys.Close(q.fd)
		q.fd = -1
	}
	if q.umem != nil {
		sys.Munmap(q.umem)
		q.umem = nil
	}
	if q.poll[1].Fd != 0 {
		q.event.Close()
	}
	if q.waker != nil {
		q.waker.Close()
		q.waker = nil
	}
	if q.partial != nil {
		q.partial.Release()
		q.partial = nil
	}
}

// release frees everything Open made; the program's link goes first so no
// frame is redirected to a socket being closed.
func (d *Device) release() {
	if d.xdp != nil {
		d.xdp.Close()
	}
	for _, q := range d.queues {
		q.close()
	}
	if d.prog != nil {
		d.prog.Close()
	}
	if d.xsks != nil {
		d.xsks.Close()
	}
}

// Caps returns the device's capabilities.
func (d *Device) Caps() link.Capabilities { return d.caps }

// Mode returns how the device runs: attach mode, zero-copy, multi-buffer.
func (d *Device) Mode() Mode { return d.mode }

func (d *Device) queue(q int) (*queue, error) {
	if q < 0 || q >= len(d.queues) {
		return nil, errQueue
	}
	return d.queues[q], nil
}

// Recv copies received frames out of the UMEM into the batch.
func (d *Device) Recv(queue int, batch *pkt.Batch) (int, error) {
	q, err := d.queue(queue)
	if err != nil {
		return 0, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	return q.recv(batch), nil
}

func (q *queue) recv(batch *pkt.Batch) int {
	n, bytes, dropped := 0, 0, 0
	for {
		avail := min(q.rx.avail(), recvChunk)
		if avail == 0 {
			break
		}
		used := uint32(0)
		for used < avail {
			desc := q.rx.descAt(used)
			start := q.partial == nil && !q.dropping
			if start && batch.Full() {
				break
			}
			used++
			q.takeDesc(desc, start)
			if desc.Options&sys.XDP_PKT_CONTD != 0 {
				continue
			}
			// The frame is complete.
			if buf := q.partial; buf != nil && !q.dropping {
				if !q.verify {
					classifyChecksum(buf.Bytes(), &buf.Meta)
				}
				buf.Meta.Queue = uint16(q.id)
				batch.Add(buf)
				n++
				bytes += buf.Len()
			} else {
				if q.partial != nil {
					q.partial.Release()
				}
				dropped++
			}
			q.partial, q.dropping = nil, false
		}
		q.rx.release(used)
		q.fill.submit()
		if used < avail {
			break // the batch is full
		}
	}
	if q.fill.needWakeup() {
		sys.XDPWakeRx(q.fd)
	}
	// Counters once per call: they are shared with Stats readers.
	if n > 0 {
		q.stats.RxFrames.Add(uint64(n))
		q.stats.RxBytes.Add(uint64(bytes))
	}
	if dropped > 0 {
		q.stats.RxDropped.Add(uint64(dropped))
	}
	return n
}

// takeDesc copies one RX descriptor's bytes into the frame being gathered and
// gives its chunk back to the fill ring.
func (q *queue) takeDesc(desc sys.XDPDesc, start bool) {
	addr, n := desc.Addr, uint64(desc.Len)
	chunk := addr &^ (chunkSize - 1)
	valid := addr < q.rxEnd && n <= chunkSize && addr+n <= chunk+chunkSize
	if valid && q.fill.free(1) > 0 {
		q.fill.putAddr(chunk)
	} // else: a descriptor the kernel should never write; its chunk is lost
	if q.dropping {
		return
	}
	if !valid {
		q.dropping = true
		return
	}
	if start {
		pool := q.small
		if desc.Options&sys.XDP_PKT_CONTD != 0 || int(n) > pool.BufferSize()-rxHeadroom {
			pool = q.large
		}
		if pool != nil {
			q.partial = pool.Get()
		}
		if q.partial == nil {
			q.dropping = true
			return
		}
	}
	buf := q.partial
	if int(n) > buf.Tailroom() {
		q.dropping = true
		return
	}
	copy(buf.Append(int(n)), q.umem[addr:addr+n])
}

// Send copies the batch's frames into UMEM chunks and hands them to the
// kernel. Frames that do not fit (no free chunk, a frame too large or with GSO
// metadata, which this device cannot segment) are dropped and counted.
func (d *Device) Send(queue int, batch *pkt.Batch) (int, error) {
	defer batch.ReleaseAll()
	q, err := d.queue(queue)
	if err != nil {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		d.stats.TxDropped.Add(uint64(batch.Len()))
		return 0, link.ErrClosed
	}
	limit := d.caps.MTU + 14 + 4
	if !d.mode.MultiBuffer {
		limit = min(limit, chunkSize)
	}
	return q.send(batch, limit), nil
}

func (q *queue) send(batch *pkt.Batch, limit int) int {
	q.reclaim()
	sent, bytes, dropped := 0, 0, 0
	for _, buf := range batch.Buffers() {
		f := buf.Bytes()
		if len(f) < 14 || len(f) > limit || buf.Meta.GSO != pkt.GSONone ||
			(buf.Meta.Checksum == pkt.ChecksumPartial && !finishChecksum(f, &buf.Meta)) {
			dropped++
			continue
		}
		k := (len(f) + chunkSize - 1) / chunkSize
		if k > maxTxChunks {
			dropped++
			continue
		}
		if len(q.txFree) < k || q.tx.free(uint32(k)) < uint32(k) {
			// Let the kernel catch up once, then give up on this frame.
			q.tx.submit()
			q.kick()
			q.reclaim()
			if len(q.txFree) < k || q.tx.free(uint32(k)) < uint32(k) {
				dropped++
				continue
			}
		}
		for i := 0; i < k; i++ {
			a := q.txFree[len(q.txFree)-1]
			q.txFree = q.txFree[:len(q.txFree)-1]
			part := f[i*chunkSize : min((i+1)*chunkSize, len(f))]
			copy(q.umem[a:a+chunkSize], part)
			opts := uint32(0)
			if i < k-1 {
				opts = sys.XDP_PKT_CONTD
			}
			q.tx.putDesc(a, uint32(len(part)), opts)
		}
		sent++
		bytes += len(f)
	}
	q.tx.submit()
	q.kick()
	q.reclaim()
	q.stats.TxFrames.Add(uint64(sent))
	q.stats.TxBytes.Add(uint64(bytes))
	if dropped > 0 {
		q.stats.TxDropped.Add(uint64(dropped))
	}
	return sent
}

// kick makes the kernel transmit what is on the TX ring. In copy mode each
// sendto sends a bounded number of frames and answers EAGAIN if more remain,
// so it repeats while the kernel makes progress; what is left is kicked again
// by the next Send or Wait.
func (q *queue) kick() {
	for range 64 {
		before := q.tx.pending()
		if before == 0 {
			break
		}
		if q.zc && !q.tx.needWakeup() {
			break // a zero-copy driver is already working through the ring
		}
		err := sys.XDPKick(q.fd)
		if err != nil && err != sys.EAGAIN && err != sys.EBUSY && err != sys.ENOBUFS && err != sys.EINTR {
			break
		}
		if q.tx.pending() == before {
			break // the device is full: the next Send or Wait kicks again
		}
	}
	q.txKick = !q.zc && q.tx.pending() > 0
}

// reclaim takes finished TX chunks back from the completion ring.
func (q *queue) reclaim() {
	n := q.comp.avail()
	for i := range n {
		a := q.comp.addrAt(i) &^ (chunkSize - 1)
		if a >= q.rxEnd && a < uint64(len(q.umem)) && len(q.txFree) < cap(q.txFree) {
			q.txFree = append(q.txFree, a)
		}
	}
	q.comp.release(n)
}

// Wait blocks until frames are on queue's RX ring, Wake is called, or timeout
// passes. With BusyPoll.Spin it first spins on the ring.
func (d *Device) Wait(queue int, timeout time.Duration) error {
	q, err := d.queue(queue)
	if err != nil {
		return err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return link.ErrClosed
	}
	if q.woken.Swap(false) || q.rx.avail() > 0 {
		return nil
	}
	if q.txKick {
		q.kick()
		q.reclaim()
	}
	if q.spin.cur > 0 && timeout != 0 {
		limit := q.spin.cur
		if timeout > 0 && timeout < limit {
			limit = timeout
		}
		if q.spinFor(limit) {
			return nil
		}
	}
	if q.txKick && (timeout < 0 || timeout > time.Millisecond) {
		timeout = time.Millisecond // frames still to send: come back soon to kick again
	}
	// Parked in the Go runtime's poller, not in poll(2): a thread blocked in
	// a system call keeps its P, so goroutines this one just woke (readers
	// of what it received) would wait for another thread to steal them.
	err = q.waker.Wait(timeout)
	q.woken.Store(false)
	if d.closed.Load() {
		return link.ErrClosed
	}
	if err != nil {
		return fmt.Errorf("afxdp: wait: %w", err)
	}
	return nil
}

// WaitAny is Wait for a goroutine that owns every queue: it blocks until any
// queue may have frames, any queue is woken, or timeout passes. It does not
// spin. A stack that runs one goroutine per queue uses Wait instead.
func (d *Device) WaitAny(timeout time.Duration) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed.Load() {
		return link.ErrClosed
	}
	// Announced before looking at woken: a Wake either is seen below or
	// sees this and signals the event.
	d.anyWait.Add(1)
	defer d.anyWait.Add(-1)
	ms := -1
	if timeout >= 0 {
		ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<30))
	}
	for _, q := range d.queues {
		if q.woken.Swap(false) || q.rx.avail() > 0 {
			return nil
		}
		if q.txKick {
			q.kick()
			q.reclaim()
			if q.txKick && (ms < 0 || ms > 1) {
				ms = 1
			}
		}
	}
	_, err := sys.Poll(d.pollAll, ms)
	for i, q := range d.queues {
		if d.pollAll[2*i+1].Revents != 0 {
			q.event.Drain()
			q.woken.Store(false)
		}
	}
	if d.closed.Load() {
		return link.ErrClosed
	}
	if err != nil && err != sys.EINTR {
		return fmt.Errorf("afxdp: poll: %w", err)
	}
	return nil
}

// spinFor checks the RX ring (and a Wake) until something arrives or limit
// passes, and adapts the next spin: halve it after coming back empty-handed,
// double it after finding work.
func (q *queue) spinFor(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for i := 0; ; i++ {
		if q.busy.usecs {
			sys.XDPWakeRx(q.fd) // runs the driver's poll loop in this thread
		}
		if q.rx.avail() > 0 || q.woken.Load() {
			q.spin.found()
			if q.woken.Swap(false) {
				q.event.Drain()
			}
			return true
		}
		if i&63 == 63 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	q.spin.idle()
	return false
}

// spinBudget is the adaptive limit of a Wait's spin: it halves after a spin
// that found nothing, down to max/64 (at least 1 ns, so it can grow back),
// and doubles after one that found work, up to max. Zero max: no spinning.
type spinBudget struct{ cur, max time.Duration }

func newSpinBudget(max time.Duration) spinBudget { return spinBudget{max, max} }

func (b *spinBudget) floor() time.Duration { return max(b.max/64, 1) }

func (b *spinBudget) found() {
	if b.max > 0 {
		b.cur = max(min(b.cur*2, b.max), b.floor())
	}
}

func (b *spinBudget) idle() {
	if b.max > 0 {
		b.cur = max(b.cur/2, b.floor())
	}
}

// Wake makes a current or the next Wait on queue return.
func (d *Device) Wake(queue int) {
	q, err := d.queue(queue)
	if err != nil {
		return
	}
	d.mu.RLock()
	if !d.closed.Load() {
		q.woken.Store(true)
		q.waker.Wake() // no system call: a goroutine hand-off at most
		if d.anyWait.Load() > 0 {
			q.event.Signal()
		}
	}
	d.mu.RUnlock()
}

// Stats returns the device's counters; RxDropped includes the frames the
// kernel dropped for want of room on an RX ring or a fill-ring chunk, and
// TxDropped the TX descriptors it refused.
func (d *Device) Stats() link.Stats {
	d.mu.RLock()
	if !d.closed.Load() {
		d.kernelStats()
	}
	d.mu.RUnlock()
	st := d.stats.Snapshot()
	for _, q := range d.queues {
		qs := q.stats.Snapshot()
		st.RxFrames += qs.RxFrames
		st.RxBytes += qs.RxBytes
		st.RxDropped += qs.RxDropped
		st.TxFrames += qs.TxFrames
		st.TxBytes += qs.TxBytes
		st.TxDropped += qs.TxDropped
	}
	return st
}

// QueueStats returns one queue's counters (the frames its socket carried
// and dropped); Stats is their sum plus what Send refused before choosing
// a queue.
func (d *Device) QueueStats(queue int) (link.Stats, error) {
	q, err := d.queue(queue)
	if err != nil {
		return link.Stats{}, err
	}
	d.mu.RLock()
	if !d.closed.Load() {
		d.kernelStats()
	}
	d.mu.RUnlock()
	return q.stats.Snapshot(), nil
}

// kernelStats adds what the sockets' kernel counters gained since last time.
// The caller holds d.mu (either way) with the sockets open.
func (d *Device) kernelStats() {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	for _, q := range d.queues {
		st, err := sys.XDPGetStatistics(q.fd)
		if err != nil {
			continue
		}
		q.stats.RxDropped.Add(st.Rx_dropped - q.lastSt.Rx_dropped + st.Rx_ring_full - q.lastSt.Rx_ring_full)
		q.stats.TxDropped.Add(st.Tx_invalid_descs - q.lastSt.Tx_invalid_descs)
		q.lastSt = st
	}
}

// Close detaches the program, ends blocked Waits with link.ErrClosed and
// releases the sockets and UMEMs. Frames already received stay valid.
func (d *Device) Close() error {
	d.once.Do(func() {
		d.closed.Store(true)
		for _, q := range d.queues {
			q.event.Signal() // ends a WaitAny
			q.waker.Close()  // ends a parked Wait, which then lets go of d.mu
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.kernelStats() // the counters die with the sockets
		d.release()
	})
	return nil
}
