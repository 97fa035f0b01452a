package fault

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/linktest"
	"offload/link/pipe"
	"offload/pkt"
)

func TestConformance(t *testing.T) {
	configs := map[string]Config{
		"no faults": {},
		// Order-keeping, lossless faults on receive: the suite's contract holds.
		"rx delay jitter rate": {Rx: Faults{Delay: time.Millisecond, Jitter: 500 * time.Microsecond, Rate: 10_000_000_000}},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			linktest.TestDevice(t, func(t *testing.T) (link.Device, link.Device) {
				a, b := pipe.New(pipe.Config{})
				return New(a, cfg), New(b, cfg)
			})
		})
	}
}

// rig is a pipe whose end a is wrapped; frames go a -> b.
type rig struct {
	t    testing.TB
	f    *Device
	b    *pipe.End
	pool *pkt.Pool
	clk  *clock.Fake
}

func newRig(t testing.TB, cfg Config, pcfg pipe.Config) *rig {
	t.Helper()
	a, b := pipe.New(pcfg)
	clk := clock.NewFake(0)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	r := &rig{t: t, f: New(a, cfg), b: b, pool: pkt.NewPool(512, 2048, 0), clk: clk}
	return r
}

// close closes both ends and checks no buffer leaked.
func (r *rig) close() {
	r.t.Helper()
	r.f.Close()
	r.b.Close()
	if r.pool.Available() != r.pool.Count() {
		r.t.Errorf("leak: %d of %d frames not returned to the sender's pool", r.pool.Count()-r.pool.Available(), r.pool.Count())
	}
	if r.f.dup != nil && r.f.dup.Available() != r.f.dup.Count() {
		r.t.Errorf("leak: %d duplicate buffers not returned", r.f.dup.Count()-r.f.dup.Available())
	}
}

// frame numbered seq, n bytes long (n >= 8).
func (r *rig) frame(seq uint32, n int) *pkt.Buffer {
	b := r.pool.Get()
	if b == nil {
		r.t.Fatal("sender pool exhausted")
	}
	p := b.Append(n)
	binary.BigEndian.PutUint32(p, seq)
	for i := 4; i < n; i++ {
		p[i] = byte(i)
	}
	return b
}

// send sends frames seq from..from+n-1 through the wrapper.
func (r *rig) send(from, n uint32, size int) {
	batch := pkt.NewBatch(64)
	for s := from; s < from+n; s++ {
		batch.Add(r.frame(s, size))
		if batch.Full() {
			r.f.Send(0, batch)
		}
	}
	if batch.Len() > 0 {
		r.f.Send(0, batch)
	}
}

// recv drains b, returning the received frames' numbers; it releases them.
func (r *rig) recv() []uint32 {
	var out []uint32
	batch := pkt.NewBatch(64)
	for {
		n, _ := r.b.Recv(0, batch)
		for _, b := range batch.Buffers() {
			out = append(out, binary.BigEndian.Uint32(b.Bytes()))
		}
		batch.ReleaseAll()
		if n == 0 {
			return out
		}
	}
}

// flush lets the wrapper release transmit frames due by now.
func (r *rig) flush() { r.f.Wait(0, 0) }

func seqs(n uint32) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}

// run pushes n frames through a fresh rig and returns what arrived and the counts.
func run(t *testing.T, cfg Config, n uint32) ([]uint32, Counts) {
	r := newRig(t, cfg, pipe.Config{})
	var got []uint32
	for s := uint32(0); s < n; s += 32 {
		r.send(s, min(32, n-s), 100)
		r.clk.Advance(time.Millisecond)
		r.flush()
		got = append(got, r.recv()...)
	}
	r.clk.Advance(time.Second)
	r.flush()
	got = append(got, r.recv()...)
	c := r.f.Counts()
	r.close()
	return got, c
}

