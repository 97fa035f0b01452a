//go:build linux

package stacktest_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link"
	"offload/link/afxdp"
	"offload/link/choose"
	"offload/pkt"
)

// Addresses of the dual-stack tests. IPv6 comes from the benchmarking range
// internal/netns allows (RFC 5180). our6 and host6 share their low 24 bits,
// so the kernel's neighbour solicitations for either go to the same
// solicited-node group (RFC 4291 §2.7.1): steering must look at the target.
var (
	kernel6   = netip.MustParsePrefix("2001:2::1/64")
	our6      = netip.MustParseAddr("2001:2::1:0:2")
	host6     = netip.MustParsePrefix("2001:2::2:0:2/64")
	hostAddrB = netip.MustParsePrefix("198.18.6.3/24") // B's kernel, on the interface the stack shares
)

// dualBytesEnv overrides the bytes each stream of the dual-stack tests carries.
const dualBytesEnv = "OFFLOAD_DUALSTACK_BYTES"

// dualPair is a veth pair with IPv6 on: A's kernel has kernelAddr and
// kernel6, B's kernel (the host the stack shares the interface with) has
// hostAddrB and host6.
func dualPair(t *testing.T, name string) *netns.Pair {
	p := netns.NewPair(t, netns.PairConfig{Name: name, AddrA: kernelAddr, AddrB: hostAddrB})
	if err := p.A.AddAddr(p.IfA, kernel6); err != nil {
		t.Fatal(err)
	}
	if err := p.B.AddAddr(p.IfB, host6); err != nil {
		t.Fatal(err)
	}
	return p
}

