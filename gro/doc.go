// Package gro is receive aggregation without TCP connection state (idea A of the
// design): it collects in-order TCP segments of each flow as they come off a
// device queue and hands the stack one aggregate per run of mergeable segments,
// so TCP runs its state machine, ACK policy and wake-ups once per aggregate
// instead of once per wire segment.
//
// # Where it sits
//
// A Table sits between the device and the network layer (iface):
//
//	Device.Recv ─► Table.Input (per frame) ─► Handler.Deliver(*Aggregate) ─► iface.Input(head frame) ─► TCP
//	end of round ─► Table.FlushAll ─────────┘
//
// gro parses every frame it is given with the wire parsers (wire.ParseEthernet,
// ParseIPv4, ParseIPv6, ParseTCP): those remain the one door for untrusted bytes.
// It applies no address policy of its own (our MAC, our IP, martians, broadcast):
// that stays in iface, which the stack runs once per aggregate on the aggregate's
// head frame. Every frame of an aggregate carries the same MACs, VLAN, addresses,
// ports, TTL/TOS/DF and flags (that is what the flush rules demand), so the
// verdict on the head is the verdict on all of them, and the per-packet IP work
// is paid once per aggregate. A TCP checksum gro verified is recorded in the
// frame's Meta (pkt.ChecksumVerified), so iface does not verify it again, and the
// aggregate carries the decoded TCP header, so the stack does not parse TCP again.
// The only bytes parsed twice are the head frame's Ethernet and IP headers.
//
// gro never drops a frame. Whatever it does not aggregate (ARP, ICMP, UDP, IP
// fragments, IPv4 with options, IPv6 with extension headers, malformed headers, a
// bad TCP checksum) comes out through the same Handler as an Aggregate of Kind
// KindOther holding that one frame, untouched, so iface drops and counts it with
// its own counters exactly as it would without gro.
//
// # What is merged: the Linux GRO rules
//
// The rules are those of Linux (net/core/gro.c dev_gro_receive,
// net/ipv4/af_inet.c inet_gro_receive, net/ipv6/ip6_offload.c, net/ipv4/tcp_offload.c
// tcp_gro_receive). A flow is identified by the device queue (one Table each), the
// Ethernet addresses, the VLAN tag, the IP version, addresses and (IPv6) flow
// label, and the TCP ports. A held aggregate is flushed before the next segment of
// its flow when that segment has
//
//   - a different TTL / hop limit (FlushTTL), TOS / traffic class (FlushTOS) or DF
//     bit (FlushDF);
//   - an IPv4 ID that breaks the pattern (FlushIPID): IDs must increment by one per
//     segment, or, with DF set, stay fixed at the first segment's value (decided at
//     the second segment, like Linux's ip_fixedid);
//   - CWR set (FlushCWR), or flags other than CWR, PSH and FIN (or the reserved
//     bits) that differ from the first segment's (FlushFlags; URG, RST and SYN
//     always differ, since a held aggregate never starts with them);
//   - a different ACK number (FlushAck);
//   - any option byte different, or a different header length (FlushOptions), so
//     timestamps must be equal;
//   - a sequence number other than the next expected one (FlushSeq);
//   - more payload than the first segment (FlushLarger);
//   - no payload (FlushNoPayload: a pure ACK or window update is passed on right
//     after the held data so their order is kept);
//   - or it cannot be aggregated at all (FlushUnmergeable: a bad checksum, IPv4
//     options, a GSO super-frame from the device).
//
// The segment then starts a new aggregate, or is passed on alone if it carries
// URG, PSH, RST, SYN or FIN or no payload. A segment that was merged flushes the
// aggregate right away when it was shorter than the first (FlushShort) or carried
// PSH (FlushPSH) or FIN (FlushFIN). An aggregate also ends at the byte cap
// (FlushByteCap: the IP packet it stands for would pass Config.MaxBytes, 65535)
// and the segment cap (FlushSegCap, Config.MaxSegments); gro flushes as soon as no
// further full-sized segment could join, instead of waiting for one that cannot.
// Everything is flushed by FlushAll (FlushBatchEnd), which the stack calls at the
// end of every receive round, or by Poll when older than Config.FlushTimeout
// (FlushTimer); a full table flushes its oldest flow (FlushEvicted).
//
// One deliberate difference from Linux: Linux's flag-word comparison also covers
// the 16-bit window, so a window change flushes. Here a window change does not
// flush, and the aggregate carries the window of its last segment. The ACK number
// is equal across the aggregate and the sequence numbers rise, so a receiver
// taking the segments one by one would accept each window update (RFC 9293
// §3.10.7.4, SND.WL1/SND.WL2) and end with the last one; TCP makes no sending
// decision between the segments of one aggregate, so the last window is exactly
// the state per-segment processing reaches, while the first would be stale.
//
// # What an aggregate tells TCP
//
// The aggregate keeps the frames; it copies no payload. It carries the first
// segment's headers, decoded (Aggregate.TCP: sequence number of the first byte,
// the common ACK number, flags with PSH and FIN ORed in, the last window, the
// options; the IP and Ethernet fields beside it), the payload as one slice per
// frame (Payload, Payloads, CopyPayload), Segs (wire segments it stands for) and
// SegSize (the first segment's payload length, the sender's MSS in practice).
// TCP's "ACK at least every second full-sized segment" (RFC 9293 §3.8.6.3,
// RFC 1122 §4.2.3.2) counts Segs, and timestamps are identical in every segment
// so RTT measurement and PAWS see exactly what one segment would show.
//
// # Ownership
//
// Input takes ownership of the frame. Deliver hands it on: the handler must
// Release the aggregate (which releases every frame) or Detach its frames before
// it returns; frames a handler leaves behind are released by the Table and
// counted in Stats.HandlerLeaks, a bug in the handler. A Table holds at most
// MaxFlows x MaxSegments frames (4096 with the defaults), and, with FlushAll at
// the end of every round, never more than the round received: size the device's
// receive pool with that in mind. A Table is owned by one
// goroutine (the device queue's owner); it takes no locks except to publish
// statistics, and allocates nothing after New.
package gro
