//go:build linux

package sys

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AF_XDP socket options, bind flags, ring page offsets and descriptor bits
// (linux/if_xdp.h).
const (
	XDP_MMAP_OFFSETS         = unix.XDP_MMAP_OFFSETS
	XDP_RX_RING              = unix.XDP_RX_RING
	XDP_TX_RING              = unix.XDP_TX_RING
	XDP_UMEM_REG             = unix.XDP_UMEM_REG
	XDP_UMEM_FILL_RING       = unix.XDP_UMEM_FILL_RING
	XDP_UMEM_COMPLETION_RING = unix.XDP_UMEM_COMPLETION_RING
	XDP_STATISTICS           = unix.XDP_STATISTICS
	XDP_OPTIONS              = unix.XDP_OPTIONS
	XDP_OPTIONS_ZEROCOPY     = unix.XDP_OPTIONS_ZEROCOPY

	XDP_SHARED_UMEM     = unix.XDP_SHARED_UMEM
	XDP_COPY            = unix.XDP_COPY
	XDP_ZEROCOPY        = unix.XDP_ZEROCOPY
	XDP_USE_NEED_WAKEUP = unix.XDP_USE_NEED_WAKEUP
	XDP_USE_SG          = unix.XDP_USE_SG

	XDP_PGOFF_RX_RING              = unix.XDP_PGOFF_RX_RING
	XDP_PGOFF_TX_RING              = unix.XDP_PGOFF_TX_RING
	XDP_UMEM_PGOFF_FILL_RING       = unix.XDP_UMEM_PGOFF_FILL_RING
	XDP_UMEM_PGOFF_COMPLETION_RING = unix.XDP_UMEM_PGOFF_COMPLETION_RING

	XDP_RING_NEED_WAKEUP = unix.XDP_RING_NEED_WAKEUP
	XDP_PKT_CONTD        = unix.XDP_PKT_CONTD

	// XDP_PACKET_HEADROOM is the headroom the kernel keeps in front of every
	// received frame in copy mode, on top of the UMEM's own headroom.
	XDP_PACKET_HEADROOM = unix.XDP_PACKET_HEADROOM

	// BPF_F_XDP_HAS_FRAGS marks an XDP program that understands multi-buffer
	// frames; the kernel only then hands it (and AF_XDP) frames larger than a page.
	BPF_F_XDP_HAS_FRAGS = unix.BPF_F_XDP_HAS_FRAGS

	EOPNOTSUPP = unix.EOPNOTSUPP
	ENOTSUP    = unix.ENOTSUP
	EAFNOSUPP  = unix.EAFNOSUPPORT
	ENOPROTOPT = unix.ENOPROTOOPT
	ENOMEM     = unix.ENOMEM
	ERANGE     = unix.ERANGE
)

// XDPDesc is struct xdp_desc, one RX or TX ring slot (16 bytes).
type XDPDesc = unix.XDPDesc

// XDPRingOffset and XDPMmapOffsets say where the producer, consumer, flags and
// descriptors of each ring lie in its mapping (getsockopt XDP_MMAP_OFFSETS).
type (
	XDPRingOffset  = unix.XDPRingOffset
	XDPMmapOffsets = unix.XDPMmapOffsets
	XDPStatistics  = unix.XDPStatistics
)

// XDPSocket opens an AF_XDP socket in the calling thread's network namespace.
func XDPSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_XDP", err)
	}
	return fd, nil
}

// XDPRegisterUMEM registers mem (page-aligned, from AllocUMEM) as the socket's
// UMEM, cut into chunks of chunkSize bytes, each starting with headroom bytes
// the kernel leaves free in front of received frames. No TX metadata area is
// reserved: see PLATFORM.md for the EINVAL trap that comes with one.
func XDPRegisterUMEM(fd int, mem []byte, chunkSize, headroom uint32) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Len:      uint64(len(mem)),
		Size:     chunkSize,
		Headroom: headroom,
	}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0)
	if e != 0 {
		return os.NewSyscallError("setsockopt XDP_UMEM_REG", e)
	}
	return nil
}

// XDPSetRingSize sizes one of the socket's rings (XDP_RX_RING, XDP_TX_RING,
// XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING); n must be a power of two.
func XDPSetRingSize(fd, ring, n int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, ring, n); err != nil {
		return os.NewSyscallError(fmt.Sprintf("setsockopt SOL_XDP %d (ring of %d)", ring, n), err)
	}
	return nil
}

