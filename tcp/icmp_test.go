package tcp

import (
	"testing"

	"offload/wire"
)

// An ICMP error is believed only if it quotes a sequence number of data in
// flight (RFC 5927 §4.1): below SND.UNA (acknowledged long ago) or at/after
// SND.MAX (never sent) is a blind or stale error.
func TestICMPQuoteMustBeInFlight_RFC5927_4_1(t *testing.T) {
	c := &Conn{}
	c.sndUna, c.sndNxt, c.sndMax = 1000, 1000, 5000
	for _, tc := range []struct {
		seq  wire.Seq
		want bool
	}{
		{999, false}, {1000, true}, {4999, true}, {5000, false}, {1000 + 1<<31, false},
	} {
		if got := c.QuoteInFlight(tc.seq); got != tc.want {
			t.Errorf("quote seq %d with SND.UNA 1000, SND.MAX 5000: %v, want %v", tc.seq, got, tc.want)
		}
	}
	// Across the 2^32 wrap.
	c.sndUna, c.sndMax = 0xFFFFFF00, 0x100
	if !c.QuoteInFlight(0xFFFFFFF0) || !c.QuoteInFlight(0x10) || c.QuoteInFlight(0x200) {
		t.Error("in-flight check wrong across sequence wrap-around")
	}
}
