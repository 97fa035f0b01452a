//go:build linux

package afpacket_test

import (
	"encoding/binary"
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
	"offload/link/afpacket"
	"offload/link/linktest"
	"offload/pkt"
)

var (
	kernelAddr = netip.MustParsePrefix("198.18.2.1/24")
	ourAddr    = netip.MustParseAddr("198.18.2.2")
)

// setup builds a veth pair: the kernel with kernelAddr in A, our device on B's
// end (B's kernel has no address, so it stays silent).
func setup(t *testing.T, cfg afpacket.Config) (*netns.Pair, *afpacket.Device) {
	t.Helper()
	p := netns.NewPair(t, netns.PairConfig{Name: "afp", AddrA: kernelAddr, DisableIPv6: true})
	cfg.Interface, cfg.Netns = p.IfB, p.B.Path()
	d, err := afpacket.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return p, d
}

func TestCapsComeFromTheInterface(t *testing.T) {
	p, d := setup(t, afpacket.Config{})
	c := d.Caps()
	if c.HardwareAddr != [6]byte(p.MACB) || c.MTU != 1500 || !c.L2 || c.Queues != 1 || c.Headroom != 10 {
		t.Fatalf("caps %+v, interface MAC %v", c, p.MACB)
	}
	if !c.RxGSO || !c.TSO || !c.TxChecksumOffload || c.RxChecksumTrusted || c.MaxFrame < 65536 {
		t.Fatalf("caps %+v", c)
	}
}

func TestKernelAnswersOurARPRequest_RFC826(t *testing.T) {
	p, d := setup(t, afpacket.Config{})
	pr := peer.Start(t, d, ourAddr, 0)
	pr.Send(peer.ARP(1, pr.MAC, ourAddr, [6]byte{}, kernelAddr.Addr()))
	f, ok := pr.Next(3*time.Second, func(f peer.Frame) bool {
		a, ok := peer.ParseARP(f.Data)
		return ok && a.Op == 2
	})
	if !ok {
		t.Fatal("no ARP reply from the kernel")
	}
	a, _ := peer.ParseARP(f.Data)
	if a.SenderIP != kernelAddr.Addr() || a.SenderMAC != [6]byte(p.MACA) || a.TargetMAC != pr.MAC || a.TargetIP != ourAddr {
		t.Fatalf("ARP reply %+v", a)
	}
}

func TestKernelPingToOurAddressIsAnswered_RFC792(t *testing.T) {
	p, d := setup(t, afpacket.Config{})
	pr := peer.Start(t, d, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if pr.ARPReplies.Load() == 0 || pr.EchoReplies.Load() == 0 {
		t.Fatalf("answered %d ARP requests, %d echo requests", pr.ARPReplies.Load(), pr.EchoReplies.Load())
	}
}

// A super-frame larger than a frame-ring slot comes whole through the copy
// path (PACKET_COPY_THRESH); the block ring packs it into a block.
func TestKernelTSOSuperFrameArrivesWithGSOMeta(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames", true: "blocks"}[blocks], func(t *testing.T) {
			kernelSuperFrameArrives(t, afpacket.Config{Blocks: blocks})
		})
	}
}

func kernelSuperFrameArrives(t *testing.T, cfg afpacket.Config) {
	p, d := setup(t, cfg)
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
	// Linux may push the first segment of a write alone while it copies the
	// rest (tcp_sendmsg's forced push), so look for a super-frame among the
	// data frames rather than insisting on the first one.
	isData := peer.IsTCPData(port)
	f, ok := pr.Next(3*time.Second, func(f peer.Frame) bool { return isData(f) && len(f.Data) > 1514 })
	if !ok {
		t.Fatal("no TCP super-frame from the kernel within 3 s")
	}
	if err := peer.CheckSuperFrame(f, 1460); err != nil {
		t.Fatal(err)
	}
}

func TestOurTSOSuperFrameIsAcceptedByKernel(t *testing.T) {
	p, d := setup(t, afpacket.Config{})
	const port = 5003
	var ln net.Listener
	if err := p.A.Run(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(kernelAddr.Addr(), port).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pr := peer.Start(t, d, ourAddr, 0)
	pr.Send(peer.ARP(1, pr.MAC, ourAddr, [6]byte{}, kernelAddr.Addr()))
	seq, ack, err := pr.Connect([6]byte(p.MACA), kernelAddr.Addr(), 40000, port)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 30000)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	frame := peer.TCP(pr.MAC, [6]byte(p.MACA), ourAddr, kernelAddr.Addr(), peer.Segment{
		SrcPort: 40000, DstPort: port, Seq: seq, Ack: ack, Flags: peer.ACK | peer.PSH, Window: 65535,
		Payload: payload, PartialChecksum: true})
	pr.SendFrame(frame, pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16,
		GSO: pkt.GSOTCPv4, GSOSize: 1460})
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := make([]byte, 0, len(payload))
	buf := make([]byte, 65536)
	for len(got) < len(payload) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("kernel read %d of %d bytes: %v", len(got), len(payload), err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != string(payload) {
		t.Fatal("kernel received different bytes")
	}
}

func TestVLANTagStrippedByKernelIsPutBack(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames", true: "blocks"}[blocks], func(t *testing.T) { vlanTagPutBack(t, blocks) })
	}
}

