//go:build linux

package sys

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCPI_OPT_* bits of TCPInfo.Options (linux/tcp.h): what the kernel
// negotiated on a connection.
const (
	TCPIOptTimestamps = 1
	TCPIOptSACK       = 2
	TCPIOptWscale     = 4
	TCPIOptECN        = 8
)

// TCPInfo is the part of the kernel's struct tcp_info that tests check against
// a peer: the options negotiated (RFC 7323 window scale and timestamps, RFC
// 2018 SACK), the MSS each way and the retransmission state.
type TCPInfo struct {
	State        uint8
	Options      uint8 // TCPIOpt* bits
	SndWscale    uint8 // shift the peer announced (applies to windows it sends)
	RcvWscale    uint8 // shift we announced
	SndMSS       uint32
	RcvMSS       uint32
	RTT, RTTVar  time.Duration
	Retransmits  uint8  // consecutive retransmissions of the current segment
	TotalRetrans uint32 // over the connection's life
	SndCwnd      uint32
}

// TCPInfoOf reads TCP_INFO from a kernel TCP socket (a *net.TCPConn, say).
func TCPInfoOf(c syscall.Conn) (TCPInfo, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return TCPInfo{}, err
	}
	var ti *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return TCPInfo{}, err
	}
	if serr != nil {
		return TCPInfo{}, serr
	}
	// Byte 6 of struct tcp_info is the bitfield tcpi_snd_wscale:4, tcpi_rcv_wscale:4
	// (low nibble first on little-endian machines); unix.TCPInfo leaves it as padding.
	ws := (*[8]byte)(unsafe.Pointer(ti))[6]
	return TCPInfo{
		State: ti.State, Options: ti.Options,
		SndWscale: ws & 0xf, RcvWscale: ws >> 4,
		SndMSS: ti.Snd_mss, RcvMSS: ti.Rcv_mss,
		RTT:          time.Duration(ti.Rtt) * time.Microsecond,
		RTTVar:       time.Duration(ti.Rttvar) * time.Microsecond,
		Retransmits:  ti.Retransmits,
		TotalRetrans: ti.Total_retrans,
		SndCwnd:      ti.Snd_cwnd,
	}, nil
}
