//go:build linux

// Package choose opens the best link device for an existing interface and
// says in one line which one it chose and why, for a command to print.
//
// The chain, best first:
//
//  1. AF_XDP (link/afxdp): frames for the stack go from the driver to user
//     space without the kernel's stack. Needs CAP_BPF, CAP_NET_ADMIN and
//     CAP_NET_RAW (or root), a kernel with AF_XDP sockets, and the
//     interface's XDP hook free.
//  2. AF_PACKET (link/afpacket): a packet socket with rings. Needs
//     CAP_NET_RAW. It sees every frame, and the host keeps seeing them too.
//  3. TAP (link/tap, SteeredTAP): a TAP device joined to the interface with
//     tc filters that steer only the stack's frames to it. Needs
//     CAP_NET_ADMIN only.
//
// A failure that means "this link cannot be used here" (errors matching
// afxdp.ErrUnavailable; afpacket.ErrNotPrivileged or a kernel without
// packet sockets) moves on to the next step; any other error (a bad
// configuration, a missing interface) stops the chain.
//
// An interface that is itself a TUN/TAP device is opened as TAP directly:
// AF_XDP or AF_PACKET on it would see the host's side of the device, not
// the far end that a TAP reader is.
package choose

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"offload/internal/sys"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/tap"
)

// Links Open knows, for Options.Prefer.
const (
	Auto     = ""         // AF_XDP, then AF_PACKET, then TAP
	AFXDP    = "afxdp"    // AF_XDP or fail
	AFPacket = "afpacket" // AF_PACKET only
	TAP      = "tap"      // a TAP device: joined to the interface with tc, or the interface itself if it is a TAP
)

// Options say which interface to open and what to steer to the stack.
type Options struct {
	// Interface and Netns as in afxdp.Config and afpacket.Config.
	Interface, Netns string
	// Prefer is Auto, AFXDP, AFPacket or TAP.
	Prefer string
	// Addrs are the stack's addresses: AF_XDP and the TAP step steer only
	// their frames (and ARP/NDP for them) to the stack and leave the rest to
	// the host. AF_PACKET sees every frame, and the host keeps seeing them too.
	Addrs []netip.Addr
	// XDP tunes the AF_XDP device (Interface, Netns and Addrs are set from above).
	XDP afxdp.Config
	// Packet tunes the AF_PACKET device (Interface and Netns are set from above).
	Packet afpacket.Config
	// Tap tunes the TAP device: Name (a new TAP's; "" lets the kernel pick),
	// Buffers, Queues and HardwareAddr (zero: the interface's MAC when
	// joined to an interface, a random one on a TAP interface) are used;
	// Netns and MTU come from the interface, and TSO is always on.
	Tap tap.Config
}

// Open is OpenOptions for the common case: interface iface in the network
// namespace at netnsPath ("" for the caller's), prefer one of Auto, AFXDP,
// AFPacket, TAP, and the stack's addresses (AF_XDP and TAP need at least one).
func Open(iface, netnsPath, prefer string, addrs ...netip.Addr) (link.Device, string, error) {
	return OpenOptions(Options{Interface: iface, Netns: netnsPath, Prefer: prefer, Addrs: addrs})
}

