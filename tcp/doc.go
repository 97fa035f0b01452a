// Package tcp is offload's I/O-free TCP: a connection is a state machine that is
// fed segments (OnSegment) and asked to emit what is due (Poll), and that says
// when it next needs attention (Deadline). It never reads a clock, never blocks,
// starts no goroutines and takes no locks: the stack serialises every call on a
// Conn and hands it the current time.
//
// Read these first, in this order: RFC 9293 (TCP, the state machine and the
// segment-arrival rules of §3.10.7), RFC 7323 (window scaling, timestamps, PAWS),
// RFC 6298 (retransmission timer), RFC 5681 and RFC 6582 (congestion control,
// fast retransmit, NewReno), RFC 5961 (blind-attack mitigation: challenge ACKs),
// RFC 6528 (initial sequence numbers), RFC 6056 (ephemeral ports), RFC 1122
// §4.2.3.2 (delayed ACKs) and §4.2.3.4 (Nagle), RFC 9293 §3.8.6.2 (silly window
// avoidance).
//
// Buffers are fixed-size rings allocated once per connection (Dial/Accept); the
// steady-state data path (OnSegment with in-order data, Poll, Read, Write) does
// not allocate.
//
// Policies worth knowing:
//   - Out-of-order data is stored in the receive ring at its final offset. At
//     most Config.ReassemblyRanges disjoint ranges are held and never more bytes
//     than the receive buffer; a segment that would need one more range is
//     dropped (and counted). Overlaps: the bytes received first win; a later
//     segment only fills the gaps between what is held or delivered.
//   - Data and FIN on a SYN or SYN-ACK are not accepted (we acknowledge only the
//     SYN, so the peer retransmits them); there is no TCP Fast Open.
//   - Urgent data (URG) is delivered inline as ordinary data (RFC 6093).
//   - SACK (RFC 2018) is negotiated when Config.SACK is set: as a receiver we
//     report held out-of-order ranges in SACK blocks (most recent first). As a
//     sender we keep a bounded scoreboard and, during NewReno recovery, spend
//     each duplicate ACK on the next unSACKed hole (RFC 6675 NextSeg rule 1)
//     instead of new data; cwnd arithmetic stays NewReno's (no pipe, no RACK).
//   - Zero-window probes carry one byte beyond the window; the probe does not
//     count as in flight, so a receiver that keeps its window closed while
//     answering never makes the connection time out (RFC 9293 §3.8.6.1).
//   - Once timestamps are negotiated, non-RST segments without them are
//     dropped (RFC 7323 §3.2) and PAWS allows one millisecond of reordering.
package tcp
