//go:build linux

package choose_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"offload/internal/netns"
	"offload/internal/netns/peer"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/choose"
	"offload/link/tap"
)

var (
	kernelAddr = netip.MustParsePrefix("198.18.8.1/24")
	hostAddrB  = netip.MustParsePrefix("198.18.8.3/24") // B's kernel, on the interface the stack shares
)

// tcState is what tc and the TAP step leave on a namespace: qdisc kinds on
// the interface, its ingress filters, and the TUN/TAP interfaces there.
type tcState struct {
	qdiscs  []string
	filters int
	taps    []string
}

func tcOf(t *testing.T, h *netns.Host, ifname string) tcState {
	t.Helper()
	l, err := h.Netlink().LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	var st tcState
	qs, err := h.Netlink().QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_INGRESS {
			st.qdiscs = append(st.qdiscs, q.Type())
		}
	}
	if len(st.qdiscs) > 0 {
		fs, err := h.Netlink().FilterList(l, netlink.HANDLE_MIN_INGRESS)
		if err != nil {
			t.Fatal(err)
		}
		st.filters = len(fs)
	}
	links, err := h.Netlink().LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Type() == "tuntap" {
			st.taps = append(st.taps, l.Attrs().Name)
		}
	}
	return st
}

// kernelTCP sends size bytes from A's kernel to a listener of B's kernel on
// the interface the stack shares, and checks they arrive intact.
func kernelTCP(t *testing.T, p *netns.Pair, to netip.Addr, size int) {
	t.Helper()
	if err := p.KernelStream(netip.AddrPortFrom(to, 7000), size, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTAPStepSteersOnlyOurFramesAndRemovesEverythingOnClose: asked for TAP,
// OpenOptions joins a new TAP device to the veth with tc. The kernel peer
// resolves and pings our address through it; the host's own address on the
// same veth keeps answering ping and TCP, and none of its frames reach the
// device; Close leaves no filter, qdisc or TAP behind.
func TestTAPStepSteersOnlyOurFramesAndRemovesEverythingOnClose(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "chtap", AddrA: kernelAddr, AddrB: hostAddrB, DisableIPv6: true})
	before := tcOf(t, p.B, p.IfB)
	d, line, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.TAP, Addrs: []netip.Addr{ourAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Log(line)
	s, ok := d.(*choose.SteeredTAP)
	if !ok || !strings.HasPrefix(line, "link: TAP tap") || !strings.HasSuffix(line, " joined to veth-b by tc ingress redirects (asked for)") {
		t.Fatalf("got %T, %q", d, line)
	}
	if mac := d.Caps().HardwareAddr; mac != [6]byte(p.MACB) {
		t.Fatalf("the stack's MAC %x is not the interface's %x", mac, p.MACB)
	}
	during := tcOf(t, p.B, p.IfB)
	if len(during.qdiscs) != 1 || during.qdiscs[0] != "clsact" || during.filters == 0 || len(during.taps) != 1 || during.taps[0] != s.IfName() {
		t.Fatalf("while open: %+v", during)
	}
	pr := peer.Start(t, d, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatalf("our address: %v (stats %+v)", err, d.Stats())
	}
	if pr.ARPReplies.Load() == 0 || pr.EchoReplies.Load() == 0 {
		t.Fatalf("answered %d ARP requests, %d echo requests", pr.ARPReplies.Load(), pr.EchoReplies.Load())
	}
	if _, err := p.A.Ping(hostAddrB.Addr(), 3*time.Second); err != nil {
		t.Fatalf("host's own address: %v", err)
	}
	kernelTCP(t, p, hostAddrB.Addr(), 4<<20)
	if f, ok := pr.Next(200*time.Millisecond, func(f peer.Frame) bool {
		ip, ok := peer.ParseIPv4(f.Data)
		return ok && ip.Dst == hostAddrB.Addr()
	}); ok {
		t.Fatalf("a frame for the host reached the device: % x", f.Data[:34])
	}
	pr.Stop()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	after := tcOf(t, p.B, p.IfB)
	if len(after.qdiscs) != len(before.qdiscs) || after.filters != 0 || len(after.taps) != 0 {
		t.Fatalf("after Close: %+v (before %+v)", after, before)
	}
	// The host still has its interface once we are gone.
	if _, err := p.A.Ping(hostAddrB.Addr(), 3*time.Second); err != nil {
		t.Fatalf("host's own address after Close: %v", err)
	}
}

// TestTAPStepKeepsAnExistingIngressQdisc: an ingress qdisc someone else put
// on the interface is used as it is and is still there after Close; only
// our filters go.
func TestTAPStepKeepsAnExistingIngressQdisc(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "chtapq", AddrA: kernelAddr, DisableIPv6: true})
	l, err := p.B.Netlink().LinkByName(p.IfB)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.B.Netlink().QdiscAdd(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}); err != nil {
		t.Fatal(err)
	}
	d, _, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.TAP, Addrs: []netip.Addr{ourAddr}})
	if err != nil {
		t.Fatal(err)
	}
	pr := peer.Start(t, d, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatalf("our address through an existing ingress qdisc: %v", err)
	}
	pr.Stop()
	d.Close()
	st := tcOf(t, p.B, p.IfB)
	if len(st.qdiscs) != 1 || st.qdiscs[0] != "ingress" || st.filters != 0 || len(st.taps) != 0 {
		t.Fatalf("after Close: %+v, want the ingress qdisc alone", st)
	}
}

