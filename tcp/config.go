package tcp

import "time"

// Config holds a connection's options. Start from DefaultConfig. The Conn copies
// the Config at Dial/Accept; later changes do not affect existing connections.
// Out-of-range values are clamped; zero selects the default except for
// DelayedACK, UserTimeout, TimeWait and GSOMaxSize, where zero means "none".
type Config struct {
	// MSS is the maximum segment size we advertise (RFC 9293 §3.7.1): the
	// interface MTU minus IP and TCP headers (1460 for a 1500-byte IPv4 MTU). It
	// also caps the segments we send. Clamped to [64, 65495].
	MSS int

	// SendBufferSize and RecvBufferSize are the fixed ring sizes, fixed at
	// Dial/Accept; a ring holds its array only while it stores data (see the
	// package comment). The receive buffer bounds the window we offer and the bytes
	// held for reassembly. Clamped to [4 KiB, 1 GiB] (1 GiB is the largest window
	// RFC 7323 scaling can express).
	SendBufferSize, RecvBufferSize int

	// NoDelay disables Nagle's algorithm (RFC 1122 §4.2.3.4), like TCP_NODELAY.
	NoDelay bool

	// DelayedACK is the delayed-ACK timer (RFC 1122 §4.2.3.2 allows up to 500 ms;
	// RFC 5681 §4.2 asks for an ACK at least every second full-sized segment
	// regardless). 0 acknowledges every segment immediately.
	DelayedACK time.Duration

	// InitialRTO, MinRTO and MaxRTO bound the retransmission timeout (RFC 6298
	// §2.1: initial 1 s; §2.4 suggests a 1 s minimum, Linux uses 200 ms; §2.5 allows
	// a maximum of at least 60 s).
	InitialRTO, MinRTO, MaxRTO time.Duration

	// MaxRetries (at least 1) is how many times a data segment is retransmitted by timeout, or
	// how many zero-window probes go unanswered, before the connection fails with
	// ErrTimedOut (RFC 9293 §3.8.3 "R2"; Linux tcp_retries2 = 15).
	MaxRetries int
	// UserTimeout, if non-zero, fails the connection with ErrTimedOut when sent
	// data stays unacknowledged that long (RFC 9293 §3.10.8, RFC 5482), or when
	// the peer's window stays closed that long while data waits.
	UserTimeout time.Duration
	// SynRetries is how many times a SYN or SYN-ACK is retransmitted before the
	// open fails with ErrTimedOut (Linux tcp_syn_retries = 6).
	SynRetries int

	// Keepalive (RFC 1122 §4.2.3.6): after KeepAliveIdle without receiving
	// anything, send a probe every KeepAliveInterval; after KeepAliveCount
	// unanswered probes fail with ErrTimedOut.
	KeepAlive         bool
	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveCount    int

	// TimeWait is how long TIME-WAIT lasts (2*MSL, RFC 9293 §3.4.2). It also bounds
	// FIN-WAIT-2 after the application has closed both directions, so a peer that
	// never sends its FIN cannot pin the connection forever (like Linux tcp_fin_timeout).
	TimeWait time.Duration

	// SACK offers SACK-permitted (RFC 2018 §2); when the peer agrees, our ACKs
	// report held out-of-order data in SACK blocks, which lets a SACK-using
	// sender (Linux) repair several losses per round trip, and our recovery
	// resends the holes the peer's SACK blocks reveal.
	SACK bool

	// WindowScaling and Timestamps offer the RFC 7323 options in our SYN (and
	// accept them in the peer's). Each is used only if both sides send it.
	WindowScaling, Timestamps bool

	// ChallengeACKLimit caps RFC 5961 challenge ACKs per connection per second
	// (RFC 5961 §7 "ACK throttling"). 0 means the default (10); negative: unlimited.
	ChallengeACKLimit int

	// ReassemblyRanges bounds how many disjoint out-of-order ranges are held
	// (bytes are bounded by RecvBufferSize). A segment that would need one more
	// range is dropped. Clamped to [1, 256].
	ReassemblyRanges int

	// GSOMaxSize, when larger than the send MSS, lets Poll emit data segments
	// of up to GSOMaxSize payload bytes (rounded down to a multiple of the
	// send MSS) which the stack's segmentation offload cuts into SendMSS()-sized
	// segments with the same header (the design's "segments up to 64 KiB").
	// 0 emits only MSS-sized segments. Clamped to at most 65535-60.
	GSOMaxSize int

	// Congestion builds the congestion controller for a connection once the
	// send MSS is known. nil selects CUBIC (NewCUBIC, RFC 9438); NewNewReno
	// selects NewReno (RFC 5681 + RFC 6582).
	Congestion func(mss int) CongestionControl

	// RACK turns on RACK-TLP loss detection (RFC 8985) when SACK is
	// negotiated: time-based loss marking with a reordering window, and tail
	// loss probes. Off, losses are inferred by RFC 6675's DupThresh rule and
	// tail losses wait for the RTO.
	RACK bool

	// ScoreboardSegments bounds the send scoreboard (one entry per segment
	// sent and not yet acknowledged; when full, new data is folded into the
	// last entry). 0 picks SendBufferSize/512 within [64, 2048]. Clamped to
	// [16, 65536].
	ScoreboardSegments int

	// OutOfWindowACKInterval rate-limits the ACKs that answer unacceptable
	// segments (out of window, failing PAWS), so a flood of forged segments
	// cannot make us send a flood of ACKs (Linux tcp_invalid_ratelimit). 0
	// means the default (500 ms); negative: no limit.
	OutOfWindowACKInterval time.Duration
}

