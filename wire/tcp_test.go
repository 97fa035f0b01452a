package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestParseTCPCapturedLinuxSYNAndReEmitIdentically(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame string
		want  TCPFields
	}{
		{"SYN", capSYN, TCPFields{SrcPort: 46736, DstPort: 8080, Seq: 0xee9aa814, Flags: FlagSYN, Window: 64240,
			Options: TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 2376742560,
				HasWScale: true, WScale: 10}}},
		{"SYN-ACK", capSYNACK, TCPFields{SrcPort: 8080, DstPort: 46736, Seq: 0x260be32e, Ack: 0xee9aa815,
			Flags: FlagSYN | FlagACK, Window: 65160,
			Options: TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 487051282,
				TSEcr: 2376742560, HasWScale: true, WScale: 10}}},
		{"data", capDataHello, TCPFields{SrcPort: 46736, DstPort: 8080, Seq: 0xee9aa815, Ack: 0x260be32f,
			Flags: FlagPSH | FlagACK, Window: 63,
			Options: TCPOptions{HasTimestamp: true, TSVal: 2376742561, TSEcr: 487051282}}},
		{"SACK 1 block", capSACK1, TCPFields{SrcPort: 8081, DstPort: 40000, Seq: 0x2e95a132, Ack: 0x3e9,
			Flags: FlagACK, Window: 64,
			Options: TCPOptions{HasTimestamp: true, TSVal: 3292948873, TSEcr: 112, NumSACK: 1,
				SACK: [MaxSACKBlocks]SACKBlock{{2001, 2501}}}}},
		{"SACK 2 blocks", capSACK2, TCPFields{SrcPort: 8081, DstPort: 40000, Seq: 0x2e95a132, Ack: 0x3e9,
			Flags: FlagACK, Window: 64,
			Options: TCPOptions{HasTimestamp: true, TSVal: 3292948924, TSEcr: 112, NumSACK: 2,
				SACK: [MaxSACKBlocks]SACKBlock{{4001, 4501}, {2001, 2501}}}}},
		{"SACK 3 blocks", capSACK3, TCPFields{SrcPort: 8081, DstPort: 40000, Seq: 0x2e95a132, Ack: 0x3e9,
			Flags: FlagACK, Window: 64,
			Options: TCPOptions{HasTimestamp: true, TSVal: 3292948974, TSEcr: 112, NumSACK: 3,
				SACK: [MaxSACKBlocks]SACKBlock{{6001, 6501}, {4001, 4501}, {2001, 2501}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ip, seg := capturedTCP(t, c.frame)
			if got := seg.Fields(); got != c.want {
				t.Fatalf("fields\n got %+v\nwant %+v", got, c.want)
			}
			if !seg.ChecksumValid(ip.Src(), ip.Dst()) {
				t.Fatal("captured checksum does not verify")
			}
			// Linux lays options out the way EmitTCP does, so re-emitting the
			// decoded fields (plus the payload) must give back the exact segment.
			f := seg.Fields()
			out := make([]byte, TCPHeaderLen(&f)+len(seg.Payload()))
			n := EmitTCP(out, &f)
			copy(out[n:], seg.Payload())
			SetTCPChecksum(out, ip.Src(), ip.Dst())
			if !bytes.Equal(out, seg.Bytes()) {
				t.Fatalf("re-emitted\n% x\nwant\n% x", out, seg.Bytes())
			}
		})
	}
}

func TestParseTCPCapturedPayload(t *testing.T) {
	_, seg := capturedTCP(t, capDataHello)
	if string(seg.Payload()) != "hello" || seg.HeaderLen() != 32 || len(seg.Options()) != 12 {
		t.Fatalf("payload %q hlen %d", seg.Payload(), seg.HeaderLen())
	}
	if seg.Flags() != FlagPSH|FlagACK || !seg.Flags().Has(FlagACK) || seg.Urgent() != 0 || seg.Checksum() != 0x7f05 {
		t.Fatalf("flags %#x urg %d csum %#x", seg.Flags(), seg.Urgent(), seg.Checksum())
	}
}

