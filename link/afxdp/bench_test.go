//go:build linux

package afxdp_test

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/link"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/tap"
	"offload/pkt"
)

// benchFrame is a minimum-size UDP datagram to ourAddr (the stack's address,
// so the AF_XDP program steers it to the device).
func benchFrame(src, dst [6]byte) []byte {
	return udpFrame(src, dst, netip.AddrPortFrom(kernelAddr.Addr(), 1000), netip.AddrPortFrom(ourAddr, 2000), make([]byte, 18))
}

// blast sends frame from dev's queue 0 in batches of 64 until stop closes.
func blast(dev link.Device, frame []byte, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	h := dev.Caps().Headroom
	pool := pkt.NewPool(256, h+len(frame)+64, h)
	batch := pkt.NewBatch(64)
	for {
		select {
		case <-stop:
			return
		default:
		}
		for !batch.Full() {
			buf := pool.Get()
			if buf == nil {
				break
			}
			copy(buf.Append(len(frame)), frame)
			batch.Add(buf)
		}
		dev.Send(0, batch)
	}
}

// rate is a measured rate: frames per second of wall-clock time, and the
// receiving (or sending) thread's CPU time per frame.
type rate struct {
	pps      float64
	cpuFrame time.Duration
}

// rxRate receives on dev's queue 0 for d while gen runs.
func rxRate(dev link.Device, gen link.Device, frame []byte, d time.Duration) rate {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go blast(gen, frame, stop, &wg)
	batch := pkt.NewBatch(64)
	// Warm up, then count.
	warm := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(warm) {
		dev.Recv(0, batch)
		batch.ReleaseAll()
		if batch.Len() == 0 {
			dev.Wait(0, time.Millisecond)
		}
	}
	var n int
	start, cpu := time.Now(), sys.ThreadCPUTime()
	for time.Since(start) < d {
		k, _ := dev.Recv(0, batch)
		n += k
		batch.ReleaseAll()
		if k == 0 {
			dev.Wait(0, time.Millisecond)
		}
	}
	el, cpu := time.Since(start), sys.ThreadCPUTime()-cpu
	close(stop)
	wg.Wait()
	return rate{float64(n) / el.Seconds(), cpu / time.Duration(max(n, 1))}
}

// txRate sends from dev's queue 0 for d.
func txRate(dev link.Device, frame []byte, d time.Duration) rate {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sent atomic.Int64
	pool := pkt.NewPool(256, dev.Caps().Headroom+len(frame)+64, dev.Caps().Headroom)
	batch := pkt.NewBatch(64)
	start, cpu := time.Now(), sys.ThreadCPUTime()
	for time.Since(start) < d {
		for !batch.Full() {
			buf := pool.Get()
			copy(buf.Append(len(frame)), frame)
			batch.Add(buf)
		}
		n, _ := dev.Send(0, batch)
		sent.Add(int64(n))
	}
	el, cpu := time.Since(start), sys.ThreadCPUTime()-cpu
	return rate{float64(sent.Load()) / el.Seconds(), cpu / time.Duration(max(sent.Load(), 1))}
}

type linkUnderTest struct {
	name string
	// open returns the device under test and a generator that delivers
	// frames to it, with the frame to send.
	open func(b *testing.B) (dut, gen link.Device, frame []byte)
}

