//go:build linux

package afpacket_test

import (
	"testing"

	"offload/internal/netns"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/linktest"
)

// With two queues (a PACKET_FANOUT group) the kernel's frames are spread
// over both sockets by flow, and the stack, one owner per queue, takes every
// byte of every flow.
func TestFanoutSpreadsKernelFlowsOverQueues(t *testing.T) {
	netns.Require(t)
	for _, blocks := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames", true: "blocks"}[blocks], func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "afpq", AddrA: kernelAddr, DisableIPv6: true})
			d, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), Queues: 2, Blocks: blocks})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := d.Caps().Queues; got != 2 {
				t.Fatalf("%d queues, want 2", got)
			}
			linktest.KernelFlowsSpread(t, p.A, d, ourAddr, 5010)
		})
	}
}

// The link contract holds on every queue of a two-queue device.
func TestMultiQueueConformance(t *testing.T) {
	netns.Require(t)
	linktest.Run(t, linktest.Options{MayDrop: true}, func(t *testing.T) (link.Device, link.Device) {
		p := netns.NewPair(t, netns.PairConfig{Name: "afpmq", DisableIPv6: true})
		a, err := afpacket.Open(afpacket.Config{Interface: p.IfA, Netns: p.A.Path(), Queues: 2})
		if err != nil {
			t.Fatal(err)
		}
		b, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path(), Queues: 2})
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	})
}

func TestQueueCountIsBounded(t *testing.T) {
	for _, n := range []int{-1, 17} {
		if _, err := afpacket.Open(afpacket.Config{Interface: "lo", Queues: n}); err == nil {
			t.Errorf("%d queues: opened", n)
		}
	}
}
