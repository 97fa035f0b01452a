//go:build linux

package sys

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TUN/TAP interface flags (TUNSETIFF) and offload flags (TUNSETOFFLOAD).
const (
	IFF_TAP      = unix.IFF_TAP
	IFF_NO_PI    = unix.IFF_NO_PI
	IFF_VNET_HDR = unix.IFF_VNET_HDR
	// IFF_MULTI_QUEUE: each open of the interface is one queue; the kernel
	// spreads the frames it sends over them by flow.
	IFF_MULTI_QUEUE = unix.IFF_MULTI_QUEUE

	TUN_F_CSUM    = unix.TUN_F_CSUM
	TUN_F_TSO4    = unix.TUN_F_TSO4
	TUN_F_TSO6    = unix.TUN_F_TSO6
	TUN_F_TSO_ECN = unix.TUN_F_TSO_ECN
)

// TunDevicePath is the clone device for TUN/TAP interfaces.
const TunDevicePath = "/dev/net/tun"

// OpenTun opens TunDevicePath non-blocking and attaches the descriptor to the
// interface name (created in the calling thread's network namespace if it does
// not exist; "" lets the kernel pick a name) with the given IFF_* flags. It
// returns the descriptor and the interface's name.
func OpenTun(name string, flags uint16) (int, string, error) {
	fd, err := unix.Open(TunDevicePath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: TunDevicePath, Err: err}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("interface name %q: %w", name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, "", os.NewSyscallError("ioctl TUNSETIFF", err)
	}
	return fd, ifr.Name(), nil
}

// TunSetOffload tells the kernel which offloads this reader handles (TUN_F_*):
// with TUN_F_CSUM it may hand over frames with unfinished checksums, with
// TUN_F_TSO4/6 TCP super-frames. It also enables the matching offloads on the
// interface for frames written to it.
func TunSetOffload(fd int, flags int) error {
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags); err != nil {
		return os.NewSyscallError("ioctl TUNSETOFFLOAD", err)
	}
	return nil
}

// TunSetVnetHdrSize sets the length of the virtio-net header in front of every
// frame read or written (10 or 12).
func TunSetVnetHdrSize(fd int, n int) error {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, n); err != nil {
		return os.NewSyscallError("ioctl TUNSETVNETHDRSZ", err)
	}
	return nil
}

// ifreqRaw is struct ifreq: a name and a 24-byte union. unix.Ifreq has no
// accessor for the hardware-address or pointer members, so the few ioctls that
// need them build this by hand.
type ifreqRaw struct {
	name [unix.IFNAMSIZ]byte
	data [24]byte
}

func newIfreqRaw(name string) (*ifreqRaw, error) {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name %q: must be 1 to %d bytes", name, unix.IFNAMSIZ-1)
	}
	r := &ifreqRaw{}
	copy(r.name[:], name)
	return r, nil
}

// withInetSocket runs f with a throwaway datagram socket of the calling thread's
// network namespace: interface ioctls act on the socket's namespace.
func withInetSocket(f func(fd int) error) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	return f(fd)
}

// LinkDriver returns the name of interface name's driver (ethtool's
// GDRVINFO: "veth", "mlx5_core", ...), in the calling thread's namespace.
func LinkDriver(name string) (string, error) {
	var drv string
	err := withInetSocket(func(fd int) error {
		info, err := unix.IoctlGetEthtoolDrvinfo(fd, name)
		if err != nil {
			return fmt.Errorf("driver of %s: %w", name, err)
		}
		drv = unix.ByteSliceToString(info.Driver[:])
		return nil
	})
	return drv, err
}

// SetLinkMTU sets the MTU of interface name in the calling thread's namespace.
func SetLinkMTU(name string, mtu int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	return withInetSocket(func(fd int) error {
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
			return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
		}
		return nil
	})
}

// LinkMTU returns the MTU of interface name in the calling thread's namespace.
func LinkMTU(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	var mtu int
	err = withInetSocket(func(fd int) error {
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
			return fmt.Errorf("MTU of %s: %w", name, err)
		}
		mtu = int(ifr.Uint32())
		return nil
	})
	return mtu, err
}

// SetLinkUp brings interface name up in the calling thread's namespace.
func SetLinkUp(name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	return withInetSocket(func(fd int) error {
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return fmt.Errorf("get flags of %s: %w", name, err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("bring %s up: %w", name, err)
		}
		return nil
	})
}

