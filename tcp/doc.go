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
// avoidance); then for loss recovery RFC 2018 and RFC 2883 (SACK, D-SACK), RFC
// 6675 (SACK-based recovery), RFC 8985 (RACK-TLP), RFC 9438 (CUBIC), and RFC
// 4987 (SYN cookies), RFC 1337 (TIME-WAIT assassination).
//
// Buffers are fixed-size rings whose arrays come from process-wide pools
// (one per size): a ring takes its array when the first byte is stored and
// gives it back whenever it is empty again (send side: everything written was
// acknowledged; receive side: everything was read and nothing is held out of
// order), so an idle connection holds no buffer memory while still offering
// its full configured window. The steady-state data path (OnSegment with
// in-order data, Poll, Read, Write) does not allocate: a ring going from
// empty to busy takes an array back from the pool. The send scoreboard is
// pooled the same way. They are released for good as soon as they can no
// longer be used:
// the send side once our FIN is acknowledged (FIN-WAIT-2) or the connection
// is CLOSED, the receive side in TIME-WAIT and CLOSED (and in FIN-WAIT-2
// after Close) once the application has read or discarded what it holds. A
// connection lingering in TIME-WAIT for 2*MSL costs only the Conn itself
// (BufferBytes reports what is held).
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
//   - SACK (RFC 2018) is negotiated when Config.SACK is set. As a receiver we
//     report held out-of-order ranges in SACK blocks (most recent first), and
//     duplicate data in a D-SACK first block (RFC 2883). As a sender we keep a
//     scoreboard of the segments in flight (a fixed table of
//     Config.ScoreboardSegments entries; once full, new data is folded into
//     the last entry) and recover by RFC 6675: losses are inferred by RACK
//     (RFC 8985, Config.RACK, on by default: a segment is lost when one sent
//     sufficiently later was delivered, and tail loss probes replace most
//     tail RTOs), or without RACK by DupThresh (IsLost); lost segments go out
//     before new data while cwnd - pipe allows. SACK blocks below SND.UNA,
//     beyond SND.MAX or empty are ignored; D-SACKs count as reordering or
//     spurious retransmission, never as loss. Without SACK, recovery is
//     NewReno (RFC 6582) with RFC 5681 window inflation, and limited
//     transmit (RFC 3042).
//   - Congestion control is CUBIC (RFC 9438) unless Config.Congestion picks
//     another (NewNewReno). ECN (RFC 3168) is not implemented: we never offer
//     it and ignore ECE/CWR.
//   - Blind attacks (RFC 5961): an in-window RST that is not exactly at
//     RCV.NXT, any SYN in a synchronized state, and an ACK outside
//     [SND.UNA-MAX.SND.WND, SND.MAX] draw a challenge ACK, at most
//     Config.ChallengeACKLimit per second per connection. Plain ACKs to
//     out-of-window or PAWS-failing segments are rate-limited too
//     (Config.OutOfWindowACKInterval). RSTs in TIME-WAIT are ignored (RFC 1337).
//   - SYN cookies (RFC 4987): SYNCookies answers a SYN without a Conn and
//     builds an ESTABLISHED Conn from a valid returning ACK (see SYNCookies).
//   - Zero-window probes carry one byte beyond the window; the probe does not
//     count as in flight, so a receiver that keeps its window closed while
//     answering never makes the connection time out (RFC 9293 §3.8.6.1).
//   - Once timestamps are negotiated, non-RST segments without them are
//     dropped (RFC 7323 §3.2) and PAWS allows one millisecond of reordering.
package tcp
