package iface

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

func TestARPRequestForOurAddressIsAnsweredAndSenderLearned_RFC826(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	req := arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, peerIP, wire.MAC{}, ourIP)
	if _, ok := i.Input(t0, frameOf(req), &c); ok {
		t.Fatal("ARP delivered to a transport")
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames, want 1 reply", len(fr))
	}
	want := arpFrame(wire.ARPReply, peerMAC, ourMAC, ourIP, peerMAC, peerIP)
	if got := fr[0].Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("reply\n got %x\nwant %x", got, want)
	}
	fr[0].Release()
	k := i.neigh.find(keyOf(peerIP))
	if k == nilIdx || i.neigh.ents[k].mac != peerMAC || i.neigh.ents[k].state != neighReachable {
		t.Fatal("requester not learned (RFC 826: target is us, so add the sender)")
	}
	s := i.Stats()
	if s.ARPRequestsIn != 1 || s.ARPRepliesOut != 1 || s.TxFrames != 1 {
		t.Fatalf("stats %+v", s)
	}
	checkCounters(t, i)
}

func TestARPRequestForAnotherHostIsIgnoredAndNotLearned_RFC826(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	other := netip.MustParseAddr("198.18.0.3")
	i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, peerIP, wire.MAC{}, other)), &c)
	if len(c.frames) != 0 {
		t.Fatalf("answered a request for %v", other)
	}
	if i.neigh.find(keyOf(peerIP)) != nilIdx {
		t.Fatal("learned a sender from a request not aimed at us")
	}
	if s := i.Stats(); s.ARPRequestsIn != 1 || s.RxBadARP != 0 {
		t.Fatalf("stats %+v", s)
	}
	checkCounters(t, i)
}

// Gratuitous ARP (sender IP == target IP, RFC 5227 §3) follows RFC 826's merge
// rule: it updates an entry we already have and never creates one.
func TestGratuitousARPUpdatesExistingEntryButCreatesNone_RFC826(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	garp := func(mac wire.MAC, ip netip.Addr) {
		i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, mac, ip, wire.MAC{}, ip)), &c)
	}
	garp(peerMAC, peerIP)
	if i.neigh.find(keyOf(peerIP)) != nilIdx {
		t.Fatal("gratuitous ARP created an entry")
	}
	learn(t, i, t0, peerIP, peerMAC)
	moved := wire.MAC{0x02, 0, 0, 0, 0, 0x99}
	garp(moved, peerIP)
	if k := i.neigh.find(keyOf(peerIP)); i.neigh.ents[k].mac != moved {
		t.Fatal("gratuitous ARP did not update the existing entry")
	}
	if len(c.frames) != 0 {
		t.Fatal("gratuitous ARP was answered")
	}
}

func TestARPClaimingOurAddressIsCountedAsConflictAndNotLearned(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, ourIP, wire.MAC{}, ourIP)), &c)
	if s := i.Stats(); s.ARPConflicts != 1 {
		t.Fatalf("conflicts %d", s.ARPConflicts)
	}
	if i.neigh.find(keyOf(ourIP)) != nilIdx || len(c.frames) != 0 {
		t.Fatal("conflicting ARP learned or answered")
	}
}

func TestARPProbeFromUnspecifiedSenderIsAnsweredNotLearned_RFC5227(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	zero := netip.IPv4Unspecified()
	i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, zero, wire.MAC{}, ourIP)), &c)
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames, want a defending reply", len(fr))
	}
	want := arpFrame(wire.ARPReply, peerMAC, ourMAC, ourIP, peerMAC, zero)
	if !bytes.Equal(fr[0].Bytes(), want) {
		t.Fatalf("reply %x want %x", fr[0].Bytes(), want)
	}
	if i.neigh.find(key4(0)) != nilIdx {
		t.Fatal("learned 0.0.0.0")
	}
}

func TestARPFromSenderOutsideOurSubnetsIsAnsweredButNotLearned(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, farIP, wire.MAC{}, ourIP)), &c)
	if len(c.take()) != 1 {
		t.Fatal("not answered")
	}
	if i.neigh.find(keyOf(farIP)) != nilIdx {
		t.Fatal("learned an off-link sender")
	}
}

