package tcp

import (
	"errors"
	"net/netip"

	"offload/clock"
	"offload/wire"
)

// SYN cookies (RFC 4987 §3.6) let a listener whose backlog is full answer a
// SYN without keeping any state: everything the connection needs is encoded in
// the SYN-ACK's sequence number (and, as Linux does, in the low bits of its
// TSval), and recovered from the peer's ACK, which echoes both.
//
// The initial sequence number is, from the most significant bit:
//
//	5 bits  t mod 32, t = a counter ticking every 64 s
//	3 bits  index of the peer's MSS in cookieMSS (rounded down)
//	24 bits SipHash-2-4(secret, 4-tuple, peer ISN, t, MSS index) mod 2^24
//
// so a cookie is valid for cookieMaxAge ticks (2 to 3 minutes) and a blind
// forger has a 2^-24 chance per guess. When the SYN carried timestamps (and
// Config.Timestamps is set), the TSval's low 6 bits carry the peer's window
// scale (4 bits, 15 = none) and SACK-permitted (1 bit); the sixth bit, the
// "ECN ok" flag in Linux, is always 0 because this TCP does not do ECN. Without
// timestamps the connection gets neither window scaling nor SACK (as in Linux):
// the SYN carries them but nothing in the cookie can remember them.
//
// What the stack does when a listener's backlog is full:
//
//  1. For a SYN (SYN set; ACK, RST, FIN clear): hdr, err := cookies.SYNACK(&cfg,
//     now, syn, local, remote, tsOffset), where tsOffset is the value it would
//     give SetTimestampOffset (ISNGenerator.TSOffset(local, remote)). Send hdr
//     (fill the ports) and forget the SYN. No Conn, no backlog slot.
//  2. For a segment with ACK set (and SYN, RST clear) that matches no
//     connection on a listening port, while cookies were sent recently (or
//     always): c, err := cookies.Accept(&cfg, now, seg, local, remote,
//     tsOffset). On success c is ESTABLISHED (any data on the ACK already
//     taken in); add it to the connection table and the accept queue (if the
//     queue is still full, Abort it and Poll, which emits a RST). On error
//     (ErrBadCookie) answer with ResetFor(seg) and keep no state (REFERENCES
//     item 8).
//  3. Poll the new Conn as usual (it may have an ACK or data to send).
type SYNCookies struct {
	k0, k1 uint64
}

// ErrBadCookie: the ACK does not carry a valid, fresh SYN cookie.
var ErrBadCookie = errors.New("tcp: invalid or expired SYN cookie")

// cookieMSS are the MSS values a cookie can express (3 bits); a peer's MSS is
// rounded down to one of them, but never below our floor minMSS (REFERENCES
// item 11: tiny MSS values are clamped anyway).
var cookieMSS = [8]uint16{minMSS, 256, 536, 1220, 1360, 1440, 1460, 8960}

const (
	cookieTick   = 64e9 // nanoseconds per counter tick (64 s)
	cookieMaxAge = 2    // ticks a cookie stays valid after the one it was made in
	tsOptMask    = 0x3f // TSval bits carrying options
	tsNoWScale   = 0xf
)

// NewSYNCookies returns cookies keyed with secret, which should come from a
// cryptographic random source once per stack (it may be the ISN key: the hash
// input is domain-separated). Safe for concurrent use.
func NewSYNCookies(secret [16]byte) *SYNCookies {
	k0, k1 := sipKey(secret)
	return &SYNCookies{k0: k0, k1: k1}
}

func (s *SYNCookies) hash(local, remote netip.AddrPort, peerISN wire.Seq, t uint32, mssIdx uint32) uint32 {
	var buf [46]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(buf[0:16], la[:])
	copy(buf[16:32], ra[:])
	buf[32], buf[33] = byte(local.Port()>>8), byte(local.Port())
	buf[34], buf[35] = byte(remote.Port()>>8), byte(remote.Port())
	p := uint32(peerISN)
	buf[36], buf[37], buf[38], buf[39] = byte(p>>24), byte(p>>16), byte(p>>8), byte(p)
	buf[40], buf[41], buf[42], buf[43] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
	buf[44] = byte(mssIdx)
	buf[45] = 'C' // domain separation from the ISN and timestamp-offset hashes
	return uint32(sipHash24(s.k0, s.k1, buf[:]))
}

func cookieCounter(now clock.Instant) uint32 { return uint32(uint64(now) / cookieTick) }

