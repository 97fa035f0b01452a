// Package linktest is a conformance suite for link.Device implementations.
//
// A device package runs it against a connected pair of its devices:
//
//	func TestConformance(t *testing.T) {
//		linktest.TestDevice(t, func(t *testing.T) (a, b link.Device) { ... })
//	}
//
// It checks the contract written in package link: Send empties the batch and
// takes every frame; Recv never blocks and never overfills a batch; frames arrive
// intact and in order; Wait returns when frames are queued, on Wake (before or
// during the Wait), on timeout, and with ErrClosed on Close; no buffer leaks.
//
// Test frames are Ethernet frames with the local experimental EtherType 0x88B5
// and a magic marker, so devices backed by a kernel interface may also deliver
// unrelated traffic (IPv6 neighbour discovery, say): the suite skips it.
package linktest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"offload/link"
	"offload/pkt"
)

// EtherType of test frames (IEEE 802 local experimental).
const EtherType = 0x88B5

// magic follows the Ethernet header of every test frame.
var magic = [4]byte{'L', 'T', 'S', 'T'}

// header: Ethernet (14) + magic (4) + sequence number (4).
const frameHeader = 14 + 4 + 4

// Options adjust the suite to a device's nature.
type Options struct {
	// MayDrop: the pair may lose frames under load (a kernel device with its own
	// queues). Bursts then need order and integrity, not completeness.
	MayDrop bool
	// Settle is how long a frame may take to cross the pair (default 2s).
	Settle time.Duration
}

// NewPair returns two connected devices: frames a sends, b receives, and back.
// The suite closes both.
type NewPair func(t *testing.T) (a, b link.Device)

// TestDevice runs the suite on a lossless pair.
func TestDevice(t *testing.T, newPair NewPair) { Run(t, Options{}, newPair) }

// Run runs the suite with options.
func Run(t *testing.T, opts Options, newPair NewPair) {
	if opts.Settle <= 0 {
		opts.Settle = 2 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"CapsAreSane", testCaps},
		{"SendEmptiesBatchAndTakesEveryFrame", testSendEmptiesBatch},
		{"FramesArriveIntactAndInOrder", testIntactInOrder},
		{"BothDirectionsWork", testBothDirections},
		{"RecvNeverOverfillsBatch", testRecvRespectsCapacity},
		{"RecvOnEmptyQueueDoesNotBlock", testRecvEmpty},
		{"WaitReturnsWhenFramesQueued", testWaitFramesQueued},
		{"WaitTimesOut", testWaitTimeout},
		{"WakeBeforeWaitIsRemembered", testWakeBeforeWait},
		{"WakeFromAnotherGoroutineEndsWait", testWakeConcurrent},
		{"SendWakesPeerWait", testSendWakesPeer},
		{"CloseEndsBlockedWait", testCloseEndsWait},
		{"ClosedDeviceRefusesAndReleases", testClosedRefuses},
		{"BadQueueIsAnErrorNotAPanic", testBadQueue},
		{"ConcurrentStreamArrivesInOrder", testStream},
		{"EveryQueueCarriesFrames", testEveryQueue},
		{"TxStatsCountWhatSendSent", testTxStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, opts, newPair)
			tc.fn(t, e)
			e.finish(t)
		})
	}
}

// env is one pair plus a pool the test frames come from.
type env struct {
	opts     Options
	a, b     link.Device
	pool     *pkt.Pool
	headroom int
	closed   bool
}

func newEnv(t *testing.T, opts Options, newPair NewPair) *env {
	t.Helper()
	a, b := newPair(t)
	ca, cb := a.Caps(), b.Caps()
	if !ca.L2 || !cb.L2 {
		a.Close()
		b.Close()
		t.Skip("the suite's frames are Ethernet; an L3 device needs its own suite")
	}
	headroom := max(ca.Headroom, cb.Headroom)
	size := max(ca.MaxFrame, cb.MaxFrame, ca.MTU+14, cb.MTU+14) + headroom
	e := &env{opts: opts, a: a, b: b, pool: pkt.NewPool(256, size, headroom), headroom: headroom}
	t.Cleanup(func() { e.closeBoth() })
	return e
}

