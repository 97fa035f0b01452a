package tcp

import (
	"net/netip"

	"offload/clock"
	"offload/wire"
)

// ISNGenerator chooses initial sequence numbers per RFC 6528 §3:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// where M is a timer ticking every 4 µs and F is SipHash-2-4 keyed with the
// secret. Connections to the same peer and port get increasing ISNs (so old
// duplicates fall outside the new window), while an off-path attacker cannot
// predict them for a 4-tuple it does not observe. It is safe for concurrent use
// (it holds only the key).
type ISNGenerator struct {
	k0, k1 uint64
}

// NewISNGenerator returns a generator keyed with key, which should come from a
// cryptographic random source (crypto/rand) once per stack.
func NewISNGenerator(key [16]byte) *ISNGenerator {
	k0, k1 := sipKey(key)
	return &ISNGenerator{k0: k0, k1: k1}
}

// TSOffset returns the per-connection timestamp offset for local↔remote (RFC
// 7323 §5.4: a keyed hash, so that TSval reveals neither the host's clock nor a
// relation between connections). Hand it to Conn.SetTimestampOffset.
func (g *ISNGenerator) TSOffset(local, remote netip.AddrPort) uint32 {
	var buf [37]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(buf[0:16], la[:])
	copy(buf[16:32], ra[:])
	buf[32], buf[33] = byte(local.Port()>>8), byte(local.Port())
	buf[34], buf[35] = byte(remote.Port()>>8), byte(remote.Port())
	buf[36] = 'T' // domain separation from the ISN hash
	return uint32(sipHash24(g.k0, g.k1, buf[:]) >> 32)
}

// ISN returns the initial sequence number for the connection local↔remote at now.
func (g *ISNGenerator) ISN(now clock.Instant, local, remote netip.AddrPort) wire.Seq {
	var buf [36]byte
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(buf[0:16], la[:])
	copy(buf[16:32], ra[:])
	buf[32], buf[33] = byte(local.Port()>>8), byte(local.Port())
	buf[34], buf[35] = byte(remote.Port()>>8), byte(remote.Port())
	f := sipHash24(g.k0, g.k1, buf[:])
	m := uint64(now) / 4000 // RFC 6528: 4-microsecond timer
	return wire.Seq(uint32(m) + uint32(f))
}
