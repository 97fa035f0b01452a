//go:build linux

package afxdp_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"offload/bench/linkrate"
	"offload/internal/netns"
	"offload/internal/sys"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/pkt"
)

// benchFrame is a minimum-size UDP datagram to ourAddr (the stack's address,
// so the AF_XDP program steers it to the device).
func benchFrame(src, dst [6]byte) []byte {
	return linkrate.Frame(src, dst, netip.AddrPortFrom(kernelAddr.Addr(), 1000), netip.AddrPortFrom(ourAddr, 2000))
}

// BenchmarkLinkRates measures, in one run, frames received and sent per
// second (60-byte UDP frames, batches of 64, one queue) through AF_XDP in
// both modes, AF_PACKET and TAP, with the receiving or sending thread's CPU
// time per frame, and reports each against AF_PACKET (package
// bench/linkrate says how; `offload bench` shows the same as its "Link
// packet rates" table). Wall-clock rates on a 2-CPU machine are bounded by
// the generator (veth receive work runs on the sender's CPU); CPU per frame
// is the fairer comparison of the receive paths.
//
//	go test ./link/afxdp -run '^$' -bench LinkRates -benchtime 1x
func BenchmarkLinkRates(b *testing.B) {
	netns.Require(b)
	d := time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	rx := map[string]linkrate.Rate{}
	tx := map[string]linkrate.Rate{}
	links := linkrate.Links()
	for i := 0; i < b.N; i++ {
		for _, l := range links {
			r, t, err := linkrate.Measure(l, d)
			if err != nil {
				b.Fatal(err)
			}
			rx[l.Name], tx[l.Name] = r, t
		}
	}
	base := linkrate.Baseline
	for _, l := range links {
		r, t := rx[l.Name], tx[l.Name]
		b.ReportMetric(r.PPS()/1e6, "Mpps-rx-"+l.Name)
		b.ReportMetric(float64(r.CPUPerFrame.Nanoseconds()), "ns-cpu/rx-"+l.Name)
		b.ReportMetric(t.PPS()/1e6, "Mpps-tx-"+l.Name)
		b.ReportMetric(float64(t.CPUPerFrame.Nanoseconds()), "ns-cpu/tx-"+l.Name)
		if l.Name != base && rx[base].PPS() > 0 && tx[base].PPS() > 0 {
			b.ReportMetric(r.PPS()/rx[base].PPS(), "x-rx-pps-"+l.Name+"/"+base)
			b.ReportMetric(t.PPS()/tx[base].PPS(), "x-tx-pps-"+l.Name+"/"+base)
			b.ReportMetric(float64(rx[base].CPUPerFrame)/float64(max(r.CPUPerFrame, 1)), "x-rx-cpu-eff-"+l.Name+"/"+base)
		}
	}
}

// BenchmarkRecvInKernelGenerator measures how many frames per second a
// device's receive path takes in when an in-kernel generator (BPF_PROG_RUN
// in live-frames mode, see kernelGen) offers them as fast as the kernel can
// make them: AF_XDP (frames redirected into its XSKMAP, as the driver would)
// against AF_PACKET (frames passed to the kernel's stack, where the packet
// socket copies them). One queue, 60-byte frames, the receiver copying every
// frame into its own buffer; the generator takes the other CPU.
//
//	go test ./link/afxdp -run '^$' -bench RecvInKernelGenerator -benchtime 1x
func BenchmarkRecvInKernelGenerator(b *testing.B) {
	d := time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	got := map[string]linkrate.Rate{}
	offered := map[string]float64{}
	for i := 0; i < b.N; i++ {
		for _, kind := range []string{"afxdp", "afpacket"} {
			p := netns.NewPair(b, netns.PairConfig{Name: "xgen", DisableIPv6: true})
			var dut link.Device
			xsk := -1
			if kind == "afxdp" {
				// A deep RX ring (8192 slots) rides out the receiver losing its CPU
				// for a few ms on a shared 2-CPU machine, as AF_PACKET's 4 MiB ring does.
				x, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, RxFrames: 8192})
				if err != nil {
					b.Fatal(err)
				}
				dut, xsk = x, afxdp.XSKMapFD(x)
			} else {
				a, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path()})
				if err != nil {
					b.Fatal(err)
				}
				dut = a
			}
			gen, err := newKernelGen(p.B, p.IndexB, xsk, benchFrame([6]byte(p.MACA), [6]byte(p.MACB)))
			if err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			res := make(chan linkrate.Rate, 1)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				batch := pkt.NewBatch(64)
				n := 0
				start, cpu := time.Now(), sys.ThreadCPUTime()
				for {
					select {
					case <-stop:
						el, c := time.Since(start), sys.ThreadCPUTime()-cpu
						res <- linkrate.Rate{Frames: int64(n), Elapsed: el, CPUPerFrame: c / time.Duration(max(n, 1))}
						return
					default:
					}
					k, _ := dut.Recv(0, batch)
					n += k
					batch.ReleaseAll()
					if k == 0 {
						dut.Wait(0, time.Millisecond)
					}
				}
			}()
			start, injected := time.Now(), 0
			for time.Since(start) < d {
				if err := gen.run(100_000); err != nil {
					b.Fatalf("%s: generator: %v", kind, err)
				}
				injected += 100_000
			}
			offered[kind] = float64(injected) / time.Since(start).Seconds()
			time.Sleep(20 * time.Millisecond) // let the receiver drain
			close(stop)
			dut.Wake(0)
			got[kind] = <-res
			gen.Close()
			dut.Close()
		}
	}
	for _, k := range []string{"afxdp", "afpacket"} {
		b.ReportMetric(got[k].PPS()/1e6, "Mpps-rx-"+k)
		b.ReportMetric(offered[k]/1e6, "Mpps-offered-"+k)
		b.ReportMetric(float64(got[k].CPUPerFrame.Nanoseconds()), "ns-cpu/rx-"+k)
	}
	if got["afpacket"].PPS() > 0 {
		b.ReportMetric(got["afxdp"].PPS()/got["afpacket"].PPS(), "x-rx-afxdp/afpacket")
	}
}
