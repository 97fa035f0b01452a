//go:build linux

package tap_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/netns/peer"
	"offload/link"
	"offload/link/linktest"
	"offload/link/tap"
	"offload/pkt"
)

var (
	kernelAddr = netip.MustParsePrefix("198.18.1.1/24")
	ourAddr    = netip.MustParseAddr("198.18.1.2")
)

// openInHost opens a TAP device inside a fresh namespace whose kernel has
// kernelAddr on it.
func openInHost(t *testing.T, cfg tap.Config) (*netns.Host, *tap.Device) {
	t.Helper()
	h := netns.NewHost(t, "tap")
	cfg.Netns = h.Path()
	d, err := tap.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := h.Sysctl("net.ipv6.conf."+d.IfName()+".disable_ipv6", "1"); err != nil {
		t.Fatal(err)
	}
	if err := h.AddAddr(d.IfName(), kernelAddr); err != nil {
		t.Fatal(err)
	}
	return h, d
}

func TestCapsDescribeTheOffloadsAsked(t *testing.T) {
	netns.Require(t)
	for _, c := range []struct {
		cfg            tap.Config
		csum, tso      bool
		minFrame, maxF int
	}{
		{tap.Config{MTU: 1500}, false, false, 1514, 1518},
		{tap.Config{MTU: 9000, Checksum: true}, true, false, 9014, 9018},
		{tap.Config{TSO: true}, true, true, 65536, 1 << 17},
	} {
		_, d := openInHost(t, c.cfg)
		caps := d.Caps()
		if caps.TxChecksumOffload != c.csum || caps.TSO != c.tso || caps.RxGSO != c.tso {
			t.Errorf("%+v: caps %+v", c.cfg, caps)
		}
		if caps.MaxFrame < c.minFrame || caps.MaxFrame > c.maxF {
			t.Errorf("%+v: MaxFrame %d", c.cfg, caps.MaxFrame)
		}
		if caps.Headroom != 10 || !caps.L2 || caps.Queues != 1 || caps.RxChecksumTrusted {
			t.Errorf("%+v: caps %+v", c.cfg, caps)
		}
		if c.tso && caps.MaxGSOSize <= caps.MTU {
			t.Errorf("TSO with MaxGSOSize %d", caps.MaxGSOSize)
		}
		if caps.HardwareAddr == d.PeerHardwareAddr() || caps.HardwareAddr[0]&3 != 2 {
			t.Errorf("our MAC %x, kernel's %x", caps.HardwareAddr, d.PeerHardwareAddr())
		}
		d.Close()
	}
}

func TestKernelAnswersOurARPRequest_RFC826(t *testing.T) {
	_, d := openInHost(t, tap.Config{TSO: true})
	p := peer.Start(t, d, ourAddr, 0)
	p.Send(peer.ARP(1, p.MAC, ourAddr, [6]byte{}, kernelAddr.Addr()))
	f, ok := p.Next(3*time.Second, func(f peer.Frame) bool {
		a, ok := peer.ParseARP(f.Data)
		return ok && a.Op == 2
	})
	if !ok {
		t.Fatal("no ARP reply from the kernel")
	}
	a, _ := peer.ParseARP(f.Data)
	if a.SenderIP != kernelAddr.Addr() || a.SenderMAC != d.PeerHardwareAddr() || a.TargetMAC != p.MAC || a.TargetIP != ourAddr {
		t.Fatalf("ARP reply %+v", a)
	}
	if [6]byte(f.Data[0:6]) != p.MAC {
		t.Fatalf("reply sent to %x, not us", f.Data[0:6])
	}
}

func TestKernelPingToOurAddressIsAnswered_RFC792(t *testing.T) {
	h, d := openInHost(t, tap.Config{TSO: true})
	p := peer.Start(t, d, ourAddr, 0)
	if _, err := h.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.ARPReplies.Load() == 0 || p.EchoReplies.Load() == 0 {
		t.Fatalf("answered %d ARP requests, %d echo requests", p.ARPReplies.Load(), p.EchoReplies.Load())
	}
	// The kernel can see our echo reply before Send has counted it: give the
	// counters a moment.
	ok := func(s link.Stats) bool { return s.RxFrames >= 2 && s.TxFrames >= 2 && s.RxBytes > 0 && s.TxBytes > 0 }
	for deadline := time.Now().Add(time.Second); !ok(d.Stats()) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if s := d.Stats(); !ok(s) {
		t.Fatalf("stats %+v", s)
	}
}

// kernelSendsTCP connects the kernel in h to port on ourAddr (the peer answers
// the SYN) and writes n bytes without waiting for them to be acknowledged.
func kernelSendsTCP(t *testing.T, h *netns.Host, port uint16, n int) {
	t.Helper()
	var c net.Conn
	err := h.Run(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(ourAddr, port).String(), 3*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(make([]byte, n))
	}()
}