func TestParseTCPDropsBadDataOffset_Hostile10(t *testing.T) {
	_, seg := capturedTCP(t, capDataHello)
	good := seg.Bytes() // 37 bytes, data offset 8
	for n := 0; n < TCPHeaderSize; n++ {
		if _, err := ParseTCP(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	for doff := 0; doff < 5; doff++ {
		b := append([]byte{}, good...)
		b[12] = byte(doff<<4) | b[12]&0xf
		if _, err := ParseTCP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("data offset %d: %v", doff, err)
		}
	}
	// Data offset 8 = 32 bytes of header: a 31-byte segment is cut inside it.
	if _, err := ParseTCP(good[:31]); !errors.Is(err, ErrTruncated) {
		t.Errorf("header cut at 31: %v", err)
	}
	if s, err := ParseTCP(good[:32]); err != nil || len(s.Payload()) != 0 {
		t.Errorf("header-only segment: %v", err)
	}
	// Data offset 15 (60 bytes) in a 37-byte segment.
	b := append([]byte{}, good...)
	b[12] = 0xf0
	if _, err := ParseTCP(b); !errors.Is(err, ErrTruncated) {
		t.Errorf("data offset 15 beyond segment: %v", err)
	}
}

func TestParseTCPOptionsDoesNotReadPastHeaderIntoPayload_Hostile9(t *testing.T) {
	// Data offset 6 (4 option bytes): NOP NOP, then a timestamp option whose 10
	// bytes would run into the payload. The payload must never be read as options.
	b := make([]byte, 24+10)
	b[12] = 6 << 4
	copy(b[20:], []byte{TCPOptNOP, TCPOptNOP, TCPOptTimestamp, 10})
	copy(b[24:], []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0})
	seg, err := ParseTCP(b)
	if err != nil {
		t.Fatal(err)
	}
	if o := seg.Fields().Options; o != (TCPOptions{}) {
		t.Fatalf("decoded %+v from bytes past the header", o)
	}
}

func TestParseTCPOptionsMalformedPolicy_Hostile9(t *testing.T) {
	mss := []byte{TCPOptMSS, 4, 0x05, 0xb4}
	ws := []byte{TCPOptNOP, TCPOptWScale, 3, 7}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		opts []byte
		want TCPOptions
	}{
		{"empty", nil, TCPOptions{}},
		{"only NOPs", bytes.Repeat([]byte{TCPOptNOP}, 40), TCPOptions{}},
		{"EOL ends the list", cat(mss, []byte{TCPOptEOL}, ws), TCPOptions{MSS: 1460}},
		{"length 0 stops, earlier kept", cat(mss, []byte{TCPOptWScale, 0, 7}, ws), TCPOptions{MSS: 1460}},
		{"length 1 stops", cat(mss, []byte{TCPOptSACKPermitted, 1}, ws), TCPOptions{MSS: 1460}},
		{"unknown kind with length 0 stops", cat([]byte{99, 0}, mss), TCPOptions{}},
		{"unknown kind with length 1 stops", cat([]byte{99, 1}, mss), TCPOptions{}},
		{"kind without length byte", cat(mss, []byte{TCPOptNOP, TCPOptTimestamp}), TCPOptions{MSS: 1460}},
		{"length running past end", cat(mss, []byte{TCPOptTimestamp, 10, 0, 0, 0, 1}), TCPOptions{MSS: 1460}},
		{"SACK block cut short", cat(ws, []byte{TCPOptSACK, 10, 0, 0, 0, 1, 0, 0}), TCPOptions{HasWScale: true, WScale: 7}},
		{"MSS wrong length 3 ignored, rest parsed", cat([]byte{TCPOptMSS, 3, 5}, ws), TCPOptions{HasWScale: true, WScale: 7}},
		{"MSS wrong length 6 ignored", cat([]byte{TCPOptMSS, 6, 5, 0xb4, 0, 0}, ws), TCPOptions{HasWScale: true, WScale: 7}},
		{"window scale length 4 ignored", cat([]byte{TCPOptWScale, 4, 7, 0}, mss), TCPOptions{MSS: 1460}},
		{"SACK-permitted length 3 ignored", cat([]byte{TCPOptSACKPermitted, 3, 0}, mss), TCPOptions{MSS: 1460}},
		{"timestamp length 8 ignored", cat([]byte{TCPOptTimestamp, 8, 0, 0, 0, 1, 0, 0}, mss), TCPOptions{MSS: 1460}},
		{"SACK with no blocks ignored", cat([]byte{TCPOptSACK, 2}, mss), TCPOptions{MSS: 1460}},
		{"SACK length 9 ignored", cat([]byte{TCPOptSACK, 9, 0, 0, 0, 1, 0, 0, 0}, mss), TCPOptions{MSS: 1460}},
		{"unknown kinds skipped by length", cat([]byte{30, 4, 0xAA, 0xBB}, []byte{254, 2}, mss), TCPOptions{MSS: 1460}},
		{"later duplicate wins", cat(mss, []byte{TCPOptMSS, 4, 0x02, 0x18}), TCPOptions{MSS: 536}},
		{"window scale 14+ kept raw for the TCP layer to clamp", []byte{TCPOptWScale, 3, 255}, TCPOptions{HasWScale: true, WScale: 255}},
		{"MSS 0 reads as absent", []byte{TCPOptMSS, 4, 0, 0}, TCPOptions{}},
	}
	for _, c := range cases {
		var o TCPOptions
		o.MSS = 9999 // ParseTCPOptions must overwrite everything
		ParseTCPOptions(c.opts, &o)
		if o != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, o, c.want)
		}
	}
}

