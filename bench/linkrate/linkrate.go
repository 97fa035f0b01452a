//go:build linux

// Package linkrate measures how many frames per second a link device
// receives and sends, and what each frame costs the thread that moves it:
// the packet-rate half of issue 6 (AF_XDP against AF_PACKET and TAP), used
// by `offload bench` (its "Link packet rates" table) and by link/afxdp's
// BenchmarkLinkRates.
//
// Every measurement moves minimum-size UDP frames (Frame) in batches of 64
// through one queue. Receive counts what the device under test takes in
// while a generator device on the far end of its link sends as fast as it
// can; Transmit counts what the device under test sends to a kernel that
// drops it (the frames are addressed to the far end). Both report
// wall-clock frames per second and the measuring thread's CPU time per
// frame (including the kernel work its system calls do). On a veth the
// generator's transmit also runs the receiving side's kernel work on the
// generator's CPU, so on a small machine the generator bounds the
// wall-clock receive rate; CPU per frame is the fairer comparison of the
// receive paths.
//
// Links lists the links compared, each able to build its own network
// namespaces (internal/netns) and remove them again.
package linkrate

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"offload/internal/sys"
	"offload/link"
	"offload/pkt"
)

// batchSize is the frames handed to Send or taken by Recv at once.
const batchSize = 64

// Rate is one measured direction.
type Rate struct {
	Frames      int64         // frames received or sent while measuring
	Elapsed     time.Duration // wall-clock time measured
	CPUPerFrame time.Duration // the measuring thread's CPU time per frame
}

// PPS returns frames per second of wall-clock time (0 when nothing was measured).
func (r Rate) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Frames) / r.Elapsed.Seconds()
}

// warmup is how long Receive lets the generator run before counting, so
// rings, caches and the kernel's paths are warm; at most half of d.
func warmup(d time.Duration) time.Duration { return min(d/2, 100*time.Millisecond) }

// Receive measures dut's queue 0 receiving for d while gen sends frame in a
// loop (see Blast). It locks the calling goroutine to its thread for the
// CPU accounting. An error from dut ends the measurement; gen's (see
// Blast) is returned once d has passed.
func Receive(dut, gen link.Device, frame []byte, d time.Duration) (Rate, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var genErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		genErr = Blast(gen, frame, stop)
	}()
	r, err := receive(dut, d)
	close(stop)
	wg.Wait()
	if err == nil {
		err = genErr
	}
	return r, err
}

func receive(dut link.Device, d time.Duration) (Rate, error) {
	batch := pkt.NewBatch(batchSize)
	defer batch.ReleaseAll()
	// recv takes one batch, or waits a little when there is none.
	recv := func() (int, error) {
		n, err := dut.Recv(0, batch)
		batch.ReleaseAll()
		if err == nil && n == 0 {
			err = dut.Wait(0, time.Millisecond)
		}
		return n, err
	}
	for end := time.Now().Add(warmup(d)); time.Now().Before(end); {
		if _, err := recv(); err != nil {
			return Rate{}, err
		}
	}
	var frames int64
	start, cpu := time.Now(), sys.ThreadCPUTime()
	for time.Since(start) < d {
		n, err := recv()
		if err != nil {
			return Rate{}, err
		}
		frames += int64(n)
	}
	return newRate(frames, time.Since(start), sys.ThreadCPUTime()-cpu), nil
}

// Transmit measures dut's queue 0 sending frame in batches of 64 for d. It
// locks the calling goroutine to its thread for the CPU accounting. A
// batch the kernel refuses whole (a full device queue: ENOBUFS) is a drop,
// as the link contract has it, not a failure; Transmit fails only when the
// device is closed or nothing at all went out.
func Transmit(dut link.Device, frame []byte, d time.Duration) (Rate, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fill := newFiller(dut, frame)
	var frames int64
	var lastErr error
	start, cpu := time.Now(), sys.ThreadCPUTime()
	for time.Since(start) < d {
		n, err := dut.Send(0, fill())
		if errors.Is(err, link.ErrClosed) {
			return Rate{}, err
		}
		if err != nil {
			lastErr = err
		}
		frames += int64(n)
	}
	r := newRate(frames, time.Since(start), sys.ThreadCPUTime()-cpu)
	if frames == 0 {
		return r, fmt.Errorf("nothing sent in %v: %w", d, cmp.Or(lastErr, errNothing))
	}
	return r, nil
}

// errNothing says a device neither sent nor reported why not.
var errNothing = errors.New("no error reported")

// Blast sends frame from dev's queue 0 in batches of 64 until stop closes.
// Like Transmit it rides over refused batches; it fails when dev is closed
// or, at stop, when nothing at all went out.
func Blast(dev link.Device, frame []byte, stop <-chan struct{}) error {
	fill := newFiller(dev, frame)
	var sent int64
	var lastErr error
	for {
		select {
		case <-stop:
			if sent == 0 {
				return fmt.Errorf("generator sent nothing: %w", cmp.Or(lastErr, errNothing))
			}
			return nil
		default:
		}
		n, err := dev.Send(0, fill())
		if errors.Is(err, link.ErrClosed) {
			return err
		}
		if err != nil {
			lastErr = err
		}
		sent += int64(n)
	}
}

// newFiller returns a function that fills a batch with copies of frame
// from a pool of its own, laid out with dev's headroom. Send gives every
// buffer back to the pool (sent or dropped), so the pool only runs short
// while the device still holds buffers in flight; the batch then goes out
// short, never empty for long.
func newFiller(dev link.Device, frame []byte) func() *pkt.Batch {
	h := dev.Caps().Headroom
	pool := pkt.NewPool(4*batchSize, h+len(frame), h)
	batch := pkt.NewBatch(batchSize)
	return func() *pkt.Batch {
		for !batch.Full() {
			buf := pool.Get()
			if buf == nil {
				break
			}
			copy(buf.Append(len(frame)), frame)
			batch.Add(buf)
		}
		return batch
	}
}

func newRate(frames int64, el, cpu time.Duration) Rate {
	return Rate{Frames: frames, Elapsed: el, CPUPerFrame: cpu / time.Duration(max(frames, 1))}
}
