package stack_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/fault"
	"offload/link/pipe"
	"offload/stack"
	"offload/tcp"
)

// sim runs two Manual stacks joined by a pipe (optionally through fault
// injectors) on a fake clock, on the test's goroutine, so every run with the
// same seeds is the same run: the smoltcp netsim approach.
type sim struct {
	t      testing.TB
	clk    *clock.Fake
	a, b   *stack.Stack
	faults []*fault.Device
	limit  time.Duration // simulated time after which a transfer fails
}

type simConfig struct {
	mtu     int
	faults  fault.Faults // applied to frames leaving each side
	seed    uint64
	tcp     *tcp.Config
	limit   time.Duration
	noFault bool
}

var (
	simA = netip.MustParsePrefix("198.18.0.1/24")
	simB = netip.MustParsePrefix("198.18.0.2/24")
)

func newSim(t testing.TB, cfg simConfig) *sim { return newSimOpts(t, cfg, nil) }

// newSimOpts is newSim with a hook that may edit both stacks' options.
func newSimOpts(t testing.TB, cfg simConfig, edit func(*stack.Options)) *sim {
	t.Helper()
	s := &sim{t: t, clk: clock.NewFake(1 << 40), limit: cfg.limit}
	if s.limit == 0 {
		s.limit = 10 * time.Minute
	}
	pa, pb := pipe.New(pipe.Config{MTU: cfg.mtu})
	var da, db link.Device = pa, pb
	if !cfg.noFault {
		fa := fault.New(pa, fault.Config{Seed: cfg.seed, Tx: cfg.faults, Clock: s.clk})
		fb := fault.New(pb, fault.Config{Seed: cfg.seed + 1, Tx: cfg.faults, Clock: s.clk})
		s.faults = []*fault.Device{fa, fb}
		da, db = fa, fb
	}
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		o := stack.Options{
			NICs:   []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}},
			TCP:    cfg.tcp,
			Manual: true,
			Clock:  s.clk,
			Secret: [16]byte{secret},
		}
		if edit != nil {
			edit(&o)
		}
		st, err := stack.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	s.a = mk(da, simA, 1)
	s.b = mk(db, simB, 2)
	t.Cleanup(func() { s.a.Close(); s.b.Close() })
	return s
}

// step runs one round of both stacks; when neither had work it moves the fake
// clock on to the next deadline (at most 1 ms, so frames a fault injector
// holds back are released on time).
func (s *sim) step() {
	busyA, nextA := s.a.Poll()
	busyB, nextB := s.b.Poll()
	if busyA || busyB {
		return
	}
	now := s.clk.Now()
	next := clock.Min(clock.Min(nextA, nextB), now.Add(time.Millisecond))
	if next <= now {
		next = now.Add(time.Microsecond)
	}
	s.clk.Set(next)
}

func (s *sim) elapsed(start clock.Instant) time.Duration { return s.clk.Now().Sub(start) }

// connect opens a connection from a to b:port and returns both ends.
func (s *sim) connect(port uint16) (ca, cb *stack.Conn) {
	s.t.Helper()
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), port))
	if err != nil {
		s.t.Fatal(err)
	}
	defer ln.Close()
	ca, err = s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), port))
	if err != nil {
		s.t.Fatal(err)
	}
	start := s.clk.Now()
	for {
		s.step()
		if cb == nil {
			if c, err := ln.Accept(); err == nil {
				cb = c
			}
		}
		select {
		case <-ca.Connected():
			if err := ca.Err(); err != nil {
				s.t.Fatalf("connect: %v", err)
			}
			if cb != nil {
				return ca, cb
			}
		default:
		}
		if s.elapsed(start) > time.Minute {
			s.t.Fatalf("connect: no handshake after a simulated minute")
		}
	}
}