func (e *env) closeBoth() {
	if e.closed {
		return
	}
	e.closed = true
	e.a.Close()
	e.b.Close()
}

// finish closes the pair and checks every test buffer came home.
func (e *env) finish(t *testing.T) {
	t.Helper()
	e.closeBoth()
	if got := e.pool.Available(); got != e.pool.Count() {
		t.Errorf("buffer leak: %d of %d test buffers returned to the pool after Close", got, e.pool.Count())
	}
}

// mtuFrameLen is the longest plain frame both ends accept.
func (e *env) mtuFrameLen() int {
	return min(e.a.Caps().MTU, e.b.Caps().MTU) + 14
}

// frame builds a test frame of n bytes (n >= frameHeader) carrying seq, from
// src to dst.
func (e *env) frame(t *testing.T, src, dst link.Device, seq uint32, n int) *pkt.Buffer {
	t.Helper()
	buf := e.pool.Get()
	if buf == nil {
		t.Fatalf("test pool exhausted (%d buffers): frames are leaking", e.pool.Count())
	}
	fill(buf.Append(n), src.Caps().HardwareAddr, dst.Caps().HardwareAddr, seq)
	return buf
}

func fill(b []byte, src, dst [6]byte, seq uint32) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], EtherType)
	copy(b[14:18], magic[:])
	binary.BigEndian.PutUint32(b[18:22], seq)
	for i := frameHeader; i < len(b); i++ {
		b[i] = byte(seq) ^ byte(i) ^ byte(i>>8)
	}
}

// parse returns a test frame's sequence number and whether it is intact.
// ok is false for frames that are not test frames at all.
func parse(b []byte) (seq uint32, intact, ok bool) {
	if len(b) < frameHeader || binary.BigEndian.Uint16(b[12:14]) != EtherType || !bytes.Equal(b[14:18], magic[:]) {
		return 0, false, false
	}
	seq = binary.BigEndian.Uint32(b[18:22])
	for i := frameHeader; i < len(b); i++ {
		if b[i] != byte(seq)^byte(i)^byte(i>>8) {
			return seq, false, true
		}
	}
	return seq, true, true
}

// sizeFor spreads frame sizes over [frameHeader+0, max] deterministically.
func sizeFor(seq uint32, maxLen int) int {
	span := maxLen - frameHeader - 46
	if span <= 0 {
		return maxLen
	}
	return frameHeader + 46 + int((seq*7919)%uint32(span+1))
}

// send sends frames with the given sequence numbers on queue 0 and checks Send's contract.
func (e *env) send(t *testing.T, src, dst link.Device, q int, seqs []uint32, size func(uint32) int) int {
	t.Helper()
	batch := pkt.NewBatch(len(seqs))
	for _, s := range seqs {
		batch.Add(e.frame(t, src, dst, s, size(s)))
	}
	n, err := src.Send(q, batch)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if batch.Len() != 0 {
		t.Fatalf("Send left %d frames in the batch; it must take them all", batch.Len())
	}
	if n < 0 || n > len(seqs) {
		t.Fatalf("Send returned %d for %d frames", n, len(seqs))
	}
	return n
}

// received is one test frame seen by collect.
type received struct {
	seq    uint32
	len    int
	intact bool
}