func TestSameSeedGivesSameFaults(t *testing.T) {
	cfg := Config{Seed: 42, Tx: Faults{Loss: 0.05, Duplicate: 0.05, Reorder: 0.05, Corrupt: 0.05, Jitter: time.Millisecond}}
	got1, c1 := run(t, cfg, 5000)
	got2, c2 := run(t, cfg, 5000)
	if !slices.Equal(got1, got2) || c1 != c2 {
		t.Fatalf("same seed, different faults: %d vs %d frames, counts %+v vs %+v", len(got1), len(got2), c1, c2)
	}
	if c1.Dropped == 0 || c1.Duplicated == 0 || c1.Reordered == 0 || c1.Corrupted == 0 {
		t.Fatalf("a fault never fired in 5000 frames: %+v", c1)
	}
	cfg.Seed = 43
	got3, _ := run(t, cfg, 5000)
	if slices.Equal(got1, got3) {
		t.Fatalf("seeds 42 and 43 gave the same fault sequence")
	}
}

func TestLossRateWithinStatisticalTolerance(t *testing.T) {
	const n = 100_000
	for _, p := range []float64{0.01, 0.1, 0.5} {
		got, c := run(t, Config{Seed: 7, Tx: Faults{Loss: p}}, n)
		// Binomial: allow 5 standard deviations.
		sd := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(c.Dropped) - n*p); d > 5*sd {
			t.Errorf("loss %.2f: dropped %d of %d, expected %.0f ± %.0f", p, c.Dropped, n, n*p, 5*sd)
		}
		if uint64(len(got))+c.Dropped != n {
			t.Errorf("loss %.2f: %d received + %d dropped != %d sent", p, len(got), c.Dropped, n)
		}
		if !slices.IsSorted(got) {
			t.Errorf("loss alone reordered frames")
		}
	}
}

func TestReorderReallyReordersAndLosesNothing(t *testing.T) {
	got, c := run(t, Config{Seed: 1, Tx: Faults{Reorder: 0.1, ReorderGap: 3}}, 2000)
	if len(got) != 2000 {
		t.Fatalf("received %d of 2000 frames", len(got))
	}
	if slices.IsSorted(got) || c.Reordered == 0 {
		t.Fatalf("no reordering happened (%d held back)", c.Reordered)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, seqs(2000)) {
		t.Fatalf("reordering lost or duplicated frames")
	}
	// A held frame is overtaken by ReorderGap frames, give or take other held
	// frames: no frame arrives far from its place.
	late := 0
	for i, s := range got {
		if d := i - int(s); d > 3*3 || d < -3*3 {
			t.Fatalf("frame %d arrived at position %d", s, i)
		} else if d > 0 {
			late++
		}
	}
	if late == 0 {
		t.Fatalf("no frame arrived late")
	}
}

func TestHeldFrameOvertakenByExactlyGapFrames(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Reorder: 1, ReorderGap: 2, Limit: 4}}, pipe.Config{})
	defer r.close()
	// Limit 4 holds back at most 2; with Reorder 1 frames 0 and 1 are held,
	// the rest pass and overtake them.
	r.send(0, 5, 64)
	got := r.recv()
	if want := []uint32{2, 3, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	// Frame 4 was held in turn; nothing follows it, so its timeout frees it.
	r.clk.Advance(DefaultReorderTimeout)
	r.flush()
	if got := r.recv(); !slices.Equal(got, []uint32{4}) {
		t.Fatalf("after the reorder timeout received %v, want [4]", got)
	}
}

func TestReorderTimeoutReleasesHeldFrameWhenTrafficStops(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Reorder: 1, ReorderTimeout: 5 * time.Millisecond}}, pipe.Config{})
	defer r.close()
	r.send(0, 1, 64)
	if got := r.recv(); len(got) != 0 {
		t.Fatalf("held frame arrived early: %v", got)
	}
	r.clk.Advance(4 * time.Millisecond)
	r.flush()
	if got := r.recv(); len(got) != 0 {
		t.Fatalf("held frame arrived before its timeout: %v", got)
	}
	r.clk.Advance(time.Millisecond)
	r.flush()
	if got := r.recv(); !slices.Equal(got, []uint32{0}) {
		t.Fatalf("after the timeout received %v, want [0]", got)
	}
}

