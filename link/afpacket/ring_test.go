//go:build linux

package afpacket

import (
	"encoding/binary"
	"testing"

	"offload/internal/sys"
	"offload/pkt"
)

// fakeRing is a Device with a ring in ordinary memory and no socket, so the
// ring walker can be fed blocks written by the test instead of the kernel.
func fakeRing(bsize, bnum int) *Device {
	return &Device{qs: []*queue{{fd: -1, ring: make([]byte, bsize*bnum), pool: pkt.NewPool(8, rxHeadroom+maxFrame, rxHeadroom)}}, bsize: bsize, bnum: bnum}
}

// putFrame writes one tpacket3 frame (header, virtio-net header, frame) at off
// and returns the offset after it, 16-byte aligned.
func putFrame(b []byte, off int, frame []byte, status uint32) int {
	ne := binary.NativeEndian
	mac := pktHdrLen + vnetLen + 6 // as the kernel does: aligned header, then the virtio-net header
	ne.PutUint32(b[off+pktSnaplen:], uint32(len(frame)))
	ne.PutUint32(b[off+pktLen:], uint32(len(frame)))
	ne.PutUint32(b[off+pktStatus:], status)
	ne.PutUint16(b[off+pktMac:], uint16(mac))
	copy(b[off+mac:], frame)
	next := (mac + len(frame) + 15) &^ 15
	ne.PutUint32(b[off+pktNext:], uint32(next))
	return off + next
}

func readyBlock(b []byte, n int) {
	ne := binary.NativeEndian
	ne.PutUint32(b[blkNumPkts:], uint32(n))
	ne.PutUint32(b[blkFirstPkt:], uint32(blkHeaderLen))
	ne.PutUint32(b[blkStatus:], sys.TP_STATUS_USER)
}

func TestRingWalkerTakesFramesInOrderAndReturnsBlocks(t *testing.T) {
	d := fakeRing(4096, 2)
	b := d.block(d.qs[0], 0)
	off := blkHeaderLen
	for i := range 3 {
		f := make([]byte, 60+i)
		f[0] = byte(i)
		off = putFrame(b, off, f, 0)
	}
	readyBlock(b, 3)
	batch := pkt.NewBatch(2) // smaller than the block: the walker must keep its place
	if n, _ := d.Recv(0, batch); n != 2 || batch.At(0).Bytes()[0] != 0 || batch.At(1).Bytes()[0] != 1 {
		t.Fatalf("first Recv: %d", n)
	}
	if binary.NativeEndian.Uint32(b[blkStatus:]) != sys.TP_STATUS_USER {
		t.Fatal("block handed back before all its frames were taken")
	}
	batch.ReleaseAll()
	if n, _ := d.Recv(0, batch); n != 1 || batch.At(0).Len() != 62 {
		t.Fatalf("second Recv: %d", n)
	}
	batch.ReleaseAll()
	if binary.NativeEndian.Uint32(b[blkStatus:]) != sys.TP_STATUS_KERNEL || d.qs[0].cur != 1 {
		t.Fatal("finished block not handed back to the kernel")
	}
}

func TestRingWalkerDropsCutFramesAndBadOffsets(t *testing.T) {
	d := fakeRing(4096, 2)
	b := d.block(d.qs[0], 0)
	off := putFrame(b, blkHeaderLen, make([]byte, 100), 0)
	binary.NativeEndian.PutUint32(b[blkHeaderLen+pktLen:], 200) // snaplen < wire length: cut
	putFrame(b, off, make([]byte, 60), 0)
	binary.NativeEndian.PutUint32(b[off+pktNext:], 1<<20) // points outside the block
	readyBlock(b, 3)
	batch := pkt.NewBatch(8)
	n, err := d.Recv(0, batch)
	if err != nil || n != 1 {
		t.Fatalf("Recv = %d, %v; want only the intact second frame", n, err)
	}
	batch.ReleaseAll()
	if s := d.stats.Snapshot(); s.RxDropped != 2 {
		t.Fatalf("dropped %d, want 2 (the cut frame and the unreachable third)", s.RxDropped)
	}
	if d.qs[0].pool.Available() != d.qs[0].pool.Count() {
		t.Fatal("buffers leaked")
	}
}

// FuzzRingBlock: whatever a block holds, Recv neither panics nor returns a
// frame outside the block, and every buffer comes back.
func FuzzRingBlock(f *testing.F) {
	seed := make([]byte, 4096)
	off := putFrame(seed, blkHeaderLen, make([]byte, 60), sys.TP_STATUS_VLAN_VALID)
	putFrame(seed, off, make([]byte, 1000), sys.TP_STATUS_CSUM_VALID)
	readyBlock(seed, 2)
	f.Add(seed[:1024])
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fakeRing(4096, 2)
		b := d.block(d.qs[0], 0)
		copy(b, data)
		binary.NativeEndian.PutUint32(b[blkStatus:], sys.TP_STATUS_USER)
		batch := pkt.NewBatch(16)
		for range 3 {
			d.Recv(0, batch)
			for _, buf := range batch.Buffers() {
				if buf.Len() > 4096+4 || buf.Len() < 14 {
					t.Fatalf("frame of %d bytes from a 4096-byte block", buf.Len())
				}
			}
			batch.ReleaseAll()
		}
		if d.qs[0].pool.Available() != d.qs[0].pool.Count() {
			t.Fatal("buffers leaked")
		}
	})
}