// collect receives test frames on dev (any queue) until want arrived or the
// settle time passed since the last one; non-test frames are released unseen.
func (e *env) collect(t *testing.T, dev link.Device, want int) []received {
	t.Helper()
	out, err := e.collectErr(dev, want)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// collectErr is collect for goroutines other than the test's.
func (e *env) collectErr(dev link.Device, want int) ([]received, error) {
	var out []received
	batch := pkt.NewBatch(16)
	defer batch.ReleaseAll()
	deadline := time.Now().Add(e.opts.Settle)
	queues := dev.Caps().Queues
	for len(out) < want && time.Now().Before(deadline) {
		got := 0
		for q := range queues {
			n, err := dev.Recv(q, batch)
			if err != nil {
				return out, fmt.Errorf("receive on queue %d: %w", q, err)
			}
			got += n
			for _, b := range batch.Buffers() {
				if s, intact, ok := parse(b.Bytes()); ok {
					out = append(out, received{s, b.Len(), intact})
				}
			}
			batch.ReleaseAll()
		}
		if got > 0 {
			deadline = time.Now().Add(e.opts.Settle)
			continue
		}
		if queues == 1 {
			if err := dev.Wait(0, 10*time.Millisecond); err != nil {
				return out, fmt.Errorf("wait: %w", err)
			}
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	return out, nil
}

func seqRange(from, n uint32) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = from + uint32(i)
	}
	return s
}

func checkInOrder(t *testing.T, got []received, want []uint32, mayDrop bool) {
	t.Helper()
	for _, r := range got {
		if !r.intact {
			t.Errorf("frame %d arrived corrupted", r.seq)
		}
	}
	if !mayDrop && len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	if mayDrop && len(got) == 0 && len(want) > 0 {
		t.Fatalf("none of %d frames arrived", len(want))
	}
	j := 0
	for _, r := range got {
		for j < len(want) && want[j] != r.seq {
			if !mayDrop {
				t.Fatalf("frame %d arrived where %d was due: out of order or lost", r.seq, want[j])
			}
			j++
		}
		if j == len(want) {
			t.Fatalf("frame %d arrived out of order or twice", r.seq)
		}
		j++
	}
}

func testCaps(t *testing.T, e *env) {
	for _, d := range []link.Device{e.a, e.b} {
		c := d.Caps()
		if c.Name == "" {
			t.Errorf("Caps.Name is empty")
		}
		if c.Queues < 1 {
			t.Errorf("%s: Queues = %d, want >= 1", c.Name, c.Queues)
		}
		if c.MTU < 68 { // RFC 791: every IPv4 link carries 68 bytes
			t.Errorf("%s: MTU %d below the IPv4 minimum of 68", c.Name, c.MTU)
		}
		minFrame := c.MTU
		if c.L2 {
			minFrame += 14
			if c.HardwareAddr == [6]byte{} {
				t.Errorf("%s: L2 device with zero MAC", c.Name)
			}
			if c.HardwareAddr[0]&1 != 0 {
				t.Errorf("%s: MAC %x is multicast", c.Name, c.HardwareAddr)
			}
		}
		if c.MaxFrame < minFrame {
			t.Errorf("%s: MaxFrame %d < MTU-sized frame %d", c.Name, c.MaxFrame, minFrame)
		}
		if c.Headroom < 0 {
			t.Errorf("%s: negative Headroom %d", c.Name, c.Headroom)
		}
		if c.TSO && c.MaxGSOSize <= c.MTU {
			t.Errorf("%s: TSO with MaxGSOSize %d <= MTU %d", c.Name, c.MaxGSOSize, c.MTU)
		}
		if c != d.Caps() {
			t.Errorf("%s: Caps changed between calls", c.Name)
		}
	}
}

func testSendEmptiesBatch(t *testing.T, e *env) {
	n := e.send(t, e.a, e.b, 0, seqRange(0, 8), func(uint32) int { return 64 })
	if !e.opts.MayDrop && n != 8 {
		t.Errorf("Send sent %d of 8 frames on an idle lossless pair", n)
	}
	if got := e.a.Stats().TxFrames; got < uint64(n) {
		t.Errorf("TxFrames = %d after sending %d", got, n)
	}
	e.collect(t, e.b, n)
}

func testIntactInOrder(t *testing.T, e *env) {
	maxLen := e.mtuFrameLen()
	seqs := seqRange(100, 64)
	size := func(s uint32) int { return sizeFor(s, maxLen) }
	// the first and last frame are the extremes: minimum Ethernet and full MTU
	sizes := func(s uint32) int {
		switch s {
		case seqs[0]:
			return 60
		case seqs[len(seqs)-1]:
			return maxLen
		}
		return size(s)
	}
	before := e.b.Stats()
	e.send(t, e.a, e.b, 0, seqs, sizes)
	got := e.collect(t, e.b, len(seqs))
	checkInOrder(t, got, seqs, e.opts.MayDrop)
	for _, r := range got {
		if r.len != sizes(r.seq) {
			t.Errorf("frame %d is %d bytes, sent %d", r.seq, r.len, sizes(r.seq))
		}
	}
	after := e.b.Stats()
	if after.RxFrames-before.RxFrames < uint64(len(got)) {
		t.Errorf("RxFrames grew by %d, %d frames received", after.RxFrames-before.RxFrames, len(got))
	}
	var bytes uint64
	for _, r := range got {
		bytes += uint64(r.len)
	}
	if after.RxBytes-before.RxBytes < bytes {
		t.Errorf("RxBytes grew by %d, %d bytes received", after.RxBytes-before.RxBytes, bytes)
	}
}

func testBothDirections(t *testing.T, e *env) {
	e.send(t, e.a, e.b, 0, seqRange(1, 4), func(uint32) int { return 100 })
	e.send(t, e.b, e.a, 0, seqRange(1001, 4), func(uint32) int { return 200 })
	checkInOrder(t, e.collect(t, e.b, 4), seqRange(1, 4), e.opts.MayDrop)
	checkInOrder(t, e.collect(t, e.a, 4), seqRange(1001, 4), e.opts.MayDrop)
}

func testRecvRespectsCapacity(t *testing.T, e *env) {
	e.send(t, e.a, e.b, 0, seqRange(0, 10), func(uint32) int { return 80 })
	waitPending(t, e, e.b)
	batch := pkt.NewBatch(3)
	own := e.pool.Get() // a frame the caller already holds
	batch.Add(own)
	n, err := e.b.Recv(0, batch)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if n < 0 || n > 2 || batch.Len() != 1+n {
		t.Fatalf("Recv into a batch of cap 3 holding 1 returned %d, batch now %d", n, batch.Len())
	}
	if batch.At(0) != own {
		t.Fatalf("Recv disturbed the frame already in the batch")
	}
	batch.ReleaseAll()
	e.collect(t, e.b, 10-n)
}

// waitPending waits until frames are likely queued on dev's queue 0: at once
// for an in-memory device, after the kernel moved them for a real one.
func waitPending(t *testing.T, e *env, dev link.Device) {
	t.Helper()
	if err := dev.Wait(0, e.opts.Settle); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func testRecvEmpty(t *testing.T, e *env) {
	batch := pkt.NewBatch(8)
	start := time.Now()
	for range 100 {
		if _, err := e.b.Recv(0, batch); err != nil {
			t.Fatalf("Recv: %v", err)
		}
		batch.ReleaseAll()
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("100 Recv calls on an idle queue took %v: Recv must not block", d)
	}
}

func testWaitFramesQueued(t *testing.T, e *env) {
	e.send(t, e.a, e.b, 0, seqRange(0, 1), func(uint32) int { return 64 })
	start := time.Now()
	if err := waitAnyQueue(e.b, 10*time.Second); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d > e.opts.Settle {
		t.Errorf("Wait with a frame in flight took %v", d)
	}
	e.collect(t, e.b, 1)
}

func testWaitTimeout(t *testing.T, e *env) {
	start := time.Now()
	if err := e.b.Wait(0, 30*time.Millisecond); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait(30ms) on an idle queue took %v", d)
	}
	start = time.Now()
	if err := e.b.Wait(0, 0); err != nil {
		t.Fatalf("Wait(0): %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Wait(0) took %v: a zero timeout polls", d)
	}
}

func testWakeBeforeWait(t *testing.T, e *env) {
	e.b.Wake(0)
	if err := waitWithin(t, e.b, -1, 2*time.Second); err != nil {
		t.Fatalf("Wait after Wake: %v", err)
	}
}

// waitWithin runs Wait(0, timeout) and fails the test if it has not returned
// within limit; it then closes dev to free the blocked goroutine.
func waitWithin(t *testing.T, dev link.Device, timeout, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- dev.Wait(0, timeout) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		dev.Close()
		<-done
		t.Fatalf("Wait did not return within %v", limit)
		return nil
	}
}

