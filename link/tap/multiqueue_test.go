//go:build linux

package tap_test

import (
	"fmt"
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
	"offload/link/linktest"
	"offload/link/tap"
	"offload/pkt"
)

// perQueue counts the frames each queue of a device received.
type perQueue struct {
	*tap.Device
	frames [2]atomic.Int64
}

func (p *perQueue) Recv(queue int, batch *pkt.Batch) (int, error) {
	n, err := p.Device.Recv(queue, batch)
	p.frames[queue].Add(int64(n))
	return n, err
}

// With two queues the kernel spreads what it sends over both by flow, and the
// stack, one owner per queue, takes every byte of every flow.
func TestMultiQueueSpreadsKernelFlowsOverQueues(t *testing.T) {
	h, d := openInHost(t, tap.Config{TSO: true, Queues: 2})
	if got := d.Caps().Queues; got != 2 {
		t.Fatalf("%d queues, want 2", got)
	}
	dev := &perQueue{Device: d}
	st, err := offload.New(offload.Options{Link: dev, Addr: netip.PrefixFrom(ourAddr, 24)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := st.Listen("tcp", netip.AddrPortFrom(ourAddr, 5010).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// 16 flows: all on one queue by chance has odds of 2^-15.
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
			c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(ourAddr, 5010).String(), 5*time.Second)
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
	q0, q1 := dev.frames[0].Load(), dev.frames[1].Load()
	t.Logf("frames per queue: %d, %d", q0, q1)
	if q0 == 0 || q1 == 0 {
		t.Fatalf("frames per queue %d and %d: the kernel's flows were not spread", q0, q1)
	}
}

func TestMultiQueueConformance(t *testing.T) {
	netns.Require(t)
	linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
		return bridged(t, tap.Config{TSO: true, Queues: 2})
	})
}

func TestQueueCountIsBounded(t *testing.T) {
	for _, n := range []int{-1, 17} {
		if _, err := tap.Open(tap.Config{Queues: n}); err == nil || err.Error() != fmt.Sprintf("tap: %d queues: want 1 to 16", n) {
			t.Errorf("%d queues: %v", n, err)
		}
	}
}
