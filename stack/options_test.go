package stack_test

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
	"offload/wire"
)

// ttlSeen records the TTL of the last IPv4 packet a device sent.
type ttlSeen struct {
	link.Device
	ttl atomic.Int32
}

func (d *ttlSeen) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		if eth, err := wire.ParseEthernet(f.Bytes()); err == nil && eth.EtherType() == wire.EtherTypeIPv4 {
			if ip, err := wire.ParseIPv4(eth.Payload()); err == nil {
				d.ttl.Store(int32(ip.TTL()))
			}
		}
	}
	return d.Device.Send(q, b)
}

// The network-layer tunables in stack.Options reach each NIC's interface:
// the TTL is on the wire, ARP gives up after ARPRetries requests spaced
// ARPRetryInterval apart, and the pending queue holds ARPQueuePerNeighbor.
func TestNetworkLayerOptionsReachTheInterface(t *testing.T) {
	var tap *ttlSeen
	s := newSimOpts(t, simConfig{noFault: true}, func(o *stack.Options) {
		o.TTL = 9
		o.ARPRetries = 2
		o.ARPRetryInterval = 100 * time.Millisecond
		o.ARPQueuePerNeighbor = 1
		if tap == nil {
			tap = &ttlSeen{Device: o.NICs[0].Device}
			o.NICs[0].Device = tap
		}
	})
	s.connect(80)
	if got := tap.ttl.Load(); got != 9 {
		t.Errorf("packets sent with TTL %d, want Options.TTL 9", got)
	}

	// Nobody answers ARP for 198.18.0.9: two requests 100 ms apart, then the
	// resolution fails; of the two packets queued meanwhile one was dropped
	// for room.
	before := s.a.NICStats(0)
	c1, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(netip.MustParseAddr("198.18.0.9"), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Abort()
	c2, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(netip.MustParseAddr("198.18.0.9"), 81))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Abort()
	start := s.clk.Now()
	for s.elapsed(start) < 150*time.Millisecond {
		s.step()
	}
	mid := s.a.NICStats(0)
	if n := mid.ARPRequestsOut - before.ARPRequestsOut; n != 2 {
		t.Errorf("%d ARP requests within 150 ms, want 2 (ARPRetryInterval 100 ms)", n)
	}
	if n := mid.ARPQueueDrops - before.ARPQueueDrops; n != 1 {
		t.Errorf("%d packets dropped from a one-packet pending queue, want 1", n)
	}
	// Before TCP's first SYN retransmission (RTO 1 s), which would start a
	// new resolution.
	for s.elapsed(start) < 900*time.Millisecond {
		s.step()
	}
	after := s.a.NICStats(0)
	if n := after.ARPRequestsOut - before.ARPRequestsOut; n != 2 {
		t.Errorf("%d ARP requests in all, want ARPRetries = 2", n)
	}
	if after.ARPFailures == before.ARPFailures {
		t.Errorf("resolution not given up after ARPRetries")
	}
}

// An out-of-range network-layer option makes New fail, naming the field.
func TestOutOfRangeNetworkOptionFailsNew(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*stack.Options)
	}{
		{"VLAN", func(o *stack.Options) { o.NICs[0].VLAN = 4095 }},
		{"PendingTotal", func(o *stack.Options) { o.ARPQueueTotal = 1 << 21 }},
		{"NeighborTTL", func(o *stack.Options) { o.NeighborTTL = -time.Second }},
	} {
		pa, _ := pipe.New(pipe.Config{})
		o := stack.Options{NICs: []stack.NIC{{Device: pa, Addrs: []netip.Prefix{simA}}}, Manual: true}
		tc.edit(&o)
		st, err := stack.New(o)
		if err == nil {
			st.Close()
			t.Errorf("%s out of range: New succeeded", tc.field)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s out of range: error %q does not name it", tc.field, err)
		}
		pa.Close()
	}
}
