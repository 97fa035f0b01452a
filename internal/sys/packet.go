//go:build linux

package sys

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AF_PACKET socket options and ring constants.
const (
	PACKET_VERSION         = unix.PACKET_VERSION
	PACKET_RX_RING         = unix.PACKET_RX_RING
	PACKET_VNET_HDR        = unix.PACKET_VNET_HDR
	PACKET_QDISC_BYPASS    = unix.PACKET_QDISC_BYPASS
	PACKET_IGNORE_OUTGOING = unix.PACKET_IGNORE_OUTGOING
	TPACKET_V3             = unix.TPACKET_V3
	TPACKET_V2             = unix.TPACKET_V2
	// PACKET_COPY_THRESH: a frame too large for its TPACKET_V2 slot is also
	// queued whole on the socket (read it with Read), its slot marked
	// TP_STATUS_COPY.
	PACKET_COPY_THRESH = unix.PACKET_COPY_THRESH

	// Block status (tpacket_hdr_v1.block_status).
	TP_STATUS_KERNEL = unix.TP_STATUS_KERNEL
	TP_STATUS_USER   = unix.TP_STATUS_USER

	// Per-frame status bits (tpacket3_hdr.tp_status).
	TP_STATUS_LOSING          = unix.TP_STATUS_LOSING
	TP_STATUS_CSUMNOTREADY    = unix.TP_STATUS_CSUMNOTREADY
	TP_STATUS_VLAN_VALID      = unix.TP_STATUS_VLAN_VALID
	TP_STATUS_VLAN_TPID_VALID = unix.TP_STATUS_VLAN_TPID_VALID
	TP_STATUS_CSUM_VALID      = unix.TP_STATUS_CSUM_VALID
	TP_STATUS_COPY            = unix.TP_STATUS_COPY
)

// ethPAll is htons(ETH_P_ALL): every protocol.
const ethPAll = (unix.ETH_P_ALL>>8)&0xff | (unix.ETH_P_ALL&0xff)<<8

// PacketSocket opens a non-blocking AF_PACKET raw socket in the calling thread's
// network namespace. It listens to no protocol until PacketBind, so it queues
// nothing from other interfaces in between.
func PacketSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_PACKET", err)
	}
	return fd, nil
}

// PacketSetInt sets an integer SOL_PACKET option.
func PacketSetInt(fd, opt, val int) error {
	return unix.SetsockoptInt(fd, unix.SOL_PACKET, opt, val)
}

// PacketSetRxRingV3 configures a TPACKET_V3 receive ring of blockNr blocks of
// blockSize bytes; a block the kernel has started is handed to user space when
// full or retireMs milliseconds after its first frame. frameSize only bounds the
// frame count the kernel checks; V3 packs frames of any size into blocks.
func PacketSetRxRingV3(fd int, blockSize, blockNr, frameSize, retireMs uint32) error {
	req := unix.TpacketReq3{
		Block_size:     blockSize,
		Block_nr:       blockNr,
		Frame_size:     frameSize,
		Frame_nr:       blockSize / frameSize * blockNr,
		Retire_blk_tov: retireMs,
	}
	return unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
}

// PacketSetRxRingV2 configures a TPACKET_V2 receive ring: frameNr slots of
// frameSize bytes, frameSize dividing blockSize (a multiple of the page size).
// The kernel marks each slot TP_STATUS_USER as it fills it and wakes the
// socket's waiters for every frame.
func PacketSetRxRingV2(fd int, blockSize, frameSize, frameNr uint32) error {
	req := unix.TpacketReq{
		Block_size: blockSize,
		Block_nr:   frameNr / (blockSize / frameSize),
		Frame_size: frameSize,
		Frame_nr:   frameNr,
	}
	return unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
}

// SetRecvBufferForce sets SO_RCVBUFFORCE (root: above rmem_max), falling back
// to SO_RCVBUF.
func SetRecvBufferForce(fd, bytes int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes); err == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// PacketBind binds the socket to one interface (by index) for all protocols.
func PacketBind(fd, ifindex int) error {
	sa := &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind AF_PACKET", err)
	}
	return nil
}

// PacketStats reads and resets the socket's counters: frames received and
// frames dropped because the ring was full.
func PacketStats(fd int) (packets, drops uint32, err error) {
	st, err := unix.GetsockoptTpacketStatsV3(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return st.Packets, st.Drops, nil
}

// Mmap maps length bytes of fd shared and read-write, pre-faulted.
func Mmap(fd int, length int) ([]byte, error) {
	b, err := unix.Mmap(fd, 0, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return b, nil
}

// Munmap unmaps a region from Mmap.
func Munmap(b []byte) error { return unix.Munmap(b) }

// Mmsghdr is struct mmsghdr, Iovec struct iovec.
type (
	Mmsghdr = unix.Mmsghdr
	Iovec   = unix.Iovec
)

// SetIovec points iov at b (which must not be empty).
func SetIovec(iov *Iovec, b []byte) {
	iov.Base = &b[0]
	iov.SetLen(len(b))
}

// SetMsgIovecs makes m send the n iovecs starting at iov.
func SetMsgIovecs(m *Mmsghdr, iov *Iovec, n int) {
	m.Hdr.Iov = iov
	m.Hdr.SetIovlen(n)
	m.Len = 0
}

// Sendmmsg sends msgs with one sendmmsg(2) (MSG_DONTWAIT) and returns how many
// went out. The first failure stops the call: if none went out, its error is
// returned; otherwise the count, and the next call sees the error.
func Sendmmsg(fd int, msgs []Mmsghdr) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])),
		uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Sendto sends one frame on a bound packet socket (MSG_DONTWAIT).
