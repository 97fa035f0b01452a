//go:build linux

package tap_test

import (
	"testing"

	"offload/internal/netns/peer"
	"offload/link/tap"
	"offload/pkt"
)

func TestSuperFrameOfMaxGSOSizeIsWritten(t *testing.T) {
	_, d := openInHost(t, tap.Config{TSO: true})
	c := d.Caps()
	payload := make([]byte, c.MaxGSOSize-40)
	f := peer.TCP(c.HardwareAddr, d.PeerHardwareAddr(), ourAddr, kernelAddr.Addr(), peer.Segment{
		SrcPort: 1, DstPort: 2, Flags: peer.ACK, Payload: payload, PartialChecksum: true})
	buf := pkt.NewBuffer(len(f)+c.Headroom, c.Headroom)
	copy(buf.Append(len(f)), f)
	buf.Meta = pkt.Meta{Checksum: pkt.ChecksumPartial, CsumStart: 34, CsumOffset: 16, GSO: pkt.GSOTCPv4, GSOSize: 1448}
	batch := pkt.NewBatch(1)
	batch.Add(buf)
	if n, err := d.Send(0, batch); n != 1 || err != nil {
		t.Fatalf("Send of a %d-byte super-frame: %d, %v (stats %+v)", len(f), n, err, d.Stats())
	}
}
