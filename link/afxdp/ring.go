//go:build linux

package afxdp

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"offload/internal/sys"
)

// ring is one of an AF_XDP socket's four single-producer/single-consumer
// rings, mapped from the kernel. For the fill and TX rings we are the
// producer, for the RX and completion rings the consumer. The index we own is
// cached locally and published once per batch; the other side's index is
// re-read only when the cached view says the ring is full (or empty).
type ring struct {
	mem   []byte
	prod  *uint32 // written by the producer
	cons  *uint32 // written by the consumer
	flags *uint32 // written by the kernel: XDP_RING_NEED_WAKEUP
	descs unsafe.Pointer
	mask  uint32
	size  uint32

	cachedProd uint32
	cachedCons uint32
}

const (
	addrSize = 8                                 // fill and completion slots: a UMEM address
	descSize = int(unsafe.Sizeof(sys.XDPDesc{})) // RX and TX slots
)

func init() {
	if descSize != 16 {
		panic("afxdp: struct xdp_desc is not 16 bytes")
	}
}

// mapRing maps a ring of size slots of elem bytes at the page offset pgoff.
func mapRing(fd int, off sys.XDPRingOffset, pgoff int64, size uint32, elem int) (ring, error) {
	length := int(off.Desc) + int(size)*elem
	mem, err := sys.XDPMmapRing(fd, pgoff, length)
	if err != nil {
		return ring{}, err
	}
	for _, o := range []uint64{off.Producer, off.Consumer, off.Flags} {
		if o%4 != 0 || o+4 > uint64(len(mem)) {
			sys.Munmap(mem)
			return ring{}, fmt.Errorf("afxdp: ring offset %d outside a mapping of %d bytes", o, len(mem))
		}
	}
	r := ring{
		mem:   mem,
		prod:  (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons:  (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags: (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		descs: unsafe.Pointer(&mem[off.Desc]),
		mask:  size - 1,
		size:  size,
	}
	r.cachedProd = atomic.LoadUint32(r.prod)
	r.cachedCons = atomic.LoadUint32(r.cons)
	return r, nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		sys.Munmap(r.mem)
		r.mem = nil
	}
}

// needWakeup reports whether the kernel asked for a syscall to go on.
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&sys.XDP_RING_NEED_WAKEUP != 0 }

// Producer side (fill, TX).

// free returns how many slots we may fill, re-reading the consumer index only
// when the cached view has fewer than want.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n >= want {
		return n
	}
	r.cachedCons = atomic.LoadUint32(r.cons) // acquire: slots the kernel is done with
	return r.size - (r.cachedProd - r.cachedCons)
}

// pending reports how many produced slots the consumer has not taken yet.
func (r *ring) pending() uint32 {
	r.cachedCons = atomic.LoadUint32(r.cons)
	return r.cachedProd - r.cachedCons
}

func (r *ring) putAddr(a uint64) {
	*(*uint64)(unsafe.Add(r.descs, uintptr(r.cachedProd&r.mask)*addrSize)) = a
	r.cachedProd++
}

func (r *ring) putDesc(addr uint64, n uint32, opts uint32) {
	d := (*sys.XDPDesc)(unsafe.Add(r.descs, uintptr(r.cachedProd&r.mask)*uintptr(descSize)))
	d.Addr, d.Len, d.Options = addr, n, opts
	r.cachedProd++
}

// submit publishes everything produced since the last submit (release: the
// slots' contents are written before the kernel sees the new index).
func (r *ring) submit() {
	if atomic.LoadUint32(r.prod) != r.cachedProd {
		atomic.StoreUint32(r.prod, r.cachedProd)
	}
}

// Consumer side (RX, completion).

// avail returns how many slots are ready to read (acquire).
func (r *ring) avail() uint32 {
	if n := r.cachedProd - r.cachedCons; n > 0 {
		return n
	}
	r.cachedProd = atomic.LoadUint32(r.prod)
	return r.cachedProd - r.cachedCons
}

func (r *ring) addrAt(i uint32) uint64 {
	return *(*uint64)(unsafe.Add(r.descs, uintptr((r.cachedCons+i)&r.mask)*addrSize))
}

func (r *ring) descAt(i uint32) sys.XDPDesc {
	return *(*sys.XDPDesc)(unsafe.Add(r.descs, uintptr((r.cachedCons+i)&r.mask)*uintptr(descSize)))
}

// release hands n read slots back to the kernel.
func (r *ring) release(n uint32) {
	if n == 0 {
		return
	}
	r.cachedCons += n
	atomic.StoreUint32(r.cons, r.cachedCons)
}