func TestMalformedARPIsDropped(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	good := arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, peerIP, wire.MAC{}, ourIP)
	cases := map[string][]byte{
		"truncated":         good[:wire.EthernetHeaderSize+20],
		"opcode 3":          func() []byte { b := bytes.Clone(good); b[21] = 3; return b }(),
		"hardware type 6":   func() []byte { b := bytes.Clone(good); b[15] = 6; return b }(),
		"multicast sender":  arpFrame(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{0x01, 0, 0x5e, 0, 0, 1}, peerIP, wire.MAC{}, ourIP),
		"sender is our MAC": arpFrame(wire.ARPRequest, wire.BroadcastMAC, ourMAC, peerIP, wire.MAC{}, ourIP),
	}
	for name, f := range cases {
		i.Input(t0, frameOf(f), &c)
		if len(c.frames) != 0 {
			t.Fatalf("%s: answered", name)
		}
	}
	if s := i.Stats(); s.RxBadARP+s.RxBadEthernet != uint64(len(cases)) {
		t.Fatalf("bad ARP %d, bad eth %d, want %d drops", s.RxBadARP, s.RxBadEthernet, len(cases))
	}
	if i.neigh.find(keyOf(peerIP)) != nilIdx {
		t.Fatal("learned from a malformed ARP")
	}
	checkCounters(t, i)
}

func TestOutputToUnresolvedNeighborQueuesThenFlushesOnReply_RFC826(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	for n := range 3 {
		if err := i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c); err != nil {
			t.Fatal(err)
		}
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d frames before resolution, want exactly 1 ARP request", len(fr))
	}
	want := arpFrame(wire.ARPRequest, wire.BroadcastMAC, ourMAC, ourIP, wire.MAC{}, peerIP)
	if !bytes.Equal(fr[0].Bytes(), want) {
		t.Fatalf("request\n got %x\nwant %x", fr[0].Bytes(), want)
	}
	if d := i.Deadline(); d != t0.Add(DefaultARPRetryInterval) {
		t.Fatalf("deadline %v, want retry at %v", d, t0.Add(DefaultARPRetryInterval))
	}
	i.Input(t0+1, frameOf(arpFrame(wire.ARPReply, ourMAC, peerMAC, peerIP, ourMAC, ourIP)), &c)
	fr = c.take()
	if len(fr) != 3 {
		t.Fatalf("flushed %d packets, want 3", len(fr))
	}
	for n, f := range fr {
		e := mustEth(t, f.Bytes())
		if e.Dst() != peerMAC || e.Src() != ourMAC || e.EtherType() != wire.EtherTypeIPv4 {
			t.Fatalf("packet %d: eth %+v", n, e.Fields())
		}
		p := mustIPv4(t, e.Payload())
		if p.Dst() != peerIP || p.Src() != ourIP || !bytes.Equal(p.Payload(), []byte{byte(n)}) {
			t.Fatalf("packet %d out of order or wrong: %+v %x", n, p.Fields(), p.Payload())
		}
	}
}

func TestARPQueueIsBoundedAndDropsOldest(t *testing.T) {
	i := newIface(t, func(c *Config) { c.PendingPerNeighbor = 4 })
	var c capture
	for n := range 10 {
		i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	}
	c.releaseAll()
	if s := i.Stats(); s.ARPQueueDrops != 6 {
		t.Fatalf("queue drops %d, want 6", s.ARPQueueDrops)
	}
	if i.neigh.pendAll != 4 {
		t.Fatalf("queued %d, want 4", i.neigh.pendAll)
	}
}

func TestARPQueueFlushKeepsNewestPackets(t *testing.T) {
	i := newIface(t, func(c *Config) { c.PendingPerNeighbor = 4 })
	var c capture
	for n := range 10 {
		i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	}
	c.releaseAll()
	i.Input(t0, frameOf(arpFrame(wire.ARPReply, ourMAC, peerMAC, peerIP, ourMAC, ourIP)), &c)
	fr := c.take()
	if len(fr) != 4 {
		t.Fatalf("flushed %d, want 4", len(fr))
	}
	for n, f := range fr {
		p := mustIPv4(t, mustEth(t, f.Bytes()).Payload())
		if got := p.Payload()[0]; got != byte(6+n) {
			t.Fatalf("flushed packet %d carries %d, want %d (oldest dropped first)", n, got, 6+n)
		}
	}
}