// XDPGetMmapOffsets reads the layout of the socket's rings.
func XDPGetMmapOffsets(fd int) (XDPMmapOffsets, error) {
	var off XDPMmapOffsets
	n := uint32(unsafe.Sizeof(off))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return off, os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", e)
	}
	if n != uint32(unsafe.Sizeof(off)) {
		return off, fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %d bytes, want %d (a kernel older than 5.4)", n, unsafe.Sizeof(off))
	}
	return off, nil
}

// XDPMmapRing maps length bytes of one of the socket's rings (pgoff is one of
// the XDP_*PGOFF_* constants), shared and pre-faulted.
func XDPMmapRing(fd int, pgoff int64, length int) ([]byte, error) {
	b, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, os.NewSyscallError("mmap AF_XDP ring", err)
	}
	return b, nil
}

// XDPBind binds the socket to one queue of an interface with XDP_* bind flags.
func XDPBind(fd, ifindex, queue int, flags uint16) error {
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind AF_XDP", err)
	}
	return nil
}

// XDPKick tells the kernel there are descriptors on the TX ring (a sendto with
// no data, MSG_DONTWAIT). EAGAIN, EBUSY and ENOBUFS mean "try again later":
// the caller's ring keeps the frames.
func XDPKick(fd int) error {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// XDPWakeRx asks the kernel to look at the fill ring again (a recvfrom with no
// buffer, MSG_DONTWAIT), for when the fill ring asks for a wake-up; with busy
// polling it also runs the driver's poll loop in this thread.
func XDPWakeRx(fd int) error {
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// XDPGetStatistics reads the socket's drop counters (they are cumulative).
func XDPGetStatistics(fd int) (XDPStatistics, error) {
	var st XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return st, os.NewSyscallError("getsockopt XDP_STATISTICS", e)
	}
	return st, nil
}

// XDPGetOptions reads XDP_OPTIONS: XDP_OPTIONS_ZEROCOPY says the bound socket
// moves frames without copies.
func XDPGetOptions(fd int) (uint32, error) {
	var flags uint32
	n := uint32(unsafe.Sizeof(flags))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_OPTIONS,
		uintptr(unsafe.Pointer(&flags)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, os.NewSyscallError("getsockopt XDP_OPTIONS", e)
	}
	return flags, nil
}

// AllocUMEM maps size bytes of anonymous memory for a UMEM, pre-faulted; with
// huge it asks for 2 MiB pages (size must then be a multiple of 2 MiB, and
// huge pages must be reserved: /proc/sys/vm/nr_hugepages).
func AllocUMEM(size int, huge bool) ([]byte, error) {
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	if huge {
		flags |= unix.MAP_HUGETLB
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, os.NewSyscallError("mmap UMEM", err)
	}
	return b, nil
}

// ethtoolChannels is struct ethtool_channels.
type ethtoolChannels struct {
	cmd                                         uint32
	maxRx, maxTx, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// LinkRxQueues returns how many receive queues interface name has (calling
// thread's namespace), from ETHTOOL_GCHANNELS: rx + combined channels. A
// driver without the ioctl reports one queue.
func LinkRxQueues(name string) (int, error) {
	r, err := newIfreqRaw(name)
	if err != nil {
		return 0, err
	}
	ch := &ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	*(*uintptr)(unsafe.Pointer(&r.data[0])) = uintptr(unsafe.Pointer(ch))
	err = withInetSocket(func(fd int) error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(r)))
		if e != 0 {
			return e
		}
		return nil
	})
	if err == unix.EOPNOTSUPP {
		return 1, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("ioctl ETHTOOL_GCHANNELS", err)
	}
	n := int(ch.rxCount + ch.combinedCount)
	if n < 1 {
		n = 1
	}
	return n, nil
}

// XDPSetTxBudget raises how many TX descriptors one copy-mode sendto may send
// (XDP_MAX_TX_SKB_BUDGET, Linux 6.16+; the default is 32, after which sendto
// returns EAGAIN with frames still on the ring).
func XDPSetTxBudget(fd, n int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, n); err != nil {
		return os.NewSyscallError("setsockopt XDP_MAX_TX_SKB_BUDGET", err)
	}
	return nil
}

// ThreadCPUTime returns the CPU time the calling OS thread has used (lock the
// goroutine to its thread first): the cost of a receive or send loop,
// including the kernel work its syscalls do, apart from other goroutines.
func ThreadCPUTime() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BPF_F_TEST_XDP_LIVE_FRAMES makes BPF_PROG_RUN of an XDP program act on its
// verdicts (redirect, transmit, pass to the stack): an in-kernel frame
// generator for benchmarks.
const BPF_F_TEST_XDP_LIVE_FRAMES = unix.BPF_F_TEST_XDP_LIVE_FRAMES
