package tcp

import (
	"net/netip"
	"testing"
	"time"

	"offload/clock"
)

func TestSipHash24ReferenceVector(t *testing.T) {
	// The reference vector of the SipHash paper (Appendix A): key 00..0f,
	// message 00..0e, output 0xa129ca6149be45e5.
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := sipKey(key)
	if got := sipHash24(k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("siphash = %#x", got)
	}
	// The empty message (first entry of the reference vectors.h).
	if got := sipHash24(k0, k1, nil); got != 0x726fdb47dd0e0e31 {
		t.Fatalf("siphash(empty) = %#x", got)
	}
}

// REFERENCES item 6: ISNs are keyed per 4-tuple, not predictable.
func TestISNAdvancesWithClockAndDependsOnTuple_RFC6528_3(t *testing.T) {
	g := NewISNGenerator([16]byte{1, 2, 3})
	l := netip.MustParseAddrPort("198.18.0.1:40000")
	r := netip.MustParseAddrPort("198.18.0.2:80")
	now := clock.Instant(5 * time.Second)
	a := g.ISN(now, l, r)
	// M ticks every 4 µs: one millisecond later the ISN is 250 higher.
	if b := g.ISN(now.Add(time.Millisecond), l, r); b-a != 250 {
		t.Fatalf("ISN advanced by %d in 1 ms, want 250", b-a)
	}
	if g.ISN(now, l, r) != a {
		t.Fatal("not deterministic")
	}
	r2 := netip.MustParseAddrPort("198.18.0.2:81")
	if g.ISN(now, l, r2) == a {
		t.Fatal("ISN does not depend on the remote port")
	}
	g2 := NewISNGenerator([16]byte{9})
	if g2.ISN(now, l, r) == a {
		t.Fatal("ISN does not depend on the key")
	}
}

// REFERENCES item 6: ephemeral ports are keyed and randomised (RFC 6056).
func TestPortAllocatorRFC6056Algorithm4(t *testing.T) {
	p := NewPortAllocator([16]byte{7}, 49152, 49161) // ten ports
	local := netip.MustParseAddr("198.18.0.1")
	remote := netip.MustParseAddrPort("198.18.0.2:80")
	used := map[uint16]bool{}
	inUse := func(port uint16) bool { return used[port] }
	for range 10 {
		port, ok := p.Pick(local, remote, inUse)
		if !ok || port < 49152 || port > 49161 || used[port] {
			t.Fatalf("pick %d %v (used %v)", port, ok, used)
		}
		used[port] = true
	}
	if _, ok := p.Pick(local, remote, inUse); ok {
		t.Fatal("picked a port with all in use")
	}
	// Consecutive picks to one destination with nothing in use move on
	// (the table counter advances), so a just-closed port is not reused at once.
	q := NewPortAllocator([16]byte{7}, 1024, 65535)
	free := func(uint16) bool { return false }
	a, _ := q.Pick(local, remote, free)
	b, _ := q.Pick(local, remote, free)
	if a == b {
		t.Fatal("same port twice in a row")
	}
	// Different destinations start from unrelated offsets.
	other := netip.MustParseAddrPort("198.18.0.3:443")
	q2 := NewPortAllocator([16]byte{7}, 1024, 65535)
	c, _ := q2.Pick(local, other, free)
	if c == a {
		t.Fatal("offset does not depend on the destination")
	}
}

func TestTimestampOffsetIsKeyedAndApplied_RFC7323_5_4(t *testing.T) {
	g := NewISNGenerator([16]byte{1})
	l := netip.MustParseAddrPort("198.18.0.1:40000")
	r := netip.MustParseAddrPort("198.18.0.2:80")
	off := g.TSOffset(l, r)
	if off == NewISNGenerator([16]byte{2}).TSOffset(l, r) || off == g.TSOffset(l, netip.MustParseAddrPort("198.18.0.2:81")) {
		t.Fatal("offset not keyed by secret and tuple")
	}
	cfg := DefaultConfig()
	c := Dial(&cfg, clock.Instant(5*time.Second), 1)
	c.SetTimestampOffset(off)
	var o capture
	c.Poll(clock.Instant(5*time.Second), &o)
	if got := o.take()[0].Options.TSVal; got != 5000+off {
		t.Fatalf("TSval %d, want %d", got, 5000+off)
	}
	c.SetTimestampOffset(7) // too late: ignored
	if c.tsOffset != off {
		t.Fatal("offset changed after the SYN went out")
	}
}