// LinkIndex returns the interface index of name in the calling thread's namespace.
func LinkIndex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	var idx int
	err = withInetSocket(func(fd int) error {
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		idx = int(ifr.Uint32())
		return nil
	})
	return idx, err
}

// LinkHardwareAddr returns the Ethernet address of name in the calling thread's
// namespace.
func LinkHardwareAddr(name string) ([6]byte, error) {
	var mac [6]byte
	r, err := newIfreqRaw(name)
	if err != nil {
		return mac, err
	}
	err = withInetSocket(func(fd int) error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFHWADDR, uintptr(unsafe.Pointer(r)))
		if e != 0 {
			return fmt.Errorf("hardware address of %s: %w", name, e)
		}
		// data holds a struct sockaddr: 2 bytes of family, then the address.
		copy(mac[:], r.data[2:8])
		return nil
	})
	return mac, err
}

// Offload names a legacy ethtool feature switch (ethtool -K).
type Offload int

// Feature switches settable through SIOCETHTOOL; the names follow ethtool -K.
const (
	OffloadRxChecksum    Offload = iota // rx
	OffloadTxChecksum                   // tx
	OffloadScatterGather                // sg
	OffloadTSO                          // tso
	OffloadGSO                          // gso
	OffloadGRO                          // gro
)

var ethtoolCmds = [...]struct{ get, set uint32 }{
	OffloadRxChecksum:    {unix.ETHTOOL_GRXCSUM, unix.ETHTOOL_SRXCSUM},
	OffloadTxChecksum:    {unix.ETHTOOL_GTXCSUM, unix.ETHTOOL_STXCSUM},
	OffloadScatterGather: {unix.ETHTOOL_GSG, unix.ETHTOOL_SSG},
	OffloadTSO:           {unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO},
	OffloadGSO:           {unix.ETHTOOL_GGSO, unix.ETHTOOL_SGSO},
	OffloadGRO:           {unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO},
}

func (o Offload) String() string {
	switch o {
	case OffloadRxChecksum:
		return "rx"
	case OffloadTxChecksum:
		return "tx"
	case OffloadScatterGather:
		return "sg"
	case OffloadTSO:
		return "tso"
	case OffloadGSO:
		return "gso"
	case OffloadGRO:
		return "gro"
	}
	return fmt.Sprintf("Offload(%d)", int(o))
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct{ cmd, data uint32 }

func ethtool(name string, v *ethtoolValue) error {
	if v.cmd == 0 {
		return errors.New("sys: unknown ethtool feature")
	}
	r, err := newIfreqRaw(name)
	if err != nil {
		return err
	}
	*(*uintptr)(unsafe.Pointer(&r.data[0])) = uintptr(unsafe.Pointer(v))
	return withInetSocket(func(fd int) error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(r)))
		if e != 0 {
			return e
		}
		return nil
	})
}

// EthtoolGet reads a feature switch of interface name (calling thread's namespace).
func EthtoolGet(name string, o Offload) (bool, error) {
	if o < 0 || int(o) >= len(ethtoolCmds) {
		return false, fmt.Errorf("sys: unknown offload %v", o)
	}
	v := &ethtoolValue{cmd: ethtoolCmds[o].get}
	if err := ethtool(name, v); err != nil {
		return false, fmt.Errorf("ethtool get %v on %s: %w", o, name, err)
	}
	return v.data != 0, nil
}

// EthtoolSet turns a feature switch of interface name on or off, like
// `ethtool -K name o on|off`, through the legacy SIOCETHTOOL ioctl (no ethtool
// binary needed). The kernel may refuse or silently keep a fixed feature; read it
// back with EthtoolGet to be sure.
func EthtoolSet(name string, o Offload, on bool) error {
	if o < 0 || int(o) >= len(ethtoolCmds) {
		return fmt.Errorf("sys: unknown offload %v", o)
	}
	v := &ethtoolValue{cmd: ethtoolCmds[o].set}
	if on {
		v.data = 1
	}
	if err := ethtool(name, v); err != nil {
		return fmt.Errorf("ethtool set %v=%v on %s: %w", o, on, name, err)
	}
	return nil
}