func TestDuplicateMakesIdenticalCopyFromOwnPool(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Duplicate: 1}}, pipe.Config{})
	defer r.close()
	r.send(0, 3, 300)
	batch := pkt.NewBatch(16)
	r.b.Recv(0, batch)
	if batch.Len() != 6 {
		t.Fatalf("received %d frames, want 3 originals and 3 copies", batch.Len())
	}
	for i := 0; i < 6; i += 2 {
		orig, dup := batch.At(i), batch.At(i+1)
		if orig == dup || !slices.Equal(orig.Bytes(), dup.Bytes()) {
			t.Fatalf("frame %d: copy differs or is the same buffer", i/2)
		}
	}
	if r.f.dup.Available() != r.f.dup.Count()-3 {
		t.Fatalf("copies not drawn from the wrapper's pool")
	}
	batch.ReleaseAll()
	if c := r.f.Counts(); c.Duplicated != 3 {
		t.Fatalf("Duplicated = %d, want 3", c.Duplicated)
	}
}

func TestDuplicateSkippedAndCountedWhenPoolEmpty(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Duplicate: 1}, DupBuffers: 4}, pipe.Config{})
	defer r.close()
	r.send(0, 10, 100) // the receiver holds on to every copy
	c := r.f.Counts()
	if c.Duplicated != 4 || c.DupSkipped != 6 {
		t.Fatalf("with a 4-buffer pool: duplicated %d, skipped %d; want 4, 6", c.Duplicated, c.DupSkipped)
	}
	if got := r.recv(); len(got) != 14 {
		t.Fatalf("received %d frames, want 10 + 4 copies", len(got))
	}
}

func TestDuplicateOfSuperFrameIsSkipped(t *testing.T) {
	a, b := pipe.New(pipe.Config{GSO: true})
	f := New(a, Config{Tx: Faults{Duplicate: 1}, Clock: clock.NewFake(0)})
	pool := pkt.NewPool(1, 70000, 0)
	buf := pool.Get()
	buf.Append(20000)
	buf.Meta.GSO, buf.Meta.GSOSize = pkt.GSOTCPv4, 1448
	batch := pkt.NewBatch(1)
	batch.Add(buf)
	f.Send(0, batch)
	if c := f.Counts(); c.DupSkipped != 1 || c.Duplicated != 0 {
		t.Fatalf("super-frame duplication: %+v", c)
	}
	b.Recv(0, batch)
	batch.ReleaseAll()
	f.Close()
	b.Close()
}

func TestCorruptFlipsExactlyOneBitAndDropsChecksumTrust(t *testing.T) {
	a, b := pipe.New(pipe.Config{RxChecksumTrusted: true, TxChecksumOffload: true})
	defer b.Close()
	f := New(a, Config{Seed: 3, Rx: Faults{Corrupt: 1}, Tx: Faults{Corrupt: 1}})
	defer f.Close()
	if c := f.Caps(); c.RxChecksumTrusted || c.TxChecksumOffload {
		t.Fatalf("corrupting wrapper still vouches for checksums: %+v", c)
	}
	pool := pkt.NewPool(64, 2048, 0)
	want := make([]byte, 200)
	for i := range want {
		want[i] = byte(i * 7)
	}
	batch := pkt.NewBatch(64)
	for range 50 {
		buf := pool.Get()
		copy(buf.Append(len(want)), want)
		buf.Meta.Checksum = pkt.ChecksumVerified
		batch.Add(buf)
	}
	f.Send(0, batch)
	b.Recv(0, batch)
	positions := map[int]bool{}
	for _, buf := range batch.Buffers() {
		flipped := 0
		for i, x := range buf.Bytes() {
			if d := bits.OnesCount8(x ^ want[i]); d > 0 {
				flipped += d
				positions[i] = true
			}
		}
		if flipped != 1 {
			t.Fatalf("corrupted frame differs in %d bits, want 1", flipped)
		}
		if buf.Meta.Checksum != pkt.ChecksumUnknown {
			t.Fatalf("corrupted frame still says %v", buf.Meta.Checksum)
		}
	}
	if len(positions) < 10 {
		t.Fatalf("50 corruptions hit only %d distinct bytes: not random", len(positions))
	}
	batch.ReleaseAll()
	if c := f.Counts(); c.Corrupted != 50 {
		t.Fatalf("Corrupted = %d, want 50", c.Corrupted)
	}
}

