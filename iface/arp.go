package iface

import (
	"net/netip"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// inputARP handles one ARP packet, following RFC 826's reception algorithm:
//
//   - If the sender's protocol address is already in the cache, its hardware
//     address is updated ("merge"), whoever the packet is for. This is what makes
//     gratuitous ARP (sender IP == target IP, RFC 5227 §3) work: it refreshes or
//     corrects an existing entry, but never creates one.
//   - Only if the target is one of our addresses is a new entry created for the
//     sender, and, for a request, a reply sent.
//
// On top of RFC 826: only senders inside one of our subnets (or the on-link
// gateway) are learned, since no other neighbour can ever be a next hop;
// an ARP claiming one of our own addresses is counted as a conflict and not
// learned; a probe with sender 0.0.0.0 (RFC 5227 §2.1.1) is answered but not
// learned.
func (i *Interface) inputARP(now clock.Instant, b []byte, out Sender) {
	a, err := wire.ParseARP(b)
	if err != nil || (a.Op != wire.ARPRequest && a.Op != wire.ARPReply) ||
		a.SenderMAC.IsMulticast() || a.SenderMAC == (wire.MAC{}) || a.SenderMAC == i.mac {
		i.st.RxBadARP++
		return
	}
	if a.Op == wire.ARPRequest {
		i.st.ARPRequestsIn++
	} else {
		i.st.ARPRepliesIn++
	}
	sip, tip := v4(a.SenderIP), v4(a.TargetIP)
	if i.ownAddr(sip) {
		i.st.ARPConflicts++
		return
	}
	learn := i.learnable(sip)
	merged := false
	if learn {
		if k := i.neigh.find(key4(sip)); k != nilIdx {
			i.confirm(now, k, a.SenderMAC, out)
			merged = true
		}
	}
	if !i.ownAddr(tip) {
		return
	}
	if learn && !merged {
		k := i.insertNeighbor(key4(sip), neighReachable)
		i.confirm(now, k, a.SenderMAC, out)
	}
	if a.Op == wire.ARPRequest {
		i.sendARP(wire.ARPReply, a.SenderMAC, tip, a.SenderMAC, sip, out)
	}
}

// insertNeighbor adds an entry, counting any eviction it caused.
func (i *Interface) insertNeighbor(ip nkey, st neighState) int32 {
	k, dropped, evicted := i.neigh.insert(ip, st)
	if evicted {
		i.st.NeighborEvictions++
		i.st.ARPEvictedDrops += uint64(dropped)
	}
	return k
}

// confirm records mac for entry k as fresh and sends whatever waited for it.
func (i *Interface) confirm(now clock.Instant, k int32, mac wire.MAC, out Sender) {
	e := &i.neigh.ents[k]
	e.mac = mac
	e.state = neighReachable
	e.retries = 0
	e.used = false
	e.due = now.Add(i.neighTTL)
	i.neigh.schedule(e.due)
	i.neigh.touch(k)
	for buf := i.neigh.dequeue(k); buf != nil; buf = i.neigh.dequeue(k) {
		i.sendIP(buf, mac, out)
	}
}

// sendARP emits an ARP packet from senderIP (one of ours) to ethDst.
func (i *Interface) sendARP(op uint16, ethDst wire.MAC, senderIP uint32, targetMAC wire.MAC, targetIP uint32, out Sender) {
	rb := i.pool.Get()
	if rb == nil {
		i.st.TxNoBuffer++
		return
	}
	rb.Reset(i.devHead)
	f := rb.Append(i.ethLen + wire.ARPSize)
	i.emitEth(f, ethDst, wire.EtherTypeARP)
	wire.EmitARP(f[i.ethLen:], &wire.ARPFields{
		Op:        op,
		SenderMAC: i.mac,
		SenderIP:  addrFrom(senderIP),
		TargetMAC: targetMAC,
		TargetIP:  addrFrom(targetIP),
	})
	if op == wire.ARPRequest {
		i.st.ARPRequestsOut++
	} else {
		i.st.ARPRepliesOut++
	}
	i.send(rb, out)
}

// sendRequest asks for entry k's hardware address: an ARP request broadcast, or
// for IPv6 a neighbor solicitation to the solicited-node multicast group (RFC
// 4861 §7.2.2), while resolving; unicast to the known address while
// re-confirming (RFC 1122 §2.3.2.1, RFC 4861 §7.3.3 PROBE).
func (i *Interface) sendRequest(k int32, out Sender) {
	e := &i.neigh.ents[k]
	if !e.key.is4() {
		i.sendNS(e.src, e.key, e.state == neighProbe, e.mac, out)
		return
	}
	dst := wire.BroadcastMAC
	if e.state == neighProbe {
		dst = e.mac
	}
	i.sendARP(wire.ARPRequest, dst, e.src.v4(), wire.MAC{}, e.key.v4(), out)
}

// sendIP puts an Ethernet header addressed to mac in front of an IP packet and
// sends it. The EtherType follows the IP version in the packet's first nibble.
func (i *Interface) sendIP(buf *pkt.Buffer, mac wire.MAC, out Sender) {
	et := uint16(wire.EtherTypeIPv4)
	if b := buf.Bytes(); len(b) > 0 && b[0]>>4 == 6 {
		et = wire.EtherTypeIPv6
	}
	i.emitEth(buf.Prepend(i.ethLen), mac, et)
	if buf.Meta.Checksum == pkt.ChecksumPartial {
		buf.Meta.CsumStart += uint16(i.ethLen)
	}
	i.send(buf, out)
}

// resolveAndSend4 sends the IPv4 packet buf to next hop nh (L2 only), from our
// address src: broadcast and multicast map to their MACs, unicast is resolved.
func (i *Interface) resolveAndSend4(now clock.Instant, buf *pkt.Buffer, src, nh uint32, out Sender) {
	if i.broadcastAddr(nh) {
		i.sendIP(buf, wire.BroadcastMAC, out)
		return
	}
	if isMulticast4(nh) {
		// RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group.
		i.sendIP(buf, wire.MAC{0x01, 0x00, 0x5e, byte(nh>>16) & 0x7f, byte(nh >> 8), byte(nh)}, out)
		return
	}
	i.resolveAndSend(now, buf, key4(src), key4(nh), out)
}

// resolveAndSend sends the IP packet buf to the unicast next hop nh (L2 only),
// from our address src, queueing it while the neighbour is being resolved.
func (i *Interface) resolveAndSend(now clock.Instant, buf *pkt.Buffer, src, nh nkey, out Sender) {
	c := i.neigh
	k := c.find(nh)
	if k == nilIdx {
		k = i.insertNeighbor(nh, neighIncomplete)
		e := &c.ents[k]
		e.src = src
		e.retries = 1
		e.due = now.Add(i.retryEvery)
		c.schedule(e.due)
		if c.enqueue(k, buf) {
			i.st.ARPQueueDrops++
		}
		i.sendRequest(k, out)
		return
	}
	e := &c.ents[k]
	c.touch(k)
	switch e.state {
	case neighIncomplete:
		if c.enqueue(k, buf) {
			i.st.ARPQueueDrops++
		}
		return
	case neighReachable:
		e.used = true
		if now >= e.due {
			// Expired while in use and Poll has not run yet: keep sending to the
			// address we have while a unicast request re-confirms it.
			i.startProbe(now, k, src, out)
		}
	}
	i.sendIP(buf, e.mac, out)
}

func (i *Interface) startProbe(now clock.Instant, k int32, src nkey, out Sender) {
	e := &i.neigh.ents[k]
	e.state = neighProbe
	e.used = false
	e.retries = 1
	if src != (nkey{}) {
		e.src = src
	}
	if e.src == (nkey{}) {
		e.src = i.srcFor(e.key)
	}
	e.due = now.Add(i.retryEvery)
	i.neigh.schedule(e.due)
	i.sendRequest(k, out)
}

// srcFor picks the address to send ARP requests or neighbor solicitations for
// neighbour k from.
func (i *Interface) srcFor(k nkey) nkey {
	if !k.is4() {
		return key6(i.src6For(netip.AddrFrom16(k)))
	}
	if j := i.subnetOf(k.v4()); j >= 0 {
		return key4(i.addrs[j].addr)
	}
	return key4(i.addrs[0].addr)
}

// Poll does the interface's timed work due at now: ARP and NDP retries, giving
// up on neighbours that do not answer (dropping and counting what waited for
// them), re-confirming expired entries still in use and removing idle ones,
// and dropping reassemblies that timed out. It also reclaims the buffer of a
// reassembled datagram Input returned last (Inbound.Frame). Cheap when nothing
// is due (compare against Deadline); otherwise it visits each cache entry or
// reassembly slot once. It also publishes the counters for PublishedStats, so
// the stack calls it at the end of every round.
func (i *Interface) Poll(now clock.Instant, out Sender) {
	defer i.publish()
	i.reasm.reclaim()
	i.expireFragments(now)
	c := i.neigh
	if c == nil || now < c.earliest {
		return
	}
	c.earliest = clock.Never
	for k := c.lruHead; k != nilIdx; {
		e := &c.ents[k]
		next := e.next
		if now >= e.due {
			switch e.state {
			case neighIncomplete:
				if e.retries >= i.retries {
					i.st.ARPFailures++
					i.st.ARPFailedDrops += uint64(c.remove(k))
					k = next
					continue
				}
				e.retries++
				e.due = now.Add(i.retryEvery)
				i.sendRequest(k, out)
			case neighProbe:
				if e.retries >= i.retries {
					i.st.ARPFailures++
					c.remove(k)
					k = next
					continue
				}
				e.retries++
				e.due = now.Add(i.retryEvery)
				i.sendRequest(k, out)
			case neighReachable:
				if !e.used {
					c.remove(k)
					k = next
					continue
				}
				i.startProbe(now, k, nkey{}, out)
			}
		}
		c.schedule(e.due)
		k = next
	}
}

// Announce broadcasts a gratuitous ARP for each of our addresses (an "ARP
// Announcement", RFC 5227 §3: a request with sender and target IP both ours), so
// neighbours that cached an older MAC for them update it (RFC 826 merge). The
// stack calls it once the device is up, and may repeat it. No-op on L3.
func (i *Interface) Announce(out Sender) {
	if !i.l2 {
		return
	}
	for k := range i.addrs {
		a := i.addrs[k].addr
		i.sendARP(wire.ARPRequest, wire.BroadcastMAC, a, wire.MAC{}, a, out)
	}
}
