package wire

import (
	"errors"
	"strings"
	"testing"
)

// FuzzMAC feeds arbitrary strings to ParseMAC, which reads MACs from
// configuration and flags. Invariants: no panic; a string it refuses gives
// ErrMalformed and the zero MAC; a string it accepts is six two-digit hex
// bytes with one kind of separator, and String gives it back lower-cased with
// colons, which parses to the same MAC. The committed corpus
// (testdata/fuzz/FuzzMAC) holds both separators, mixed case, and the near
// misses: mixed separators, a missing digit, a non-hex digit, a trailing
// byte.
func FuzzMAC(f *testing.F) {
	for _, s := range []string{
		"02:00:5e:10:00:01", "02-00-5E-10-00-01", "ff:ff:ff:ff:ff:ff",
		"02:00-5e:10:00:01", "02:00:5e:10:00:1", "02:00:5g:10:00:01", "02:00:5e:10:00:01:",
		"", "0200.5e10.0001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseMAC(%q): error %v is not ErrMalformed", s, err)
			}
			if m != (MAC{}) {
				t.Fatalf("ParseMAC(%q) failed but returned %v", s, m)
			}
			return
		}
		if len(s) != 17 || (s[2] != ':' && s[2] != '-') || strings.Count(s, s[2:3]) != 5 {
			t.Fatalf("ParseMAC accepted %q, which is not six hex bytes with one separator", s)
		}
		want := strings.ToLower(strings.ReplaceAll(s, "-", ":"))
		if got := m.String(); got != want {
			t.Fatalf("ParseMAC(%q).String() = %q, want %q", s, got, want)
		}
		if back, err := ParseMAC(m.String()); err != nil || back != m {
			t.Fatalf("ParseMAC(%q) = %v, but parsing its String gives %v, %v", s, m, back, err)
		}
	})
}
