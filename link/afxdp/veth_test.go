//go:build linux

package afxdp_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"offload/internal/netns"
	"offload/internal/netns/peer"
	"offload/link"
	"offload/link/afxdp"
	"offload/link/linktest"
	"offload/pkt"
)

// queuePair is a veth pair with several queues on each end (netns.PairConfig
// has no queue count yet): A holds the kernel with kernelAddr, B our end.
type queuePair struct {
	A, B       *netns.Host
	MACA, MACB net.HardwareAddr
}

func newQueuePair(t *testing.T, name string, queues int) *queuePair {
	t.Helper()
	a := netns.NewHost(t, name+"a")
	b := netns.NewHost(t, name+"b")
	f, err := os.Open(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	veth := netlink.NewVeth(netlink.LinkAttrs{Name: "veth-a", NumTxQueues: queues, NumRxQueues: queues})
	veth.PeerName = "veth-b"
	veth.PeerNumTxQueues, veth.PeerNumRxQueues = uint32(queues), uint32(queues)
	veth.PeerNamespace = netlink.NsFd(int(f.Fd()))
	if err := a.Netlink().LinkAdd(veth); err != nil {
		t.Fatalf("veth with %d queues: %v", queues, err)
	}
	qp := &queuePair{A: a, B: b}
	for _, e := range []struct {
		h   *netns.Host
		ifn string
		mac *net.HardwareAddr
	}{{a, "veth-a", &qp.MACA}, {b, "veth-b", &qp.MACB}} {
		if err := e.h.Sysctl("net.ipv6.conf."+e.ifn+".disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
		if err := e.h.SetLinkUp(e.ifn); err != nil {
			t.Fatal(err)
		}
		if *e.mac, err = e.h.HardwareAddr(e.ifn); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.AddAddr("veth-a", kernelAddr); err != nil {
		t.Fatal(err)
	}
	return qp
}

func udpFrame(src, dst [6]byte, from, to netip.AddrPort, payload []byte) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], from.Port())
	binary.BigEndian.PutUint16(u[2:], to.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload) // checksum 0: none (RFC 768)
	return peer.IPv4(src, dst, from.Addr(), to.Addr(), 17, u)
}

// TestTwoQueuesEachReceiveAndSendIndependently: one socket per receive queue,
// each owned by its own goroutine; the kernel's flows spread over both, and
// each queue's TX reaches the kernel.
func TestTwoQueuesEachReceiveAndSendIndependently(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			qp := newQueuePair(t, "xq2", 2)
			d, err := afxdp.Open(afxdp.Config{Interface: "veth-b", Netns: qp.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if q := d.Caps().Queues; q != 2 {
				t.Fatalf("Caps().Queues = %d on a veth with 2 queues", q)
			}
			t.Logf("%v", d.Mode())
			// The kernel reaches us without ARP (a static neighbour entry), so
			// no queue has to answer ARP.
			ifa, err := qp.A.Netlink().LinkByName("veth-a")
			if err != nil {
				t.Fatal(err)
			}
			if err := qp.A.Netlink().NeighAdd(&netlink.Neigh{LinkIndex: ifa.Attrs().Index, State: netlink.NUD_PERMANENT,
				IP: ourAddr.AsSlice(), HardwareAddr: qp.MACB}); err != nil {
				t.Fatal(err)
			}
			const port, flows, per = 9000, 64, 4
			var counts [2]atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for q := range 2 {
				wg.Go(func() {
					batch := pkt.NewBatch(32)
					for {
						select {
						case <-stop:
							return
						default:
						}
						d.Recv(q, batch)
						for _, b := range batch.Buffers() {
							if ip, ok := peer.ParseIPv4(b.Bytes()); ok && ip.Proto == 17 && binary.BigEndian.Uint16(ip.Payload[2:]) == port {
								if int(b.Meta.Queue) != q {
									t.Errorf("frame from queue %d says queue %d", q, b.Meta.Queue)
								}
								counts[q].Add(1)
							}
						}
						batch.ReleaseAll()
						d.Wait(q, 10*time.Millisecond)
					}
				})
			}
			err = qp.A.Run(func() error {
				for i := range flows {
					c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ourAddr, port)))
					if err != nil {
						return err
					}
					for range per {
						c.Write([]byte(fmt.Sprintf("flow %d", i)))
					}
					c.Close()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) && counts[0].Load()+counts[1].Load() < flows*per {
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			c0, c1 := counts[0].Load(), counts[1].Load()
			t.Logf("queue 0: %d frames, queue 1: %d frames", c0, c1)
			if c0+c1 != flows*per {
				t.Fatalf("received %d of %d datagrams (stats %+v)", c0+c1, flows*per, d.Stats())
			}
			// Generic mode on veth: the kernel does not record the receive
			// queue, so every frame shows up on queue 0.
			if m == afxdp.AttachNative && (c0 == 0 || c1 == 0) {
				t.Errorf("%d flows all arrived on one queue", flows)
			}
			// Each queue transmits on its own socket.
			var ln *net.UDPConn
			if err := qp.A.Run(func() (err error) {
				ln, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(kernelAddr.Addr(), 9100)))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			for q := range 2 {
				f := udpFrame([6]byte(qp.MACB), [6]byte(qp.MACA), netip.AddrPortFrom(ourAddr, uint16(7000+q)),
					netip.AddrPortFrom(kernelAddr.Addr(), 9100), []byte(fmt.Sprintf("from queue %d", q)))
				batch := pkt.NewBatch(1)
				buf := pkt.NewBuffer(len(f), 0)
				copy(buf.Append(len(f)), f)
				batch.Add(buf)
				if n, err := d.Send(q, batch); n != 1 || err != nil {
					t.Fatalf("Send on queue %d: %d, %v", q, n, err)
				}
			}
			got := map[string]bool{}
			ln.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 100)
			for len(got) < 2 {
				n, err := ln.Read(buf)
				if err != nil {
					t.Fatalf("kernel got %v: %v", got, err)
				}
				got[string(buf[:n])] = true
			}
		})
	}
}

