package iface

import (
	"errors"
	"net/netip"
)

// Errors returned by Table.
var (
	// ErrTableFull: the table holds its maximum number of entries.
	ErrTableFull = errors.New("iface: demux table full")
	// ErrEntryExists: an entry with the same key is already present.
	ErrEntryExists = errors.New("iface: demux key already in use")
	// ErrInvalidKey: the key has local port 0, or only half of a remote endpoint.
	ErrInvalidKey = errors.New("iface: invalid demux key")
)

// Key names a transport endpoint. A connected endpoint has all four fields set;
// a listener has RemoteAddr unset (the zero netip.Addr) and RemotePort 0.
//
// A listener's LocalAddr may be a concrete address, the unspecified address of a
// family (0.0.0.0 or ::, which match that family only) or the zero netip.Addr
// (any family). IPv4-mapped IPv6 addresses are stored and looked up as IPv4.
// IPv6 zones are not part of the key: fe80::1%eth0 and fe80::1%eth1 collide.
type Key struct {
	LocalAddr  netip.Addr
	LocalPort  uint16
	RemoteAddr netip.Addr
	RemotePort uint16
}

// IsListener reports whether k names a listener (no remote endpoint).
func (k Key) IsListener() bool { return !k.RemoteAddr.IsValid() && k.RemotePort == 0 }

func (k Key) normalize() Key {
	k.LocalAddr = k.LocalAddr.Unmap()
	k.RemoteAddr = k.RemoteAddr.Unmap()
	return k
}

// hkey is Key flattened for hashing: plain bytes with no pointers and no
// padding, so the map hashes it in one pass (netip.Addr holds a zone pointer,
// which would force field-by-field hashing). Zones are not part of the key.
type hkey struct {
	la, ra [16]byte
	lp, rp uint16
	lf, rf uint8 // address family: 0 none, 4, 6 (:: and "none" both flatten to zeros)
}

func family(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return 4
	case a.Is6():
		return 6
	}
	return 0
}

func (k Key) hash() hkey {
	return hkey{
		la: k.LocalAddr.As16(), ra: k.RemoteAddr.As16(),
		lp: k.LocalPort, rp: k.RemotePort,
		lf: family(k.LocalAddr), rf: family(k.RemoteAddr),
	}
}

type tableEntry[T any] struct {
	key Key
	v   T
}

// Table maps transport endpoints to values of type T (a TCP connection, a UDP
// socket). Lookups are a few Go map probes with flat comparable keys: O(1), and
// they do not allocate. The table is bounded; it is not safe for concurrent use.
type Table[T any] struct {
	m   map[hkey]tableEntry[T]
	max int
}

// NewTable returns a table that holds at most max entries (connected endpoints
// and listeners together). max <= 0 means 65536.
func NewTable[T any](max int) *Table[T] {
	if max <= 0 {
		max = 65536
	}
	// Preallocate a modest amount: a huge max must not cost memory up front.
	hint := max
	if hint > 1024 {
		hint = 1024
	}
	return &Table[T]{m: make(map[hkey]tableEntry[T], hint), max: max}
}

// Len returns the number of entries.
func (t *Table[T]) Len() int { return len(t.m) }

// Cap returns the most entries the table holds.
func (t *Table[T]) Cap() int { return t.max }

// Insert adds v under k. It fails with ErrInvalidKey for a zero local port or a
// half-specified remote endpoint, ErrEntryExists if k is taken, and ErrTableFull
// when the table is at its bound.
func (t *Table[T]) Insert(k Key, v T) error {
	k = k.normalize()
	if k.LocalPort == 0 || k.RemoteAddr.IsValid() != (k.RemotePort != 0) {
		return ErrInvalidKey
	}
	h := k.hash()
	if _, ok := t.m[h]; ok {
		return ErrEntryExists
	}
	if len(t.m) >= t.max {
		return ErrTableFull
	}
	t.m[h] = tableEntry[T]{key: k, v: v}
	return nil
}

// Remove deletes the entry under exactly k and returns its value.
func (t *Table[T]) Remove(k Key) (T, bool) {
	h := k.normalize().hash()
	e, ok := t.m[h]
	if ok {
		delete(t.m, h)
	}
	return e.v, ok
}

// Get returns the entry under exactly k, with no listener fallback.
func (t *Table[T]) Get(k Key) (T, bool) {
	e, ok := t.m[k.normalize().hash()]
	return e.v, ok
}

// Lookup finds the endpoint for an arriving packet whose destination is
// (k.LocalAddr, k.LocalPort) and whose source is (k.RemoteAddr, k.RemotePort).
// It tries, in order: the exact four-tuple; a listener on the local address and
// port; a listener on the unspecified address of the local address's family; a
// listener on any address (zero netip.Addr). The most specific match wins.
func (t *Table[T]) Lookup(k Key) (T, bool) {
	h := k.normalize().hash()
	if e, ok := t.m[h]; ok {
		return e.v, true
	}
	// Listener on the local address: same local half, empty remote half.
	h.ra, h.rp, h.rf = [16]byte{}, 0, 0
	if e, ok := t.m[h]; ok {
		return e.v, true
	}
	// Unspecified address of the same family (0.0.0.0 is ::ffff:0.0.0.0 in As16).
	if h.lf == 4 {
		h.la = [16]byte{10: 0xff, 11: 0xff}
	} else {
		h.la = [16]byte{}
	}
	if e, ok := t.m[h]; ok {
		return e.v, true
	}
	// Any family.
	h.la, h.lf = [16]byte{}, 0
	e, ok := t.m[h]
	return e.v, ok
}

// Range calls f for each entry until f returns false. f must not insert into
// the table; it may remove the entry it is given.
func (t *Table[T]) Range(f func(Key, T) bool) {
	for _, e := range t.m {
		if !f(e.key, e.v) {
			return
		}
	}
}
