//go:build linux

package stacktest_test

import (
	"net/netip"
	"testing"

	"offload"
)

// BenchmarkTCPBulkSegmentation sends one TCP stream from the offload stack to
// the Linux kernel over AF_XDP (native and generic; neither segments), with
// the stack's software segmentation on (TCP builds 64 KiB super-segments that
// the owner cuts just before the device) and off (TCP emits each MSS), in one
// run, and reports the mean Gbit/s of each over b.N runs and the on/off ratio.
//
//	go test ./link/afxdp/stacktest -run '^$' -bench TCPBulkSegmentation -benchtime 1x
func BenchmarkTCPBulkSegmentation(b *testing.B) {
	const size = 128 << 20
	got, frames, dropped := map[string]float64{}, map[string]float64{}, map[string]uint64{}
	links := bulkLinks()[:2] // the AF_XDP ones
	for i := 0; i < b.N; i++ {
		for j, l := range links {
			for _, off := range []bool{false, true} {
				dev, k := l.open(b)
				st, err := offload.New(offload.Options{Link: dev, Addr: netip.PrefixFrom(ourAddr, 24), NoGSO: off})
				if err != nil {
					dev.Close()
					b.Fatal(err)
				}
				el, err := bulk(st, k, true, size, 7300+2*j+map[bool]int{false: 0, true: 1}[off])
				g := st.Stack().GSOStats(0)
				ds := dev.Stats()
				st.Close()
				if err != nil {
					b.Fatalf("%s (NoGSO %v): %v (device %+v)", l.name, off, err, dev.Stats())
				}
				name := l.name + map[bool]string{false: "-gso-on", true: "-gso-off"}[off]
				// The mean over b.N runs: one run on a shared machine says little.
				got[name] += float64(size*8) / el.Seconds() / 1e9 / float64(b.N)
				if !off {
					frames[l.name] += g.AvgFramesPerSuperSegment() / float64(b.N)
				}
				// Frames the device could not queue cost retransmissions.
				dropped[name] += ds.TxDropped
			}
		}
	}
	for _, l := range links {
		on, off := got[l.name+"-gso-on"], got[l.name+"-gso-off"]
		b.ReportMetric(on, "Gbit/s-up-"+l.name+"-gso-on")
		b.ReportMetric(off, "Gbit/s-up-"+l.name+"-gso-off")
		b.ReportMetric(frames[l.name], "frames/super-"+l.name)
		b.ReportMetric(float64(dropped[l.name+"-gso-on"]+dropped[l.name+"-gso-off"]), "tx-dropped-"+l.name)
		if off > 0 {
			b.ReportMetric(on/off, "x-up-"+l.name+"-on/off")
		}
	}
}