// TestHostTrafficOnTheSameInterfaceKeepsFlowing: while the program runs, the
// host's own address on the interface still answers ping and TCP, and none of
// its frames reach the device.
func TestHostTrafficOnTheSameInterfaceKeepsFlowing(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "xhost", AddrA: kernelAddr, AddrB: hostAddrB, DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			pr := peer.Start(t, d, ourAddr, 0)
			if _, err := p.A.Ping(hostAddrB.Addr(), 3*time.Second); err != nil {
				t.Fatalf("host's own address: %v", err)
			}
			if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
				t.Fatalf("our address: %v", err)
			}
			// Kernel to kernel TCP across the interface the program sits on.
			if err := p.KernelStream(netip.AddrPortFrom(hostAddrB.Addr(), 7000), 4<<20, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if f, ok := pr.Next(200*time.Millisecond, func(f peer.Frame) bool {
				ip, ok := peer.ParseIPv4(f.Data)
				return ok && ip.Dst == hostAddrB.Addr()
			}); ok {
				t.Fatalf("a frame for the host reached the device: % x", f.Data[:34])
			}
		})
	}
}

// TestJumboFramesCrossAsMultiBuffer_MTU9000: with MTU 9000 an 8000-byte echo
// request we send takes two TX descriptors, and the kernel's 8000-byte reply
// arrives whole from two RX descriptors.
func TestJumboFramesCrossAsMultiBuffer(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "xjumbo", AddrA: kernelAddr, MTU: 9000, DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if !d.Mode().MultiBuffer || d.Caps().MaxFrame < 9014 {
				t.Fatalf("mode %v, caps %+v", d.Mode(), d.Caps())
			}
			pr := peer.Start(t, d, ourAddr, 0)
			icmp := make([]byte, 8+8000)
			icmp[0] = 8
			binary.BigEndian.PutUint16(icmp[4:], 77)
			for i := 8; i < len(icmp); i++ {
				icmp[i] = byte(i)
			}
			binary.BigEndian.PutUint16(icmp[2:], peer.Checksum(icmp, 0))
			pr.Send(peer.IPv4(pr.MAC, [6]byte(p.MACA), ourAddr, kernelAddr.Addr(), peer.ProtoICMP, icmp))
			f, ok := pr.Next(3*time.Second, func(f peer.Frame) bool {
				ip, ok := peer.ParseIPv4(f.Data)
				return ok && ip.Proto == peer.ProtoICMP && len(ip.Payload) > 8 && ip.Payload[0] == 0
			})
			if !ok {
				t.Fatalf("no echo reply (stats %+v)", d.Stats())
			}
			ip, _ := peer.ParseIPv4(f.Data)
			if len(ip.Payload) != len(icmp) || peer.Checksum(ip.Payload, 0) != 0 || string(ip.Payload[8:]) != string(icmp[8:]) {
				t.Fatalf("echo reply of %d bytes, sent %d", len(ip.Payload), len(icmp))
			}
		})
	}
}