func TestDelayHoldsFramesUntilDue(t *testing.T) {
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			a, b := pipe.New(pipe.Config{})
			clk := clock.NewFake(0)
			fs := Faults{Delay: 10 * time.Millisecond}
			cfg := Config{Clock: clk}
			// tx: wrap the sender; rx: wrap the receiver.
			var send, recv link.Device = a, b
			if dir == "tx" {
				cfg.Tx = fs
				send = New(a, cfg)
			} else {
				cfg.Rx = fs
				recv = New(b, cfg)
			}
			defer send.Close()
			defer recv.Close()
			pool := pkt.NewPool(4, 2048, 0)
			batch := pkt.NewBatch(4)
			buf := pool.Get()
			buf.Append(64)
			batch.Add(buf)
			send.Send(0, batch)
			poll := func() int {
				send.Wait(0, 0) // lets a transmit wrapper release what is due
				n, _ := recv.Recv(0, batch)
				batch.ReleaseAll()
				return n
			}
			if poll() != 0 {
				t.Fatal("frame arrived without delay")
			}
			clk.Advance(9 * time.Millisecond)
			if poll() != 0 {
				t.Fatal("frame arrived after 9ms of a 10ms delay")
			}
			clk.Advance(time.Millisecond)
			if poll() != 1 {
				t.Fatal("frame not delivered once its delay passed")
			}
		})
	}
}

func TestJitterVariesDelayButNeverReorders(t *testing.T) {
	// Receive-side jitter: wrap the receiving end.
	a, b := pipe.New(pipe.Config{})
	clk := clock.NewFake(0)
	f := New(b, Config{Seed: 9, Clock: clk, Rx: Faults{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond}})
	pool := pkt.NewPool(1100, 128, 0)
	batch := pkt.NewBatch(64)
	var got []uint32
	var lat []time.Duration
	sentAt := map[uint32]clock.Instant{}
	for s := range uint32(1000) {
		buf := pool.Get()
		binary.BigEndian.PutUint32(buf.Append(64), s)
		batch.Add(buf)
		a.Send(0, batch)
		sentAt[s] = clk.Now()
		clk.Advance(100 * time.Microsecond)
		for {
			n, _ := f.Recv(0, batch)
			for _, x := range batch.Buffers() {
				s := binary.BigEndian.Uint32(x.Bytes())
				got = append(got, s)
				lat = append(lat, clk.Now().Sub(sentAt[s]))
			}
			batch.ReleaseAll()
			if n == 0 {
				break
			}
		}
	}
	if !slices.IsSorted(got) {
		t.Fatalf("jitter reordered frames")
	}
	if len(got) < 900 {
		t.Fatalf("only %d frames out after 100ms", len(got))
	}
	lo, hi := slices.Min(lat), slices.Max(lat)
	if lo < time.Millisecond || hi > 9*time.Millisecond+200*time.Microsecond || hi-lo < 3*time.Millisecond {
		t.Fatalf("latency range [%v, %v] does not look like 5ms ± 4ms", lo, hi)
	}
	f.Close()
	a.Close()
}