func Sendto(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Byte offsets of the TPACKET_V3 ring structures, taken from the kernel ABI
// definitions (struct tpacket_block_desc with tpacket_hdr_v1, struct tpacket3_hdr).
const (
	blockHdr = unsafe.Offsetof(unix.TpacketBlockDesc{}.Hdr)

	TpBlockStatus   = int(blockHdr + unsafe.Offsetof(unix.TpacketHdrV1{}.Block_status))
	TpBlockNumPkts  = int(blockHdr + unsafe.Offsetof(unix.TpacketHdrV1{}.Num_pkts))
	TpBlockFirstPkt = int(blockHdr + unsafe.Offsetof(unix.TpacketHdrV1{}.Offset_to_first_pkt))
	TpBlockDescLen  = int(unsafe.Sizeof(unix.TpacketBlockDesc{}))

	Tp3NextOffset = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Next_offset))
	Tp3Snaplen    = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Snaplen))
	Tp3Len        = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Len))
	Tp3Status     = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Status))
	Tp3Mac        = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Mac))
	Tp3VlanTCI    = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Hv1) + unsafe.Offsetof(unix.TpacketHdrVariant1{}.Vlan_tci))
	Tp3VlanTPID   = int(unsafe.Offsetof(unix.Tpacket3Hdr{}.Hv1) + unsafe.Offsetof(unix.TpacketHdrVariant1{}.Vlan_tpid))
	Tp3HdrLen     = int(unsafe.Sizeof(unix.Tpacket3Hdr{}))

	Tp2Status   = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Status))
	Tp2Len      = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Len))
	Tp2Snaplen  = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Snaplen))
	Tp2Mac      = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Mac))
	Tp2VlanTCI  = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Vlan_tci))
	Tp2VlanTPID = int(unsafe.Offsetof(unix.Tpacket2Hdr{}.Vlan_tpid))
	Tp2HdrLen   = int(unsafe.Sizeof(unix.Tpacket2Hdr{}))
)

// PACKET_TX_RING and the TX frame status values (linux/if_packet.h).
const (
	PACKET_TX_RING         = unix.PACKET_TX_RING
	TP_STATUS_AVAILABLE    = unix.TP_STATUS_AVAILABLE
	TP_STATUS_SEND_REQUEST = unix.TP_STATUS_SEND_REQUEST
	TP_STATUS_WRONG_FORMAT = unix.TP_STATUS_WRONG_FORMAT
)

// PacketSetTxRingV3 configures a TPACKET_V3 transmit ring of frameNr fixed
// slots of frameSize bytes, in blocks of blockSize.
func PacketSetTxRingV3(fd int, blockSize, blockNr, frameSize uint32) error {
	req := unix.TpacketReq3{
		Block_size: blockSize,
		Block_nr:   blockNr,
		Frame_size: frameSize,
		Frame_nr:   blockSize / frameSize * blockNr,
	}
	return unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req)
}

// PacketKick asks the kernel to transmit every TX ring slot marked
// TP_STATUS_SEND_REQUEST (send with no data, MSG_DONTWAIT).
func PacketKick(fd int) error {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// PacketFanoutUnique makes the bound packet socket the first of a new
// PACKET_FANOUT group that spreads received frames over its sockets by flow
// hash, with an id the kernel picks so that no other group shares it
// (PACKET_FANOUT_FLAG_UNIQUEID); it returns that id for PacketFanoutJoin.
func PacketFanoutUnique(fd int) (int, error) {
	arg := unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_UNIQUEID
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg<<16); err != nil {
		return 0, os.NewSyscallError("setsockopt PACKET_FANOUT", err)
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt PACKET_FANOUT", err)
	}
	return v & 0xffff, nil
}

// PacketFanoutJoin adds the bound packet socket to fanout group id (made by
// PacketFanoutUnique; the group's mode has no UNIQUEID flag, which only asks
// for the id).
func PacketFanoutJoin(fd, id int) error {
	arg := unix.PACKET_FANOUT_HASH
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, id|arg<<16); err != nil {
		return os.NewSyscallError("setsockopt PACKET_FANOUT", err)
	}
	return nil
}
