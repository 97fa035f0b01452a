//go:build linux

package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/fault"
	"offload/link/pcap"
	"offload/link/tap"
	"offload/netconn"
	"offload/stack"
	"offload/tcp"
)

// The addresses of every rig: the kernel's side and ours, in one /24.
var (
	kernelPrefix = netip.MustParsePrefix("198.18.0.1/24")
	ourPrefix    = netip.MustParsePrefix("198.18.0.2/24")
	kernelAddr   = kernelPrefix.Addr()
	ourAddr      = ourPrefix.Addr()
)

// The IPv6 addresses of a rig with rigOptions.ipv6, in one /64 of the
// benchmarking block (RFC 5180).
var (
	kernelPrefix6 = netip.MustParsePrefix("2001:2::1/64")
	ourPrefix6    = netip.MustParsePrefix("2001:2::2/64")
)

// Address families the tests run over.
const (
	famIPv4 = "ipv4"
	famIPv6 = "ipv6"
)

var families = []string{famIPv4, famIPv6}

// Link types the tests run over.
const (
	linkTAP      = "tap"
	linkAFPacket = "afpacket"
	// linkAFPacketV3: the afpacket topology with the TPACKET_V3 block ring
	// (afpacket.Config.Blocks) instead of the default frame ring. Only the
	// core tests run over it (coreLinkTypes), to keep CI's time down.
	linkAFPacketV3 = "afpacket-v3"
)

var linkTypes = []string{linkTAP, linkAFPacket}

// coreLinkTypes are the links of the core kernel-interop tests (bulk,
// short connections, half-close, closed port, vanishing peer): every link
// type, and AF_PACKET with either ring.
var coreLinkTypes = []string{linkTAP, linkAFPacket, linkAFPacketV3}

// rig is one offload stack on a real link with the Linux kernel as its peer.
//
// Topologies:
//   - tap: one namespace K. The TAP interface is created in K and the kernel of
//     K has kernelAddr on it; our stack holds the descriptor, so the kernel
//     talks to us as to a host at the other end of an Ethernet cable. The device
//     asks for TUN_F_CSUM|TUN_F_TSO*, so the kernel hands us TCP super-frames
//     with partial checksums.
//   - afpacket: namespaces K and S joined by a veth pair. The kernel of K has
//     kernelAddr on its end; our AF_PACKET socket is bound to S's end, whose
//     kernel has no address (so it stays silent). The veth keeps its default
//     offloads, so the kernel sends TSO super-frames that AF_PACKET reports
//     whole with their GSO metadata.
//   - afpacket-v3: the afpacket topology, our socket reading a TPACKET_V3
//     block ring (the kernel hands over blocks of frames) instead of the
//     default TPACKET_V2 frame ring.
//
// With rigOptions.ipv6 both sides also hold an IPv6 address on the same link
// (kernelPrefix6, ourPrefix6) and the rig's connections use it: IPv6 stays on
// on the kernel's interface, its address skips DAD (netns.Host.AddAddr), and
// on afpacket the kernel behind our socket has IPv6 off, so it stays silent.
type rig struct {
	link     string
	kernel   *netns.Host // the namespace whose kernel is our peer
	kernelIf string      // the kernel's interface facing us, inside kernel
	dev      link.Device
	hole     *blackhole // nil unless rigOptions.blackhole
	st       *ourStack
	dialer   *nsDialer

	// The addresses connections use: kernelAddr and ourAddr, or with
	// rigOptions.ipv6 those of kernelPrefix6 and ourPrefix6.
	kernelIP, ourIP netip.Addr

	transfers atomic.Uint32 // runTransfer calls, for a fresh port each

	mu    sync.Mutex
	conns []net.Conn // closed when the test ends
}

// track closes c when the test ends, so no goroutine stays blocked on it and
// no kernel socket keeps a namespace alive.
func (r *rig) track(c net.Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}

func (r *rig) closeTracked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// rigOptions tune a rig.
type rigOptions struct {
	tcp       *tcp.Config   // nil: tcp.DefaultConfig()
	blackhole bool          // wrap the device in a blackhole (rig.hole)
	mtu       int           // link MTU (1500 if 0)
	faults    *fault.Config // if set, wrap the device in link/fault
	backlog   int           // listen backlog (the stack's default if 0)
	// ipv6: both sides also get an IPv6 address (kernelPrefix6, ourPrefix6)
	// and connections use it; IPv6 stays on on the kernel's interface (the
	// kernel then also sends router solicitations and MLD reports our way).
	ipv6 bool
	// noTSO (TAP only): the device offloads checksums but not segmentation,
	// so the kernel and our stack exchange MTU-sized frames and link/fault
	// loses single segments, not whole super-frames.
	noTSO bool
}

