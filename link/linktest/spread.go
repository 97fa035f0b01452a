//go:build linux

package linktest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link"
	"offload/pkt"
)

// perQueue counts the frames each queue of a device received.
type perQueue struct {
	link.Device
	frames []atomic.Int64
}

func (p *perQueue) Recv(queue int, batch *pkt.Batch) (int, error) {
	n, err := p.Device.Recv(queue, batch)
	if queue >= 0 && queue < len(p.frames) {
		p.frames[queue].Add(int64(n))
	}
	return n, err
}

// KernelFlowsSpread checks that a device with several queues spreads what
// the kernel sends over them by flow, and that the offload stack, one owner
// per queue, takes every byte of every flow: the kernel in h, whose
// interface reaches dev, opens 16 TCP connections to addr:port (a stack on
// dev with addr/24) and sends 256 KiB on each.
func KernelFlowsSpread(t *testing.T, h *netns.Host, dev link.Device, addr netip.Addr, port uint16) {
	t.Helper()
	queues := dev.Caps().Queues
	if queues < 2 {
		t.Fatalf("%d queues: the check needs at least 2", queues)
	}
	counted := &perQueue{Device: dev, frames: make([]atomic.Int64, queues)}
	st, err := offload.New(offload.Options{Link: counted, Addr: netip.PrefixFrom(addr, 24)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	to := netip.AddrPortFrom(addr, port).String()
	ln, err := st.Listen("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// 16 flows: all on one of 2 queues by chance has odds of 2^-15.
	const flows, size = 16, 256 << 10
	var got atomic.Int64
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				n, _ := io.Copy(io.Discard, c)
				got.Add(n)
			})
		}
	}()
	// Sockets belong to the namespace of the thread that makes them: dial
	// inside h.Run (one locked thread), write from anywhere afterwards.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err = h.Run(func() error {
		for range flows {
			c, err := net.DialTimeout("tcp4", to, 5*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kw sync.WaitGroup
	errs := make(chan error, flows)
	for _, c := range conns {
		kw.Go(func() {
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(make([]byte, size)); err != nil {
				errs <- err
			}
			c.Close()
		})
	}
	kw.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); got.Load() < flows*size && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	if got.Load() != flows*size {
		t.Fatalf("received %d of %d bytes", got.Load(), flows*size)
	}
	per := make([]int64, queues)
	for i := range per {
		per[i] = counted.frames[i].Load()
	}
	t.Logf("frames per queue: %v", per)
	for i, n := range per {
		if n == 0 {
			t.Fatalf("queue %d received no frame (%v): the kernel's flows were not spread", i, per)
		}
	}
}
