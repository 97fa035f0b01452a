package gso

import (
	"bytes"
	"encoding/binary"
	"testing"

	"offload/pkt"
	"offload/wire"
)

// fuzzInput is a FuzzSegment input: a control byte (bit 0: L2, bit 1: GSO type
// IPv6, bit 2: checksum offload), the GSO size, and the frame.
func fuzzInput(ctl byte, mss uint16, frame []byte) []byte {
	return append([]byte{ctl, byte(mss >> 8), byte(mss)}, frame...)
}

// FuzzSegment cuts arbitrary frames. Invariants: no panic; on error nothing is
// added to the batch and every pool buffer is back; on success every segment
// re-parses with valid IP and TCP checksums, sequence numbers follow each other,
// and the payloads concatenate to the original payload.
func FuzzSegment(f *testing.F) {
	for _, sp := range []super{
		{l2: true, flags: wire.FlagACK | wire.FlagPSH, opts: tsOpts(), payload: payloadOf(3000), mss: 1000},
		{l2: true, v6: true, flags: wire.FlagACK | wire.FlagFIN | wire.FlagCWR, payload: payloadOf(2001), mss: 500},
		{flags: wire.FlagACK | wire.FlagURG, urgent: 1200, payload: payloadOf(2500), mss: 1000},
		{l2: true, vlan: 3, flags: wire.FlagACK, payload: payloadOf(10), mss: 1000},
	} {
		ctl := byte(0)
		if sp.l2 {
			ctl |= 1
		}
		if sp.v6 {
			ctl |= 2
		}
		f.Add(fuzzInput(ctl, sp.mss, sp.frame().Bytes()))
		f.Add(fuzzInput(ctl|4, sp.mss, sp.frame().Bytes()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 || len(data) > 3+8192 {
			return
		}
		ctl, mss := data[0], binary.BigEndian.Uint16(data[1:3])
		l2, v6 := ctl&1 != 0, ctl&2 != 0
		pool := pkt.NewPool(49, 2048, 32)
		// ctl bit 3: segments start at the buffer's front (ResetHeadroom), as
		// the stack has them, instead of at the pool's 32 bytes of headroom.
		s, err := New(Config{L2: l2, Pool: pool, ChecksumOffload: ctl&4 != 0, MaxSegments: 48, ResetHeadroom: ctl&8 != 0})
		if err != nil {
			t.Fatal(err)
		}
		frame := pkt.NewBuffer(len(data), 0)
		copy(frame.Append(len(data)-3), data[3:])
		frame.Meta.GSO, frame.Meta.GSOSize = pkt.GSOTCPv4, mss
		if v6 {
			frame.Meta.GSO = pkt.GSOTCPv6
		}
		orig := bytes.Clone(frame.Bytes())
		out := pkt.NewBatch(64)
		n, err := s.Segment(frame, out)
		if !bytes.Equal(orig, frame.Bytes()) {
			t.Fatalf("Segment modified the super-frame")
		}
		if err != nil {
			if out.Len() != 0 || pool.Available() != pool.Count() {
				t.Fatalf("error %v left %d segments in the batch, %d of %d buffers free", err, out.Len(), pool.Available(), pool.Count())
			}
			return
		}
		l, perr := parse(orig, l2)
		if perr != nil {
			t.Fatalf("Segment accepted what parse refuses")
		}
		payload := orig[l.payOff:l.payEnd]
		seq := wire.Seq(binary.BigEndian.Uint32(orig[l.tcpOff+4:]))
		var all []byte
		for i, buf := range out.Buffers() {
			if err := FinishChecksum(buf); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			var l4 []byte
			var ok bool
			if l.ipv6 {
				p, err := wire.ParseIPv6(b[l.ipOff:])
				if err == nil {
					_, l4, err = p.UpperLayer()
					ok = err == nil && len(p.Bytes()) == len(b)-l.ipOff
					if ok {
						_, err := wire.ParseTCP(l4)
						ok = err == nil && rawChecksumValid(l4, b[l.ipOff+8:l.ipOff+24], b[l.ipOff+24:l.ipOff+40])
					}
				}
			} else {
				p, err := wire.ParseIPv4(b[l.ipOff:])
				if err == nil {
					l4 = p.Payload()
					ok = len(p.Bytes()) == len(b)-l.ipOff && rawChecksumValid(l4, b[l.ipOff+12:l.ipOff+16], b[l.ipOff+16:l.ipOff+20])
				}
			}
			if !ok {
				t.Fatalf("segment %d does not re-parse with valid lengths and checksums", i)
			}
			tcp, _ := wire.ParseTCP(l4)
			if tcp.Seq() != seq {
				t.Fatalf("segment %d seq %d, want %d", i, tcp.Seq(), seq)
			}
			seq = seq.Add(uint32(len(tcp.Payload())))
			all = append(all, tcp.Payload()...)
		}
		if n != out.Len() || !bytes.Equal(all, payload) {
			t.Fatalf("%d segments, payload %d bytes out of %d", n, len(all), len(payload))
		}
		out.ReleaseAll()
		if pool.Available() != pool.Count() {
			t.Fatalf("buffers missing")
		}
	})
}

// rawChecksumValid verifies a TCP checksum with the pseudo-header built from the
// raw address bytes (an IPv4-mapped source in an IPv6 packet stays IPv6).
func rawChecksumValid(seg, src, dst []byte) bool {
	return wire.FoldChecksum(wire.Checksum(seg, pseudoSum(src, dst)+uint32(len(seg)))) == 0
}