// ourStack is our stack as the tests use it: offload.Stack's methods, over a
// stack that may hold addresses of both families (offload.Options has one).
type ourStack struct{ st *stack.Stack }

func (s *ourStack) Listen(network, address string) (net.Listener, error) {
	return netconn.Listen(s.st, network, address)
}

func (s *ourStack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := netconn.Dialer{Stack: s.st}
	return d.DialContext(ctx, network, address)
}

func (s *ourStack) Stack() *stack.Stack { return s.st }
func (s *ourStack) Close() error        { return s.st.Close() }

// newRig builds the topology for link type lt and starts a stack on it.
// Everything is removed when the test ends.
func newRig(t testing.TB, lt string, o rigOptions) *rig {
	t.Helper()
	netns.Require(t)
	r := &rig{link: lt, kernelIP: kernelAddr, ourIP: ourAddr}
	if o.ipv6 {
		r.kernelIP, r.ourIP = kernelPrefix6.Addr(), ourPrefix6.Addr()
	}
	switch lt {
	case linkTAP:
		r.kernel = netns.NewHost(t, "itap")
		d, err := tap.Open(tap.Config{Netns: r.kernel.Path(), TSO: !o.noTSO, Checksum: true, MTU: o.mtu})
		if err != nil {
			t.Fatal(err)
		}
		r.dev, r.kernelIf = d, d.IfName()
		if !o.ipv6 {
			err = r.kernel.Sysctl("net.ipv6.conf."+d.IfName()+".disable_ipv6", "1")
		}
		if err == nil {
			err = r.kernel.AddAddr(d.IfName(), kernelPrefix)
		}
		if err == nil && o.ipv6 {
			err = r.kernel.AddAddr(d.IfName(), kernelPrefix6) // without DAD: usable at once
		}
		if err != nil {
			d.Close()
			t.Fatal(err)
		}
	case linkAFPacket, linkAFPacketV3:
		p := netns.NewPair(t, netns.PairConfig{Name: "iafp", AddrA: kernelPrefix, DisableIPv6: !o.ipv6, MTU: o.mtu})
		if o.ipv6 {
			if err := p.A.AddAddr(p.IfA, kernelPrefix6); err != nil {
				t.Fatal(err)
			}
			// The kernel behind our AF_PACKET socket holds no address and
			// should stay silent: no link-local address, solicitations or
			// MLD reports of its own on our link.
			if err := p.B.Sysctl("net.ipv6.conf."+p.IfB+".disable_ipv6", "1"); err != nil {
				t.Fatal(err)
			}
		}
		d, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), Blocks: lt == linkAFPacketV3})
		if err != nil {
			t.Fatal(err)
		}
		r.kernel, r.kernelIf, r.dev = p.A, p.IfA, d
	default:
		t.Fatalf("unknown link type %q", lt)
	}
	if dir := os.Getenv(pcapEnv); dir != "" {
		r.dev = capture(t, r.dev, dir)
	}
	if o.faults != nil {
		r.dev = fault.New(r.dev, *o.faults)
	}
	var err error
	if o.blackhole {
		r.hole = newBlackhole(r.dev)
		r.dev = r.hole
	}
	var st *stack.Stack
	if o.ipv6 {
		st, err = stack.New(stack.Options{
			NICs: []stack.NIC{{Device: r.dev, Addrs: []netip.Prefix{ourPrefix, ourPrefix6}}},
			TCP:  o.tcp, ListenBacklog: o.backlog,
		})
	} else {
		// The embedding API, as a user of one IPv4 address calls it.
		var ost *offload.Stack
		if ost, err = offload.New(offload.Options{Link: r.dev, Addr: ourPrefix, TCP: o.tcp, ListenBacklog: o.backlog}); err == nil {
			st = ost.Stack()
		}
	}
	if err != nil {
		r.dev.Close()
		t.Fatal(err)
	}
	r.st = &ourStack{st: st}
	t.Cleanup(func() { st.Close() }) // before the namespaces go (cleanups run last-in first-out)
	r.dialer = startDialer(t, r.kernel, 8)
	t.Cleanup(r.closeTracked) // first of all
	return r
}

// pcapEnv names a directory: every rig then records its device's traffic
// (as our stack sees it) to <dir>/<test name>.pcapng, for tshark or Wireshark.
const pcapEnv = "OFFLOAD_INTEROP_PCAP"

func capture(t testing.TB, d link.Device, dir string) link.Device {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	f, err := os.Create(filepath.Join(dir, name+".pcapng"))
	if err != nil {
		t.Fatalf("%s: %v", pcapEnv, err)
	}
	pd, err := pcap.New(d, f, pcap.Options{SnapLen: 256})
	if err != nil {
		f.Close()
		t.Fatalf("%s: %v", pcapEnv, err)
	}
	t.Cleanup(func() { // after the stack closed pd, which flushed it
		if err := pd.Err(); err != nil {
			t.Errorf("capture: %v", err)
		}
		f.Close()
		t.Logf("traffic recorded in %s", f.Name())
	})
	return pd
}