func TestRateSpacesFramesBySerializationTime(t *testing.T) {
	// 8 Mbit/s: a 1000-byte frame takes 1ms to leave.
	r := newRig(t, Config{Tx: Faults{Rate: 8_000_000}}, pipe.Config{})
	defer r.close()
	r.send(0, 10, 1000)
	r.clk.Advance(5*time.Millisecond - 1)
	r.flush()
	if got := r.recv(); len(got) != 4 {
		t.Fatalf("after 5ms-1ns received %d frames, want 4", len(got))
	}
	r.clk.Advance(1)
	r.flush()
	if got := r.recv(); len(got) != 1 {
		t.Fatalf("at 5ms received %d more frames, want 1", len(got))
	}
	r.clk.Advance(time.Second)
	r.flush()
	if got := r.recv(); !slices.Equal(got, []uint32{5, 6, 7, 8, 9}) {
		t.Fatalf("rest arrived as %v", got)
	}
}

func TestRateBottleneckDropsAtLimit(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Rate: 8_000_000, Limit: 4}}, pipe.Config{})
	defer r.close()
	r.send(0, 10, 1000)
	if c := r.f.Counts(); c.RateDropped != 6 {
		t.Fatalf("RateDropped = %d, want 6 (queue of 4)", c.RateDropped)
	}
	r.clk.Advance(time.Second)
	r.flush()
	if got := r.recv(); !slices.Equal(got, []uint32{0, 1, 2, 3}) {
		t.Fatalf("received %v", got)
	}
}

func TestDelayBacklogPastLimitDropsAndCounts(t *testing.T) {
	r := newRig(t, Config{Tx: Faults{Delay: time.Millisecond, Limit: 3}}, pipe.Config{})
	defer r.close()
	r.send(0, 10, 64)
	if c := r.f.Counts(); c.Overflow != 7 || c.Delayed != 3 {
		t.Fatalf("counts %+v, want 3 delayed and 7 overflowed", c)
	}
}

func TestRxRateBottleneckDropsWhatTheInnerDeviceDelivers(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	clk := clock.NewFake(0)
	f := New(b, Config{Clock: clk, Rx: Faults{Rate: 8_000_000, Limit: 8}})
	pool := pkt.NewPool(64, 2048, 0)
	batch := pkt.NewBatch(64)
	for range 40 {
		buf := pool.Get()
		buf.Append(1000)
		batch.Add(buf)
	}
	a.Send(0, batch)
	if n, _ := f.Recv(0, batch); n != 0 {
		t.Fatalf("received %d frames before the first serialization time", n)
	}
	if c := f.Counts(); c.RateDropped != 32 {
		t.Fatalf("RateDropped = %d, want 32 (40 offered, queue of 8)", c.RateDropped)
	}
	clk.Advance(time.Second)
	if n, _ := f.Recv(0, batch); n != 8 {
		t.Fatalf("received %d, want 8", n)
	}
	batch.ReleaseAll()
	f.Close()
	a.Close()
	if pool.Available() != pool.Count() {
		t.Fatal("leak")
	}
}

