//go:build linux

package tap_test

import (
	"fmt"
	"testing"

	"offload/internal/netns"
	"offload/link"
	"offload/link/linktest"
	"offload/link/tap"
)

// With two queues the kernel spreads what it sends over both by flow, and the
// stack, one owner per queue, takes every byte of every flow.
func TestMultiQueueSpreadsKernelFlowsOverQueues(t *testing.T) {
	h, d := openInHost(t, tap.Config{TSO: true, Queues: 2})
	if got := d.Caps().Queues; got != 2 {
		t.Fatalf("%d queues, want 2", got)
	}
	linktest.KernelFlowsSpread(t, h, d, ourAddr, 5010)
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