// TestKernelTCPFramesArriveWithPartialChecksum: a veth peer leaves TCP
// checksums unfinished; the device marks them ChecksumPartial so the stack
// does not drop them. In generic mode the peer's TSO super-frames arrive
// whole (multi-buffer); native mode turns TSO off on the peer.
func TestKernelTCPFramesArriveWithPartialChecksum(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p, d := setup(t, "xgso", afxdp.Config{Attach: m})
			const port = 5001
			pr := peer.Start(t, d, ourAddr, port)
			var c net.Conn
			if err := p.A.Run(func() (err error) {
				c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(ourAddr, port).String(), 3*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write(make([]byte, 256<<10))
			}()
			largest := 0
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				f, ok := pr.Next(time.Until(deadline), peer.IsTCPData(port))
				if !ok {
					break
				}
				if f.Meta.Checksum != pkt.ChecksumPartial || f.Meta.CsumStart != 34 || f.Meta.CsumOffset != 16 {
					t.Fatalf("TCP frame of %d bytes with meta %+v, want partial at 34+16", len(f.Data), f.Meta)
				}
				largest = max(largest, len(f.Data))
			}
			t.Logf("largest TCP frame: %d bytes", largest)
			if largest == 0 {
				t.Fatal("no TCP data arrived")
			}
			if m == afxdp.AttachGeneric && largest <= 3840 {
				t.Errorf("generic mode: no super-frame larger than one UMEM chunk arrived (largest %d)", largest)
			}
		})
	}
}

const childEnv = "OFFLOAD_AFXDP_CHILD"

// TestXDPChild is the child of TestProgramIsGoneAfterSIGKILL: it attaches and
// waits to be killed.
func TestXDPChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestProgramIsGoneAfterSIGKILL")
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		fmt.Println("ERROR bad spec", spec)
		return
	}
	ns, ifname := parts[0], parts[1]
	mode := afxdp.AttachGeneric
	if parts[2] == afxdp.AttachNative.String() {
		mode = afxdp.AttachNative
	}
	d, err := afxdp.Open(afxdp.Config{Interface: ifname, Netns: ns, Addrs: []netip.Addr{ourAddr}, Attach: mode})
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	fmt.Println("ATTACHED")
	time.Sleep(time.Minute)
	// Unreachable, the device's BPF link would be closed by its finalizer
	// at the next garbage collection, detaching the program before the
	// parent looks (seen once in CI).
	runtime.KeepAlive(d)
}

// xdpAttachMode reads the mode the interface's program is attached in.
func xdpAttachMode(t *testing.T, h *netns.Host, ifname string) afxdp.AttachMode {
	t.Helper()
	l, err := h.Netlink().LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	switch x := l.Attrs().Xdp; {
	case x == nil:
		return afxdp.AttachAuto
	case x.AttachMode == nl.XDP_ATTACHED_DRV:
		return afxdp.AttachNative
	case x.AttachMode == nl.XDP_ATTACHED_SKB:
		return afxdp.AttachGeneric
	}
	return afxdp.AttachAuto
}

func xdpAttached(t *testing.T, h *netns.Host, ifname string) bool {
	t.Helper()
	l, err := h.Netlink().LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	x := l.Attrs().Xdp
	return x != nil && (x.Attached || x.ProgId != 0)
}

// TestProgramIsGoneAfterSIGKILL: the program is attached through a BPF link,
// so a process killed without cleanup leaves nothing on the interface, in
// either attach mode, and the next process can bind the same queue.
func TestProgramIsGoneAfterSIGKILL(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) { programGoneAfterSIGKILL(t, m) })
	}
}