func TestARPTotalQueueBoundAcrossNeighbors(t *testing.T) {
	i := newIface(t, func(c *Config) { c.PendingPerNeighbor = 4; c.PendingTotal = 6 })
	var c capture
	for n := range 8 {
		dst := netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + n%2)})
		i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: dst, Proto: wire.ProtoUDP}, &c)
	}
	c.releaseAll()
	if i.neigh.pendAll != 6 {
		t.Fatalf("queued %d, want the total bound 6", i.neigh.pendAll)
	}
	if s := i.Stats(); s.ARPQueueDrops != 2 {
		t.Fatalf("queue drops %d, want 2", s.ARPQueueDrops)
	}
	// A third neighbour with nothing queued cannot take another's slot: its
	// packet is dropped, but resolution still starts.
	i.Output(t0, transportBuf(i, []byte{9}), &OutFields{Dst: hostIP(20), Proto: wire.ProtoUDP}, &c)
	fr := c.take()
	if len(fr) != 1 || mustEth(t, fr[0].Bytes()).EtherType() != wire.EtherTypeARP {
		t.Fatal("no ARP request for the third neighbour")
	}
	if s := i.Stats(); s.ARPQueueDrops != 3 || i.neigh.pendAll != 6 {
		t.Fatalf("queue drops %d queued %d", s.ARPQueueDrops, i.neigh.pendAll)
	}
}

func TestARPRetriesThenGivesUpAndDropsQueued_RFC1122_2_3_2_1(t *testing.T) {
	i := newIface(t, func(c *Config) { c.ARPRetries = 3 })
	var c capture
	for n := range 2 {
		i.Output(t0, transportBuf(i, []byte{byte(n)}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	}
	if len(c.take()) != 1 {
		t.Fatal("want one request at first")
	}
	// Nothing happens before the retry interval (at most one request per second).
	i.Poll(t0.Add(sec/2), &c)
	if len(c.frames) != 0 {
		t.Fatal("retried too early")
	}
	for r := 1; r < 3; r++ {
		now := t0.Add(time.Duration(r) * sec)
		if d := i.Deadline(); d > now {
			t.Fatalf("retry %d: deadline %v after %v", r, d, now)
		}
		i.Poll(now, &c)
		fr := c.take()
		if len(fr) != 1 || mustEth(t, fr[0].Bytes()).EtherType() != wire.EtherTypeARP {
			t.Fatalf("retry %d: sent %d frames", r, len(fr))
		}
	}
	i.Poll(t0.Add(3*sec), &c)
	if len(c.frames) != 0 {
		t.Fatal("sent a request past ARPRetries")
	}
	s := i.Stats()
	if s.ARPFailures != 1 || s.ARPFailedDrops != 2 || s.ARPRequestsOut != 3 {
		t.Fatalf("stats %+v", s)
	}
	if i.neigh.find(keyOf(peerIP)) != nilIdx {
		t.Fatal("failed entry kept")
	}
	if d := i.Deadline(); d != clock.Never {
		t.Fatalf("deadline %v after everything settled", d)
	}
}

func TestAnnounceSendsGratuitousARPForEachAddress_RFC5227_3(t *testing.T) {
	second := netip.MustParseAddr("198.19.0.1")
	i := newIface(t, func(c *Config) {
		c.Addrs = append(c.Addrs, netip.PrefixFrom(second, 16))
	})
	var c capture
	i.Announce(&c)
	fr := c.take()
	if len(fr) != 2 {
		t.Fatalf("sent %d", len(fr))
	}
	for n, ip := range []netip.Addr{ourIP, second} {
		want := arpFrame(wire.ARPRequest, wire.BroadcastMAC, ourMAC, ip, wire.MAC{}, ip)
		if !bytes.Equal(fr[n].Bytes(), want) {
			t.Fatalf("announcement %d\n got %x\nwant %x", n, fr[n].Bytes(), want)
		}
	}
}
