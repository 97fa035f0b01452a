//go:build linux

package afxdp

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"offload/internal/sys"
	"offload/pkt"
)

// fakeRing is a ring in Go memory laid out like the kernel's: producer,
// consumer, flags, then the slots.
func fakeRing(size uint32, elem int) ring {
	mem := make([]byte, 64+int(size)*elem)
	return ring{
		mem:   nil, // not a mapping: unmap must not touch it
		prod:  (*uint32)(unsafe.Pointer(&mem[0])),
		cons:  (*uint32)(unsafe.Pointer(&mem[4])),
		flags: (*uint32)(unsafe.Pointer(&mem[8])),
		descs: unsafe.Pointer(&mem[64]),
		mask:  size - 1,
		size:  size,
	}
}

// fakeQueue is a receive queue over Go memory, its fill ring holding
// nothing (every chunk is "with the kernel").
func fakeQueue(frames uint32) *queue {
	half := frames / 2
	q := &queue{
		fd:    -1,
		umem:  make([]byte, int(frames)*chunkSize),
		rxEnd: uint64(half) * chunkSize,
		fill:  fakeRing(half, addrSize),
		comp:  fakeRing(half, addrSize),
		rx:    fakeRing(half, descSize),
		tx:    fakeRing(half, descSize),
		small: pkt.NewPool(8, rxHeadroom+1518, rxHeadroom),
		large: pkt.NewPool(2, rxHeadroom+maxLarge, rxHeadroom),
	}
	return q
}

// kernelWrites plays the kernel: it puts descriptors on the RX ring.
func kernelWrites(q *queue, descs []sys.XDPDesc) {
	p := *q.rx.prod
	for _, d := range descs {
		*(*sys.XDPDesc)(unsafe.Add(q.rx.descs, uintptr(p&q.rx.mask)*uintptr(descSize))) = d
		p++
	}
	*q.rx.prod = p
}

func TestMultiBufferFrameIsGatheredWhole(t *testing.T) {
	q := fakeQueue(64)
	// A 9000-byte frame in three descriptors, then a 60-byte one.
	parts := []int{3840, 3840, 1320}
	var descs []sys.XDPDesc
	off := 0
	for i, n := range parts {
		addr := uint64(i)*chunkSize + 256
		for j := range n {
			q.umem[int(addr)+j] = byte(off + j)
		}
		off += n
		opts := uint32(sys.XDP_PKT_CONTD)
		if i == len(parts)-1 {
			opts = 0
		}
		descs = append(descs, sys.XDPDesc{Addr: addr, Len: uint32(n), Options: opts})
	}
	descs = append(descs, sys.XDPDesc{Addr: 5*chunkSize + 256, Len: 60})
	kernelWrites(q, descs)
	batch := pkt.NewBatch(8)
	if n := q.recv(batch); n != 2 {
		t.Fatalf("received %d frames, want 2", n)
	}
	f := batch.At(0).Bytes()
	if len(f) != 9000 {
		t.Fatalf("gathered %d bytes, want 9000", len(f))
	}
	for i, c := range f {
		if c != byte(i) {
			t.Fatalf("byte %d is %d", i, c)
		}
	}
	if batch.At(1).Len() != 60 {
		t.Fatalf("second frame %d bytes", batch.At(1).Len())
	}
	// Every chunk went back to the fill ring, and the RX ring is consumed.
	if got := q.fill.cachedProd; got != 4 || *q.rx.cons != 4 {
		t.Fatalf("fill ring got %d chunks, RX consumer %d; want 4 and 4", got, *q.rx.cons)
	}
	batch.ReleaseAll()
}

func TestFrameSplitAcrossRecvCallsArrivesWhole(t *testing.T) {
	q := fakeQueue(64)
	kernelWrites(q, []sys.XDPDesc{{Addr: 0, Len: 100, Options: sys.XDP_PKT_CONTD}})
	batch := pkt.NewBatch(4)
	if n := q.recv(batch); n != 0 {
		t.Fatalf("half a frame delivered")
	}
	kernelWrites(q, []sys.XDPDesc{{Addr: chunkSize, Len: 50}})
	if n := q.recv(batch); n != 1 || batch.At(0).Len() != 150 {
		t.Fatalf("got %d frames", n)
	}
	batch.ReleaseAll()
}

func FuzzRxDescriptors(f *testing.F) {
	seed := func(descs ...sys.XDPDesc) []byte {
		b := make([]byte, 0, 16*len(descs))
		for _, d := range descs {
			b = binary.LittleEndian.AppendUint64(b, d.Addr)
			b = binary.LittleEndian.AppendUint32(b, d.Len)
			b = binary.LittleEndian.AppendUint32(b, d.Options)
		}
		return b
	}
	f.Add(seed(sys.XDPDesc{Addr: 256, Len: 60}))
	f.Add(seed(sys.XDPDesc{Addr: 256, Len: 3840, Options: 1}, sys.XDPDesc{Addr: 4096 + 256, Len: 100}))
	f.Add(seed(sys.XDPDesc{Addr: 1 << 40, Len: 60}, sys.XDPDesc{Addr: 100, Len: 4090}))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := fakeQueue(64)
		var descs []sys.XDPDesc
		for len(b) >= 16 && len(descs) < 32 {
			descs = append(descs, sys.XDPDesc{
				Addr:    binary.LittleEndian.Uint64(b) % (1 << 20), // mostly inside, sometimes past, the UMEM
				Len:     binary.LittleEndian.Uint32(b[8:]) % 9000,
				Options: binary.LittleEndian.Uint32(b[12:]),
			})
			b = b[16:]
		}
		kernelWrites(q, descs)
		batch := pkt.NewBatch(64)
		q.recv(batch)
		for _, buf := range batch.Buffers() {
			if buf.Len() > maxLarge {
				t.Fatalf("frame of %d bytes", buf.Len())
			}
		}
		batch.ReleaseAll()
		// Only chunk-aligned receive chunks ever go back to the kernel.
		for i := uint32(0); i < q.fill.cachedProd; i++ {
			a := *(*uint64)(unsafe.Add(q.fill.descs, uintptr(i&q.fill.mask)*addrSize))
			if a%chunkSize != 0 || a >= q.rxEnd {
				t.Fatalf("chunk %#x handed to the fill ring", a)
			}
		}
		if q.partial != nil {
			q.partial.Release()
		}
	})
}