func TestParseTCPOptionsKeepsAtMostMaxSACKBlocks_RFC2018(t *testing.T) {
	// Five blocks cannot fit in 40 option bytes, but ParseTCPOptions takes any
	// slice: the extra block must be dropped, not written out of bounds.
	b := []byte{TCPOptSACK, 2 + 5*8}
	for i := range 5 {
		b = append(b, 0, 0, 0, byte(2*i), 0, 0, 0, byte(2*i+1))
	}
	var o TCPOptions
	ParseTCPOptions(b, &o)
	if o.NumSACK != MaxSACKBlocks || o.SACK[3] != (SACKBlock{6, 7}) {
		t.Fatalf("%+v", o)
	}
}

func TestEmitTCPOptionLayoutMatchesLinux(t *testing.T) {
	ts := func(v, e byte) []byte { return []byte{8, 10, 0, 0, 0, v, 0, 0, 0, e} }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		o    TCPOptions
		want []byte
	}{
		{"none", TCPOptions{}, nil},
		{"MSS", TCPOptions{MSS: 1460}, []byte{2, 4, 5, 0xb4}},
		{"SACK-permitted alone", TCPOptions{SACKPermitted: true}, []byte{1, 1, 4, 2}},
		{"timestamps alone", TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 2}, cat([]byte{1, 1}, ts(1, 2))},
		{"SACK-permitted folds into timestamps", TCPOptions{SACKPermitted: true, HasTimestamp: true, TSVal: 3},
			cat([]byte{4, 2}, ts(3, 0))},
		{"window scale", TCPOptions{HasWScale: true, WScale: 7}, []byte{1, 3, 3, 7}},
		{"SYN without timestamps", TCPOptions{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7},
			[]byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}},
		{"SACK blocks", TCPOptions{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}},
			[]byte{1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}},
		{"4 SACK blocks with timestamps: first 3 kept", TCPOptions{HasTimestamp: true, TSVal: 9, NumSACK: 4,
			SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
			cat([]byte{1, 1}, ts(9, 0), []byte{1, 1, 5, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6})},
	}
	for _, c := range cases {
		f := TCPFields{Options: c.o}
		if n := TCPOptionsLen(&c.o); n != len(c.want) || n%4 != 0 {
			t.Errorf("%s: TCPOptionsLen %d, want %d", c.name, n, len(c.want))
			continue
		}
		b := make([]byte, TCPHeaderLen(&f))
		n := EmitTCP(b, &f)
		if n != TCPHeaderSize+len(c.want) || !bytes.Equal(b[TCPHeaderSize:n], c.want) {
			t.Errorf("%s: options % x, want % x", c.name, b[TCPHeaderSize:n], c.want)
		}
		if int(b[12]>>4)*4 != n {
			t.Errorf("%s: data offset %d for %d bytes", c.name, b[12]>>4, n)
		}
	}
}

