//go:build linux

package interop

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"offload/internal/netns"
)

// TestKernelForgetsUsMidTransferAndResolvesAgain_RFC826: while data flows
// both ways, the kernel's neighbour entry for our address is deleted every
// 10 ms (`ip neigh flush`), and its reachability timers are made so short
// that it also re-probes us with unicast ARP requests (RFC 1122 §2.3.2.1).
// Each time the kernel must resolve us again: our stack has to answer
// broadcast and unicast ARP requests while busy, and the transfer must finish
// with matching digests.
func TestKernelForgetsUsMidTransferAndResolvesAgain_RFC826(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 32<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			for k, v := range map[string]string{
				"net.ipv4.neigh." + r.kernelIf + ".base_reachable_time_ms": "50",
				"net.ipv4.neigh." + r.kernelIf + ".delay_first_probe_time": "0",
			} {
				if err := r.kernel.Sysctl(k, v); err != nil {
					t.Fatal(err)
				}
			}
			nl := r.kernel.Netlink()
			l, err := nl.LinkByName(r.kernelIf)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			flushes := 0
			wg.Go(func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					ns, err := nl.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
					if err != nil {
						t.Errorf("listing neighbours: %v", err)
						return
					}
					for _, n := range ns {
						if n.IP.Equal(ourAddr.AsSlice()) && nl.NeighDel(&n) == nil {
							flushes++
						}
					}
				}
			})
			before := r.st.Stack().NICStats(0).ARPRepliesOut
			res := r.runTransfer(t, kernelClient, opBoth, size)
			cancel()
			wg.Wait()
			replies := r.st.Stack().NICStats(0).ARPRepliesOut - before
			t.Logf("%s; the kernel forgot us %d times; we answered %d ARP requests", res, flushes, replies)
			if flushes < 3 || replies < 3 {
				t.Errorf("only %d flushes and %d ARP replies: the test proves little", flushes, replies)
			}
		})
	}
}
