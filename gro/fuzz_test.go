package gro

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"offload/clock"
	"offload/pkt"
)

// fuzzFrameCap bounds a fuzzed frame; a pool buffer is this big.
const fuzzFrameCap = 2048

// encodeFuzz builds a FuzzGRO input: a config header, then records. A record
// is an op byte and, unless the op asks for a flush, a 2-byte length and the
// frame. Used for the seed corpus.
func encodeFuzz(cfg byte, maxSegs byte, recs ...any) []byte {
	out := []byte{cfg, maxSegs}
	for _, r := range recs {
		switch v := r.(type) {
		case byte: // an op with no frame: flush or poll
			out = append(out, v|0x80)
		case []byte:
			out = append(out, 0, byte(len(v)>>8), byte(len(v)))
			out = append(out, v...)
		}
	}
	return out
}

// flowID is what a KindTCP aggregate says about its flow, for the order check.
type flowID struct {
	h        Header
	src, dst string
}

func flowOf(a *Aggregate) flowID {
	h := Header{DstMAC: a.DstMAC, SrcMAC: a.SrcMAC, HasVLAN: a.HasVLAN, VLAN: a.VLAN, IPv6: a.IPv6, FlowLabel: a.FlowLabel}
	h.TCP.SrcPort, h.TCP.DstPort = a.TCP.SrcPort, a.TCP.DstPort
	return flowID{h: h, src: a.Src.String(), dst: a.Dst.String()}
}

// FuzzGRO feeds arbitrary frames and flushes to a Table. Invariants: no panic;
// every frame comes out exactly once (pool count and per-buffer bookkeeping);
// what is held is bounded by MaxFlows x MaxSegments; frames of one flow come out
// in the order they went in; an aggregate's segments are contiguous.
func FuzzGRO(f *testing.F) {
	s1, s2, s3 := base(1, 100), base(101, 100), base(201, 40)
	s2.id, s3.id = 101, 102
	s3.flags |= 8 // PSH
	v6a, v6b := base6(1, 100), base6(101, 100)
	raw := base(1, 100)
	raw.l2 = false
	ack := base(301, 0)
	f.Add(encodeFuzz(0x01, 64, s1.bytes(), s2.bytes(), s3.bytes(), byte(0)))
	f.Add(encodeFuzz(0x03, 64, s1.bytes(), v6a.bytes(), s2.bytes(), v6b.bytes(), ack.bytes()))
	f.Add(encodeFuzz(0x05|0x08, 2, s1.bytes(), s2.bytes(), byte(1), s3.bytes()))
	f.Add(encodeFuzz(0x02, 64, raw.bytes(), raw.bytes()))
	f.Add(encodeFuzz(0x41, 64, s1.bytes(), s2.bytes()))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		cfg := Config{
			L2:                data[0]&1 != 0,
			RxChecksumTrusted: data[0]&2 != 0,
			MaxFlows:          1 + int(data[0]>>3&7),
			MaxSegments:       1 + int(data[1]%MaxSegmentsLimit),
			Disabled:          data[0]&0x40 != 0,
		}
		if data[0]&4 != 0 {
			cfg.FlushTimeout = time.Microsecond
		}
		data = data[2:]
		pool := pkt.NewPool(128, fuzzFrameCap, 0)
		// Buffers are recycled, so "exactly once" is checked per trip: a frame is
		// in flight from Input until it is delivered, and delivered only then.
		inFlight := map[*pkt.Buffer]bool{}
		delivered := 0
		order := map[*pkt.Buffer]int{}
		last := map[flowID]int{}
		var fail error
		failf := func(format string, args ...any) {
			if fail == nil {
				fail = fmt.Errorf(format, args...)
			}
		}
		tb, err := New(cfg, HandlerFunc(func(a *Aggregate) {
			for i := 0; i < a.Len(); i++ {
				if !inFlight[a.Frame(i)] {
					failf("frame %d delivered twice or never given", order[a.Frame(i)])
				}
				delete(inFlight, a.Frame(i))
				delivered++
			}
			if a.Kind == KindTCP {
				id := flowOf(a)
				next := a.TCP.Seq
				for i := 0; i < a.Len(); i++ {
					k := order[a.Frame(i)]
					if p, ok := last[id]; ok && k <= p {
						failf("flow reordered: frame %d after %d", k, p)
					}
					last[id] = k
					p := a.Payload(i)
					if i > 0 && len(p) > a.SegSize {
						failf("segment %d larger than the first", i)
					}
					next = next.Add(uint32(len(p)))
				}
				total := 0
				for i := 0; i < a.Len(); i++ {
					total += len(a.Payload(i))
				}
				if total != a.PayloadLen {
					failf("PayloadLen %d, payloads sum to %d", a.PayloadLen, total)
				}
				if a.Len() > 1 && int(next-a.TCP.Seq) != a.PayloadLen {
					failf("merged segments not contiguous")
				}
			} else if a.Len() != 1 {
				failf("KindOther with %d frames", a.Len())
			}
			a.Release()
		}))
		if err != nil {
			t.Fatal(err)
		}
		now := clock.Instant(0)
		in := 0
		for len(data) > 0 && fail == nil {
			op := data[0]
			data = data[1:]
			if op&0x80 != 0 {
				if op&1 != 0 {
					now = now.Add(2 * time.Microsecond)
					tb.Poll(now)
				} else {
					tb.FlushAll()
				}
				continue
			}
			if len(data) < 2 {
				break
			}
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data), fuzzFrameCap)
			buf := pool.Get()
			if buf == nil {
				break
			}
			copy(buf.Append(n), data[:n])
			data = data[n:]
			buf.Meta.Checksum = pkt.ChecksumState(op & 3 % 3)
			if op&4 != 0 {
				buf.Meta.GSO, buf.Meta.GSOSize = pkt.GSOTCPv4, uint16(1+int(op>>3))
			}
			order[buf] = in
			inFlight[buf] = true
			in++
			tb.Input(now, buf)
			if tb.Held() > cfg.MaxFlows {
				failf("%d flows held, MaxFlows %d", tb.Held(), cfg.MaxFlows)
			}
			if held := pool.Count() - pool.Available(); held > cfg.MaxFlows*cfg.MaxSegments {
				failf("%d frames held, bound %d", held, cfg.MaxFlows*cfg.MaxSegments)
			}
		}
		tb.FlushAll()
		if fail != nil {
			t.Fatal(fail)
		}
		if pool.Available() != pool.Count() {
			t.Fatalf("%d of %d buffers came back", pool.Available(), pool.Count())
		}
		if len(inFlight) != 0 || delivered != in {
			t.Fatalf("%d frames in, %d delivered, %d never came out", in, delivered, len(inFlight))
		}
		if st := tb.Stats(); st.FramesIn != uint64(in) || st.FramesOut != uint64(in) || st.HandlerLeaks != 0 {
			t.Fatalf("stats in %d out %d leaks %d", st.FramesIn, st.FramesOut, st.HandlerLeaks)
		}
	})
}