// kernelListen opens a kernel TCP listener inside the kernel's namespace.
func (r *rig) kernelListen(t testing.TB, port uint16) net.Listener {
	t.Helper()
	var ln net.Listener
	err := r.kernel.Run(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(r.kernelIP, port).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// setKernelLinkDown takes the kernel's interface facing us down: the peer
// vanishes (its frames stop, ours are dropped; on TAP our writes fail with EIO).
func (r *rig) setKernelLinkDown(t testing.TB) {
	t.Helper()
	l, err := r.kernel.Netlink().LinkByName(r.kernelIf)
	if err == nil {
		err = r.kernel.Netlink().LinkSetDown(l)
	}
	if err != nil {
		t.Errorf("taking %s down: %v", r.kernelIf, err)
	}
}

// acceptOne accepts one connection on ln in the background, tracked for
// cleanup; the channel is closed if Accept fails.
func (r *rig) acceptOne(ln net.Listener) <-chan net.Conn {
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		r.track(c)
		acc <- c
	}()
	return acc
}

// ourListen opens a listener on our stack.
func (r *rig) ourListen(t testing.TB, port uint16) net.Listener {
	t.Helper()
	ln, err := r.st.Listen("tcp", netip.AddrPortFrom(r.ourIP, port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// kernelDial connects from the kernel's namespace to our stack.
func (r *rig) kernelDial(ctx context.Context, port uint16) (*net.TCPConn, error) {
	c, err := r.dialer.dial(ctx, netip.AddrPortFrom(r.ourIP, port))
	if err == nil {
		r.track(c)
	}
	return c, err
}

// ourDial connects from our stack to the kernel.
func (r *rig) ourDial(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := r.st.DialContext(ctx, "tcp", netip.AddrPortFrom(r.kernelIP, port).String())
	if err == nil {
		r.track(c)
	}
	return c, err
}

// nsDialer dials kernel TCP connections from inside a namespace. A socket
// belongs to the namespace of the thread that creates it, and netns.Host.Run
// runs its function on such a thread; a few workers stay inside Run for the
// whole test and take dial requests, so a thousand dials do not cost a
// thousand fresh OS threads.
type nsDialer struct {
	reqs chan dialReq
	once sync.Once
}

type dialReq struct {
	ctx  context.Context
	addr netip.AddrPort
	res  chan dialRes
}

type dialRes struct {
	c   *net.TCPConn
	err error
}

func startDialer(t testing.TB, h *netns.Host, workers int) *nsDialer {
	d := &nsDialer{reqs: make(chan dialReq)}
	for range workers {
		go h.Run(func() error {
			for req := range d.reqs {
				var nd net.Dialer
				c, err := nd.DialContext(req.ctx, "tcp", req.addr.String())
				if err != nil {
					req.res <- dialRes{err: err}
					continue
				}
				req.res <- dialRes{c: c.(*net.TCPConn)}
			}
			return nil
		})
	}
	t.Cleanup(func() { d.once.Do(func() { close(d.reqs) }) })
	return d
}

func (d *nsDialer) dial(ctx context.Context, addr netip.AddrPort) (*net.TCPConn, error) {
	req := dialReq{ctx: ctx, addr: addr, res: make(chan dialRes, 1)}
	select {
	case d.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-req.res
	return r.c, r.err
}

// transferSize is the size of each bulk transfer: 256 MiB, or
// OFFLOAD_INTEROP_SIZE for quick local runs.
func transferSize(t testing.TB) int64 {
	const full = 256 << 20
	s := os.Getenv("OFFLOAD_INTEROP_SIZE")
	if s == "" {
		return full
	}
	n, err := parseSize(s)
	if err != nil {
		t.Fatalf("OFFLOAD_INTEROP_SIZE: %v", err)
	}
	if n != full {
		t.Logf("OFFLOAD_INTEROP_SIZE=%s: transfers are %d bytes, not the full %d", s, n, full)
	}
	return n
}

// parseSize parses a byte count with an optional KiB/MiB/GiB (or K/M/G) suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("%q is not a positive size (bytes, or with a KiB/MiB/GiB suffix)", s)
	}
	return n * mult, nil
}

// deadline returns a context that ends with the test's own deadline minus a
// margin (or after d, whichever is first), so a hang fails with a message
// instead of the test binary's panic.
func deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			ctx2, cancel2 := context.WithDeadline(ctx, dl.Add(-10*time.Second))
			t.Cleanup(cancel2)
			ctx = ctx2
		}
	}
	t.Cleanup(cancel)
	return ctx
}
