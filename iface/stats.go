package iface

// Stats are an interface's counters since New.
//
// Every frame given to Input ends in exactly one place: delivered to a
// transport (Delivered), consumed by the interface itself (ARPRequestsIn,
// ARPRepliesIn, ICMPEchoRequests, NDP messages, fragments held for reassembly:
// summed by Consumed), or dropped for one reason (the Rx* drop counters,
// summed by RxDropped). So RxFrames == Delivered + Consumed() + RxDropped()
// always holds. A fragment that completes its datagram is counted by what
// happened to the datagram; the Reasm* counters count datagrams by fate.
type Stats struct {
	RxFrames  uint64 // frames given to Input
	Delivered uint64 // packets Input returned to a transport

	// Receive drops, one counter per reason.
	RxBadEthernet   uint64 // truncated Ethernet header, or a multicast source MAC
	RxNotOurMAC     uint64 // destination MAC neither ours nor broadcast
	RxVLAN          uint64 // 802.1Q tag missing, unexpected, or for another VLAN
	RxUnsupported   uint64 // EtherType or IP version the interface does not handle
	RxBadARP        uint64 // malformed ARP, unknown operation, bogus sender MAC
	RxBadIP         uint64 // malformed IPv4/IPv6 header: version, IHL, lengths
	RxBadIPChecksum uint64 // IPv4 header checksum wrong
	// RxNotForUs: destination not ours (no forwarding), or a multicast group
	// we are not in.
	RxNotForUs uint64
	RxMartian  uint64 // impossible source address (RFC 1122 §3.2.1.3, RFC 4291)
	// RxExtHeader: an IPv6 extension header we must not pass: malformed,
	// hop-by-hop not first, more than 8, an unknown option whose type says
	// discard (RFC 8200 §4.2), a routing header with segments left (we do not
	// forward), a fragment header inside a reassembled packet.
	RxExtHeader    uint64
	RxBadTransport uint64 // TCP/UDP/ICMP too short or with a bad checksum
	RxUnknownProto uint64 // IP protocol other than TCP, UDP, ICMP(v6)
	// RxBadICMPError: an ICMP error whose quote is unreadable or is not about a
	// packet from the address it was sent to.
	RxBadICMPError uint64
	RxBadNDP       uint64 // NDP failing RFC 4861 §7.1 validation, or NDP on an L3 interface
	// RxBroadcast: broadcast where none belongs: TCP or ICMP to an IP broadcast
	// address, or a unicast IP datagram in a link-layer broadcast (RFC 1122 §3.3.6).
	RxBroadcast uint64

	// ARP. ARPFailures and the ARP*Drops count NDP resolutions too: both share
	// the neighbour cache and its queues.
	ARPRequestsIn  uint64
	ARPRepliesIn   uint64
	ARPRequestsOut uint64
	ARPRepliesOut  uint64
	ARPConflicts   uint64 // ARP from another host claiming one of our addresses
	ARPFailures    uint64 // resolutions given up after ARPRetries requests
	// Packets waiting for resolution that were dropped: the oldest, to make room
	// (ARPQueueDrops), or all of them when resolution failed (ARPFailedDrops) or
	// their entry was evicted from a full cache (ARPEvictedDrops).
	ARPQueueDrops     uint64
	ARPFailedDrops    uint64
	ARPEvictedDrops   uint64
	NeighborEvictions uint64 // cache entries evicted to make room

	// NDP (RFC 4861). Solicitations and advertisements received are consumed
	// (counted here) once they pass validation, whether or not they change
	// anything.
	NDPSolicitsIn  uint64
	NDPAdvertsIn   uint64
	NDPSolicitsOut uint64
	NDPAdvertsOut  uint64
	NDPConflicts   uint64 // an advertisement for one of our addresses (a duplicate)

	// ICMP and ICMPv6.
	ICMPEchoRequests uint64 // echo requests received (and consumed), both families
	ICMPEchoReplies  uint64 // echo replies sent
	ICMPErrorsOut    uint64 // errors sent: Unreachable, protocol unreachable, parameter problems
	ICMPRateLimited  uint64 // errors suppressed by the rate limit
	ICMPErrorsIn     uint64 // ICMP errors about our packets delivered with Inbound.Error
	// PMTUClamped: frag-needed or packet-too-big reports below the floor
	// (MinPMTU4, MinPMTU6) that were raised to it.
	PMTUClamped uint64

	// Fragments and reassembly. RxFragments counts every fragment received;
	// each then ends as FragmentsHeld (consumed), RxFragDrops (dropped), or, if
	// it completed its datagram, as what happened to the datagram.
	RxFragments   uint64
	FragmentsHeld uint64
	RxFragDrops   uint64
	FragAtomic    uint64 // IPv6 atomic fragments, processed as whole packets (RFC 6946)
	ReasmDone     uint64 // datagrams reassembled
	// ReasmDelivered: reassembled datagrams delivered to a transport.
	ReasmDelivered uint64
	ReasmOverlaps  uint64 // datagrams dropped for overlapping fragments (RFC 5722)
	ReasmTooBig    uint64 // datagrams dropped for growing past 65,535 bytes
	// ReasmBadFragment: datagrams dropped for a bad fragment length or an
	// inconsistent end; IPv6 first fragments without the whole header chain
	// (RFC 7112).
	ReasmBadFragment      uint64
	ReasmTooManyFragments uint64 // datagrams dropped at ReassemblyFragments
	ReasmTimeouts         uint64 // datagrams dropped incomplete at their timeout
	ReasmEvicted          uint64 // datagrams dropped to make room (slots or bytes)
	ReasmNoRoom           uint64 // fragments (with their datagram) dropped: no room could be made
	ReasmDuplicates       uint64 // exact duplicate fragments dropped (the datagram kept)

	// Transmit.
	TxFrames    uint64 // frames handed to the Sender
	TxNoRoute   uint64 // Output: no route (ErrNoRoute)
	TxTooBig    uint64 // Output: above MTU; or an echo reply that would be
	TxBadSource uint64 // Output: source not ours (ErrBadSource)
	TxNoBuffer  uint64 // an ARP or echo reply not sent: control pool empty
	TxBadArgs   uint64 // Output: no headroom
}