// fakeSlots is a Device with a TPACKET_V2 frame ring in ordinary memory and
// no socket (a TP_STATUS_COPY slot then finds nothing to read).
func fakeSlots(n int) *Device {
	return &Device{qs: []*queue{{fd: -1, ring: make([]byte, 2048*n), pool: pkt.NewPool(8, rxHeadroom+maxFrame, rxHeadroom)}}, fsize: 2048, fnum: n}
}

// putSlot writes one tpacket2 frame into slot s as the kernel does: header,
// virtio-net header, frame; snap bytes of it are there, wire long on the wire.
func putSlot(s []byte, frame []byte, snap, wire int, status uint32) {
	ne := binary.NativeEndian
	mac := slotHdrLen + 16 + vnetLen
	ne.PutUint32(s[slotSnaplen:], uint32(snap))
	ne.PutUint32(s[slotLen:], uint32(wire))
	ne.PutUint16(s[slotMac:], uint16(mac))
	copy(s[mac:mac+snap], frame)
	ne.PutUint32(s[slotStatus:], status|sys.TP_STATUS_USER)
}

func TestSlotRingTakesFramesInOrderAndHandsEachSlotBack(t *testing.T) {
	d := fakeSlots(4)
	for i := range 3 {
		f := make([]byte, 60+i)
		f[0] = byte(i)
		putSlot(d.slot(d.qs[0], i), f, len(f), len(f), 0)
	}
	batch := pkt.NewBatch(2)
	if n, _ := d.Recv(0, batch); n != 2 || batch.At(0).Bytes()[0] != 0 || batch.At(1).Bytes()[0] != 1 {
		t.Fatalf("first Recv: %d", n)
	}
	batch.ReleaseAll()
	if !d.rxReady(d.qs[0]) {
		t.Fatal("the third frame is not reported ready")
	}
	if n, _ := d.Recv(0, batch); n != 1 || batch.At(0).Len() != 62 {
		t.Fatalf("second Recv: %d", n)
	}
	batch.ReleaseAll()
	for i := range 3 {
		if binary.NativeEndian.Uint32(d.slot(d.qs[0], i)[slotStatus:]) != sys.TP_STATUS_KERNEL {
			t.Fatalf("slot %d not handed back to the kernel", i)
		}
	}
	if d.rxReady(d.qs[0]) || d.qs[0].cur != 3 {
		t.Fatalf("ready %v at slot %d after every frame was taken", d.rxReady(d.qs[0]), d.qs[0].cur)
	}
	// The ring wraps: slot 3, then slot 0 again.
	putSlot(d.slot(d.qs[0], 3), make([]byte, 64), 64, 64, 0)
	putSlot(d.slot(d.qs[0], 0), make([]byte, 65), 65, 65, 0)
	if n, _ := d.Recv(0, batch); n != 2 || batch.At(1).Len() != 65 || d.qs[0].cur != 1 {
		t.Fatalf("across the wrap: %d frames, at slot %d", n, d.qs[0].cur)
	}
	batch.ReleaseAll()
}

// A frame cut to its slot without a whole copy queued (the copy queue was
// full), or a copy that cannot be read, is dropped and counted; the slot goes
// back and the frames after it still arrive.
func TestSlotRingDropsCutFramesAndLostCopies(t *testing.T) {
	d := fakeSlots(4)
	putSlot(d.slot(d.qs[0], 0), make([]byte, 100), 100, 3000, 0)                  // cut, no copy
	putSlot(d.slot(d.qs[0], 1), make([]byte, 100), 100, 3000, sys.TP_STATUS_COPY) // copy not readable
	putSlot(d.slot(d.qs[0], 2), make([]byte, 70), 70, 70, 0)
	batch := pkt.NewBatch(8)
	if n, _ := d.Recv(0, batch); n != 1 || batch.At(0).Len() != 70 {
		t.Fatalf("Recv: %d frames", n)
	}
	batch.ReleaseAll()
	if got := d.stats.RxDropped.Load(); got != 2 {
		t.Fatalf("%d drops counted, want 2", got)
	}
	for i := range 3 {
		if binary.NativeEndian.Uint32(d.slot(d.qs[0], i)[slotStatus:]) != sys.TP_STATUS_KERNEL {
			t.Fatalf("slot %d not handed back", i)
		}
	}
}

func TestSlotSizeFitsTheMTUInAPowerOfTwo(t *testing.T) {
	for _, c := range []struct{ mtu, want int }{{1500, 2048}, {1280, 2048}, {4000, 4096}, {9000, 16384}, {65535, 65536}} {
		if got := slotSize(c.mtu); got != c.want {
			t.Errorf("MTU %d: slot %d, want %d", c.mtu, got, c.want)
		}
	}
}
