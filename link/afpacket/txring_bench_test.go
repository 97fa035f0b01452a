//go:build linux

package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/pkt"
)

// txRing is a minimal TPACKET_V3 transmit ring, kept here only to measure it
// against sendmmsg (BenchmarkSendTxRing); the device does not use it.
type txRing struct {
	fd     int
	ring   []byte
	slot   int
	nslots int
	next   int
}

func openTxRing(tb testing.TB, p *netns.Pair) *txRing {
	const block, blocks, slot = 1 << 20, 4, 2048
	r := &txRing{slot: slot, nslots: block / slot * blocks}
	err := p.A.Run(func() error {
		idx, err := sys.LinkIndex(p.IfA)
		if err != nil {
			return err
		}
		if r.fd, err = sys.PacketSocket(); err != nil {
			return err
		}
		if err := sys.PacketSetInt(r.fd, sys.PACKET_VERSION, sys.TPACKET_V3); err != nil {
			return err
		}
		if err := sys.PacketSetInt(r.fd, sys.PACKET_VNET_HDR, 1); err != nil {
			return err
		}
		if err := sys.PacketSetTxRingV3(r.fd, block, blocks, slot); err != nil {
			return err
		}
		if r.ring, err = sys.Mmap(r.fd, block*blocks); err != nil {
			return err
		}
		sys.PacketSetInt(r.fd, sys.PACKET_QDISC_BYPASS, 1)
		return sys.PacketBind(r.fd, idx)
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sys.Munmap(r.ring); sys.Close(r.fd) })
	return r
}

// send copies the batch into free slots (virtio-net header first) and kicks once.
func (r *txRing) send(batch *pkt.Batch) {
	ne := binary.NativeEndian
	for _, buf := range batch.Buffers() {
		s := r.ring[r.next*r.slot : (r.next+1)*r.slot]
		st := (*uint32)(unsafe.Pointer(&s[sys.Tp3Status]))
		for atomic.LoadUint32(st) != sys.TP_STATUS_AVAILABLE {
			sys.PacketKick(r.fd) // slot still in flight: push the ring along
		}
		data := s[sys.Tp3HdrLen:]
		sys.MetaToVnetHdr(&buf.Meta, buf.Bytes(), data[:vnetLen])
		n := copy(data[vnetLen:], buf.Bytes())
		ne.PutUint32(s[sys.Tp3Len:], uint32(vnetLen+n))
		ne.PutUint32(s[sys.Tp3NextOffset:], 0)
		atomic.StoreUint32(st, sys.TP_STATUS_SEND_REQUEST)
		r.next = (r.next + 1) % r.nslots
	}
	batch.ReleaseAll()
	sys.PacketKick(r.fd)
}

// BenchmarkSendTxRing is BenchmarkSend's sendmmsg case done through a TX ring.
func BenchmarkSendTxRing(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(itoa(size), func(b *testing.B) {
			p := netns.NewPair(b, netns.PairConfig{Name: "afptx", DisableIPv6: true})
			d, err := Open(Config{Interface: p.IfA, Netns: p.A.Path()})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			r := openTxRing(b, p)
			pool := pkt.NewPool(128, 2048, 64)
			batch := pkt.NewBatch(64)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			start := time.Now()
			u0, s0 := sys.ProcessCPUTime()
			for i := 0; i < b.N; i += 64 {
				fillBatch(d, pool, batch, size)
				r.send(batch)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds()/1e6, "Mpps")
			u1, s1 := sys.ProcessCPUTime()
			b.ReportMetric(float64((u1-u0)+(s1-s0))/float64(b.N), "cpu-ns/frame")
		})
	}
}
