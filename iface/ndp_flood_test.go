package iface

import (
	"net/netip"
	"testing"

	"offload/wire"
)

// A flood of neighbour solicitations for our address from thousands of
// sources, each with its own link-layer address option, is answered (RFC
// 4861 §7.2.4) but learned only up to the neighbour cache's bound: least
// recently used sources are evicted and counted, the LRU list and index
// agree, and memory does not grow with the number of sources (REFERENCES
// item 17's neighbour-cache bound, over NDP rather than ARP).
func TestNeighborSolicitationFloodIsBoundedByNeighborCache_RFC4861_7_2_4(t *testing.T) {
	const size, sources = 16, 5000
	i := newIface(t, func(c *Config) {
		dual(c)
		c.NeighborCacheSize = size
	})
	var d discard
	dst := snmOf(our6)
	for n := range sources {
		src := floodSource6(n)
		mac := wire.MAC{2, 1, 0, 0, byte(n >> 8), byte(n)}
		m := ndpMsg(wire.NDPFields{Type: wire.ICMPv6NeighborSolicitation, Target: our6, HasLinkAddr: true, LinkAddr: mac}, src, dst)
		f := append(ethHdr(multicastMAC6(key6(dst)), mac, wire.EtherTypeIPv6), ip6Packet(src, dst, wire.ProtoICMPv6, 255, m)...)
		if _, ok := i.Input(t0, frameOf(f), &d); ok {
			t.Fatal("NS delivered to the transport")
		}
		if n == size*2 {
			// The cache's arrays are full size now; the rest of the flood
			// must not make them grow.
			if len(i.neigh.idx) != size {
				t.Fatalf("cache holds %d entries after %d sources, bound %d", len(i.neigh.idx), n+1, size)
			}
		}
	}
	if len(i.neigh.idx) != size {
		t.Fatalf("cache holds %d entries, bound %d", len(i.neigh.idx), size)
	}
	if cap(i.neigh.ents) > size+1 {
		t.Fatalf("cache array grew to %d entries for a bound of %d", cap(i.neigh.ents), size)
	}
	n := 0
	for k := i.neigh.lruHead; k != nilIdx; k = i.neigh.ents[k].next {
		if i.neigh.idx[i.neigh.ents[k].key] != k {
			t.Fatal("LRU list and index disagree")
		}
		n++
	}
	if n != size {
		t.Fatalf("LRU list has %d entries, bound %d", n, size)
	}
	s := i.Stats()
	if s.NDPSolicitsIn != sources || s.NeighborEvictions != sources-size {
		t.Fatalf("%d solicitations counted, %d evictions; want %d and %d", s.NDPSolicitsIn, s.NeighborEvictions, sources, sources-size)
	}
	if d.n != sources {
		t.Fatalf("%d advertisements sent for %d solicitations", d.n, sources)
	}
	// The most recent source is cached, the first long gone.
	if i.neigh.find(key6(floodSource6(sources-1))) == nilIdx || i.neigh.find(key6(floodSource6(0))) != nilIdx {
		t.Fatal("the cache did not keep the most recent sources")
	}
}

// floodSource6 is the n-th flooding source, 2001:db8::/64 host n+2.
func floodSource6(n int) netip.Addr {
	n += 2
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(n >> 8), 15: byte(n)})
}
