// Package offload is a user-space TCP/IP stack and TCP offload engine for Linux.
//
// The embedded use: build a Stack over a link device and use it through the
// standard net interfaces.
//
//	st, err := offload.New(offload.Options{Link: dev, Addr: netip.MustParsePrefix("198.18.0.2/24")})
//	ln, err := st.Listen("tcp", "198.18.0.2:80")
//	http.Serve(ln, handler)
//
// See docs/ARCHITECTURE.md for how the packages fit together.
package offload

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"offload/clock"
	"offload/link"
	"offload/netconn"
	"offload/stack"
	"offload/tcp"
)

// Options configures a Stack. Link and Addr are required; the rest have
// defaults. It holds the settings most programs touch; stack.Options has
// every tunable (build a stack.Stack with stack.New and use netconn for the
// rest).
type Options struct {
	// Link is the device the stack sends and receives on (link/pipe, link/tap,
	// link/afpacket, ...). The stack owns it from now on and closes it.
	Link link.Device
	// Addr is the stack's address with its subnet, e.g. 198.18.0.2/24 or
	// 2001:db8::2/64.
	Addr netip.Prefix
	// Addrs are further addresses (an IPv6 one beside an IPv4 Addr makes the
	// stack dual-stack: listeners on ":80" take both families).
	Addrs []netip.Prefix
	// Gateway, if set, is the next hop for IPv4 destinations outside the subnets.
	Gateway netip.Addr
	// Gateway6, if set, is the next hop for IPv6 destinations outside the subnets.
	Gateway6 netip.Addr
	// VLAN, if nonzero, is the 802.1Q VLAN ID (1..4094) the stack's link is
	// on: only frames with that tag are taken, and every frame sent has it.
	VLAN uint16
	// TTL is the IPv4 TTL and IPv6 hop limit of packets sent (default 64).
	TTL uint8
	// NeighborCacheSize bounds the ARP/NDP neighbour cache (default 512).
	NeighborCacheSize int

	// TCP holds per-connection TCP settings; nil means tcp.DefaultConfig().
	TCP *tcp.Config
	// ListenBacklog bounds half-open plus unaccepted connections per listener.
	ListenBacklog int
	// MaxConns bounds the number of connections (default 65536).
	MaxConns int
	// NoGRO turns receive aggregation off (it is on by default: in-order TCP
	// segments of a flow are merged before TCP sees them).
	NoGRO bool
	// NoGSO turns transmit segmentation off (it is on by default: TCP hands
	// down segments of up to 64 KiB, cut at the MSS by the device or, where
	// the device cannot, by the stack just before it).
	NoGSO bool
	// BusyPoll keeps the stack polling its link for this long after the last
	// packet instead of sleeping: lower latency for a core's worth of CPU. Off
	// (zero) by default.
	BusyPoll time.Duration
	// Clock replaces the real clock (tests).
	Clock clock.Clock
}

// Stack is a running offload stack.
type Stack struct {
	st *stack.Stack
}

// New starts a stack on opts.Link.
func New(opts Options) (*Stack, error) {
	if opts.Link == nil {
		return nil, errors.New("offload: Options.Link is nil: give the stack a device (link/pipe for memory, link/tap or link/afpacket for real links)")
	}
	if !opts.Addr.IsValid() {
		return nil, errors.New("offload: Options.Addr is not set: give the stack an address with its subnet, e.g. 198.18.0.2/24")
	}
	st, err := stack.New(stack.Options{
		NICs: []stack.NIC{{
			Device:   opts.Link,
			Addrs:    append([]netip.Prefix{opts.Addr}, opts.Addrs...),
			Gateway:  opts.Gateway,
			Gateway6: opts.Gateway6,
			VLAN:     opts.VLAN,
		}},
		TCP:           opts.TCP,
		ListenBacklog: opts.ListenBacklog,
		MaxConns:      opts.MaxConns,
		BusyPoll:      opts.BusyPoll,
		NoGRO:         opts.NoGRO,
		NoGSO:         opts.NoGSO,
		Clock:         opts.Clock,
		TTL:           opts.TTL,
		ARPCacheSize:  opts.NeighborCacheSize,
	})
	if err != nil {
		return nil, err
	}
	return &Stack{st: st}, nil
}

// Listen announces on a local address, like net.Listen ("tcp", "198.18.0.2:80" or ":80").
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	return netconn.Listen(s.st, network, address)
}

// Dial connects to address, like net.Dial.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext connects to address, giving up when ctx ends.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := netconn.Dialer{Stack: s.st}
	return d.DialContext(ctx, network, address)
}

// Stack returns the underlying stack for advanced use (statistics, raw connections).
func (s *Stack) Stack() *stack.Stack { return s.st }

// Close resets every connection, stops the stack and closes its link.
func (s *Stack) Close() error { return s.st.Close() }
