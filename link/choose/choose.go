//go:build linux

// Package choose opens the best link device for an existing interface: AF_XDP
// when the kernel, the driver and our privileges allow it, else AF_PACKET. It
// returns one line saying which link was chosen and why, for a command to
// print.
//
// TAP is not a fallback here: a TAP device is a new interface whose other
// end is the kernel, not a way to reach an existing NIC's wire. A program that
// wants TAP opens it itself (link/tap) and routes or bridges to it.
package choose

import (
	"errors"
	"fmt"
	"net/netip"

	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
)

// Links Open knows, for Options.Prefer.
const (
	Auto     = ""         // AF_XDP, falling back to AF_PACKET
	AFXDP    = "afxdp"    // AF_XDP or fail
	AFPacket = "afpacket" // AF_PACKET only
)

// Options say which interface to open and what to steer to the stack.
type Options struct {
	// Interface and Netns as in afxdp.Config and afpacket.Config.
	Interface, Netns string
	// Prefer is Auto, AFXDP or AFPacket.
	Prefer string
	// Addrs are the stack's addresses: AF_XDP steers only their frames (and
	// ARP/NDP for them) to the stack and leaves the rest to the host. AF_PACKET
	// sees every frame, and the host keeps seeing them too.
	Addrs []netip.Addr
	// XDP tunes the AF_XDP device (Interface, Netns and Addrs are set from above).
	XDP afxdp.Config
	// Packet tunes the AF_PACKET device (Interface and Netns are set from above).
	Packet afpacket.Config
}

// Open is OpenOptions for the common case: interface iface in the network
// namespace at netnsPath ("" for the caller's), prefer one of Auto, AFXDP,
// AFPacket, and the stack's addresses (AF_XDP needs at least one).
func Open(iface, netnsPath, prefer string, addrs ...netip.Addr) (link.Device, string, error) {
	return OpenOptions(Options{Interface: iface, Netns: netnsPath, Prefer: prefer, Addrs: addrs})
}

// OpenOptions opens the interface with the preferred link, falling back from
// AF_XDP to AF_PACKET when AF_XDP is unavailable (errors matching
// afxdp.ErrUnavailable). The string is one line: which link, in which mode,
// and why.
func OpenOptions(opts Options) (link.Device, string, error) {
	switch opts.Prefer {
	case Auto, AFXDP, AFPacket:
	default:
		return nil, "", fmt.Errorf("choose: unknown link %q (want %q, %q or empty for automatic)", opts.Prefer, AFXDP, AFPacket)
	}
	var xdpErr error
	if opts.Prefer != AFPacket {
		cfg := opts.XDP
		cfg.Interface, cfg.Netns, cfg.Addrs = opts.Interface, opts.Netns, opts.Addrs
		d, err := afxdp.Open(cfg)
		if err == nil {
			return d, fmt.Sprintf("link: AF_XDP on %s (%v, %d queue(s))", opts.Interface, d.Mode(), d.Caps().Queues), nil
		}
		if opts.Prefer == AFXDP || !errors.Is(err, afxdp.ErrUnavailable) {
			return nil, "", err
		}
		xdpErr = err
	}
	cfg := opts.Packet
	cfg.Interface, cfg.Netns = opts.Interface, opts.Netns
	d, err := afpacket.Open(cfg)
	if err != nil {
		if xdpErr != nil {
			return nil, "", fmt.Errorf("choose: no link on %s: %w; and %w", opts.Interface, xdpErr, err)
		}
		return nil, "", err
	}
	why := "asked for"
	if xdpErr != nil {
		why = "AF_XDP unavailable: " + xdpErr.Error()
	}
	return d, fmt.Sprintf("link: AF_PACKET on %s (%s)", opts.Interface, why), nil
}