func TestKernelTSOSuperFrameArrivesWithGSOMeta(t *testing.T) {
	h, d := openInHost(t, tap.Config{TSO: true})
	const port = 5001
	p := peer.Start(t, d, ourAddr, port)
	kernelSendsTCP(t, h, port, 256<<10)
	// Linux may push the first segment of a write alone while it copies the
	// rest (tcp_sendmsg's forced push): look for a super-frame among the data.
	isData := peer.IsTCPData(port)
	f, ok := p.Next(3*time.Second, func(f peer.Frame) bool { return isData(f) && len(f.Data) > 1514 })
	if !ok {
		t.Fatal("no TCP super-frame from the kernel within 3 s")
	}
	if err := peer.CheckSuperFrame(f, 1460); err != nil {
		t.Fatal(err)
	}
}

func TestWithoutOffloadKernelSendsMTUFramesWithFullChecksums(t *testing.T) {
	h, d := openInHost(t, tap.Config{})
	const port = 5002
	p := peer.Start(t, d, ourAddr, port)
	kernelSendsTCP(t, h, port, 64<<10)
	for range 3 {
		f, ok := p.Next(3*time.Second, peer.IsTCPData(port))
		if !ok {
			t.Fatal("no TCP data from the kernel")
		}
		if len(f.Data) > 1514 || f.Meta.GSO != pkt.GSONone || f.Meta.Checksum == pkt.ChecksumPartial {
			t.Fatalf("%d-byte frame with meta %+v on a device without offloads", len(f.Data), f.Meta)
		}
		ip, _ := peer.ParseIPv4(f.Data)
		if peer.TCPChecksum(ip.Src, ip.Dst, ip.Payload) != 0 {
			t.Fatal("TCP checksum of a frame from a device without offloads is not complete")
		}
	}
}

func TestOpenErrorsArePlain(t *testing.T) {
	netns.Require(t)
	h := netns.NewHost(t, "taperr")
	if _, err := tap.Open(tap.Config{Netns: h.Path(), MTU: 20}); err == nil {
		t.Error("MTU 20 accepted")
	}
	if _, err := tap.Open(tap.Config{Netns: h.Path(), HardwareAddr: [6]byte{1, 2, 3, 4, 5, 6}}); err == nil {
		t.Error("multicast MAC accepted")
	}
	d, err := tap.Open(tap.Config{Netns: h.Path(), Name: "offltap0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := tap.Open(tap.Config{Netns: h.Path(), Name: "offltap0"}); !errors.Is(err, tap.ErrNameInUse) {
		t.Errorf("second open of a busy TAP: %v, want ErrNameInUse", err)
	}
	if _, err := tap.Open(tap.Config{Netns: h.Path(), Name: "lo"}); !errors.Is(err, tap.ErrNameInUse) {
		t.Errorf("open of lo: %v, want ErrNameInUse", err)
	}
}

func TestConformance(t *testing.T) {
	netns.Require(t)
	linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
		// Two TAP devices on one bridge: what a writes, the kernel switches to b.
		return bridged(t, tap.Config{TSO: true})
	})
}

func TestDeviceMovedToAnotherNamespaceKeepsWorking(t *testing.T) {
	netns.Require(t)
	from := netns.NewHost(t, "tapfrom")
	to := netns.NewHost(t, "tapto")
	d, err := tap.Open(tap.Config{Netns: from.Path(), Name: "offlmove0", TSO: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := from.MoveLink(d.IfName(), to); err != nil {
		t.Fatal(err)
	}
	if _, err := from.LinkIndex(d.IfName()); err == nil {
		t.Fatal("interface still in the first namespace")
	}
	to.Sysctl("net.ipv6.conf."+d.IfName()+".disable_ipv6", "1")
	if err := to.AddAddr(d.IfName(), kernelAddr); err != nil {
		t.Fatal(err)
	}
	if err := to.SetLinkUp(d.IfName()); err != nil {
		t.Fatal(err)
	}
	peer.Start(t, d, ourAddr, 0)
	if _, err := to.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestUnprivilegedOpenSaysWhatToDo(t *testing.T) {
	if os.Getenv(netns.NobodyEnv) == "1" {
		_, err := tap.Open(tap.Config{})
		fmt.Println("OPEN:", err, errors.Is(err, tap.ErrNotPrivileged))
		return
	}
	out, err := netns.RunAsNobody(t, "TestUnprivilegedOpenSaysWhatToDo")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "CAP_NET_ADMIN") || !strings.Contains(string(out), " true\n") {
		t.Errorf("unprivileged open:\n%s", out)
	}
}