func TestWaitReturnsInTimeToReleaseHeldFrames(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	defer b.Close()
	f := New(a, Config{Tx: Faults{Delay: 20 * time.Millisecond}}) // real clock
	defer f.Close()
	pool := pkt.NewPool(2, 2048, 0)
	batch := pkt.NewBatch(2)
	buf := pool.Get()
	buf.Append(64)
	batch.Add(buf)
	f.Send(0, batch)
	start := time.Now()
	if err := f.Wait(0, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 15*time.Millisecond || d > time.Second {
		t.Fatalf("Wait returned after %v; the held frame was due after 20ms", d)
	}
	// Wait itself released the frame: the peer has it without another call.
	if n, _ := b.Recv(0, batch); n != 1 {
		t.Fatalf("frame not sent when Wait returned")
	}
	batch.ReleaseAll()
}

func TestCloseReleasesHeldFramesInBothDirections(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	pa, pb := pkt.NewPool(64, 2048, 0), pkt.NewPool(64, 2048, 0)
	fa := New(a, Config{Tx: Faults{Delay: time.Hour, Reorder: 0.5, Duplicate: 0.5}, Rx: Faults{Delay: time.Hour}, Clock: clock.NewFake(0)})
	batch := pkt.NewBatch(32)
	for range 32 {
		buf := pa.Get()
		buf.Append(100)
		batch.Add(buf)
	}
	fa.Send(0, batch)
	for range 32 {
		buf := pb.Get()
		buf.Append(100)
		batch.Add(buf)
	}
	b.Send(0, batch)
	fa.Recv(0, batch) // pulls b's frames into the delayed receive lane
	if batch.Len() != 0 || pa.Available() == pa.Count() || pb.Available() == pb.Count() {
		t.Fatalf("frames were not held (%d received)", batch.Len())
	}
	fa.Close()
	b.Close()
	if pa.Available() != pa.Count() || pb.Available() != pb.Count() || fa.dup.Available() != fa.dup.Count() {
		t.Fatalf("Close leaked: %d/%d, %d/%d, dup %d/%d", pa.Available(), pa.Count(), pb.Available(), pb.Count(), fa.dup.Available(), fa.dup.Count())
	}
	if _, err := fa.Send(0, batch); err != link.ErrClosed {
		t.Fatalf("Send after Close: %v", err)
	}
}

func TestEveryFaultAtOnceLeaksNothing(t *testing.T) {
	all := Faults{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1, Delay: time.Millisecond, Jitter: time.Millisecond, Rate: 100_000_000, Limit: 100}
	got, c := run(t, Config{Seed: 5, Tx: all}, 3000) // run checks the pools
	if len(got) == 0 || c.Dropped == 0 || c.Delayed == 0 {
		t.Fatalf("nothing happened: %d frames, %+v", len(got), c)
	}
}

func TestSteadyStateAllocatesNothingPerFrame(t *testing.T) {
	all := Faults{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1, Delay: time.Millisecond, Jitter: time.Millisecond, Rate: 1_000_000_000}
	a, b := pipe.New(pipe.Config{})
	clk := clock.NewFake(0)
	fa := New(a, Config{Tx: all, Clock: clk})
	fb := New(b, Config{Rx: all, Clock: clk})
	defer fa.Close()
	defer fb.Close()
	pool := pkt.NewPool(512, 2048, 0)
	tx, rx := pkt.NewBatch(32), pkt.NewBatch(64)
	step := func() {
		for !tx.Full() {
			buf := pool.Get()
			if buf == nil {
				break
			}
			buf.Append(200)
			tx.Add(buf)
		}
		fa.Send(0, tx)
		clk.Advance(2 * time.Millisecond)
		fa.Wait(0, 0)
		for {
			n, _ := fb.Recv(0, rx)
			rx.ReleaseAll()
			if n == 0 {
				break
			}
		}
	}
	for range 100 {
		step() // warm up
	}
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Fatalf("32 frames through every fault allocated %v times", allocs)
	}
}

func TestBadProbabilitiesAreClamped(t *testing.T) {
	got, c := run(t, Config{Tx: Faults{Loss: math.NaN(), Duplicate: -1, Corrupt: 0}}, 100)
	if len(got) != 100 || c != (Counts{}) {
		t.Fatalf("NaN/negative probabilities injected faults: %d frames, %+v", len(got), c)
	}
	got, _ = run(t, Config{Tx: Faults{Loss: 7}}, 100)
	if len(got) != 0 {
		t.Fatalf("loss 7 (clamped to 1) let %d frames through", len(got))
	}
}

func BenchmarkAllFaults(b *testing.B) {
	all := Faults{Loss: 0.01, Duplicate: 0.01, Reorder: 0.01, Corrupt: 0.01, Delay: time.Millisecond, Jitter: 100 * time.Microsecond}
	x, y := pipe.New(pipe.Config{})
	clk := clock.NewFake(0)
	fx := New(x, Config{Tx: all, Clock: clk})
	defer fx.Close()
	defer y.Close()
	pool := pkt.NewPool(512, 2048, 0)
	tx, rx := pkt.NewBatch(32), pkt.NewBatch(64)
	b.ReportAllocs()
	for b.Loop() {
		for !tx.Full() {
			buf := pool.Get()
			if buf == nil {
				break
			}
			buf.Append(1500)
			tx.Add(buf)
		}
		fx.Send(0, tx)
		clk.Advance(time.Millisecond)
		fx.Wait(0, 0)
		for {
			n, _ := y.Recv(0, rx)
			rx.ReleaseAll()
			if n == 0 {
				break
			}
		}
	}
}

