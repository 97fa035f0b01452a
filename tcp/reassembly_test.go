package tcp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"offload/wire"
)

func TestOutOfOrderReassemblyDeliversInOrder(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	msg := []byte("the quick brown fox jumps over the lazy dog")
	// Deliver 5-byte pieces in a shuffled order, with duplicates.
	rng := rand.New(rand.NewPCG(3, 4))
	var order []int
	for i := 0; i < len(msg); i += 5 {
		order = append(order, i)
	}
	order = append(order, order[:3]...)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, off := range order {
		end := min(off+5, len(msg))
		r.send(data(peerISS+1+wire.Seq(off), rigISS+1, 65535, msg[off:end]))
	}
	got, _ := readAll(r.c, nil)
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q", got)
	}
	if r.c.Info().OutOfOrderRanges != 0 {
		t.Fatal("ranges left over")
	}
}

// REFERENCES item 17: overlapping segments with different bytes: the first received bytes win; each byte is delivered once.
func TestReassemblyOverlapFirstReceivedBytesWin(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	base := peerISS + 1
	// Out of order: "BBBB" at 4..8 first, then a conflicting "xxxxxxxx" at 2..10
	// and the in-order "AAAA" at 0..4 that also conflicts at 2..4.
	r.send(data(base+4, rigISS+1, 65535, []byte("BBBB")))
	r.send(data(base+2, rigISS+1, 65535, []byte("xxxxxxxx")))
	r.send(data(base, rigISS+1, 65535, []byte("AAAA")))
	got, _ := readAll(r.c, nil)
	// 0..2 from "AAAA" (new), 2..4 from "xxxxxxxx" (received before AAAA's
	// copy), 4..8 "BBBB" (first), 8..10 "xx".
	if string(got) != "AAxxBBBBxx" {
		t.Fatalf("got %q, want %q", got, "AAxxBBBBxx")
	}
	// Data already delivered is never replaced by a retransmission with other bytes.
	r.send(data(base, rigISS+1, 65535, []byte("zzzzzzzzzzzz")))
	got, _ = readAll(r.c, nil)
	if string(got) != "zz" {
		t.Fatalf("got %q, want only the two new bytes", got)
	}
}

// REFERENCES item 16: out-of-order ranges are bounded.
func TestReassemblyRangeBoundDropsExcess(t *testing.T) {
	cfg := rigConfig()
	cfg.ReassemblyRanges = 4
	r := newEstablishedRig(t, cfg)
	base := peerISS + 1
	// Disjoint one-byte ranges at 10, 20, 30, 40 fit; 50 does not.
	for i := 1; i <= 5; i++ {
		r.send(data(base+wire.Seq(10*i), rigISS+1, 65535, []byte{byte('a' + i)}))
	}
	i := r.c.Info()
	if i.OutOfOrderRanges != 4 || i.OutOfOrderDrops != 1 {
		t.Fatalf("ranges %d drops %d", i.OutOfOrderRanges, i.OutOfOrderDrops)
	}
	// A segment that merges with held ranges is still taken: 11..20 joins 10 and 20.
	r.send(data(base+11, rigISS+1, 65535, make([]byte, 9)))
	if i := r.c.Info(); i.OutOfOrderRanges != 3 {
		t.Fatalf("ranges %d after merge", i.OutOfOrderRanges)
	}
	// In-order data is always taken, even with the table full.
	r.send(data(base+45, rigISS+1, 65535, []byte("y")))
	r.send(data(base, rigISS+1, 65535, make([]byte, 10)))
	if got := r.c.Info().RecvBuffered; got != 21 {
		t.Fatalf("buffered %d, want 21 (0..21)", got)
	}
}

func TestReassemblyBytesBoundedByReceiveBuffer(t *testing.T) {
	cfg := rigConfig()
	cfg.RecvBufferSize = 4096
	r := newEstablishedRig(t, cfg)
	base := peerISS + 1
	// Beyond the window: dropped with an ACK, nothing stored.
	out := r.send(data(base+5000, rigISS+1, 65535, make([]byte, 100)))
	if len(out) != 1 || r.c.Info().OutOfOrderRanges != 0 {
		t.Fatalf("out %v ranges %d", out, r.c.Info().OutOfOrderRanges)
	}
	// Straddling the right edge: the part inside is kept.
	r.send(data(base+4000, rigISS+1, 65535, make([]byte, 200)))
	r.send(data(base, rigISS+1, 65535, make([]byte, 4000)))
	if got := r.c.Info().RecvBuffered; got != 4096 {
		t.Fatalf("buffered %d, want 4096", got)
	}
}