func vlanTagPutBack(t *testing.T, blocks bool) {
	// The receive path of B's kernel moves an in-band 802.1Q tag into skb
	// metadata before packet sockets see the frame; the device must put it back.
	p := netns.NewPair(t, netns.PairConfig{Name: "afpvlan", DisableIPv6: true})
	a, err := afpacket.Open(afpacket.Config{Interface: p.IfA, Netns: p.A.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), Blocks: blocks})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	frame := make([]byte, 80)
	copy(frame[0:], p.MACB)
	copy(frame[6:], p.MACA)
	binary.BigEndian.PutUint16(frame[12:], 0x8100)
	binary.BigEndian.PutUint16(frame[14:], 5<<13|100) // PCP 5, VID 100
	binary.BigEndian.PutUint16(frame[16:], 0x88b5)
	for i := 18; i < len(frame); i++ {
		frame[i] = byte(i)
	}
	buf := pkt.NewBuffer(256, 64)
	copy(buf.Append(len(frame)), frame)
	batch := pkt.NewBatch(1)
	batch.Add(buf)
	if n, err := a.Send(0, batch); n != 1 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	rx := pkt.NewBatch(8)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		b.Wait(0, 100*time.Millisecond)
		b.Recv(0, rx)
		for _, f := range rx.Buffers() {
			if string(f.Bytes()) == string(frame) {
				rx.ReleaseAll()
				return
			}
			if len(f.Bytes()) >= 14 && [6]byte(f.Bytes()[6:12]) == [6]byte(p.MACA) {
				t.Fatalf("frame arrived changed:\n got % x\nwant % x", f.Bytes(), frame)
			}
		}
		rx.ReleaseAll()
	}
	t.Fatal("tagged frame did not arrive")
}

func TestOpenOutsideTheOwningNamespaceSaysSo(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "afperr"})
	_, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.A.Path()})
	if !errors.Is(err, afpacket.ErrNoInterface) {
		t.Fatalf("open of %s in A: %v, want ErrNoInterface", p.IfB, err)
	}
	if _, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), BlockSize: 4096}); err == nil {
		t.Fatal("block too small for a super-frame accepted")
	}
	// Opened from inside Run, the socket stays bound after the thread leaves.
	var d *afpacket.Device
	if err := p.B.Run(func() (err error) {
		d, err = afpacket.Open(afpacket.Config{Interface: p.IfB})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestConformance runs the link conformance suite over both receive rings:
// the default TPACKET_V2 frame ring and the TPACKET_V3 block ring.
func TestConformance(t *testing.T) {
	netns.Require(t)
	for _, blocks := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames", true: "blocks"}[blocks], func(t *testing.T) {
			linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
				p := netns.NewPair(t, netns.PairConfig{Name: "afpc", DisableIPv6: true})
				a, err := afpacket.Open(afpacket.Config{Interface: p.IfA, Netns: p.A.Path(), Blocks: blocks})
				if err != nil {
					t.Fatal(err)
				}
				b, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), Blocks: blocks})
				if err != nil {
					a.Close()
					t.Fatal(err)
				}
				return a, b
			})
		})
	}
}

func TestUnprivilegedOpenSaysWhatToDo(t *testing.T) {
	if os.Getenv(netns.NobodyEnv) == "1" {
		_, err := afpacket.Open(afpacket.Config{Interface: "lo"})
		fmt.Println("OPEN:", err, errors.Is(err, afpacket.ErrNotPrivileged))
		return
	}
	out, err := netns.RunAsNobody(t, "TestUnprivilegedOpenSaysWhatToDo")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "CAP_NET_RAW") || !strings.Contains(string(out), " true\n") {
		t.Errorf("unprivileged open:\n%s", out)
	}
}

func TestSuperFrameOfMaxGSOSizeIsSent(t *testing.T) {
	p, d := setup(t, afpacket.Config{})
	c := d.Caps()
	payload := make([]byte, c.MaxGSOSize-40)
	f := peer.TCP(c.HardwareAddr, [6]byte(p.MACA), ourAddr, kernelAddr.Addr(), peer.Segment{
		SrcPort: 1, DstPort: 2, Flags: peer.ACK, Payload: payload, PartialChecksum: true})
	buf := pkt.NewBuffer(len(f)+c.Headroom, c.Headroom)
	copy(buf.Append(len(f)), f)
	buf.Meta = pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16, GSO: pkt.GSOTCPv4, GSOSize: 1448}
	batch := pkt.NewBatch(1)
	batch.Add(buf)
	if n, err := d.Send(0, batch); n != 1 || err != nil {
		t.Fatalf("Send of a %d-byte super-frame: %d, %v (stats %+v)", len(f), n, err, d.Stats())
	}
	// Without GSO metadata the same frame is larger than the MTU: refused, counted.
	buf = pkt.NewBuffer(len(f)+c.Headroom, c.Headroom)
	copy(buf.Append(len(f)), f)
	batch.Add(buf)
	if n, _ := d.Send(0, batch); n != 0 || d.Stats().TxDropped != 1 {
		t.Fatalf("oversized plain frame: sent %d, stats %+v", n, d.Stats())
	}
}
