//go:build linux

package interop

import (
	"sync/atomic"

	"offload/link"
	"offload/pkt"
)

// blackhole wraps our device so a test can make the peer vanish at once: once
// cut, every frame in either direction is dropped (released) without a trace,
// as if the cable were pulled.
type blackhole struct {
	link.Device
	cut     atomic.Bool
	scratch *pkt.Batch // receives frames that are then dropped; owner goroutine only
	dropped atomic.Uint64
}

func newBlackhole(d link.Device) *blackhole {
	return &blackhole{Device: d, scratch: pkt.NewBatch(64)}
}

func (b *blackhole) Recv(queue int, batch *pkt.Batch) (int, error) {
	if !b.cut.Load() {
		return b.Device.Recv(queue, batch)
	}
	n, err := b.Device.Recv(queue, b.scratch)
	b.scratch.ReleaseAll()
	b.dropped.Add(uint64(n))
	return 0, err
}

func (b *blackhole) Send(queue int, batch *pkt.Batch) (int, error) {
	if !b.cut.Load() {
		return b.Device.Send(queue, batch)
	}
	b.dropped.Add(uint64(batch.Len()))
	batch.ReleaseAll()
	return 0, nil
}