// move sends len(out) bytes from src and reads them at dst (into in), one
// round of both stacks at a time; any error but ErrWouldBlock fails t. The
// steady-state allocation tests and bulk benchmarks measure exactly this.
func (s *sim) move(t testing.TB, src, dst *stack.Conn, out, in []byte) {
	sent, got := 0, 0
	for got < len(out) {
		if sent < len(out) {
			n, err := src.Write(out[sent:])
			if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
				t.Fatal(err)
			}
			sent += n
		}
		n, err := dst.Read(in)
		if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
			t.Fatal(err)
		}
		got += n
		s.step()
	}
}

// stream is one direction of a transfer: a seeded byte generator on the
// sending side and a hash of what arrived on the receiving side.
type stream struct {
	src, dst     *stack.Conn
	size         int64
	rng          *rand.Rand
	sent, got    int64
	pending      []byte // generated but not yet accepted by Write
	buf          []byte
	hashIn       hash.Hash
	hashOut      hash.Hash
	closedWrite  bool
	eof          bool
	chunk, rchnk int
}

func newStream(src, dst *stack.Conn, size int64, seed uint64) *stream {
	return &stream{
		src: src, dst: dst, size: size,
		rng:     rand.New(rand.NewPCG(seed, ^seed)),
		buf:     make([]byte, 64<<10),
		hashIn:  sha256.New(),
		hashOut: sha256.New(),
		chunk:   1 + int(seed%7)*9000, // uneven write sizes
		rchnk:   1 + int(seed%5)*13000,
	}
}

// pump moves what it can without blocking and reports whether the stream is done.
func (st *stream) pump(t testing.TB) bool {
	for st.sent < st.size {
		if len(st.pending) == 0 {
			n := min(int64(st.chunk), st.size-st.sent)
			p := make([]byte, n)
			for i := range p {
				if i%8 == 0 {
					var w [8]byte
					binary.LittleEndian.PutUint64(w[:], st.rng.Uint64())
					copy(p[i:], w[:])
				}
			}
			st.pending = p
		}
		n, err := st.src.Write(st.pending)
		if n > 0 {
			st.hashOut.Write(st.pending[:n])
			st.pending = st.pending[n:]
			st.sent += int64(n)
		}
		if errors.Is(err, stack.ErrWouldBlock) || (n == 0 && err == nil) {
			break
		}
		if err != nil {
			t.Fatalf("write after %d bytes: %v\nsender:   %+v\nreceiver: %+v", st.sent, err, st.src.Info(), st.dst.Info())
		}
	}
	if st.sent == st.size && !st.closedWrite {
		st.closedWrite = true
		if err := st.src.CloseWrite(); err != nil {
			t.Fatalf("close write: %v", err)
		}
	}
	for !st.eof {
		n, err := st.dst.Read(st.buf[:st.rchnk])
		if n > 0 {
			st.hashIn.Write(st.buf[:n])
			st.got += int64(n)
			continue
		}
		if err == io.EOF {
			st.eof = true
			break
		}
		if errors.Is(err, stack.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", st.got, err)
		}
	}
	return st.eof
}

func (st *stream) check(t testing.TB, name string) {
	t.Helper()
	if st.got != st.size {
		t.Fatalf("%s: received %d bytes, sent %d", name, st.got, st.size)
	}
	in, out := st.hashIn.Sum(nil), st.hashOut.Sum(nil)
	if string(in) != string(out) {
		t.Fatalf("%s: SHA-256 of received bytes %x differs from sent %x", name, in, out)
	}
}

// transfer runs the streams to completion and returns the simulated time taken.
func (s *sim) transfer(streams ...*stream) time.Duration {
	s.t.Helper()
	start := s.clk.Now()
	for {
		done := true
		for _, st := range streams {
			if !st.pump(s.t) {
				done = false
			}
		}
		if done {
			return s.elapsed(start)
		}
		s.step()
		if s.elapsed(start) > s.limit {
			for i, st := range streams {
				s.t.Logf("stream %d: sent %d got %d of %d; sender %+v", i, st.sent, st.got, st.size, st.src.Info())
			}
			s.t.Fatalf("transfer did not finish within %v of simulated time", s.limit)
		}
	}
}

