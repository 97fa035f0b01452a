package iface

import (
	"errors"
	"net/netip"
	"testing"
)

func key(l string, lp uint16, r string, rp uint16) Key {
	k := Key{LocalPort: lp, RemotePort: rp}
	if l != "" {
		k.LocalAddr = netip.MustParseAddr(l)
	}
	if r != "" {
		k.RemoteAddr = netip.MustParseAddr(r)
	}
	return k
}

func TestTableExactMatchBeatsListeners(t *testing.T) {
	tb := NewTable[string](16)
	must := func(k Key, v string) {
		t.Helper()
		if err := tb.Insert(k, v); err != nil {
			t.Fatalf("insert %v: %v", k, err)
		}
	}
	must(key("198.18.0.1", 80, "198.18.0.2", 40000), "conn")
	must(key("198.18.0.1", 80, "", 0), "listener on addr")
	must(key("0.0.0.0", 80, "", 0), "v4 wildcard")
	must(key("", 443, "", 0), "any-family wildcard")
	must(key("::", 80, "", 0), "v6 wildcard")
	cases := []struct {
		k    Key
		want string
	}{
		{key("198.18.0.1", 80, "198.18.0.2", 40000), "conn"},
		{key("198.18.0.1", 80, "198.18.0.2", 40001), "listener on addr"},
		{key("198.18.0.9", 80, "198.18.0.2", 40000), "v4 wildcard"},
		{key("2001:db8::1", 80, "2001:db8::2", 1), "v6 wildcard"},
		{key("198.18.0.9", 443, "198.18.0.2", 1), "any-family wildcard"},
		{key("2001:db8::1", 443, "2001:db8::2", 1), "any-family wildcard"},
		{key("::ffff:198.18.0.1", 80, "::ffff:198.18.0.2", 40000), "conn"}, // mapped = IPv4
		{key("198.18.0.1", 81, "198.18.0.2", 40000), ""},
	}
	for _, tc := range cases {
		got, ok := tb.Lookup(tc.k)
		if (tc.want == "") == ok || got != tc.want {
			t.Errorf("lookup %v = %q, %v; want %q", tc.k, got, ok, tc.want)
		}
	}
	if _, ok := tb.Get(key("198.18.0.1", 80, "198.18.0.2", 40001)); ok {
		t.Error("Get fell back to a listener")
	}
	if v, ok := tb.Remove(key("198.18.0.1", 80, "198.18.0.2", 40000)); !ok || v != "conn" {
		t.Fatal("remove")
	}
	if got, _ := tb.Lookup(key("198.18.0.1", 80, "198.18.0.2", 40000)); got != "listener on addr" {
		t.Fatalf("after removing the connection, lookup = %q", got)
	}
}

