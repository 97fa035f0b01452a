package stack_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"offload/link"
	"offload/link/pipe"
	"offload/netconn"
	"offload/pkt"
	"offload/stack"
)

// crossing sends every frame on the next queue over, so the peer receives each
// segment on a queue other than its connection's home: the case of a device
// whose receive hash disagrees with the queue we chose.
type crossing struct{ link.Device }

func (c crossing) Send(q int, b *pkt.Batch) (int, error) {
	return c.Device.Send((q+1)%c.Caps().Queues, b)
}

// With a device of several queues the stack runs one owner per queue; data is
// intact whether segments arrive on their connection's home queue or not.
func TestMultiQueueDeviceRunsOneOwnerPerQueue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cross bool
	}{{"same-queue", false}, {"crossing-queues", true}} {
		t.Run(tc.name, func(t *testing.T) {
			pa, pb := pipe.New(pipe.Config{Queues: 2})
			var da, db link.Device = pa, pb
			if tc.cross {
				da, db = crossing{pa}, crossing{pb}
			}
			mk := func(d link.Device, addr netip.Prefix) *stack.Stack {
				st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a, b := mk(da, simA), mk(db, simB)
			ln, err := netconn.Listen(b, "tcp", "198.18.0.2:80")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						h := sha256.New()
						io.Copy(h, c)
						c.Write(h.Sum(nil))
					}()
				}
			}()
			const conns = 16
			size := int(bulkSize(t, 4<<20))
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i := range conns {
				wg.Go(func() {
					d := netconn.Dialer{Stack: a}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					c, err := d.DialContext(ctx, "tcp", "198.18.0.2:80")
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(time.Minute))
					data := make([]byte, size)
					for j := range data {
						data[j] = byte(i*31 + j*7)
					}
					want := sha256.Sum256(data)
					if _, err := c.Write(data); err != nil {
						errs <- err
						return
					}
					c.(*netconn.Conn).CloseWrite()
					var got [32]byte
					if _, err := io.ReadFull(c, got[:]); err != nil {
						errs <- err
						return
					}
					if got != want {
						t.Errorf("connection %d: SHA-256 differs", i)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}