// exchange runs one TCP connection between the stack and A's kernel with a
// stream of size bytes each way at once; weDial says who connects (the
// other listens on addr). It returns an error unless both SHA-256 sums match.
func exchange(st *offload.Stack, k *netns.Host, addr netip.AddrPort, weDial bool, size int64) error {
	want := patternSum(size)
	var ln net.Listener
	var err error
	if weDial {
		err = k.Run(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return err })
	} else {
		ln, err = st.Listen("tcp", addr.String())
	}
	if err != nil {
		return err
	}
	defer ln.Close()
	type end struct {
		c   net.Conn
		err error
	}
	accepted := make(chan end, 1)
	go func() { c, err := ln.Accept(); accepted <- end{c, err} }()
	var dialed net.Conn
	if weDial {
		dialed, err = st.Dial("tcp", addr.String())
	} else {
		err = k.Run(func() (err error) { dialed, err = net.DialTimeout("tcp", addr.String(), 5*time.Second); return err })
	}
	if err != nil {
		return fmt.Errorf("dial %v: %w", addr, err)
	}
	var a end
	select {
	case a = <-accepted:
	case <-time.After(10 * time.Second):
		dialed.Close()
		return fmt.Errorf("no connection accepted on %v", addr)
	}
	if a.err != nil {
		dialed.Close()
		return a.err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, c := range []net.Conn{dialed, a.c} {
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		wg.Go(func() {
			defer c.Close()
			// Close only after both our stream is out and theirs is in:
			// closing early would cut the other direction short.
			sent := make(chan error, 1)
			go func() {
				err := sendPattern(c, size)
				c.(interface{ CloseWrite() error }).CloseWrite()
				sent <- err
			}()
			r := hashAll(c)
			if err := <-sent; err != nil {
				errs <- fmt.Errorf("%v: send: %w", c.LocalAddr(), err)
			}
			if r.err != nil || r.n != size || r.sum != want {
				errs <- fmt.Errorf("%v received %d of %d bytes, SHA-256 equal %v, err %v", c.LocalAddr(), r.n, size, r.sum == want, r.err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// hostTCP sends 4 MiB from A's kernel to a listener of B's kernel at to and
// checks it arrives intact: the host's own traffic on the shared interface.
func hostTCP(p *netns.Pair, to netip.Addr) error {
	return p.KernelStream(netip.AddrPortFrom(to, 7400), 4<<20, time.Minute)
}

// dualStack runs the offload stack on dev with an IPv4 and an IPv6 address
// against A's kernel: the stack dials the kernel over IPv4 and the kernel
// dials the stack over IPv6 (so the kernel must resolve our6 by NDP, RFC
// 4861 §7.2), each with a stream both ways, while A's kernel and B's kernel
// (the host sharing the interface) ping and stream TCP to each other over
// both families.
func dualStack(t *testing.T, p *netns.Pair, dev link.Device) {
	t.Helper()
	size := int64(8 << 20)
	if s := os.Getenv(dualBytesEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		size = v
	}
	w := &hostWatch{Device: dev, hosts: []netip.Addr{hostAddrB.Addr(), host6.Addr()}}
	st, err := offload.New(offload.Options{Link: w, Addr: netip.PrefixFrom(ourAddr, 24), Addrs: []netip.Prefix{netip.PrefixFrom(our6, 64)}})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := exchange(st, p.A, netip.AddrPortFrom(kernelAddr.Addr(), 7100), true, size); err != nil {
			t.Errorf("IPv4, the stack dialing the kernel: %v", err)
		}
	})
	wg.Go(func() {
		if err := exchange(st, p.A, netip.AddrPortFrom(our6, 7200), false, size); err != nil {
			t.Errorf("IPv6, the kernel dialing the stack: %v", err)
		}
	})
	wg.Go(func() {
		for _, to := range []netip.Addr{hostAddrB.Addr(), host6.Addr()} {
			if _, err := p.A.Ping(to, 5*time.Second); err != nil {
				t.Errorf("kernel to host ping %v: %v", to, err)
			}
			if err := hostTCP(p, to); err != nil {
				t.Errorf("kernel to host TCP: %v", err)
			}
		}
	})
	wg.Wait()
	// The stack answers ping on both its addresses (RFC 792, RFC 4443 §4.1).
	for _, to := range []netip.Addr{ourAddr, our6} {
		if _, err := p.A.Ping(to, 5*time.Second); err != nil {
			t.Errorf("kernel to stack ping %v: %v", to, err)
		}
	}
	if n := w.leaked.Load(); n > 0 {
		t.Errorf("%d frames for the host's own addresses reached the stack's device", n)
	}
	t.Logf("%s: device %+v", dev.Caps().Name, dev.Stats())
}

// hostWatch counts the frames a device hands the stack that belong to the
// host: IPv4 or IPv6 to one of hosts, ARP asking for one, or a neighbour
// solicitation whose target is one (which may share our6's solicited-node
// group).
type hostWatch struct {
	link.Device
	hosts  []netip.Addr
	leaked atomic.Int64
}

func (w *hostWatch) Recv(queue int, b *pkt.Batch) (int, error) {
	start := b.Len()
	n, err := w.Device.Recv(queue, b)
	for _, buf := range b.Buffers()[start:] {
		if w.forHost(buf.Bytes()) {
			w.leaked.Add(1)
		}
	}
	return n, err
}

func (w *hostWatch) forHost(f []byte) bool {
	is := func(b []byte) bool {
		a, _ := netip.AddrFromSlice(b)
		return slices.Contains(w.hosts, a.Unmap())
	}
	if len(f) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		return len(f) >= 34 && is(f[30:34])
	case 0x0806:
		return len(f) >= 42 && is(f[38:42])
	case 0x86dd:
		return len(f) >= 54 && is(f[38:54]) ||
			len(f) >= 78 && f[20] == 58 && f[54] == 135 && is(f[62:78])
	}
	return false
}

// TestDualStackWithKernelAndHostOverAFXDP: IPv4 and IPv6 end to end over
// AF_XDP in both attach modes: the kernel resolves our IPv6 address by NDP
// through the XDP program, TCP runs both ways over both families with
// SHA-256 equal, and the host's own IPv4 and IPv6 traffic on the same
// interface keeps flowing while the stack runs.
func TestDualStackWithKernelAndHostOverAFXDP(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := dualPair(t, "xdual")
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr, our6}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v", d.Mode())
			dualStack(t, p, d)
		})
	}
}

// TestDualStackWithKernelAndHostOverTAPStep: the same over the last step of
// link/choose's chain, asked for: a TAP device joined to the veth with tc.
// Close leaves no TAP behind. (TestAutoChainEndsOnTAPWithOnlyCAP_NET_ADMIN
// reaches the same step automatically.)
func TestDualStackWithKernelAndHostOverTAPStep(t *testing.T) {
	p := dualPair(t, "xdualtap")
	d, line, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.TAP, Addrs: []netip.Addr{ourAddr, our6}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(line)
	dualStack(t, p, d)
	links, err := p.B.Netlink().LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Type() == "tuntap" {
			t.Errorf("TAP %s left after the stack closed", l.Attrs().Name)
		}
	}
}
