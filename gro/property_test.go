package gro

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"offload/pkt"
	"offload/wire"
)

// streamFlow is one sender in the random stream.
type streamFlow struct {
	sp      spec // template: addresses, ports, options
	isn     uint32
	next    uint32 // next new sequence number
	sent    []spec // every data segment so far, for duplicates and reordering
	pending []spec // segments held back to arrive late (a gap, then the fill)
	finned  bool
}

// genStream builds a random stream of frames over several IPv4 and IPv6 flows
// with gaps, late arrivals, duplicates, PSH/FIN, option, ACK, window, TOS and
// CWR changes, pure ACKs, bad checksums and batch boundaries (nil entries).
func genStream(rng *rand.Rand, n int) ([][]byte, map[uint16]uint32) {
	var flows []*streamFlow
	isns := map[uint16]uint32{}
	for i := range 4 {
		var s spec
		if i%2 == 0 {
			s = base(0, 0)
		} else {
			s = base6(0, 0)
		}
		s.sport = uint16(1000 + i)
		isn := rng.Uint32()
		if i == 3 {
			isn = 0xFFFFFFFF - 3000 // wrap mid-stream
		}
		isns[s.sport] = isn
		s.id = uint16(rng.Uint32())
		flows = append(flows, &streamFlow{sp: s, isn: isn, next: isn})
	}
	m := 100 + rng.IntN(400)
	var out [][]byte
	emit := func(f *streamFlow, s spec) {
		s.id = f.sp.id
		f.sp.id++
		if rng.IntN(50) == 0 {
			f.sp.id += uint16(rng.IntN(5)) // an ID jump
		}
		out = append(out, s.bytes())
	}
	for len(out) < n {
		if rng.IntN(8) == 0 {
			out = append(out, nil) // end of a receive batch
		}
		f := flows[rng.IntN(len(flows))]
		if f.finned {
			continue
		}
		switch r := rng.IntN(100); {
		case r < 60: // new data
			size := m
			if rng.IntN(6) == 0 {
				size = 1 + rng.IntN(m)
			}
			s := f.sp
			s.seq, s.payload = f.next, pattern(f.next, size)
			if rng.IntN(10) == 0 {
				s.flags |= wire.FlagPSH
			}
			if rng.IntN(300) == 0 {
				s.flags |= wire.FlagFIN
				f.finned = true
			}
			f.next += uint32(size)
			f.sent = append(f.sent, s)
			if rng.IntN(15) == 0 {
				f.pending = append(f.pending, s) // arrives later: a gap now
				continue
			}
			emit(f, s)
		case r < 66: // a late segment fills a gap
			if len(f.pending) > 0 {
				k := rng.IntN(len(f.pending))
				s := f.pending[k]
				f.pending = append(f.pending[:k], f.pending[k+1:]...)
				emit(f, s)
			}
		case r < 70: // duplicate
			if len(f.sent) > 0 {
				emit(f, f.sent[rng.IntN(len(f.sent))])
			}
		case r < 75:
			f.sp.opts.TSVal++
		case r < 78:
			f.sp.ack += uint32(rng.IntN(3000))
		case r < 82:
			f.sp.window = uint16(rng.Uint32())
		case r < 84:
			f.sp.tos ^= 3 // CE on and off
		case r < 86:
			s := f.sp
			s.seq, s.payload, s.flags = f.next, pattern(f.next, m), s.flags|wire.FlagCWR
			f.next += uint32(m)
			f.sent = append(f.sent, s)
			emit(f, s)
		case r < 92: // pure ACK
			s := f.sp
			s.seq = f.next
			emit(f, s)
		case r < 95: // corrupted in flight
			s := f.sp
			s.seq, s.payload, s.badCsum = f.next, pattern(f.next, m), true
			emit(f, s)
		case r < 97:
			f.sp.opts.NumSACK = uint8(rng.IntN(2))
			f.sp.opts.SACK[0] = wire.SACKBlock{Start: 1, End: 2}
		default:
			f.sp.ttl--
		}
	}
	// Deliver everything still held back, so each flow's stream is complete.
	for _, f := range flows {
		for _, s := range f.pending {
			emit(f, s)
		}
	}
	return out, isns
}

// refReceiver accepts in-order bytes per flow, the way TCP's receive side does
// for data in sequence, and discards everything else.
type refReceiver struct {
	rcvNxt map[uint16]uint32
	data   map[uint16][]byte
}

func newRef(isn map[uint16]uint32) *refReceiver {
	r := &refReceiver{rcvNxt: map[uint16]uint32{}, data: map[uint16][]byte{}}
	for k, v := range isn {
		r.rcvNxt[k] = v
	}
	return r
}

// segment offers payload starting at seq on flow port.
func (r *refReceiver) segment(port uint16, seq wire.Seq, payload []byte) {
	nxt := wire.Seq(r.rcvNxt[port])
	end := seq.Add(uint32(len(payload)))
	if seq.GreaterThan(nxt) || end.LessEq(nxt) {
		return
	}
	skip := nxt.Sub(seq)
	r.data[port] = append(r.data[port], payload[skip:]...)
	r.rcvNxt[port] = uint32(end)
}

// checker is the property test's Handler: it feeds the reference receiver and
// checks every aggregate against the merge rules and the batch boundaries.
type checker struct {
	t       *testing.T
	ref     *refReceiver
	batchOf map[*pkt.Buffer]int
	indexOf map[*pkt.Buffer]int
	lastIdx map[uint16]int
	scratch [][]byte
	out     int
	err     error
}