// DefaultConfig returns Linux-like defaults.
//
// Buffers are 256 KiB each way. We do not autotune, so the size is the window:
// 256 KiB covers the bandwidth-delay product of 10 Gbit/s at 200 µs RTT (a veth
// pair, a rack) and 1 Gbit/s at 2 ms, while a thousand connections still fit in
// half a GiB. Linux starts smaller (16/128 KiB) but autotunes up to 4-6 MiB;
// bulk transfers over longer paths should raise the sizes per connection.
func DefaultConfig() Config {
	return Config{
		MSS:               1460,
		SendBufferSize:    256 << 10,
		RecvBufferSize:    256 << 10,
		DelayedACK:        40 * time.Millisecond,
		InitialRTO:        time.Second,
		MinRTO:            200 * time.Millisecond,
		MaxRTO:            60 * time.Second,
		MaxRetries:        15,
		SynRetries:        6,
		KeepAliveIdle:     2 * time.Hour,
		KeepAliveInterval: 75 * time.Second,
		KeepAliveCount:    9,
		TimeWait:          60 * time.Second,
		WindowScaling:     true,
		Timestamps:        true,
		SACK:              true,
		ChallengeACKLimit: 10,
		ReassemblyRanges:  32,
		RACK:              true,

		OutOfWindowACKInterval: 500 * time.Millisecond,
	}
}

const (
	minMSS      = 64
	maxMSS      = 65495
	minBuffer   = 4 << 10
	maxBuffer   = 1 << 30
	maxWScale   = 14 // RFC 7323 §2.3
	defaultMSS  = 536
	maxRanges   = 256
	tsOptionLen = 12 // timestamps option with its two NOPs (RFC 7323 Appendix A)
)

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

// normalize clamps c into the ranges the connection relies on. Zero selects
// the default for fields where zero makes no sense (MSS, buffer sizes, RTO
// bounds, retry counts, keepalive timing, ChallengeACKLimit, ReassemblyRanges);
// DelayedACK, UserTimeout, TimeWait and GSOMaxSize take zero literally (no
// delay, no user timeout, no TIME-WAIT, no GSO).
func (c *Config) normalize() {
	d := DefaultConfig()
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	defDur := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&c.MSS, d.MSS)
	c.MSS = clampInt(c.MSS, minMSS, maxMSS)
	def(&c.SendBufferSize, d.SendBufferSize)
	def(&c.RecvBufferSize, d.RecvBufferSize)
	c.SendBufferSize = clampInt(c.SendBufferSize, minBuffer, maxBuffer)
	c.RecvBufferSize = clampInt(c.RecvBufferSize, minBuffer, maxBuffer)
	c.DelayedACK = max(c.DelayedACK, 0)
	defDur(&c.MinRTO, d.MinRTO)
	defDur(&c.MaxRTO, d.MaxRTO)
	c.MaxRTO = max(c.MaxRTO, c.MinRTO)
	defDur(&c.InitialRTO, d.InitialRTO)
	c.InitialRTO = min(max(c.InitialRTO, c.MinRTO), c.MaxRTO)
	def(&c.MaxRetries, d.MaxRetries)
	def(&c.SynRetries, d.SynRetries)
	c.MaxRetries = max(c.MaxRetries, 1)
	c.SynRetries = max(c.SynRetries, 1)
	c.UserTimeout = max(c.UserTimeout, 0)
	defDur(&c.KeepAliveIdle, d.KeepAliveIdle)
	defDur(&c.KeepAliveInterval, d.KeepAliveInterval)
	def(&c.KeepAliveCount, d.KeepAliveCount)
	c.KeepAliveCount = max(c.KeepAliveCount, 1)
	c.TimeWait = max(c.TimeWait, 0)
	def(&c.ChallengeACKLimit, d.ChallengeACKLimit)
	def(&c.ReassemblyRanges, d.ReassemblyRanges)
	c.ReassemblyRanges = clampInt(c.ReassemblyRanges, 1, maxRanges)
	c.GSOMaxSize = clampInt(c.GSOMaxSize, 0, 65535-60)
	def(&c.ScoreboardSegments, clampInt(c.SendBufferSize/512, 64, 2048))
	c.ScoreboardSegments = clampInt(c.ScoreboardSegments, 16, 65536)
	if c.OutOfWindowACKInterval == 0 {
		c.OutOfWindowACKInterval = d.OutOfWindowACKInterval
	}
}
