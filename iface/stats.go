package iface

// Stats are an interface's counters since New.
//
// Every frame given to Input ends in exactly one place: delivered to a
// transport (Delivered), consumed by the interface itself (ARPRequestsIn,
// ARPRepliesIn, ICMPEchoRequests), or dropped for one reason (the Rx* drop
// counters, summed by RxDropped). So RxFrames == Delivered + Consumed() +
// RxDropped() always holds.
type Stats struct {
	RxFrames  uint64 // frames given to Input
	Delivered uint64 // packets Input returned to a transport

	// Receive drops, one counter per reason.
	RxBadEthernet   uint64 // truncated Ethernet header, or a multicast source MAC
	RxNotOurMAC     uint64 // destination MAC neither ours nor broadcast
	RxVLAN          uint64 // 802.1Q tag missing, unexpected, or for another VLAN
	RxUnsupported   uint64 // EtherType or IP version the interface does not handle
	RxBadARP        uint64 // malformed ARP, unknown operation, bogus sender MAC
	RxBadIP         uint64 // malformed IPv4 header: version, IHL, total length
	RxBadIPChecksum uint64 // IPv4 header checksum wrong
	RxNotForUs      uint64 // IPv4 destination not ours (no forwarding), multicast
	RxMartian       uint64 // impossible source address (RFC 1122 §3.2.1.3)
	RxFragments     uint64 // IPv4 fragments (no reassembly yet)
	RxBadTransport  uint64 // TCP/UDP/ICMP too short or with a bad checksum
	RxUnknownProto  uint64 // IP protocol other than TCP, UDP, ICMP
	// RxBroadcast: broadcast where none belongs: TCP or ICMP to an IP broadcast
	// address, or a unicast IP datagram in a link-layer broadcast (RFC 1122 §3.3.6).
	RxBroadcast uint64

	// ARP.
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

	// ICMP.
	ICMPEchoRequests uint64 // echo requests received (and consumed)
	ICMPEchoReplies  uint64 // echo replies sent
	ICMPErrorsOut    uint64 // destination unreachables sent by Unreachable
	ICMPRateLimited  uint64 // errors Unreachable suppressed by the rate limit

	// Transmit.
	TxFrames    uint64 // frames handed to the Sender
	TxNoRoute   uint64 // Output: no route (ErrNoRoute)
	TxTooBig    uint64 // Output: above MTU; or an echo reply that would be
	TxBadSource uint64 // Output: source not ours (ErrBadSource)
	TxNoBuffer  uint64 // an ARP or echo reply not sent: control pool empty
	TxBadArgs   uint64 // Output: no headroom, or a destination that is not IPv4
}

// RxDropped returns the sum of the receive drop counters.
func (s Stats) RxDropped() uint64 {
	return s.RxBadEthernet + s.RxNotOurMAC + s.RxVLAN + s.RxUnsupported + s.RxBadARP +
		s.RxBadIP + s.RxBadIPChecksum + s.RxNotForUs + s.RxMartian + s.RxFragments +
		s.RxBadTransport + s.RxUnknownProto + s.RxBroadcast
}

// Consumed returns the frames Input handled itself (ARP, ICMP echo requests).
func (s Stats) Consumed() uint64 {
	return s.ARPRequestsIn + s.ARPRepliesIn + s.ICMPEchoRequests
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
