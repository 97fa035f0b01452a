//go:build linux

package stacktest_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"offload"
	"offload/bench"
	"offload/internal/netns"
	"offload/link"
)

// BenchmarkRoundTrip measures 64-byte request/response round trips between
// our stack (the client) and a kernel echo server in a namespace, over each
// link, beside the kernel talking to itself over a veth as the baseline. It
// reports the round trip's p50, p99 and maximum in µs (b.N round trips
// each); ns/op is their mean. The plain runs are the default, sleeping owners; "-busypoll"
// runs keep the owner polling for 50 µs after each packet (Options.BusyPoll).
//
//	go test ./link/afxdp/stacktest -run '^$' -bench RoundTrip -benchtime 5000x
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("kernel-veth", func(b *testing.B) {
		p := netns.NewPair(b, netns.PairConfig{Name: "xtrr", AddrA: kernelAddr, AddrB: netip.PrefixFrom(ourAddr, 24), DisableIPv6: true})
		roundTrips(b, p.A, nil, func(addr string) (c net.Conn, err error) {
			err = p.B.Run(func() error { c, err = net.Dial("tcp4", addr); return err })
			return c, err
		})
	})
	for _, l := range bulkLinks() {
		for _, busy := range []time.Duration{0, 50 * time.Microsecond} {
			name := l.name
			if busy > 0 {
				if l.name != "tap" && l.name != "afxdp-native" {
					continue
				}
				name += "-busypoll"
			}
			b.Run(name, func(b *testing.B) {
				d, k := l.open(b)
				st, err := offload.New(offload.Options{Link: d, Addr: netip.PrefixFrom(ourAddr, 24), BusyPoll: busy})
				if err != nil {
					d.Close()
					b.Fatal(err)
				}
				defer st.Close()
				roundTrips(b, k, d, func(addr string) (net.Conn, error) { return st.Dial("tcp", addr) })
			})
		}
	}
}

// roundTrips runs b.N 64-byte round trips from a connection dial opens to a
// kernel echo server in k, and reports their p50, p99 and maximum and, with our stack
// on device d, the frames each way per round trip (2 each is the least: a
// request and a reply; more shows separate ACKs or window updates).
func roundTrips(b *testing.B, k *netns.Host, d link.Device, dial func(addr string) (net.Conn, error)) {
	addr := netip.AddrPortFrom(kernelAddr.Addr(), 7200).String()
	var ln net.Listener
	if err := k.Run(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go bench.Echo(ln)
	c, err := dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := bench.RequestResponse(c, 64, 0, 200); err != nil { // warm up
		b.Fatal(err)
	}
	var before link.Stats
	if d != nil {
		before = d.Stats()
	}
	b.ResetTimer()
	r, err := bench.RequestResponse(c, 64, 0, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.Percentile(50))/1e3, "p50-µs")
	b.ReportMetric(float64(r.Percentile(99))/1e3, "p99-µs")
	b.ReportMetric(float64(r.Samples[len(r.Samples)-1])/1e3, "max-µs")
	if d != nil {
		after := d.Stats()
		b.ReportMetric(float64(after.TxFrames-before.TxFrames)/float64(b.N), "txframes/op")
		b.ReportMetric(float64(after.RxFrames-before.RxFrames)/float64(b.N), "rxframes/op")
	}
}
