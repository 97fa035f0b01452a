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
package tcp