// SYNACK returns the SYN-ACK that answers syn with a cookie. It fails with
// ErrNotSYN for anything but a plain SYN.
func (s *SYNCookies) SYNACK(cfg *Config, now clock.Instant, syn *Segment, local, remote netip.AddrPort, tsOffset uint32) (wire.TCPFields, error) {
	f := syn.Flags
	if !f.Has(wire.FlagSYN) || f&(wire.FlagACK|wire.FlagRST|wire.FlagFIN) != 0 {
		return wire.TCPFields{}, ErrNotSYN
	}
	c := *cfg
	c.normalize()
	peerMSS := uint16(defaultMSS)
	if syn.Options.MSS != 0 {
		peerMSS = syn.Options.MSS
	}
	idx := uint32(0)
	for i, m := range cookieMSS {
		if m <= peerMSS {
			idx = uint32(i)
		}
	}
	t := cookieCounter(now)
	iss := wire.Seq((t&31)<<27 | idx<<24 | s.hash(local, remote, syn.Seq, t, idx)&0xffffff)

	h := wire.TCPFields{Seq: iss, Ack: syn.Seq + 1, Flags: wire.FlagSYN | wire.FlagACK}
	h.Window = uint16(min(c.RecvBufferSize, 0xffff))
	h.Options.MSS = uint16(c.MSS)
	if c.Timestamps && syn.Options.HasTimestamp {
		opts := uint32(tsNoWScale)
		if c.WindowScaling && syn.Options.HasWScale {
			opts = uint32(min(syn.Options.WScale, maxWScale)) // RFC 7323 §2.3
			h.Options.HasWScale = true
			h.Options.WScale = wscaleFor(c.RecvBufferSize)
		}
		if c.SACK && syn.Options.SACKPermitted {
			opts |= 1 << 4
			h.Options.SACKPermitted = true
		}
		// The options ride in TSval's low bits; keep TSval from running ahead
		// of our clock (the peer's PAWS would then drop our next segments).
		tsNow := uint32(now.Millis()) + tsOffset
		ts := tsNow&^tsOptMask | opts
		if int32(ts-tsNow) > 0 {
			ts -= tsOptMask + 1
		}
		h.Options.HasTimestamp = true
		h.Options.TSVal = ts
		h.Options.TSEcr = syn.Options.TSVal
	}
	return h, nil
}

// Accept checks the cookie in ack, the third segment of a handshake whose
// SYN-ACK came from SYNACK (with the same cfg, 4-tuple and tsOffset: the
// options offered in the SYN-ACK are recomputed from cfg), and returns an ESTABLISHED connection with the
// options the cookie recorded. Data on the ACK is taken in (a Poll then
// acknowledges it). A forged, stale or malformed ACK yields ErrBadCookie and
// no state.
func (s *SYNCookies) Accept(cfg *Config, now clock.Instant, ack *Segment, local, remote netip.AddrPort, tsOffset uint32) (*Conn, error) {
	if ack.Flags&(wire.FlagSYN|wire.FlagRST|wire.FlagACK) != wire.FlagACK {
		return nil, ErrBadCookie
	}
	iss := ack.Ack - 1
	peerISN := ack.Seq - 1
	v := uint32(iss)
	idx := v >> 24 & 7
	t := cookieCounter(now)
	ok := false
	for age := uint32(0); age <= cookieMaxAge; age++ {
		if tt := t - age; tt&31 == v>>27 && s.hash(local, remote, peerISN, tt, idx)&0xffffff == v&0xffffff {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrBadCookie
	}
	c := newConn(cfg, now, iss)
	c.tsOffset = tsOffset
	opts := wire.TCPOptions{MSS: cookieMSS[idx]}
	if c.cfg.Timestamps && ack.Options.HasTimestamp {
		o := ack.Options.TSEcr & tsOptMask
		if ws := uint8(o & 0xf); ws != tsNoWScale && c.cfg.WindowScaling {
			if ws > maxWScale {
				return nil, ErrBadCookie
			}
			opts.HasWScale, opts.WScale = true, ws
		}
		opts.SACKPermitted = o&(1<<4) != 0
		opts.HasTimestamp = true
		opts.TSVal = ack.Options.TSVal
	}
	c.irs = peerISN
	c.rcvNxt = ack.Seq
	c.rcvAdv = c.rcvNxt + wire.Seq(min(c.rcvBuf.free(), 0xffff)) // the SYN-ACK's window
	c.lastAckSent = c.rcvNxt
	c.negotiate(&opts)
	if !opts.HasWScale {
		c.rcvWScale = 0
	}
	if c.tsOK {
		c.tsRecent, c.tsRecentAt = ack.Options.TSVal, now
	}
	c.sndUna, c.sndNxt, c.sndMax, c.sndMaxData = iss+1, iss+1, iss+1, iss+1
	c.sndWnd = uint32(ack.Window) << c.sndWScale
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = ack.Seq, ack.Ack
	c.st.segsOut = 1 // the SYN-ACK (also freezes the timestamp offset)
	c.establish(now)
	if payloadLen(ack) > 0 || ack.Flags.Has(wire.FlagFIN) {
		c.OnSegment(now, ack)
	} else {
		c.st.segsIn++
	}
	return c, nil
}
