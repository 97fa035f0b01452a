package stack_test

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"offload/link"
	"offload/pkt"
	"offload/stack"
	"offload/wire"
)

// vlanTags counts the frames a device sends by their 802.1Q VLAN ID (0 for
// untagged ones), to see on the wire what the stack asked for.
type vlanTags struct {
	link.Device
	tagged, untagged, other atomic.Int64
	want                    uint16
}

func (d *vlanTags) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		eth, err := wire.ParseEthernet(f.Bytes())
		if err != nil {
			continue
		}
		switch tci, ok := eth.VLAN(); {
		case !ok:
			d.untagged.Add(1)
		case tci&0xFFF == d.want:
			d.tagged.Add(1)
		default:
			d.other.Add(1)
		}
	}
	return d.Device.Send(q, b)
}

// Two stacks whose NICs are on the same VLAN exchange TCP through the stack
// (ARP, handshake, bulk data both ways, GRO and software GSO on): every frame
// on the wire carries the tag, and the data arrives intact (IEEE 802.1Q).
func TestVLANTaggedNICsExchangeTCP(t *testing.T) {
	const vid = 7
	var taps []*vlanTags
	s := newSimOpts(t, simConfig{noFault: true}, func(o *stack.Options) {
		d := &vlanTags{Device: o.NICs[0].Device, want: vid}
		taps = append(taps, d)
		o.NICs[0].Device = d
		o.NICs[0].VLAN = vid
	})
	ca, cb := s.connect(80)
	up := newStream(ca, cb, 1<<20, 1)
	down := newStream(cb, ca, 1<<20, 2)
	s.transfer(up, down)
	up.check(t, "a→b")
	down.check(t, "b→a")
	for i, d := range taps {
		if d.tagged.Load() == 0 || d.untagged.Load() != 0 || d.other.Load() != 0 {
			t.Errorf("stack %d sent %d frames tagged %d, %d untagged, %d with another tag; want all tagged", i, d.tagged.Load(), vid, d.untagged.Load(), d.other.Load())
		}
	}
	for i, st := range []*stack.Stack{s.a, s.b} {
		if n := st.NICStats(0).RxVLAN; n != 0 {
			t.Errorf("stack %d dropped %d frames for their VLAN", i, n)
		}
	}
}

// A frame tagged with another VLAN ID, or not tagged at all, is not for a NIC
// on a VLAN: it is dropped and counted (iface.Stats.RxVLAN), and nothing
// reaches TCP or ARP, so a dial across the mismatch never connects.
func TestFrameForAnotherVLANIsDroppedAndCounted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vlanA     uint16
		vlanB     uint16
		wantDrops bool
	}{
		{"tag-7-to-NIC-on-8", 7, 8, true},
		{"untagged-to-NIC-on-8", 0, 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := true
			s := newSimOpts(t, simConfig{noFault: true}, func(o *stack.Options) {
				if first {
					o.NICs[0].VLAN = tc.vlanA
				} else {
					o.NICs[0].VLAN = tc.vlanB
				}
				first = false
			})
			ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), 80))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 80))
			if err != nil {
				t.Fatal(err)
			}
			start := s.clk.Now()
			for s.elapsed(start) < 5*time.Second {
				s.step()
			}
			select {
			case <-c.Connected():
				t.Fatalf("connected across VLANs %d and %d (err %v)", tc.vlanA, tc.vlanB, c.Err())
			default:
			}
			st := s.b.NICStats(0)
			if st.RxVLAN == 0 {
				t.Errorf("B (VLAN %d) counted no VLAN drops; stats %+v", tc.vlanB, st)
			}
			if st.RxVLAN != st.RxFrames {
				t.Errorf("B received %d frames but dropped %d for their VLAN: all should be", st.RxFrames, st.RxVLAN)
			}
			if st.ARPRequestsIn != 0 || st.Delivered != 0 {
				t.Errorf("B took %d ARP requests and delivered %d packets from another VLAN", st.ARPRequestsIn, st.Delivered)
			}
		})
	}
}