func (c *checker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

func (c *checker) Deliver(a *Aggregate) {
	defer a.Release()
	c.out += a.Len()
	for i := 0; i < a.Len(); i++ {
		f := a.Frame(i)
		if c.batchOf[f] != c.batchOf[a.Frame(0)] {
			c.fail("aggregate crosses a batch end")
		}
	}
	if a.Kind != KindTCP {
		return
	}
	port := a.TCP.SrcPort
	// Per-flow order: frame indices rise within a flow.
	for i := 0; i < a.Len(); i++ {
		idx := c.indexOf[a.Frame(i)]
		if last, ok := c.lastIdx[port]; ok && idx <= last {
			c.fail("flow %d reordered: frame %d after %d", port, idx, last)
		}
		c.lastIdx[port] = idx
	}
	// No aggregate crosses a flush event: re-parse every frame and check the
	// Linux rules between it and the first.
	var first wire.TCP
	var ttl0, tos0 uint8
	next := a.TCP.Seq
	for i := 0; i < a.Len(); i++ {
		b := a.Frame(i).Bytes()
		var tcp wire.TCP
		var ttl, tos uint8
		var err error
		if a.IPv6 {
			p, _ := wire.ParseIPv6(b[14:])
			ttl, tos = p.HopLimit(), p.TrafficClass()
			tcp, err = wire.ParseTCP(p.Payload())
		} else {
			p, _ := wire.ParseIPv4(b[14:])
			ttl, tos = p.TTL(), p.TOS()
			tcp, err = wire.ParseTCP(p.Payload())
		}
		if err != nil {
			c.fail("unparsable frame in an aggregate")
			return
		}
		if i == 0 {
			first, ttl0, tos0 = tcp, ttl, tos
		} else {
			fl := tcp.Flags()
			switch {
			case ttl != ttl0 || tos != tos0:
				c.fail("merged across a TTL/TOS change")
			case tcp.Ack() != first.Ack():
				c.fail("merged across an ACK change")
			case !bytes.Equal(tcp.Options(), first.Options()):
				c.fail("merged across an option change")
			case fl&wire.FlagCWR != 0 || (fl^first.Flags())&^(wire.FlagPSH|wire.FlagFIN|wire.FlagCWR) != 0:
				c.fail("merged across a flag change")
			case tcp.Seq() != next:
				c.fail("merged across a sequence gap")
			case len(tcp.Payload()) > len(first.Payload()):
				c.fail("merged a larger segment")
			}
		}
		last := i == a.Len()-1
		if !last && (len(tcp.Payload()) < a.SegSize || tcp.Flags()&(wire.FlagPSH|wire.FlagFIN) != 0) {
			c.fail("aggregate continues after a short or PSH/FIN segment")
		}
		next = tcp.Seq().Add(uint32(len(tcp.Payload())))
	}
	if a.Segs != a.Len() || a.PayloadLen != int(next-a.TCP.Seq) {
		c.fail("Segs %d / PayloadLen %d disagree with the frames", a.Segs, a.PayloadLen)
	}
	// Feed the reference receiver the aggregate as one multi-slice segment.
	c.scratch = a.Payloads(c.scratch[:0])
	seq := a.TCP.Seq
	for _, p := range c.scratch {
		c.ref.segment(port, seq, p)
		seq = seq.Add(uint32(len(p)))
	}
}

// run feeds the stream through a table and returns the byte streams accepted.
func runStream(t *testing.T, stream [][]byte, cfg Config, isn map[uint16]uint32) (map[uint16][]byte, uint64, error) {
	c := &checker{t: t, ref: newRef(isn), batchOf: map[*pkt.Buffer]int{}, indexOf: map[*pkt.Buffer]int{}, lastIdx: map[uint16]int{}}
	tb, err := New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	batch, in := 0, 0
	for i, b := range stream {
		if b == nil {
			tb.FlushAll()
			batch++
			continue
		}
		f := pkt.NewBuffer(len(b), 0)
		copy(f.Append(len(b)), b)
		c.batchOf[f] = batch
		c.indexOf[f] = i
		in++
		tb.Input(0, f)
	}
	tb.FlushAll()
	if c.out != in {
		c.fail("%d frames in, %d out", in, c.out)
	}
	st := tb.Stats()
	if st.FramesIn != st.FramesOut || st.HandlerLeaks != 0 {
		c.fail("stats: %d in, %d out", st.FramesIn, st.FramesOut)
	}
	return c.ref.data, st.Merged, c.err
}

func TestByteStreamIsTheSameWithAggregationOnAndOff(t *testing.T) {
	merged := 0
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		stream, isn := genStream(rng, 300)
		on, m, err := runStream(t, stream, Config{L2: true, MaxFlows: 3}, isn)
		if err != nil {
			t.Fatalf("seed %d, aggregation on: %v", seed, err)
		}
		off, _, err := runStream(t, stream, Config{L2: true, Disabled: true}, isn)
		if err != nil {
			t.Fatalf("seed %d, aggregation off: %v", seed, err)
		}
		for port := range isn {
			if !bytes.Equal(on[port], off[port]) {
				t.Fatalf("seed %d flow %d: %d bytes with aggregation, %d without", seed, port, len(on[port]), len(off[port]))
			}
		}
		merged += int(m)
	}
	if merged == 0 {
		t.Fatalf("nothing was merged: the test compares nothing")
	}
}