func testWakeConcurrent(t *testing.T, e *env) {
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(20 * time.Millisecond)
		e.b.Wake(0)
	})
	if err := waitWithin(t, e.b, -1, 5*time.Second); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wg.Wait()
}

func testSendWakesPeer(t *testing.T, e *env) {
	// Drain anything stale so the Wait below really blocks on the send.
	e.collect(t, e.b, 0)
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(20 * time.Millisecond)
		batch := pkt.NewBatch(1)
		buf := e.pool.Get()
		fill(buf.Append(64), e.a.Caps().HardwareAddr, e.b.Caps().HardwareAddr, 7)
		batch.Add(buf)
		e.a.Send(0, batch)
	})
	done := make(chan error, 1)
	go func() { done <- waitAnyQueue(e.b, -1) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		e.b.Close()
		<-done
		t.Fatal("Wait did not return within 5s")
	}
	wg.Wait()
	e.collect(t, e.b, 1)
}

// waitAnyQueue waits on every receive queue of dev at once and returns when
// the first Wait does (a device may steer a frame to any queue: a fanout
// group hashes it, a TAP picks by flow), waking the others.
func waitAnyQueue(dev link.Device, timeout time.Duration) error {
	queues := dev.Caps().Queues
	if queues <= 1 {
		return dev.Wait(0, timeout)
	}
	done := make(chan error, queues)
	for q := range queues {
		go func() { done <- dev.Wait(q, timeout) }()
	}
	err := <-done
	for q := range queues {
		dev.Wake(q)
	}
	for range queues - 1 {
		<-done
	}
	return err
}

