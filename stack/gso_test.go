package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/gso"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/stack"
	"offload/tcp"
	"offload/wire"
)

// countingDevice counts the frames sent through it that carry GSO metadata.
type countingDevice struct {
	link.Device
	super, frames, maxLen int
}

func (d *countingDevice) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		d.frames++
		if f.Meta.GSO != pkt.GSONone {
			d.super++
			if f.Meta.Checksum != pkt.ChecksumPartial {
				panic("a super-segment without a partial checksum")
			}
		}
		d.maxLen = max(d.maxLen, f.Len())
	}
	return d.Device.Send(q, b)
}

// On a device that segments (TSO), TCP hands down super-segments of many MSS
// with the checksum left to the device, and the bytes arrive intact.
func TestTSODeviceGetsSuperSegmentsWithPartialChecksums(t *testing.T) {
	clk := clock.NewFake(1 << 40)
	pa, pb := pipe.New(pipe.Config{GSO: true, TxChecksumOffload: true})
	ca := &countingDevice{Device: pa}
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: clk, Secret: [16]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	s := &sim{t: t, clk: clk, a: mk(ca, simA, 1), b: mk(pb, simB, 2), limit: time.Minute}
	a, b := s.connect(80)
	st := newStream(a, b, 8<<20, 4)
	s.transfer(st)
	st.check(t, "a→b over TSO")
	if ca.super == 0 || ca.maxLen < 16<<10 {
		t.Fatalf("sent %d frames, %d of them super-segments, the largest %d bytes: TCP did not use the device's TSO", ca.frames, ca.super, ca.maxLen)
	}
	t.Logf("%d frames, %d super-segments, largest %d bytes", ca.frames, ca.super, ca.maxLen)
	if g := s.a.GSOStats(0); g.Bypassed != uint64(ca.super) || g.SuperSegments != 0 {
		t.Fatalf("counters %+v: want %d super-segments bypassed to the device and none cut", g, ca.super)
	}
}

// wireCheck re-parses every frame a device is given and records what the wire
// would carry: frames above the MTU, GSO metadata, bad IP or TCP checksums,
// and IPv4 IDs that do not advance by one from packet to packet of the host.
type wireCheck struct {
	link.Device
	mtu                  int
	frames, super        int
	partial, tooBig      int
	badIP, badTCP        int
	idChecked, idBreaks  int
	lastID               uint16
	haveID               bool
	largestSeg, dataSegs int
	v4, v6               int
}

func (d *wireCheck) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		d.inspect(f)
	}
	return d.Device.Send(q, b)
}

func (d *wireCheck) inspect(f *pkt.Buffer) {
	d.frames++
	if f.Meta.GSO != pkt.GSONone {
		d.super++
		return
	}
	eth, err := wire.ParseEthernet(f.Bytes())
	if err != nil {
		d.badIP++
		return
	}
	ip := f.Bytes()[eth.HeaderLen():]
	if len(ip) > d.mtu {
		d.tooBig++
	}
	var l4 []byte
	var src, dst netip.Addr
	switch eth.EtherType() {
	case wire.EtherTypeIPv4:
		p, err := wire.ParseIPv4(ip) // verifies the header checksum
		if err != nil || len(p.Bytes()) != len(ip) {
			d.badIP++
			return
		}
		if p.Protocol() != wire.ProtoTCP {
			return
		}
		d.v4++
		// Every IPv4 packet this host sends to its one peer draws its ID from
		// the same counter (iface, RFC 6864), and a super-segment reserves one
		// ID per frame gso cuts: in transmit order the IDs go up by one.
		if d.haveID {
			d.idChecked++
			if p.ID() != d.lastID+1 {
				d.idBreaks++
			}
		}
		d.lastID, d.haveID = p.ID(), true
		l4, src, dst = p.Payload(), p.Src(), p.Dst()
	case wire.EtherTypeIPv6:
		p, err := wire.ParseIPv6(ip)
		if err != nil || len(p.Bytes()) != len(ip) {
			d.badIP++
			return
		}
		proto, up, err := p.UpperLayer()
		if err != nil || proto != wire.ProtoTCP {
			return
		}
		d.v6++
		l4, src, dst = up, p.Src(), p.Dst()
	default:
		return
	}
	seg, err := wire.ParseTCP(l4)
	if err != nil {
		d.badTCP++
		return
	}
	if n := len(seg.Payload()); n > 0 {
		d.dataSegs++
		d.largestSeg = max(d.largestSeg, n)
	}
	if f.Meta.Checksum == pkt.ChecksumPartial {
		// Finish it as the device would, on a copy, and check the result.
		d.partial++
		c := pkt.NewBuffer(f.Len(), 0)
		copy(c.Append(f.Len()), f.Bytes())
		c.Meta = f.Meta
		if err := gso.FinishChecksum(c); err != nil {
			d.badTCP++
			return
		}
		l4 = c.Bytes()[len(f.Bytes())-len(l4):]
	}
	if !wire.TCPChecksumValid(l4, src, dst) {
		d.badTCP++
	}
}

