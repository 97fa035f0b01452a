//go:build linux

package linkrate

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"offload/internal/netns"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/tap"
)

// The generator's and the device under test's addresses and ports, on
// namespaces of their own (no interface carries them: AF_XDP's program
// steers by destination address, the others take every frame).
var (
	genAddr = netip.AddrPortFrom(netip.MustParseAddr("198.18.9.1"), 1000)
	dutAddr = netip.AddrPortFrom(netip.MustParseAddr("198.18.9.2"), 2000)
)

// Setup is an opened link under test: the device under test, the
// generator that delivers frames to it, and the frame both send. Either
// device may be closed early: its Close is idempotent, and the link's close
// function closes both again.
type Setup struct {
	DUT, Gen link.Device
	Frame    []byte
}

// Link is one kind of link compared.
type Link struct {
	Name  string // short, for benchmark metrics: "afxdp-native"
	Title string // for tables: "AF_XDP native"
	// Open builds the link's namespaces and opens its devices. close
	// closes the devices and removes the namespaces; Open removes
	// everything itself when it fails.
	Open func() (s Setup, close func(), err error)
}

// Baseline names the link the others are compared with.
const Baseline = "afpacket"

// Links returns the links compared, the baseline first: AF_PACKET, AF_XDP
// in native and in generic mode (on one end of a veth pair each) and TAP.
// The veth links' generator is an AF_XDP socket in generic mode on the
// pair's other end, the same for all three; TAP's is a packet socket on the
// TAP interface, its kernel side.
func Links() []Link {
	return []Link{
		{Name: "afpacket", Title: "AF_PACKET", Open: func() (Setup, func(), error) {
			return onVeth("lrpkt", func(p *netns.Pair) (link.Device, error) {
				return afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path()})
			})
		}},
		{Name: "afxdp-native", Title: "AF_XDP native", Open: func() (Setup, func(), error) {
			return onVeth("lrxdpn", xdpOn(afxdp.AttachNative))
		}},
		{Name: "afxdp-generic", Title: "AF_XDP generic", Open: func() (Setup, func(), error) {
			return onVeth("lrxdpg", xdpOn(afxdp.AttachGeneric))
		}},
		{Name: "tap", Title: "TAP", Open: openTAP},
	}
}

// xdpOn opens AF_XDP in mode m on the pair's B end, steering dutAddr to it.
func xdpOn(m afxdp.AttachMode) func(p *netns.Pair) (link.Device, error) {
	return func(p *netns.Pair) (link.Device, error) {
		return afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{dutAddr.Addr()}, Attach: m})
	}
}

// onVeth builds a veth pair in two new namespaces, opens the device under
// test on its B end with open and the generator on its A end.
func onVeth(name string, open func(p *netns.Pair) (link.Device, error)) (Setup, func(), error) {
	p, err := netns.CreatePair(netns.PairConfig{Name: name, DisableIPv6: true})
	if err != nil {
		return Setup{}, nil, err
	}
	dut, err := open(p)
	if err != nil {
		return Setup{}, nil, errors.Join(err, p.Close())
	}
	// AF_XDP's transmit is the cheapest sender there is: generic mode
	// works on every veth and leaves the B end's attach mode free.
	gen, err := afxdp.Open(afxdp.Config{Interface: p.IfA, Netns: p.A.Path(), Addrs: []netip.Addr{genAddr.Addr()}, Attach: afxdp.AttachGeneric})
	if err != nil {
		return Setup{}, nil, errors.Join(fmt.Errorf("generator: %w", err), dut.Close(), p.Close())
	}
	s := Setup{DUT: dut, Gen: gen, Frame: Frame([6]byte(p.MACA), [6]byte(p.MACB), genAddr, dutAddr)}
	return s, func() { gen.Close(); dut.Close(); p.Close() }, nil
}

// openTAP opens a TAP device in a new namespace and a packet socket on its
// kernel side, whose transmit is what the TAP device receives.
func openTAP() (Setup, func(), error) {
	h, err := netns.Create("lrtap")
	if err != nil {
		return Setup{}, nil, err
	}
	dut, err := tap.Open(tap.Config{Netns: h.Path()})
	if err != nil {
		return Setup{}, nil, errors.Join(err, h.Close())
	}
	gen, err := afpacket.Open(afpacket.Config{Interface: dut.IfName(), Netns: h.Path()})
	if err != nil {
		return Setup{}, nil, errors.Join(fmt.Errorf("generator: %w", err), dut.Close(), h.Close())
	}
	s := Setup{DUT: dut, Gen: gen, Frame: Frame(dut.PeerHardwareAddr(), dut.Caps().HardwareAddr, genAddr, dutAddr)}
	return s, func() { gen.Close(); dut.Close(); h.Close() }, nil
}

// Measure opens l, measures receiving and then, with the generator closed,
// sending for d each, and closes it again.
func Measure(l Link, d time.Duration) (rx, tx Rate, err error) {
	s, closeFn, err := l.Open()
	if err != nil {
		return Rate{}, Rate{}, fmt.Errorf("%s: %w", l.Title, err)
	}
	defer closeFn()
	if rx, err = Receive(s.DUT, s.Gen, s.Frame, d); err != nil {
		return Rate{}, Rate{}, fmt.Errorf("%s receive: %w", l.Title, err)
	}
	// Transmit has the far end to itself: left open, the generator (its
	// XDP program, its packet socket) would see every frame sent.
	s.Gen.Close()
	if tx, err = Transmit(s.DUT, s.Frame, d); err != nil {
		return rx, Rate{}, fmt.Errorf("%s transmit: %w", l.Title, err)
	}
	return rx, tx, nil
}
