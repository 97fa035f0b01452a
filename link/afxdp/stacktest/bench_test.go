//go:build linux

package stacktest_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/choose"
	"offload/link/tap"
)

// bulkLink opens a device for the stack and returns it with the namespace
// whose kernel is the peer (holding kernelAddr).
type bulkLink struct {
	name string
	open func(b *testing.B) (link.Device, *netns.Host)
}

func bulkLinks() []bulkLink {
	xdp := func(m afxdp.AttachMode) func(b *testing.B) (link.Device, *netns.Host) {
		return func(b *testing.B) (link.Device, *netns.Host) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xtbench", AddrA: kernelAddr, DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				b.Fatal(err)
			}
			return d, p.A
		}
	}
	return []bulkLink{
		{"afxdp-native", xdp(afxdp.AttachNative)},
		{"afxdp-generic", xdp(afxdp.AttachGeneric)},
		{"afpacket", func(b *testing.B) (link.Device, *netns.Host) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xtbench", AddrA: kernelAddr, DisableIPv6: true})
			d, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path()})
			if err != nil {
				b.Fatal(err)
			}
			return d, p.A
		}},
		// The last step of link/choose's chain: a TAP joined to the veth by
		// tc redirects (what a process with CAP_NET_ADMIN alone gets).
		{"tap-steered", func(b *testing.B) (link.Device, *netns.Host) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xtbench", AddrA: kernelAddr, DisableIPv6: true})
			d, _, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.TAP, Addrs: []netip.Addr{ourAddr}})
			if err != nil {
				b.Fatal(err)
			}
			return d, p.A
		}},
		{"tap", func(b *testing.B) (link.Device, *netns.Host) {
			h := netns.NewHost(b, "xtbenchtap")
			d, err := tap.Open(tap.Config{Netns: h.Path(), TSO: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := h.AddAddr(d.IfName(), kernelAddr); err != nil {
				d.Close()
				b.Fatal(err)
			}
			return d, h
		}},
	}
}

// bulk moves size bytes between the stack and the kernel (up: stack to
// kernel) over one connection and returns the time until the receiver has
// read the last byte.
func bulk(st *offload.Stack, k *netns.Host, up bool, size int64, port int) (time.Duration, error) {
	addr := netip.AddrPortFrom(kernelAddr.Addr(), uint16(port)).String()
	var ln net.Listener
	if err := k.Run(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		return 0, err
	}
	defer ln.Close()
	kdone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			kdone <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		if up {
			n, err := io.Copy(io.Discard, c)
			if err == nil && n != size {
				err = fmt.Errorf("kernel read %d of %d bytes", n, size)
			}
			kdone <- err
			return
		}
		kdone <- sendPattern(c, size)
	}()
	start := time.Now()
	c, err := st.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if up {
		if err := sendPattern(c, size); err != nil {
			return 0, err
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			c.Close()
		}
		if err := <-kdone; err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != size {
		return 0, fmt.Errorf("stack read %d of %d bytes: %v", n, size, err)
	}
	el := time.Since(start)
	return el, <-kdone
}

// BenchmarkTCPBulk measures one TCP stream between the offload stack and
// the Linux kernel, each way, over AF_XDP (native and generic), AF_PACKET,
// a TAP joined to the veth by tc (link/choose's last step) and a plain TAP,
// and reports Gbit/s and each link's ratio to AF_PACKET.
//
//	go test ./link/afxdp/stacktest -run '^$' -bench TCPBulk -benchtime 1x
func BenchmarkTCPBulk(b *testing.B) {
	const size = 128 << 20
	up, down := map[string]float64{}, map[string]float64{}
	links := bulkLinks()
	for i := 0; i < b.N; i++ {
		for j, l := range links {
			dev, k := l.open(b)
			st, err := offload.New(offload.Options{Link: dev, Addr: netip.PrefixFrom(ourAddr, 24)})
			if err != nil {
				dev.Close()
				b.Fatal(err)
			}
			for _, dir := range []bool{true, false} {
				el, err := bulk(st, k, dir, size, 7200+2*j+map[bool]int{true: 0, false: 1}[dir])
				if err != nil {
					st.Close()
					b.Fatalf("%s (up %v): %v (device %+v)", l.name, dir, err, dev.Stats())
				}
				g := float64(size*8) / el.Seconds() / 1e9
				if dir {
					up[l.name] = g
				} else {
					down[l.name] = g
				}
			}
			st.Close()
		}
	}
	for _, l := range links {
		b.ReportMetric(up[l.name], "Gbit/s-up-"+l.name)
		b.ReportMetric(down[l.name], "Gbit/s-down-"+l.name)
		if l.name != "afpacket" && up["afpacket"] > 0 && down["afpacket"] > 0 {
			b.ReportMetric(up[l.name]/up["afpacket"], "x-up-"+l.name+"/afpacket")
			b.ReportMetric(down[l.name]/down["afpacket"], "x-down-"+l.name+"/afpacket")
		}
	}
}