// gsoPair builds two Manual stacks over a pipe on a fake clock; a's device is
// wrapped in a wireCheck. The addresses are IPv4 or IPv6.
func gsoPair(t *testing.T, pc pipe.Config, v6 bool, edit func(*stack.Options)) (*sim, *wireCheck, netip.Addr) {
	t.Helper()
	clk := clock.NewFake(1 << 40)
	pa, pb := pipe.New(pc)
	wa := &wireCheck{Device: pa, mtu: pa.Caps().MTU}
	addrA, addrB := simA, simB
	if v6 {
		addrA, addrB = netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64")
	}
	mk := func(d link.Device, addr netip.Prefix, secret byte) *stack.Stack {
		o := stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, Manual: true, Clock: clk, Secret: [16]byte{secret}}
		if edit != nil {
			edit(&o)
		}
		st, err := stack.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	s := &sim{t: t, clk: clk, a: mk(wa, addrA, 1), b: mk(pb, addrB, 2), limit: time.Minute}
	return s, wa, addrB.Addr()
}

// dial connects s.a to s.b at dst:port and returns both ends.
func (s *sim) dial(dst netip.Addr, port uint16) (ca, cb *stack.Conn) {
	s.t.Helper()
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(dst, port))
	if err != nil {
		s.t.Fatal(err)
	}
	defer ln.Close()
	ca, err = s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(dst, port))
	if err != nil {
		s.t.Fatal(err)
	}
	start := s.clk.Now()
	for cb == nil || !isClosed(ca.Connected()) {
		s.step()
		if cb == nil {
			cb, _ = ln.Accept()
		}
		if s.elapsed(start) > time.Minute {
			s.t.Fatal("connect: no handshake after a simulated minute")
		}
	}
	if err := ca.Err(); err != nil {
		s.t.Fatal(err)
	}
	return ca, cb
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// On a device that does not segment, TCP still builds super-segments and the
// stack cuts them at the MSS before the device: the device is given only
// frames within the MTU, with valid IP and TCP checksums (filled in software:
// the pipe offloads none), IPv4 IDs one apart, TCP runs its output far fewer
// times than there are data frames, and the bytes arrive intact.
func TestDeviceWithoutTSOGetsMTUFramesCutFromSuperSegments(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
		t.Run(name, func(t *testing.T) {
			s, wa, dst := gsoPair(t, pipe.Config{}, v6, nil)
			ca, cb := s.dial(dst, 80)
			st := newStream(ca, cb, 8<<20, 4)
			s.transfer(st)
			st.check(t, "a→b")
			g := s.a.GSOStats(0)
			info := ca.Info()
			t.Logf("%+v avg %.1f frames per super-segment; device got %d frames (%d with data), TCP emitted %d segments",
				g, g.AvgFramesPerSuperSegment(), wa.frames, wa.dataSegs, info.SegmentsOut)
			if wa.super != 0 || wa.tooBig != 0 || wa.badIP != 0 || wa.badTCP != 0 || wa.partial != 0 {
				t.Fatalf("device got %d super-frames, %d above the MTU, %d bad IP, %d bad TCP checksums, %d partial checksums",
					wa.super, wa.tooBig, wa.badIP, wa.badTCP, wa.partial)
			}
			if wa.largestSeg != info.SndMSS {
				t.Fatalf("largest data frame carries %d bytes, want the send MSS %d", wa.largestSeg, info.SndMSS)
			}
			if g.SuperSegments == 0 || g.AvgFramesPerSuperSegment() < 4 || g.Bypassed != 0 || g.NoBuffers != 0 || g.Refused != 0 {
				t.Fatalf("segmentation counters %+v", g)
			}
			if info.SegmentsOut*2 > uint64(wa.dataSegs) {
				t.Fatalf("TCP emitted %d segments for %d data frames: it did not build super-segments", info.SegmentsOut, wa.dataSegs)
			}
			if v6 {
				if wa.v6 == 0 || wa.v4 != 0 {
					t.Fatalf("%d IPv6 and %d IPv4 TCP frames", wa.v6, wa.v4)
				}
				return
			}
			if wa.idChecked < 1000 || wa.idBreaks != 0 {
				t.Fatalf("%d of %d IPv4 IDs did not follow the previous one by one", wa.idBreaks, wa.idChecked)
			}
		})
	}
}