func TestQueuesDrawIndependentFaultStreams(t *testing.T) {
	// Frames on queue 0 meet the same faults whatever queue 1 carries, so a
	// multi-queue run replays exactly however its goroutines interleave.
	survivors := func(busyQueue1 bool) []uint32 {
		a, b := pipe.New(pipe.Config{Queues: 2})
		f := New(a, Config{Seed: 11, Tx: Faults{Loss: 0.3, Reorder: 0.1}, Clock: clock.NewFake(0)})
		defer f.Close()
		defer b.Close()
		pool := pkt.NewPool(64, 256, 0)
		batch := pkt.NewBatch(64)
		var got []uint32
		for s := range uint32(1000) {
			for q := range 2 {
				if q == 1 && !busyQueue1 {
					continue
				}
				buf := pool.Get()
				binary.BigEndian.PutUint32(buf.Append(64), s)
				batch.Add(buf)
				f.Send(q, batch)
				b.Recv(q, batch)
				if q == 0 {
					for _, x := range batch.Buffers() {
						got = append(got, binary.BigEndian.Uint32(x.Bytes()))
					}
				}
				batch.ReleaseAll()
			}
		}
		return got
	}
	quiet, busy := survivors(false), survivors(true)
	if len(quiet) == 0 || !slices.Equal(quiet, busy) {
		t.Fatalf("queue 0's faults changed with queue 1's traffic (%d vs %d frames)", len(quiet), len(busy))
	}
}

func TestRxFaultsApplyToReceivedFramesOnly(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	f := New(b, Config{Seed: 2, Rx: Faults{Loss: 0.5, Duplicate: 0.5}, Clock: clock.NewFake(0)})
	pool := pkt.NewPool(128, 256, 0)
	batch := pkt.NewBatch(128)
	got := 0
	for range 10 {
		for !batch.Full() && batch.Len() < 64 {
			buf := pool.Get()
			buf.Append(64)
			batch.Add(buf)
		}
		a.Send(0, batch)
		for {
			n, _ := f.Recv(0, batch)
			got += n
			batch.ReleaseAll()
			if n == 0 {
				break
			}
		}
	}
	rx, tx := f.DirCounts()
	if tx != (Counts{}) {
		t.Fatalf("receive faults counted on transmit: %+v", tx)
	}
	if rx.Dropped == 0 || rx.Duplicated == 0 || uint64(got) != 640-rx.Dropped+rx.Duplicated {
		t.Fatalf("received %d of 640 with %+v", got, rx)
	}
	f.Close()
	a.Close()
	if pool.Available() != pool.Count() || f.dup.Available() != f.dup.Count() {
		t.Fatal("leak")
	}
}

func TestTinyLimitDoesNotStallReceive(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	f := New(b, Config{Seed: 4, Rx: Faults{Reorder: 0.5, Limit: 1}, Clock: clock.NewFake(0)})
	pool := pkt.NewPool(16, 256, 0)
	batch := pkt.NewBatch(16)
	for range 10 {
		buf := pool.Get()
		buf.Append(64)
		batch.Add(buf)
	}
	a.Send(0, batch)
	got := 0
	for range 100 {
		n, _ := f.Recv(0, batch)
		got += n
		batch.ReleaseAll()
	}
	c := f.Counts()
	if got == 0 || uint64(got)+c.Overflow+uint64(len(f.queues[0].rx.held)) != 10 {
		t.Fatalf("received %d, overflowed %d, held %d of 10", got, c.Overflow, len(f.queues[0].rx.held))
	}
	f.Close()
	a.Close()
	if pool.Available() != pool.Count() {
		t.Fatal("leak")
	}
}