func bulkSize(t testing.TB, full int64) int64 {
	if testing.Short() || raceEnabled {
		return full / 16
	}
	return full
}

// fastRecovery keeps the RFC 6298 algorithm but lowers the minimum RTO to what
// fits an in-memory link whose RTT is microseconds, so lossy runs take
// seconds of simulated time, not hours.
func fastRecovery() *tcp.Config {
	c := tcp.DefaultConfig()
	c.MinRTO = 10 * time.Millisecond
	return &c
}

// Both directions at once, 64 MiB each, SHA-256 equal, at 0%, 1% and 5% loss
// with reordering and duplication injected on both sides.
func TestBulkBothWaysSHA256EqualUnderLossReorderDuplication(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults fault.Faults
	}{
		{"clean", fault.Faults{}},
		{"loss1%+reorder+dup", fault.Faults{Loss: 0.01, Reorder: 0.01, Duplicate: 0.005}},
		{"loss5%+reorder+dup", fault.Faults{Loss: 0.05, Reorder: 0.02, Duplicate: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := bulkSize(t, 64<<20)
			s := newSim(t, simConfig{faults: tc.faults, seed: 42, tcp: fastRecovery()})
			ca, cb := s.connect(5001)
			up := newStream(ca, cb, size, 1)
			down := newStream(cb, ca, size, 2)
			d := s.transfer(up, down)
			up.check(t, "a→b")
			down.check(t, "b→a")
			t.Logf("%s: 2×%d MiB in %v simulated; a→b %+v", tc.name, size>>20, d, ca.Info())
		})
	}
}

// The same seed gives the same run: every fault, every segment, the same time.
// Each run's fault counts and both ends' TCP counters must be equal, not just
// its duration, and the faults must have happened (a run without them would
// be trivially repeatable); a different seed gives a different run.
func TestSimulationIsRepeatableForASeed(t *testing.T) {
	type outcome struct {
		d              time.Duration
		faultA, faultB fault.Counts
		infoA, infoB   tcp.Info
	}
	run := func(seed uint64) outcome {
		s := newSim(t, simConfig{faults: fault.Faults{Loss: 0.02, Reorder: 0.01, Duplicate: 0.005}, seed: seed, tcp: fastRecovery()})
		ca, cb := s.connect(80)
		d := s.transfer(newStream(ca, cb, 2<<20, 3))
		return outcome{d, s.faults[0].Counts(), s.faults[1].Counts(), ca.Info(), cb.Info()}
	}
	o1, o2 := run(7), run(7)
	if o1.faultA.Dropped == 0 || o1.faultA.Reordered == 0 || o1.faultA.Duplicated == 0 || o1.infoA.Retransmits == 0 {
		t.Fatalf("the run saw too few faults to show anything: faults %+v, sender %+v", o1.faultA, o1.infoA)
	}
	if o1.d != o2.d {
		t.Errorf("two runs with the same seed took %v and %v of simulated time", o1.d, o2.d)
	}
	if o1.faultA != o2.faultA || o1.faultB != o2.faultB {
		t.Errorf("two runs with the same seed injected different faults:\n%+v %+v\n%+v %+v", o1.faultA, o1.faultB, o2.faultA, o2.faultB)
	}
	if o1.infoA != o2.infoA || o1.infoB != o2.infoB {
		t.Errorf("two runs with the same seed ended with different TCP state:\nsender   %+v\n         %+v\nreceiver %+v\n         %+v", o1.infoA, o2.infoA, o1.infoB, o2.infoB)
	}
	if o3 := run(8); o3.faultA == o1.faultA && o3.infoA == o1.infoA {
		t.Errorf("seeds 7 and 8 gave the same run: the seed does not reach the faults")
	}
}