// Where the device fills TCP checksums (TxChecksumOffload) but does not
// segment, the cut frames leave with partial checksums for it to finish.
func TestSoftwareSegmentsLeaveChecksumsToADeviceThatFillsThem(t *testing.T) {
	s, wa, dst := gsoPair(t, pipe.Config{TxChecksumOffload: true}, false, nil)
	ca, cb := s.dial(dst, 80)
	st := newStream(ca, cb, 2<<20, 5)
	s.transfer(st)
	st.check(t, "a→b")
	if g := s.a.GSOStats(0); g.SuperSegments == 0 {
		t.Fatalf("no super-segment was cut: %+v", g)
	}
	if wa.super != 0 || wa.badTCP != 0 || wa.partial < wa.dataSegs || wa.dataSegs == 0 {
		t.Fatalf("%d super-frames, %d bad checksums, %d partial of %d data frames", wa.super, wa.badTCP, wa.partial, wa.dataSegs)
	}
}

// A super-segment of more frames than the transmit batch holds (Batch: 4)
// still goes to the device whole and in order.
func TestSuperSegmentLargerThanTheBatchIsSentWhole(t *testing.T) {
	s, wa, dst := gsoPair(t, pipe.Config{}, false, func(o *stack.Options) { o.Batch = 4 })
	ca, cb := s.dial(dst, 80)
	st := newStream(ca, cb, 2<<20, 6)
	s.transfer(st)
	st.check(t, "a→b")
	g := s.a.GSOStats(0)
	if g.AvgFramesPerSuperSegment() <= 4 || wa.idBreaks != 0 || wa.badTCP != 0 {
		t.Fatalf("%+v; %d ID breaks, %d bad checksums", g, wa.idBreaks, wa.badTCP)
	}
}