// TestTAPInterfaceIsOpenedAsTAPDirectly: when the named interface is a TAP
// device, AF_XDP or AF_PACKET on it would see the host's side; the chain
// opens it as TAP and says why.
func TestTAPInterfaceIsOpenedAsTAPDirectly(t *testing.T) {
	h := netns.NewHost(t, "chtapif")
	if err := h.Run(func() error {
		return netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tapx0"}, Mode: netlink.TUNTAP_MODE_TAP,
			Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR | netlink.TUNTAP_ONE_QUEUE})
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMTU("tapx0", 1400); err != nil {
		t.Fatal(err)
	}
	for _, prefer := range []string{choose.Auto, choose.TAP} {
		d, line, err := choose.OpenOptions(choose.Options{Interface: "tapx0", Netns: h.Path(), Prefer: prefer, Addrs: []netip.Addr{ourAddr}})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(line)
		if _, ok := d.(*tap.Device); !ok || !strings.HasPrefix(line, "link: TAP on tapx0 (the interface is a TAP device") || d.Caps().MTU != 1400 {
			t.Fatalf("prefer %q: got %T, %q, MTU %d", prefer, d, line, d.Caps().MTU)
		}
		d.Close()
	}
}

// TestAutoFallbackLineIsOneLineWhenBothAttachModesFail: with another
// program on the XDP hook, automatic attach tries generic then native mode
// and both fail; the chosen-link line carries both reasons on one line.
func TestAutoFallbackLineIsOneLineWhenBothAttachModesFail(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "chline", DisableIPv6: true})
	other, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), RedirectAll: true, Attach: afxdp.AttachNative})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	d, line, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Log(line)
	if _, ok := d.(*afpacket.Device); !ok || strings.Contains(line, "\n") ||
		!strings.Contains(line, "generic mode: ") || !strings.Contains(line, "native mode: ") {
		t.Fatalf("got %T, %q: want AF_PACKET with both attach modes' reasons on one line", d, line)
	}
}

// TestTAPStepReapsFiltersADeadProcessLeft: a process killed while it used
// the TAP step leaves its filters on the interface, redirecting to a TAP
// that is gone (simulated here by closing only the TAP). The next open
// removes them, so the stack's frames reach the new TAP instead of being
// dropped by the old filters, and its Close leaves nothing.
func TestTAPStepReapsFiltersADeadProcessLeft(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "chreap", AddrA: kernelAddr, DisableIPv6: true})
	opts := choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.TAP, Addrs: []netip.Addr{ourAddr}}
	d, _, err := choose.OpenOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	d.(*choose.SteeredTAP).Device.Close() // the process dies: only its descriptors go
	if st := tcOf(t, p.B, p.IfB); st.filters == 0 || len(st.taps) != 0 {
		t.Fatalf("after the simulated death: %+v, want the filters left and no TAP", st)
	}
	d2, _, err := choose.OpenOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	pr := peer.Start(t, d2, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatalf("our address after reopening: %v (stats %+v)", err, d2.Stats())
	}
	pr.Stop()
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	// The first device's own filters were reaped; its clsact qdisc is the
	// one thing it leaves (no one knows any more that it added it).
	if st := tcOf(t, p.B, p.IfB); st.filters != 0 || len(st.taps) != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}
