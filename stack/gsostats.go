package stack

import (
	"errors"
	"sync/atomic"

	"offload/gso"
	"offload/pkt"
)

// GSOStats are a NIC's transmit segmentation counters, summed over its queues.
// All zero when segmentation is off on the NIC (NIC.NoGSO, Options.NoGSO).
type GSOStats struct {
	// SuperSegments is the TCP super-segments cut in software (the device
	// does not segment) and Frames the MSS-sized frames they were cut into.
	SuperSegments uint64
	Frames        uint64
	// Bypassed is the super-segments handed whole to a device that segments
	// them itself (TSO).
	Bypassed uint64
	// NoBuffers is the super-segments dropped because the transmit pool could
	// not hold all their frames; Refused those gso would not cut (malformed,
	// or more segments than it allows). TCP's retransmission recovers both.
	NoBuffers uint64
	Refused   uint64
}

// AvgFramesPerSuperSegment returns Frames / SuperSegments (0 when none).
func (s GSOStats) AvgFramesPerSuperSegment() float64 {
	if s.SuperSegments == 0 {
		return 0
	}
	return float64(s.Frames) / float64(s.SuperSegments)
}

// gsoCounters are one queue's GSOStats: written by its owner, read by
// GSOStats from any goroutine. One atomic add per super-segment, not per frame.
type gsoCounters struct {
	superSegments, frames, bypassed, noBuffers, refused atomic.Uint64
}

func (c *gsoCounters) add(t *GSOStats) {
	t.SuperSegments += c.superSegments.Load()
	t.Frames += c.frames.Load()
	t.Bypassed += c.bypassed.Load()
	t.NoBuffers += c.noBuffers.Load()
	t.Refused += c.refused.Load()
}

// GSOStats returns the transmit segmentation counters of NIC i, summed over
// its queues: super-segments cut in software, frames out
// (AvgFramesPerSuperSegment), and super-segments the device's TSO took whole.
func (s *Stack) GSOStats(i int) GSOStats {
	var t GSOStats
	for _, q := range s.nics[i].queues {
		q.gsoSt.add(&t)
	}
	return t
}

// newSegmenter returns the queue's software segmenter, or nil when the NIC's
// device segments (or segmentation is off). Its frames come from the NIC's
// MTU-sized transmit pool, started at the device's headroom: they leave with
// their IP and Ethernet headers already in place. Checksums are filled in
// software unless the device fills them.
func newSegmenter(n *nic) (*gso.Segmenter, *pkt.Batch, error) {
	if !n.swGSO {
		return nil, nil, nil
	}
	// TCP never lowers its MSS below minMSS-sized segments (SetPathMSS), so
	// 64 KiB never needs more than this many.
	maxSegs := maxIPv4Packet/minSegmentPayload + 1
	seg, err := gso.New(gso.Config{
		L2:              n.caps.L2,
		Pool:            n.pool,
		ChecksumOffload: n.caps.TxChecksumOffload,
		MaxSegments:     maxSegs,
		ResetHeadroom:   true,
		Headroom:        n.caps.Headroom,
	})
	if err != nil {
		return nil, nil, err
	}
	return seg, pkt.NewBatch(maxSegs), nil
}

// minSegmentPayload is the smallest per-segment payload TCP may use: its
// minimum MSS of 64 (tcp.minMSS) less 12 bytes of timestamps.
const minSegmentPayload = 64 - 12

// sendSuper cuts the super-segment b into frames and queues them for the
// device's next Send, in one batch: the transmit batch if they fit beside
// what it holds, else after sending that, else (a super-segment of more
// frames than a batch, at a tiny MSS) in a batch of their own sent at once.
// b is released in every case.
func (q *queue) sendSuper(b *pkt.Buffer) {
	defer b.Release()
	k, err := q.gso.Segment(b, q.tx)
	if errors.Is(err, gso.ErrNoRoom) {
		q.flushTx()
		k, err = q.gso.Segment(b, q.tx)
		if errors.Is(err, gso.ErrNoRoom) {
			k, err = q.gso.Segment(b, q.gsoBig)
			if err == nil {
				q.n.dev.Send(q.id, q.gsoBig)
			}
		}
	}
	switch {
	case err == nil:
		q.gsoSt.superSegments.Add(1)
		q.gsoSt.frames.Add(uint64(k))
	case errors.Is(err, gso.ErrNoBuffers):
		q.gsoSt.noBuffers.Add(1)
		q.n.s.stats.TxNoBuffer.Add(1)
	default:
		q.gsoSt.refused.Add(1)
		q.n.s.stats.TxOutputErrors.Add(1)
	}
}