// RxDropped returns the sum of the receive drop counters.
func (s Stats) RxDropped() uint64 {
	return s.RxBadEthernet + s.RxNotOurMAC + s.RxVLAN + s.RxUnsupported + s.RxBadARP +
		s.RxBadIP + s.RxBadIPChecksum + s.RxNotForUs + s.RxMartian + s.RxExtHeader +
		s.RxBadTransport + s.RxUnknownProto + s.RxBroadcast + s.RxBadICMPError + s.RxBadNDP +
		s.RxFragDrops
}

// Consumed returns the frames Input handled itself (ARP, NDP, ICMP echo
// requests, fragments held for reassembly).
func (s Stats) Consumed() uint64 {
	return s.ARPRequestsIn + s.ARPRepliesIn + s.ICMPEchoRequests + s.NDPSolicitsIn + s.NDPAdvertsIn +
		s.FragmentsHeld
}

// Stats returns the counters, exact. Like every method but PublishedStats, it
// must be called by the goroutine that owns the interface.
func (i *Interface) Stats() Stats { return i.st }

// PublishedStats returns the counters as of the end of the last Poll. It is the
// one method safe to call from any goroutine (a stats command, a test). Since
// the stack polls at the end of every round, an idle interface's published
// counters are exact.
func (i *Interface) PublishedStats() Stats {
	i.pubMu.Lock()
	defer i.pubMu.Unlock()
	return i.pub
}

func (i *Interface) publish() {
	i.pubMu.Lock()
	i.pub = i.st
	i.pubMu.Unlock()
}