func TestTableIsBoundedAndRejectsDuplicatesAndBadKeys(t *testing.T) {
	tb := NewTable[int](2)
	if err := tb.Insert(key("198.18.0.1", 1, "", 0), 1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Insert(key("198.18.0.1", 1, "", 0), 2); !errors.Is(err, ErrEntryExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := tb.Insert(key("198.18.0.1", 2, "", 0), 2); err != nil {
		t.Fatal(err)
	}
	if err := tb.Insert(key("198.18.0.1", 3, "", 0), 3); !errors.Is(err, ErrTableFull) {
		t.Fatalf("full: %v", err)
	}
	for _, k := range []Key{
		key("198.18.0.1", 0, "", 0),
		key("198.18.0.1", 5, "198.18.0.2", 0),
		key("198.18.0.1", 5, "", 9),
	} {
		if err := tb.Insert(k, 0); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%v: %v", k, err)
		}
	}
	if tb.Len() != 2 || tb.Cap() != 2 {
		t.Fatalf("len %d cap %d", tb.Len(), tb.Cap())
	}
	tb.Remove(key("198.18.0.1", 1, "", 0))
	if err := tb.Insert(key("198.18.0.1", 3, "", 0), 3); err != nil {
		t.Fatalf("after remove: %v", err)
	}
	n := 0
	tb.Range(func(Key, int) bool { n++; return true })
	if n != 2 {
		t.Fatalf("range saw %d", n)
	}
}

func TestTableLookupDoesNotAllocate(t *testing.T) {
	tb := NewTable[*int](1024)
	v := new(int)
	for p := 1; p <= 500; p++ {
		tb.Insert(key("198.18.0.1", 80, "198.18.1.1", uint16(p)), v)
	}
	tb.Insert(key("0.0.0.0", 80, "", 0), v)
	hit := key("198.18.0.1", 80, "198.18.1.1", 250)
	miss := key("198.18.0.1", 80, "198.18.1.2", 250)
	if a := testing.AllocsPerRun(100, func() {
		tb.Lookup(hit)
		tb.Lookup(miss)
	}); a != 0 {
		t.Fatalf("%v allocations per lookup", a)
	}
}

func BenchmarkTableLookupListenerFallback(b *testing.B) {
	tb := NewTable[int](1 << 16)
	for p := 1; p <= 10000; p++ {
		tb.Insert(key("198.18.0.1", 80, "198.18.1.1", uint16(p)), p)
	}
	tb.Insert(key("0.0.0.0", 80, "", 0), 0)
	k := key("198.18.0.1", 80, "198.18.9.9", 1)
	b.ReportAllocs()
	for b.Loop() {
		tb.Lookup(k)
	}
}

func BenchmarkTableLookupExact(b *testing.B) {
	tb := NewTable[int](1 << 16)
	for p := 1; p <= 10000; p++ {
		tb.Insert(key("198.18.0.1", 80, "198.18.1.1", uint16(p)), p)
	}
	k := key("198.18.0.1", 80, "198.18.1.1", 5000)
	b.ReportAllocs()
	for b.Loop() {
		tb.Lookup(k)
	}
}

// FuzzTable runs random inserts, removes and lookups against a plain map model
// of the documented semantics: exact four-tuple, then listener on the local
// address, then on the family's unspecified address, then on any address.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{3, 3, 3, 0, 0, 0, 1, 1, 1, 2, 2, 2, 6, 6, 6})
	locals := []netip.Addr{
		{}, netip.IPv4Unspecified(), netip.IPv6Unspecified(),
		netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:198.18.0.1"),
	}
	remotes := []netip.Addr{{}, netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")}
	f.Fuzz(func(t *testing.T, ops []byte) {
		const max = 8
		tb := NewTable[int](max)
		model := map[Key]int{}
		for n := 0; n+2 < len(ops); n += 3 {
			op, a, b := ops[n]%3, ops[n+1], ops[n+2]
			k := Key{
				LocalAddr: locals[int(a)%len(locals)],
				LocalPort: uint16(a/8%3) + 1,
			}
			if r := remotes[int(b)%len(remotes)]; r.IsValid() {
				k.RemoteAddr, k.RemotePort = r, uint16(b/4%2)+1
			}
			mk := k.normalize()
			switch op {
			case 0:
				err := tb.Insert(k, n)
				_, exists := model[mk]
				switch {
				case exists:
					if err != ErrEntryExists {
						t.Fatalf("insert existing %v: %v", k, err)
					}
				case len(model) >= max:
					if err != ErrTableFull {
						t.Fatalf("insert into full: %v", err)
					}
				default:
					if err != nil {
						t.Fatalf("insert %v: %v", k, err)
					}
					model[mk] = n
				}
			case 1:
				v, ok := tb.Remove(k)
				mv, mok := model[mk]
				if ok != mok || v != mv {
					t.Fatalf("remove %v: %d,%v want %d,%v", k, v, ok, mv, mok)
				}
				delete(model, mk)
			case 2:
				if !k.RemoteAddr.IsValid() {
					continue // lookups come from packets, which have a remote end
				}
				v, ok := tb.Lookup(k)
				mv, mok := model[mk]
				if !mok {
					l := Key{LocalAddr: mk.LocalAddr, LocalPort: mk.LocalPort}
					if mv, mok = model[l]; !mok && mk.LocalAddr.IsValid() {
						l.LocalAddr = netip.IPv6Unspecified()
						if mk.LocalAddr.Is4() {
							l.LocalAddr = netip.IPv4Unspecified()
						}
						if mv, mok = model[l]; !mok {
							l.LocalAddr = netip.Addr{}
							mv, mok = model[l]
						}
					}
				}
				if ok != mok || v != mv {
					t.Fatalf("lookup %v: %d,%v want %d,%v (model %v)", k, v, ok, mv, mok, model)
				}
			}
			if tb.Len() != len(model) {
				t.Fatalf("len %d, model %d", tb.Len(), len(model))
			}
		}
	})
}
