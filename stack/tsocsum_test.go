package stack_test

import (
	"net/netip"
	"testing"

	"offload/link/pipe"
	"offload/stack"
)

// A device that announces TSO but does not fill checksums cannot take a
// super-segment whose checksum TCP left partial for the segmenter: the
// receiver would drop every one as corrupt (as Linux, TSO needs checksum
// offload). The stack cuts super-segments itself then, with full checksums.
func TestTSODeviceWithoutChecksumOffloadGetsSoftwareSegmentation(t *testing.T) {
	s := newSimOpts(t, simConfig{noFault: true}, nil)
	// Replace the pipe with one that segments nothing and fills no checksums.
	pa, pb := pipe.New(pipe.Config{GSO: true})
	s.a.Close()
	s.b.Close()
	mk := func(d *pipe.End, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: s.clk, Secret: [16]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	s.a, s.b = mk(pa, simA, 1), mk(pb, simB, 2)
	ca, cb := s.connect(80)
	st := newStream(ca, cb, 4<<20, 9)
	s.transfer(st)
	st.check(t, "a→b")
	if bad := s.b.NICStats(0).RxBadTransport; bad != 0 {
		t.Fatalf("%d frames with bad transport checksums reached the receiver", bad)
	}
	g := s.a.GSOStats(0)
	if g.SuperSegments == 0 || g.Bypassed != 0 {
		t.Fatalf("super-segments should be cut by the stack, not handed to the device: %+v", g)
	}
	if i := ca.Info(); i.Retransmits != 0 {
		t.Fatalf("%d retransmissions on a lossless pipe", i.Retransmits)
	}
}
