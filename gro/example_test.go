package gro_test

import (
	"fmt"
	"net/netip"

	"offload/clock"
	"offload/gro"
	"offload/pkt"
	"offload/wire"
)

// owner stands for the stack's device-queue owner: it is the Handler, and for
// each aggregate it would run iface.Input on a.Frame(0) and then hand TCP one
// segment whose payload is a.Payloads(...) and whose segment count is a.Segs.
type owner struct {
	payloads [][]byte // reused: cap MaxSegmentsLimit, so no allocation
}

func (o *owner) Deliver(a *gro.Aggregate) {
	defer a.Release() // the frames go back to the device's pool
	if a.Kind != gro.KindTCP {
		fmt.Println("other frame: to iface as usual")
		return
	}
	o.payloads = a.Payloads(o.payloads[:0])
	fmt.Printf("TCP seq %d: %d segments of %d bytes, %d bytes in %d slices, window %d\n",
		a.TCP.Seq, a.Segs, a.SegSize, a.PayloadLen, len(o.payloads), a.TCP.Window)
}

func frame(seq uint32, n int, id uint16) *pkt.Buffer {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	b := pkt.NewBuffer(2048, 64)
	f := b.Append(14 + 20 + 20 + n)
	wire.EmitEthernet(f, &wire.EthernetFields{Dst: wire.MAC{2, 0, 0, 0, 0, 2}, Src: wire.MAC{2, 0, 0, 0, 0, 1}, EtherType: wire.EtherTypeIPv4})
	wire.EmitIPv4(f[14:], &wire.IPv4Fields{ID: id, DontFragment: true, TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: dst, PayloadLen: 20 + n})
	wire.EmitTCP(f[34:], &wire.TCPFields{SrcPort: 5001, DstPort: 80, Seq: wire.Seq(seq), Ack: 1, Flags: wire.FlagACK, Window: 100 + uint16(id)})
	wire.SetTCPChecksum(f[34:], src, dst)
	return b
}

func Example() {
	t, _ := gro.New(gro.Config{L2: true}, &owner{payloads: make([][]byte, 0, gro.MaxSegmentsLimit)})
	now := clock.Instant(0)
	// One receive round: Recv a batch, Input every frame, FlushAll at the end.
	for i := range 4 {
		t.Input(now, frame(uint32(1000+i*1448), 1448, uint16(i)))
	}
	t.Input(now, frame(1000+4*1448, 0, 4)) // a pure ACK: the held data goes first
	t.FlushAll()
	st := t.Stats()
	fmt.Printf("%d segments in, %d aggregates out, %.1f per aggregate\n", st.SegmentsIn, st.AggregatesOut, st.AvgSegmentsPerAggregate())
	// Output:
	// TCP seq 1000: 4 segments of 1448 bytes, 5792 bytes in 4 slices, window 103
	// TCP seq 6792: 1 segments of 0 bytes, 0 bytes in 1 slices, window 104
	// 5 segments in, 2 aggregates out, 2.5 per aggregate
}
