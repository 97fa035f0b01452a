//go:build linux

package netns_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"offload/internal/netns"
)

// The usual shape of a test with the kernel as the peer: two namespaces joined
// by a veth pair, the kernel listening in A, our device opened on B's end
// (afpacket.Open(afpacket.Config{Interface: p.IfB, Netns: p.B.Path()})).
// Everything is removed when the test ends, even if it fails or panics.
func Example() {
	var t *testing.T // inside a test function
	p := netns.NewPair(t, netns.PairConfig{
		AddrA:       netip.MustParsePrefix("198.18.0.1/24"),
		MTU:         1500,
		Offloads:    map[netns.Offload]bool{netns.GRO: false},
		DisableIPv6: true,
	})
	var ln net.Listener
	p.A.Run(func() (err error) { // sockets opened here live in A
		ln, err = net.Listen("tcp4", "198.18.0.1:8080")
		return err
	})
	defer ln.Close()
	srv := p.A.Command("sleep", "10") // a kernel-side program, killed at cleanup
	srv.Start()
	defer srv.Wait()
	p.A.Ping(netip.MustParseAddr("198.18.0.2"), time.Second) // the kernel pings our stack
}
