package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
)

// countingDevice counts the frames sent through it that carry GSO metadata.
type countingDevice struct {
	link.Device
	super, frames, maxLen int
}

func (d *countingDevice) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		d.frames++
		if f.Meta.GSO != pkt.GSONone {
			d.super++
			if f.Meta.Checksum != pkt.ChecksumPartial {
				panic("a super-segment without a partial checksum")
			}
		}
		d.maxLen = max(d.maxLen, f.Len())
	}
	return d.Device.Send(q, b)
}

// On a device that segments (TSO), TCP hands down super-segments of many MSS
// with the checksum left to the device, and the bytes arrive intact.
func TestTSODeviceGetsSuperSegmentsWithPartialChecksums(t *testing.T) {
	clk := clock.NewFake(1 << 40)
	pa, pb := pipe.New(pipe.Config{GSO: true, TxChecksumOffload: true})
	ca := &countingDevice{Device: pa}
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: clk, Secret: [16]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	s := &sim{t: t, clk: clk, a: mk(ca, simA, 1), b: mk(pb, simB, 2), limit: time.Minute}
	a, b := s.connect(80)
	st := newStream(a, b, 8<<20, 4)
	s.transfer(st)
	st.check(t, "a→b over TSO")
	if ca.super == 0 || ca.maxLen < 16<<10 {
		t.Fatalf("sent %d frames, %d of them super-segments, the largest %d bytes: TCP did not use the device's TSO", ca.frames, ca.super, ca.maxLen)
	}
	t.Logf("%d frames, %d super-segments, largest %d bytes", ca.frames, ca.super, ca.maxLen)
}