func TestOutOfOrderFINWaitsForTheHole_RFC9293_3_10_7_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	fin := data(peerISS+1+3, rigISS+1, 65535, []byte("def"))
	fin.Flags |= wire.FlagFIN
	r.send(fin)
	if r.c.State() != StateEstablished {
		t.Fatal("FIN beyond a hole processed early")
	}
	out := r.send(data(peerISS+1, rigISS+1, 65535, []byte("abc")))
	if r.c.State() != StateCloseWait || len(out) != 1 || out[0].Ack != peerISS+1+6+1 {
		t.Fatalf("state %v out %v", r.c.State(), out)
	}
	got, err := readAll(r.c, nil)
	if string(got) != "abcdef" || err == nil {
		t.Fatalf("%q %v", got, err)
	}
}

func TestDataHeldBeyondFINIsDiscarded_RFC9293_3_10_7_4(t *testing.T) {
	r := newEstablishedRig(t, rigConfig())
	r.send(data(peerISS+1+100, rigISS+1, 65535, []byte("bogus")))
	fin := ack(peerISS+1, rigISS+1, 65535)
	fin.Flags |= wire.FlagFIN
	r.send(fin)
	if r.c.State() != StateCloseWait || r.c.Info().OutOfOrderRanges != 0 {
		t.Fatalf("state %v ranges %d", r.c.State(), r.c.Info().OutOfOrderRanges)
	}
	if got, err := readAll(r.c, nil); len(got) != 0 || err == nil {
		t.Fatalf("%q %v", got, err)
	}
	// Also when the FIN arrives out of order before the data that precedes it.
	r = newEstablishedRig(t, rigConfig())
	r.send(data(peerISS+1+100, rigISS+1, 65535, []byte("bogus")))
	fin = data(peerISS+1+10, rigISS+1, 65535, []byte("end"))
	fin.Flags |= wire.FlagFIN
	r.send(fin)
	r.send(data(peerISS+1, rigISS+1, 65535, []byte("0123456789")))
	if got, _ := readAll(r.c, nil); string(got) != "0123456789end" || r.c.State() != StateCloseWait {
		t.Fatalf("%q %v", got, r.c.State())
	}
}

// A FIN that arrives ahead of the last data (reordering, no other data held
// out of order) is taken as soon as the data before it arrives in order: RCV.NXT
// then reaches the FIN (RFC 9293 §3.10.7.4, eighth check), so the connection
// must not wait for the peer to retransmit it. Also when the data fills the
// hole in several segments, and when the FIN sits right at the end of data
// held out of order.
func TestOutOfOrderFINTakenOnceTheDataBeforeItArrives_RFC9293_3_10_7_4(t *testing.T) {
	for _, tc := range []struct {
		name  string
		early []seg // arrive before the FIN
		late  []seg // arrive after it, in order
		want  string
	}{
		{"one segment", nil, []seg{data(peerISS+1, rigISS+1, 65535, []byte("abcdef"))}, "abcdef"},
		{"two segments", nil, []seg{
			data(peerISS+1, rigISS+1, 65535, []byte("abc")),
			data(peerISS+4, rigISS+1, 65535, []byte("def")),
		}, "abcdef"},
		{"first part before the FIN", []seg{data(peerISS+1, rigISS+1, 65535, []byte("abc"))},
			[]seg{data(peerISS+4, rigISS+1, 65535, []byte("def"))}, "abcdef"},
		{"FIN at the end of held data", []seg{data(peerISS+4, rigISS+1, 65535, []byte("def"))},
			[]seg{data(peerISS+1, rigISS+1, 65535, []byte("abc"))}, "abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEstablishedRig(t, rigConfig())
			for _, s := range tc.early {
				r.send(s)
			}
			fin := ack(peerISS+7, rigISS+1, 65535)
			fin.Flags |= wire.FlagFIN
			r.send(fin)
			if r.c.State() != StateEstablished {
				t.Fatal("FIN beyond a hole processed early")
			}
			var out []seg
			for _, s := range tc.late {
				out = r.send(s)
			}
			// No time has passed and nothing was retransmitted.
			if r.c.State() != StateCloseWait || len(out) != 1 || out[0].Ack != peerISS+8 {
				t.Fatalf("state %v, answer %v; want CLOSE-WAIT and an ACK of the FIN (%d)", r.c.State(), out, peerISS+8)
			}
			got, err := readAll(r.c, nil)
			if string(got) != tc.want || err != io.EOF {
				t.Fatalf("read %q, %v; want %q, then EOF", got, err, tc.want)
			}
		})
	}
}