// OpenOptions opens the interface with the preferred link, falling back from
// AF_XDP to AF_PACKET to TAP when the earlier ones cannot be used. The
// string is one line: which link, in which mode, and why the earlier ones
// were not chosen.
func OpenOptions(opts Options) (link.Device, string, error) {
	switch opts.Prefer {
	case Auto, AFXDP, AFPacket, TAP:
	default:
		return nil, "", fmt.Errorf("choose: unknown link %q (want %q, %q, %q or empty for automatic)", opts.Prefer, AFXDP, AFPacket, TAP)
	}
	if opts.Interface == "" {
		return nil, "", errors.New("choose: Options.Interface is empty")
	}
	if opts.Prefer == Auto || opts.Prefer == TAP {
		var isTUN bool
		inNetns(opts.Netns, func() error { isTUN = ifaceIsTUN(opts.Interface); return nil })
		if isTUN {
			return openTAPInterface(opts)
		}
	}
	var reasons []string
	var errs []error
	if opts.Prefer == Auto || opts.Prefer == AFXDP {
		cfg := opts.XDP
		cfg.Interface, cfg.Netns, cfg.Addrs = opts.Interface, opts.Netns, opts.Addrs
		d, err := afxdp.Open(cfg)
		if err == nil {
			return d, fmt.Sprintf("link: AF_XDP on %s (%v, %d queue(s))", opts.Interface, d.Mode(), d.Caps().Queues), nil
		}
		if opts.Prefer == AFXDP || !errors.Is(err, afxdp.ErrUnavailable) {
			return nil, "", err
		}
		reasons = append(reasons, "AF_XDP unavailable: "+oneLine(err))
		errs = append(errs, err)
	}
	if opts.Prefer == Auto || opts.Prefer == AFPacket {
		cfg := opts.Packet
		cfg.Interface, cfg.Netns = opts.Interface, opts.Netns
		d, err := afpacket.Open(cfg)
		if err == nil {
			return d, fmt.Sprintf("link: AF_PACKET on %s (%s)", opts.Interface, because(reasons)), nil
		}
		errs = append(errs, err)
		if opts.Prefer == AFPacket || !packetUnavailable(err) {
			return nil, "", joinErrs(opts.Interface, errs)
		}
		reasons = append(reasons, "AF_PACKET unavailable: "+oneLine(err))
	}
	var s *SteeredTAP
	err := inNetns(opts.Netns, func() (err error) {
		s, err = openSteeredTAP(opts.Interface, opts.Addrs, opts.Tap)
		return err
	})
	if err != nil {
		errs = append(errs, err)
		return nil, "", joinErrs(opts.Interface, errs)
	}
	return s, fmt.Sprintf("link: TAP %s joined to %s by tc ingress redirects (%s)", s.IfName(), opts.Interface, because(reasons)), nil
}

// openTAPInterface opens an interface that is a TUN/TAP device itself.
func openTAPInterface(opts Options) (link.Device, string, error) {
	cfg := opts.Tap
	cfg.Name, cfg.Netns, cfg.TSO = opts.Interface, opts.Netns, true
	// Keep the interface's MTU: tap.Open sets the one it is given.
	err := inNetns(opts.Netns, func() (err error) { cfg.MTU, err = sys.LinkMTU(opts.Interface); return err })
	if err != nil {
		return nil, "", fmt.Errorf("choose: %s: %w", opts.Interface, err)
	}
	d, err := tap.Open(cfg)
	if err != nil {
		return nil, "", err
	}
	return d, fmt.Sprintf("link: TAP on %s (the interface is a TAP device: AF_XDP or AF_PACKET on it would see the host's side of it)", opts.Interface), nil
}

// packetUnavailable reports whether AF_PACKET cannot be used here at all,
// so the TAP step may be tried.
func packetUnavailable(err error) bool {
	return errors.Is(err, afpacket.ErrNotPrivileged) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

func because(reasons []string) string {
	if len(reasons) == 0 {
		return "asked for"
	}
	return strings.Join(reasons, "; ")
}

// oneLine is err's message on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// joinErrs says no link could be opened, with every step's error (each
// still matches with errors.Is), on one line.
func joinErrs(iface string, errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = oneLine(e)
	}
	return &chainError{msg: fmt.Sprintf("choose: no link on %s: %s", iface, strings.Join(msgs, "; and ")), errs: errs}
}

type chainError struct {
	msg  string
	errs []error
}

func (e *chainError) Error() string   { return e.msg }
func (e *chainError) Unwrap() []error { return e.errs }

func inNetns(path string, f func() error) error {
	if path == "" {
		return f()
	}
	return sys.RunInNetns(path, f)
}
