//go:build linux

package stacktest_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link"
	"offload/link/afxdp"
)

// TestTCPOverTwoQueuesWithKernel: a veth with two queues, an AF_XDP socket and
// an owner goroutine per queue, connections each sending its share of
// 256 MiB each way at once with the kernel, in both XDP modes; every stream's
// SHA-256 matches. Flows land on whichever queue the kernel picks; the stack
// must handle a connection's segments on either queue (issue 6: 2 queues).
// In native mode the kernel spreads flows over both queues (by its sending
// socket's queue): the stack dials until both queues have carried a
// connection's frames (at least 4 connections, at most 16), and each
// queue's counters must show at least one whole stream received and sent.
// Generic mode on veth delivers everything on queue 0.
func TestTCPOverTwoQueuesWithKernel(t *testing.T) {
	total := int64(256 << 20)
	if testing.Short() {
		total = 16 << 20
	}
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "xq2", AddrA: kernelAddr, DisableIPv6: true, Queues: 2})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			if q := d.Caps().Queues; q != 2 {
				d.Close()
				t.Fatalf("AF_XDP device bound %d queues, want 2", q)
			}
			st, err := offload.New(offload.Options{Link: d, Addr: netip.PrefixFrom(ourAddr, 24)})
			if err != nil {
				d.Close()
				t.Fatal(err)
			}
			defer st.Close()
			var ln net.Listener
			addr := netip.AddrPortFrom(kernelAddr.Addr(), 7200).String()
			if err := p.A.Run(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			rxBytes := func(q int) uint64 {
				s, err := d.QueueStats(q)
				if err != nil {
					t.Fatal(err)
				}
				return s.RxBytes
			}
			// Dial first; the streams start once every connection is up and
			// their size is known. A queue whose bytes grew by a SYN-ACK's
			// worth during a dial carries that connection (the ARP reply
			// of the first dial, 42 bytes, may arrive on the other).
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			var carried [2]bool
			for len(conns) < 4 || (m == afxdp.AttachNative && len(conns) < 16 && !(carried[0] && carried[1])) {
				before := [2]uint64{rxBytes(0), rxBytes(1)}
				c, err := st.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				for q := range carried {
					if rxBytes(q)-before[q] >= 60 {
						carried[q] = true
					}
				}
			}
			size := total / int64(len(conns))
			want := patternSum(size)
			// The kernel's verdict on each stream it received: the test waits for
			// these too, since our side finishing its reads does not mean our own
			// stream has all arrived (closing the stack early would reset it).
			kernelGot := make(chan result, len(conns))
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						// Close only after our own stream is out: closing when the
						// receive side is done would cut it short with a FIN.
						sent := make(chan error, 1)
						go func() { err := sendPattern(c, size); c.(*net.TCPConn).CloseWrite(); sent <- err }()
						r := hashAll(c)
						if err := <-sent; err != nil && r.err == nil {
							r.err = fmt.Errorf("the kernel's send: %w", err)
						}
						kernelGot <- r
					}()
				}
			}()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Go(func() {
					c.SetDeadline(time.Now().Add(5 * time.Minute))
					got := make(chan result, 1)
					go func() { got <- hashAll(c) }()
					if err := sendPattern(c, size); err != nil {
						t.Error(err)
						return
					}
					c.(interface{ CloseWrite() error }).CloseWrite()
					if r := <-got; r.err != nil || r.sum != want {
						t.Errorf("we received %d bytes, SHA-256 equal %v, err %v", r.n, r.sum == want, r.err)
					}
				})
			}
			wg.Wait()
			for range conns {
				select {
				case r := <-kernelGot:
					if r.err != nil || r.sum != want {
						t.Errorf("kernel received %d bytes, SHA-256 equal %v, err %v", r.n, r.sum == want, r.err)
					}
				case <-time.After(time.Minute):
					t.Fatal("the kernel did not finish receiving within a minute")
				}
			}
			el := time.Since(start)
			var qs [2]link.Stats
			for q := range qs {
				qs[q], _ = d.QueueStats(q)
			}
			t.Logf("%v, 2 queues: %d×%d MiB each way in %v (%.2f Gbit/s both ways together); queue 0 %+v; queue 1 %+v",
				d.Mode(), len(conns), size>>20, el, float64(2*size*int64(len(conns))*8)/el.Seconds()/1e9, qs[0], qs[1])
			if m == afxdp.AttachNative {
				for q, s := range qs {
					if s.RxBytes < uint64(size) || s.TxBytes < uint64(size) {
						t.Errorf("native mode, %d connections: queue %d received %d and sent %d bytes, want a whole stream (%d) each way",
							len(conns), q, s.RxBytes, s.TxBytes, size)
					}
				}
			}
		})
	}
}