func testCloseEndsWait(t *testing.T, e *env) {
	done := make(chan error, 1)
	go func() {
		for {
			// Spurious returns are allowed; keep waiting until Close ends it.
			if err := e.b.Wait(0, -1); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	e.b.Close()
	select {
	case err := <-done:
		if !errors.Is(err, link.ErrClosed) {
			t.Errorf("Wait ended by Close returned %v, want link.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Close did not end a blocked Wait")
	}
}

func testClosedRefuses(t *testing.T, e *env) {
	// Frames queued for b when it closes must be released by Close.
	e.send(t, e.a, e.b, 0, seqRange(0, 4), func(uint32) int { return 64 })
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.b.Wait(0, time.Second); !errors.Is(err, link.ErrClosed) {
		t.Errorf("Wait after Close = %v, want link.ErrClosed", err)
	}
	batch := pkt.NewBatch(4)
	if _, err := e.b.Recv(0, batch); !errors.Is(err, link.ErrClosed) {
		t.Errorf("Recv after Close = %v, want link.ErrClosed", err)
	}
	batch.ReleaseAll()
	batch.Add(e.frame(t, e.b, e.a, 1, 64))
	if _, err := e.b.Send(0, batch); !errors.Is(err, link.ErrClosed) {
		t.Errorf("Send after Close = %v, want link.ErrClosed", err)
	}
	if batch.Len() != 0 {
		t.Errorf("Send after Close left %d frames in the batch; it must still take them", batch.Len())
	}
	e.b.Close() // idempotent: must not panic
	e.b.Wake(0) // Wake on a closed device must not panic
	_ = e.b.Stats()
	if e.pool.Available() != e.pool.Count() {
		// a is still open: b's Close must already have let go of b's frames
		t.Errorf("%d frames still held after the receiving end closed", e.pool.Count()-e.pool.Available())
	}
}

func testBadQueue(t *testing.T, e *env) {
	q := e.a.Caps().Queues
	for _, bad := range []int{-1, q, q + 100} {
		batch := pkt.NewBatch(1)
		batch.Add(e.frame(t, e.a, e.b, 0, 64))
		if _, err := e.a.Send(bad, batch); err == nil {
			t.Errorf("Send on queue %d succeeded", bad)
		}
		if batch.Len() != 0 {
			t.Errorf("Send on bad queue %d left the frame in the batch", bad)
			batch.ReleaseAll()
		}
		if _, err := e.a.Recv(bad, batch); err == nil {
			t.Errorf("Recv on queue %d succeeded", bad)
		}
		if err := e.a.Wait(bad, time.Millisecond); err == nil {
			t.Errorf("Wait on queue %d succeeded", bad)
		}
		e.a.Wake(bad) // must not panic
	}
}

func testStream(t *testing.T, e *env) {
	const total = 3000
	maxLen := e.mtuFrameLen()
	var wg sync.WaitGroup
	// The receiver owns b's queue 0 from its own goroutine, as a stack would.
	var got []received
	var recvErr error
	wg.Go(func() {
		got, recvErr = e.collectErr(e.b, total)
	})
	batch := pkt.NewBatch(32)
	next := uint32(0)
	for next < total {
		for !batch.Full() && next < total {
			buf := e.pool.Get()
			if buf == nil {
				break // receiver still holds them: back off
			}
			fill(buf.Append(sizeFor(next, maxLen)), e.a.Caps().HardwareAddr, e.b.Caps().HardwareAddr, next)
			batch.Add(buf)
			next++
		}
		if batch.Len() == 0 {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if _, err := e.a.Send(0, batch); err != nil {
			t.Errorf("Send: %v", err)
			batch.ReleaseAll()
			break
		}
	}
	wg.Wait()
	if recvErr != nil {
		t.Fatal(recvErr)
	}
	checkInOrder(t, got, seqRange(0, total), e.opts.MayDrop)
}

func testEveryQueue(t *testing.T, e *env) {
	queues := min(e.a.Caps().Queues, e.b.Caps().Queues)
	for q := range queues {
		seq := uint32(5000 + q)
		e.send(t, e.a, e.b, q, []uint32{seq}, func(uint32) int { return 64 })
		// A device may steer a frame to any receive queue; collect polls them all.
		checkInOrder(t, e.collect(t, e.b, 1), []uint32{seq}, e.opts.MayDrop)
	}
}

func testTxStats(t *testing.T, e *env) {
	before := e.a.Stats()
	sizes := func(s uint32) int { return 60 + int(s) }
	n := e.send(t, e.a, e.b, 0, seqRange(0, 5), sizes)
	after := e.a.Stats()
	sent, dropped := after.TxFrames-before.TxFrames, after.TxDropped-before.TxDropped
	if sent != uint64(n) {
		t.Errorf("TxFrames grew by %d, Send reported %d", sent, n)
	}
	if !e.opts.MayDrop && (sent != 5 || dropped != 0) {
		t.Errorf("TxFrames +%d, TxDropped +%d for 5 frames on an idle pair", sent, dropped)
	}
	if n == 5 {
		if got := after.TxBytes - before.TxBytes; got != 60+61+62+63+64 {
			t.Errorf("TxBytes grew by %d, want %d", got, 60+61+62+63+64)
		}
	}
	e.collect(t, e.b, n)
}