// NIC.NoGSO switches segmentation off on that NIC: TCP emits MSS-sized
// segments, nothing is cut in software, and even a device with TSO is handed
// no super-frame. The other stack, without the switch, still uses TSO.
func TestNoGSOMakesTCPEmitMSSSizedSegments(t *testing.T) {
	for _, tso := range []bool{false, true} {
		name := map[bool]string{false: "no TSO", true: "TSO"}[tso]
		t.Run(name, func(t *testing.T) {
			s, wa, dst := gsoPair(t, pipe.Config{GSO: tso, TxChecksumOffload: tso}, false, func(o *stack.Options) {
				o.NICs[0].NoGSO = o.Secret[0] == 1 // stack a only
			})
			ca, cb := s.dial(dst, 80)
			st := newStream(ca, cb, 1<<20, 7)
			down := newStream(cb, ca, 1<<20, 8)
			s.transfer(st, down)
			st.check(t, "a→b")
			down.check(t, "b→a")
			if g := s.a.GSOStats(0); g != (stack.GSOStats{}) {
				t.Fatalf("NoGSO stack counted %+v", g)
			}
			if wa.super != 0 {
				t.Fatalf("NoGSO stack handed the device %d super-frames", wa.super)
			}
			if info := ca.Info(); info.SegmentsOut < uint64(wa.dataSegs) {
				t.Fatalf("TCP emitted %d segments for %d data frames", info.SegmentsOut, wa.dataSegs)
			}
			g := s.b.GSOStats(0)
			if tso && (g.Bypassed == 0 || g.SuperSegments != 0) || !tso && (g.SuperSegments == 0 || g.Bypassed != 0) {
				t.Fatalf("stack b (segmentation on, TSO %v): %+v", tso, g)
			}
		})
	}
}

// When the transmit pool cannot hold every frame of a super-segment, the
// super-segment is dropped and counted, not sent in part, and TCP's
// retransmission recovers the bytes.
func TestSegmentationOutOfBuffersDropsWholeSuperSegmentAndTCPRecovers(t *testing.T) {
	s, _, dst := gsoPair(t, pipe.Config{}, false, func(o *stack.Options) {
		o.TxBuffers = 24 // fewer than the frames of a 64 KiB super-segment
		c := tcp.DefaultConfig()
		c.MinRTO = 10 * time.Millisecond
		o.TCP = &c
	})
	s.limit = 10 * time.Minute
	ca, cb := s.dial(dst, 80)
	st := newStream(ca, cb, 1<<20, 9)
	s.transfer(st)
	st.check(t, "a→b")
	if g := s.a.GSOStats(0); g.NoBuffers == 0 || g.SuperSegments == 0 {
		t.Fatalf("expected some super-segments dropped for want of buffers and others cut: %+v", g)
	}
}

// BenchmarkBulkTransferSegmentation is BenchmarkBulkTransfer over link/pipe
// (which does not segment) with software segmentation on (TCP builds 64 KiB
// super-segments that the queue cuts) and off (TCP emits each MSS itself),
// in one run so the ratio can be read. TCP output runs per MiB are reported.
func BenchmarkBulkTransferSegmentation(b *testing.B) {
	for _, off := range []bool{false, true} {
		name := map[bool]string{false: "gso-on", true: "gso-off"}[off]
		b.Run(name, func(b *testing.B) {
			s := newSimOpts(b, simConfig{noFault: true}, func(o *stack.Options) { o.NoGSO = off })
			ca, cb := s.connect(80)
			out := make([]byte, 64<<10)
			in := make([]byte, 64<<10)
			before := ca.Info().SegmentsOut
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.move(b, ca, cb, out, in)
			}
			b.ReportMetric(float64(ca.Info().SegmentsOut-before)/(float64(b.N)/16), "tcp-out/MiB")
		})
	}
}

// Software segmentation takes its frames from the NIC's transmit pool and
// allocates nothing in steady state (the DESIGN rule for hot paths): the
// measured runs do cut super-segments, and allocate zero times.
func TestSteadyStateSoftwareSegmentationAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSim(t, simConfig{noFault: true})
	ca, cb := s.connect(80)
	out := make([]byte, 64<<10)
	in := make([]byte, 64<<10)
	move := func() { s.move(t, ca, cb, out, in) }
	for range 20 {
		move()
	}
	before := s.a.GSOStats(0)
	if allocs := testing.AllocsPerRun(50, move); allocs != 0 {
		t.Fatalf("moving 64 KiB allocated %v times per run; want 0", allocs)
	}
	after := s.a.GSOStats(0)
	if after.SuperSegments-before.SuperSegments < 50 || after.NoBuffers != 0 {
		t.Fatalf("the measured runs cut %d super-segments (%+v): not the segmentation path", after.SuperSegments-before.SuperSegments, after)
	}
}
