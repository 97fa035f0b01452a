package iface

import (
	"net/netip"
	"testing"

	"offload/pkt"
	"offload/wire"
)

func hostIP(n int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)}) }

func TestNeighborCacheEvictsLeastRecentlyUsed(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.NeighborCacheSize = 4
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}
	})
	for n := 2; n <= 5; n++ {
		learn(t, i, t0, hostIP(n), wire.MAC{2, 0, 0, 0, 0, byte(n)})
	}
	// Use host 2 so that host 3 becomes the least recently used.
	var d discard
	if err := i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: hostIP(2), Proto: wire.ProtoUDP}, &d); err != nil {
		t.Fatal(err)
	}
	learn(t, i, t0, hostIP(6), wire.MAC{2, 0, 0, 0, 0, 6})
	if i.neigh.find(keyOf(hostIP(3))) != nilIdx {
		t.Fatal("least recently used entry (host 3) survived")
	}
	for _, n := range []int{2, 4, 5, 6} {
		if i.neigh.find(keyOf(hostIP(n))) == nilIdx {
			t.Fatalf("host %d evicted", n)
		}
	}
	if s := i.Stats(); s.NeighborEvictions != 1 {
		t.Fatalf("evictions %d", s.NeighborEvictions)
	}
	if len(i.neigh.idx) != 4 {
		t.Fatalf("cache holds %d entries, bound 4", len(i.neigh.idx))
	}
}

func TestEvictingUnresolvedNeighborDropsAndCountsItsQueue(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.NeighborCacheSize = 2
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}
	})
	var c capture
	for n := 2; n <= 4; n++ {
		i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: hostIP(n), Proto: wire.ProtoUDP}, &c)
		i.Output(t0, transportBuf(i, []byte{2}), &OutFields{Dst: hostIP(n), Proto: wire.ProtoUDP}, &c)
	}
	c.releaseAll()
	s := i.Stats()
	if s.NeighborEvictions != 1 || s.ARPEvictedDrops != 2 || i.neigh.pendAll != 4 {
		t.Fatalf("evictions %d evicted drops %d queued %d", s.NeighborEvictions, s.ARPEvictedDrops, i.neigh.pendAll)
	}
}

func TestNeighborCacheFloodFromARPIsBounded(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.NeighborCacheSize = 16
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}
	})
	var d discard
	for n := 2; n < 2000; n++ {
		f := frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{2, 1, 0, 0, byte(n >> 8), byte(n)}, hostIP(n), wire.MAC{}, ourIP))
		i.Input(t0, f, &d)
	}
	if len(i.neigh.idx) != 16 {
		t.Fatalf("cache holds %d entries, bound 16", len(i.neigh.idx))
	}
	// The list and the index agree.
	n := 0
	for k := i.neigh.lruHead; k != nilIdx; k = i.neigh.ents[k].next {
		if i.neigh.idx[i.neigh.ents[k].key] != k {
			t.Fatal("LRU list and index disagree")
		}
		n++
	}
	if n != 16 {
		t.Fatalf("LRU list has %d entries", n)
	}
}

// An entry that expires while packets still flow is re-confirmed with a unicast
// request (RFC 1122 §2.3.2.1) and keeps being used meanwhile; an idle one is
// simply forgotten.
func TestExpiredNeighborInUseIsProbedByUnicastIdleOneForgotten(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, peerIP, peerMAC)
	learn(t, i, t0, gwIP, gwMAC)
	if d := i.Deadline(); d != t0.Add(DefaultNeighborTTL) {
		t.Fatalf("deadline %v, want expiry at %v", d, t0.Add(DefaultNeighborTTL))
	}
	var c capture
	i.Output(t0+1, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	c.releaseAll()
	exp := t0.Add(DefaultNeighborTTL)
	i.Poll(exp, &c)
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames at expiry, want one probe", len(fr))
	}
	e := mustEth(t, fr[0].Bytes())
	if e.Dst() != peerMAC || e.EtherType() != wire.EtherTypeARP {
		t.Fatalf("probe not unicast ARP to the known MAC: %+v", e.Fields())
	}
	if i.neigh.find(keyOf(gwIP)) != nilIdx {
		t.Fatal("idle expired entry kept")
	}
	// While probing, packets still go out to the old address at once.
	i.Output(exp+1, transportBuf(i, []byte{2}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	fr = c.take()
	if len(fr) != 1 || mustEth(t, fr[0].Bytes()).EtherType() != wire.EtherTypeIPv4 {
		t.Fatal("packet held back while probing")
	}
	// A reply confirms the entry for another TTL.
	learn(t, i, exp+2, peerIP, peerMAC)
	if st := i.neigh.ents[i.neigh.find(keyOf(peerIP))].state; st != neighReachable {
		t.Fatalf("state %d after reply", st)
	}
}

func TestProbeWithoutAnswerRemovesEntry(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, peerIP, peerMAC)
	var d discard
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &d)
	now := t0.Add(DefaultNeighborTTL)
	for range DefaultARPRetries + 1 {
		i.Poll(now, &d)
		now = now.Add(DefaultARPRetryInterval)
	}
	if i.neigh.find(keyOf(peerIP)) != nilIdx {
		t.Fatal("unanswered probe kept the entry")
	}
	if s := i.Stats(); s.ARPFailures != 1 || s.ARPRequestsOut != uint64(DefaultARPRetries) {
		t.Fatalf("failures %d requests %d", s.ARPFailures, s.ARPRequestsOut)
	}
}

func TestPollBeforeDeadlineDoesNothing(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	c.releaseAll()
	i.Poll(i.Deadline()-1, &c)
	if len(c.frames) != 0 {
		t.Fatal("Poll worked before the deadline")
	}
}

func TestNeighborQueueStaysFIFOAcrossNodeReuse(t *testing.T) {
	c := newNeighborCache(1, 3, 100)
	k, _, _ := c.insert(key4(1), neighIncomplete)
	bufs := make([]*pkt.Buffer, 10)
	for n := range bufs {
		bufs[n] = pkt.NewBuffer(8, 0)
	}
	next := 0
	for round := 0; round < 3; round++ {
		for range 2 {
			if c.enqueue(k, bufs[next]) {
				t.Fatal("dropped below bound")
			}
			next++
		}
		for n := next - 2; n < next; n++ {
			if b := c.dequeue(k); b != bufs[n] {
				t.Fatalf("round %d: dequeued wrong buffer", round)
			}
		}
	}
	if c.dequeue(k) != nil || c.pendAll != 0 {
		t.Fatal("queue not empty")
	}
}

func TestPublishedStatsFollowPollAndAreSafeFromOtherGoroutines(t *testing.T) {
	i := newIface(t, nil)
	var d discard
	f := frameOf(tcpFrame(nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = i.PublishedStats()
		}
	}()
	for range 100 {
		i.Input(t0, f, &d)
		i.Poll(t0, &d)
	}
	<-done
	i.Input(t0, f, &d)
	if got := i.PublishedStats().Delivered; got != 100 {
		t.Fatalf("published %d before Poll, want 100", got)
	}
	i.Poll(t0, &d)
	if got := i.PublishedStats().Delivered; got != 101 {
		t.Fatalf("published %d after Poll, want 101", got)
	}
}