func programGoneAfterSIGKILL(t *testing.T, m afxdp.AttachMode) {
	p := netns.NewPair(t, netns.PairConfig{Name: "xkill", AddrA: kernelAddr, DisableIPv6: true})
	cmd := exec.Command(os.Args[0], "-test.run=^TestXDPChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+p.B.Path()+","+p.IfB+","+m.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	attached := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ERROR") {
			t.Fatal(line)
		}
		if line == "ATTACHED" {
			attached = true
			break
		}
	}
	if !attached {
		t.Fatal("the child never attached")
	}
	for deadline := time.Now().Add(2 * time.Second); !xdpAttached(t, p.B, p.IfB); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no XDP program on the interface while the child runs")
		}
	}
	if got := xdpAttachMode(t, p.B, p.IfB); got != m {
		t.Fatalf("the child's program is attached in %v mode, want %v", got, m)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for xdpAttached(t, p.B, p.IfB) {
		if time.Now().After(deadline) {
			t.Fatal("the XDP program is still attached after the process was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The kernel frees the dead socket's queue; a new device binds it.
	d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	pr := peer.Start(t, d, ourAddr, 0)
	_ = pr
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if xdpAttached(t, p.B, p.IfB) {
		t.Fatal("the XDP program is still attached after Close")
	}
}

func TestConformance(t *testing.T) {
	netns.Require(t)
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
				p := netns.NewPair(t, netns.PairConfig{Name: "xconf", DisableIPv6: true})
				a, err := afxdp.Open(afxdp.Config{Interface: p.IfA, Netns: p.A.Path(), RedirectAll: true, Attach: m})
				if err != nil {
					t.Fatal(err)
				}
				b, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), RedirectAll: true, Attach: m})
				if err != nil {
					a.Close()
					t.Fatal(err)
				}
				t.Cleanup(func() { t.Logf("a %+v, b %+v", a.Stats(), b.Stats()) })
				return a, b
			})
		})
	}
	t.Run("native-2queues", func(t *testing.T) {
		linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
			qp := newQueuePair(t, "xconfq", 2)
			a, err := afxdp.Open(afxdp.Config{Interface: "veth-a", Netns: qp.A.Path(), RedirectAll: true, Attach: afxdp.AttachNative})
			if err != nil {
				t.Fatal(err)
			}
			b, err := afxdp.Open(afxdp.Config{Interface: "veth-b", Netns: qp.B.Path(), RedirectAll: true, Attach: afxdp.AttachNative})
			if err != nil {
				a.Close()
				t.Fatal(err)
			}
			if a.Caps().Queues != 2 || b.Caps().Queues != 2 {
				t.Fatalf("queues %d and %d, want 2", a.Caps().Queues, b.Caps().Queues)
			}
			return a, b
		})
	})
}

// TestSingleBufferModeCarriesMTUFramesAndRefusesLarger: with NoMultiBuffer
// (as on a kernel before 6.6, which has no XDP_USE_SG) the program is loaded
// without frags and the sockets bind without XDP_USE_SG: Mode and Caps say
// so, MTU-sized frames flow both ways, and a frame larger than one UMEM
// chunk is refused by Send rather than handed to the kernel as a chain it
// would reject. Generic mode runs at MTU 9000, so the 6000-byte frame is
// within the MTU and refused for want of multi-buffer alone; native mode
// refuses a single-buffer program above MTU 3506 (ERANGE, PLATFORM.md), so
// it runs at 3000.
func TestSingleBufferModeCarriesMTUFramesAndRefusesLarger(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			mtu := 9000
			if m == afxdp.AttachNative {
				mtu = 3000
			}
			p := netns.NewPair(t, netns.PairConfig{Name: "xsingle", AddrA: kernelAddr, MTU: mtu, DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m, NoMultiBuffer: true})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Mode().MultiBuffer || d.Caps().RxGSO || d.Caps().MaxFrame > 4096 {
				t.Fatalf("NoMultiBuffer: mode %v, caps %+v", d.Mode(), d.Caps())
			}
			pr := peer.Start(t, d, ourAddr, 0)
			// A 2900-byte echo both ways, in one chunk each.
			icmp := make([]byte, 8+2900)
			icmp[0] = 8
			binary.BigEndian.PutUint16(icmp[4:], 78)
			binary.BigEndian.PutUint16(icmp[2:], peer.Checksum(icmp, 0))
			pr.Send(peer.IPv4(pr.MAC, [6]byte(p.MACA), ourAddr, kernelAddr.Addr(), peer.ProtoICMP, icmp))
			if _, ok := pr.Next(3*time.Second, func(f peer.Frame) bool {
				ip, ok := peer.ParseIPv4(f.Data)
				return ok && ip.Proto == peer.ProtoICMP && len(ip.Payload) == len(icmp) && ip.Payload[0] == 0
			}); !ok {
				t.Fatalf("no 2900-byte echo reply (stats %+v)", d.Stats())
			}
			// A 6000-byte frame would need two chunks: Send refuses it. (The
			// peer owned queue 0; once it stops, this goroutine does.)
			pr.Stop()
			before := d.Stats()
			f := peer.IPv4(pr.MAC, [6]byte(p.MACA), ourAddr, kernelAddr.Addr(), peer.ProtoICMP, make([]byte, 6000-34))
			big := pkt.NewBuffer(len(f), 0)
			copy(big.Append(len(f)), f)
			batch := pkt.NewBatch(1)
			batch.Add(big)
			if n, _ := d.Send(0, batch); n != 0 {
				t.Fatalf("a 6000-byte frame in single-buffer mode was sent")
			}
			if after := d.Stats(); after.TxDropped != before.TxDropped+1 || after.TxFrames != before.TxFrames {
				t.Fatalf("a 6000-byte frame in single-buffer mode: stats %+v → %+v, want it dropped and not sent", before, after)
			}
		})
	}
}