func TestEmitTCPNeverExceedsFortyOptionBytes(t *testing.T) {
	// Every combination, including a corrupt NumSACK, stays within the header.
	for mask := 0; mask < 16; mask++ {
		for _, ns := range []uint8{0, 1, 2, 3, 4, 5, 255} {
			o := TCPOptions{NumSACK: ns}
			if mask&1 != 0 {
				o.MSS = 1460
			}
			o.SACKPermitted = mask&2 != 0
			o.HasTimestamp = mask&4 != 0
			o.HasWScale = mask&8 != 0
			n := TCPOptionsLen(&o)
			if n > TCPMaxOptionsLen || n%4 != 0 {
				t.Fatalf("%+v: %d option bytes", o, n)
			}
			f := TCPFields{Options: o}
			b := make([]byte, TCPHeaderLen(&f))
			EmitTCP(b, &f)
			seg, err := ParseTCP(b)
			if err != nil {
				t.Fatal(err)
			}
			got := seg.Fields().Options
			if ns > 0 && got.NumSACK == 0 && n+12 <= TCPMaxOptionsLen {
				t.Fatalf("%+v: room for a block but none emitted", o)
			}
		}
	}
}

// emittedSubset is what a round trip through EmitTCP and ParseTCP preserves.
func emittedSubset(o TCPOptions) TCPOptions {
	if !o.HasWScale {
		o.WScale = 0
	}
	if !o.HasTimestamp {
		o.TSVal, o.TSEcr = 0, 0
	}
	_, nsack := tcpOptionLayout(&o)
	o.NumSACK = uint8(nsack)
	for i := nsack; i < MaxSACKBlocks; i++ {
		o.SACK[i] = SACKBlock{}
	}
	return o
}

func randomTCPFields(r *rand.Rand) TCPFields {
	f := TCPFields{
		SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()),
		Seq: Seq(r.Uint32()), Ack: Seq(r.Uint32()),
		Flags: TCPFlags(r.Uint32()), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
	}
	o := &f.Options
	if r.IntN(2) == 0 {
		o.MSS = uint16(r.Uint32())
	}
	o.HasWScale = r.IntN(2) == 0
	o.WScale = uint8(r.Uint32())
	o.SACKPermitted = r.IntN(2) == 0
	o.HasTimestamp = r.IntN(2) == 0
	o.TSVal, o.TSEcr = r.Uint32(), r.Uint32()
	o.NumSACK = uint8(r.IntN(MaxSACKBlocks + 1))
	for i := range o.SACK {
		o.SACK[i] = SACKBlock{Seq(r.Uint32()), Seq(r.Uint32())}
	}
	return f
}

func TestTCPEmitParseRoundTripWithChecksumIPv4AndIPv6(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for i := 0; i < 3000; i++ {
		f := randomTCPFields(r)
		payload := make([]byte, r.IntN(200))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		b := make([]byte, TCPHeaderLen(&f)+len(payload))
		n := EmitTCP(b, &f)
		copy(b[n:], payload)
		src, dst := capClientIP, capServerIP
		if i%2 == 1 {
			src, dst = v6a, v6b
		}
		SetTCPChecksum(b, src, dst)
		seg, err := ParseTCP(b)
		if err != nil {
			t.Fatal(err)
		}
		want := f
		want.Options = emittedSubset(f.Options)
		if got := seg.Fields(); got != want {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
		}
		if !bytes.Equal(seg.Payload(), payload) || !TCPChecksumValid(b, src, dst) {
			t.Fatal("payload or checksum")
		}
		b[r.IntN(len(b))] ^= 0x80
		if TCPChecksumValid(b, src, dst) {
			t.Fatal("bit flip not detected")
		}
	}
}

func TestTCPChecksumValidRejectsShortSegmentAndWrongAddresses(t *testing.T) {
	ip, seg := capturedTCP(t, capSYN)
	if TCPChecksumValid(seg.Bytes()[:19], ip.Src(), ip.Dst()) {
		t.Error("19-byte segment accepted")
	}
	if TCPChecksumValid(seg.Bytes(), ip.Dst(), capSACKPeer) {
		t.Error("wrong pseudo-header accepted")
	}
}