func vethLinks() []linkUnderTest {
	xdp := func(m afxdp.AttachMode) func(b *testing.B) (link.Device, link.Device, []byte) {
		return func(b *testing.B) (link.Device, link.Device, []byte) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xbench", DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			g, err := afxdp.Open(afxdp.Config{Interface: p.IfA, Netns: p.A.Path(), Addrs: []netip.Addr{kernelAddr.Addr()}, Attach: m})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { g.Close() })
			return d, g, benchFrame([6]byte(p.MACA), [6]byte(p.MACB))
		}
	}
	return []linkUnderTest{
		{"afxdp-native", xdp(afxdp.AttachNative)},
		{"afxdp-generic", xdp(afxdp.AttachGeneric)},
		{"afpacket", func(b *testing.B) (link.Device, link.Device, []byte) {
			p := netns.NewPair(b, netns.PairConfig{Name: "xbench", DisableIPv6: true})
			d, err := afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			// The same generator as for AF_XDP: an AF_XDP socket's TX.
			g, err := afxdp.Open(afxdp.Config{Interface: p.IfA, Netns: p.A.Path(), Addrs: []netip.Addr{kernelAddr.Addr()}, Attach: afxdp.AttachGeneric})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { g.Close() })
			return d, g, benchFrame([6]byte(p.MACA), [6]byte(p.MACB))
		}},
		{"tap", func(b *testing.B) (link.Device, link.Device, []byte) {
			h := netns.NewHost(b, "xbenchtap")
			d, err := tap.Open(tap.Config{Netns: h.Path()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			// Frames into a TAP come from its kernel side: a packet socket on
			// the TAP interface.
			g, err := afpacket.Open(afpacket.Config{Interface: d.IfName(), Netns: h.Path()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { g.Close() })
			return d, g, benchFrame(d.PeerHardwareAddr(), d.Caps().HardwareAddr)
		}},
	}
}

// BenchmarkLinkRates measures, in one run, frames received and sent per
// second (60-byte UDP frames, batches of 64, one queue) through AF_XDP in
// both modes, AF_PACKET and TAP, with the receiving or sending thread's CPU
// time per frame, and reports each against AF_PACKET. Receive is fed by an
// AF_XDP transmitter on the veth's far end (a packet socket on the TAP's
// kernel side for TAP); transmit goes to a kernel that drops the frames.
// Wall-clock rates over 1 s on a 2-CPU machine are bounded by the generator
// (veth receive work runs on the sender's CPU); CPU per frame is the fairer
// comparison of the receive paths.
//
//	go test ./link/afxdp -run '^$' -bench LinkRates -benchtime 1x
func BenchmarkLinkRates(b *testing.B) {
	d := time.Second
	if testing.Short() {
		d = 200 * time.Millisecond
	}
	rx := map[string]rate{}
	tx := map[string]rate{}
	links := vethLinks()
	for i := 0; i < b.N; i++ {
		for _, l := range links {
			dut, gen, frame := l.open(b)
			rx[l.name] = rxRate(dut, gen, frame, d)
			tx[l.name] = txRate(dut, frame, d)
			gen.Close()
			dut.Close()
		}
	}
	base := "afpacket"
	for _, l := range links {
		r, t := rx[l.name], tx[l.name]
		b.ReportMetric(r.pps/1e6, "Mpps-rx-"+l.name)
		b.ReportMetric(float64(r.cpuFrame.Nanoseconds()), "ns-cpu/rx-"+l.name)
		b.ReportMetric(t.pps/1e6, "Mpps-tx-"+l.name)
		b.ReportMetric(float64(t.cpuFrame.Nanoseconds()), "ns-cpu/tx-"+l.name)
		if l.name != base && rx[base].pps > 0 && tx[base].pps > 0 {
			b.ReportMetric(r.pps/rx[base].pps, "x-rx-pps-"+l.name+"/"+base)
			b.ReportMetric(t.pps/tx[base].pps, "x-tx-pps-"+l.name+"/"+base)
			b.ReportMetric(float64(rx[base].cpuFrame)/float64(max(r.cpuFrame, 1)), "x-rx-cpu-eff-"+l.name+"/"+base)
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
	got := map[string]rate{}
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
			res := make(chan rate, 1)
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
						res <- rate{float64(n) / el.Seconds(), c / time.Duration(max(n, 1))}
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
		b.ReportMetric(got[k].pps/1e6, "Mpps-rx-"+k)
		b.ReportMetric(offered[k]/1e6, "Mpps-offered-"+k)
		b.ReportMetric(float64(got[k].cpuFrame.Nanoseconds()), "ns-cpu/rx-"+k)
	}
	if got["afpacket"].pps > 0 {
		b.ReportMetric(got["afxdp"].pps/got["afpacket"].pps, "x-rx-afxdp/afpacket")
	}
}
