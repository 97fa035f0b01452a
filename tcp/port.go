package tcp

import (
	"net/netip"
)

// portTableSize is the number of perturbation counters of RFC 6056 Algorithm 4.
// More counters make port sequences towards different destinations less
// correlated; 1024 uint16s cost 2 KiB.
const portTableSize = 1024

// PortAllocator picks ephemeral ports with RFC 6056 §3.3.4 Algorithm 4
// ("Double-Hash Port Selection"): a keyed hash of (local address, remote
// address, remote port) picks the starting offset, so the port sequence towards
// one destination is unpredictable to others, and a second keyed hash picks a
// counter from a small table that advances on every attempt, so reconnecting to
// the same destination quickly gets a fresh port instead of a recently used one
// (reducing TIME-WAIT collisions).
//
// A PortAllocator is not safe for concurrent use; the stack calls it under its lock.
type PortAllocator struct {
	k0, k1   uint64 // offset hash key (F in RFC 6056)
	g0, g1   uint64 // table index hash key (G in RFC 6056)
	min, max uint16
	table    [portTableSize]uint16
}

// NewPortAllocator returns an allocator over [min, max] (inclusive; swapped if
// given in reverse) keyed with key, which should come from crypto/rand.
func NewPortAllocator(key [16]byte, min, max uint16) *PortAllocator {
	if min > max {
		min, max = max, min
	}
	p := &PortAllocator{min: min, max: max}
	p.k0, p.k1 = sipKey(key)
	// Derive the second, independent key from the first (RFC 6056 asks for two
	// secrets; one hashed under distinct labels is as good and keeps the API small).
	p.g0 = sipHash24(p.k0, p.k1, []byte("rfc6056 table key 0"))
	p.g1 = sipHash24(p.k0, p.k1, []byte("rfc6056 table key 1"))
	return p
}

// Pick returns a free port for a connection from local to remote. inUse reports
// whether a candidate port is taken for this (local, remote) pair. It returns
// false when every port in the range is in use.
func (p *PortAllocator) Pick(local netip.Addr, remote netip.AddrPort, inUse func(port uint16) bool) (uint16, bool) {
	var buf [34]byte
	la, ra := local.As16(), remote.Addr().As16()
	copy(buf[0:16], la[:])
	copy(buf[16:32], ra[:])
	buf[32], buf[33] = byte(remote.Port()>>8), byte(remote.Port())
	offset := sipHash24(p.k0, p.k1, buf[:])
	index := sipHash24(p.g0, p.g1, buf[:]) % portTableSize
	num := uint64(p.max) - uint64(p.min) + 1
	for range num {
		port := p.min + uint16((offset+uint64(p.table[index]))%num)
		p.table[index]++
		if !inUse(port) {
			return port, true
		}
	}
	return 0, false
}
