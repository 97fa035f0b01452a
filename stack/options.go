// Package stack composes the protocol cores (iface, tcp) over link Devices and
// runs them: one goroutine owns each device queue and carries every received
// frame through to completion, services the connections applications touched,
// fires timers, and sends what the cores produced in batches.
//
// Application goroutines never touch protocol state directly: they read and
// write a connection's buffers under that connection's lock and wake the owner.
package stack

import (
	"net/netip"
	"time"

	"offload/clock"
	"offload/link"
	"offload/tcp"
)

// NIC attaches one device to the stack with its addresses.
type NIC struct {
	Device link.Device
	// Addrs are the addresses with their subnets (198.18.0.1/24, 2001:db8::1/64);
	// IPv4, IPv6 or both.
	Addrs []netip.Prefix
	// Gateway, if valid, is the default route's next hop on this NIC.
	Gateway netip.Addr
	// Gateway6, if valid, is the IPv6 default route's next hop on this NIC.
	Gateway6 netip.Addr
	// NoGRO turns receive aggregation (the gro package) off on this NIC only:
	// every TCP segment then runs TCP on its own.
	NoGRO bool
	// NoGSO turns transmit segmentation off on this NIC only: TCP then emits
	// MSS-sized segments, one output run each, and hands none of 64 KiB to
	// the device's TSO or to software segmentation. See Options.NoGSO.
	NoGSO bool
	// VLAN, when nonzero, is the 802.1Q VLAN ID (1..4094) this NIC lives on:
	// it accepts only frames tagged with it (others are dropped and counted
	// in iface.Stats.RxVLAN) and tags every frame it sends. Zero: untagged
	// frames only.
	VLAN uint16
}

// Options configures a Stack. Zero values take the defaults noted.
type Options struct {
	NICs []NIC

	// TCP is the per-connection configuration. Nil means tcp.DefaultConfig()
	// with the MSS taken from each NIC's MTU; to change a few settings, start
	// from DefaultConfig and edit it. An MSS of zero follows each NIC's MTU;
	// a non-zero MSS is used where the MTU allows it (DefaultConfig's 1460
	// caps jumbo links at Ethernet's MSS: set MSS = 0 to follow the link).
	TCP *tcp.Config

	// ListenBacklog bounds half-open plus not-yet-accepted connections per
	// listener (default 128); SYNs beyond it are dropped and counted.
	ListenBacklog int
	// NoSYNCookies turns SYN cookies (RFC 4987) off: SYNs beyond a listener's
	// backlog are then dropped (the client retries) instead of answered
	// statelessly. Cookies are on by default, as with Linux's tcp_syncookies=1.
	NoSYNCookies bool
	// NoGRO turns receive aggregation off on every NIC. Aggregation is on by
	// default: each device queue merges in-order TCP segments of a flow that
	// arrive in one receive round (Linux's GRO rules, package gro), so TCP runs
	// once per aggregate instead of once per wire segment; the payload is not
	// copied. See also NIC.NoGRO.
	NoGRO bool
	// NoGSO turns transmit segmentation off on every NIC. It is on by
	// default: TCP builds segments of up to 64 KiB (as the window and
	// congestion window allow) and they are cut at the MSS by the device
	// where it can (TSO), otherwise by the device queue's owner just before
	// the device's Send (package gso), with checksums filled in software
	// unless the device offloads them. See also NIC.NoGSO and Stack.GSOStats.
	NoGSO bool
	// MaxConns bounds the connection table (default 65536).
	MaxConns int
	// EphemeralPortMin/Max is the local port range for Dial (default 32768–60999, as Linux).
	EphemeralPortMin, EphemeralPortMax uint16

	// TxBuffers is the number of transmit packet buffers per NIC (default 4096).
	TxBuffers int
	// GSOBuffers is the number of 64 KiB transmit buffers per NIC for TCP
	// super-segments (default 256; at most 32 on a NIC that segments in
	// software, which cuts each one into TxBuffers at once).
	GSOBuffers int
	// Batch is the most frames moved per Recv or Send call (default 64).
	Batch int
	// PollBudget bounds the frames one owner goroutine processes before it
	// services timers and application requests (default 256).
	PollBudget int

	// BusyPoll, when positive, keeps each owner goroutine polling its device
	// instead of sleeping for this long after the last work it found. It trades
	// a core for latency (a sleeping thread takes ~20 µs to wake on these
	// machines); off by default so the stack is friendly to a shared machine.
	BusyPoll time.Duration

	// Manual: start no goroutines; the caller drives the stack with Poll. For
	// deterministic simulations on a fake clock.
	Manual bool

	// Clock is the time source (default: monotonic). Tests may pass a fake.
	Clock clock.Clock
	// Secret keys the ISN and ephemeral-port hashes (RFC 6528, RFC 6056).
	// Zero: a random key from crypto/rand.
	Secret [16]byte

	// The network layer of each NIC (package iface). Zero values take the
	// defaults given, which are iface's Default* constants; values out of
	// range make New fail with an error naming the field.

	// ARPCacheSize bounds the neighbour cache, ARP and NDP together, per NIC
	// (default 512; the least recently used entry is evicted).
	ARPCacheSize int
	// ARPQueuePerNeighbor bounds the packets held for one neighbour while it
	// is resolved (default 16; the oldest is dropped), ARPQueueTotal those
	// held for all neighbours of a NIC (default 256).
	ARPQueuePerNeighbor, ARPQueueTotal int
	// ARPRetries is the number of ARP requests (or NDP solicitations) sent
	// before a resolution is given up and its queued packets dropped
	// (default 3), ARPRetryInterval the time between them (default 1 s, the
	// most RFC 1122 §2.3.2.1 allows).
	ARPRetries       int
	ARPRetryInterval time.Duration
	// NeighborTTL is how long a reply keeps a neighbour entry fresh
	// (default 30 s, as NDP's REACHABLE_TIME).
	NeighborTTL time.Duration
	// TTL is the IPv4 TTL and IPv6 hop limit of packets sent (default 64).
	TTL uint8
	// Fragment reassembly, IPv4 and IPv6, per NIC: at most
	// ReassemblyDatagrams datagrams at once (default 64, each in a 64 KiB
	// buffer taken on first use), ReassemblyFragments fragments per datagram
	// (default 64), ReassemblyBytes of fragment data in all (default 4 MiB);
	// an incomplete datagram is dropped ReassemblyTimeout (IPv4, default
	// 30 s) or ReassemblyTimeout6 (IPv6, default 60 s) after its first
	// fragment.
	ReassemblyDatagrams, ReassemblyFragments, ReassemblyBytes int
	ReassemblyTimeout, ReassemblyTimeout6                     time.Duration
	// ICMPErrorRate bounds the ICMP errors (port unreachable, ...) each NIC
	// sends per second, with a burst of a tenth of it (default 100).
	ICMPErrorRate int
	// ControlBuffers is the size of each NIC's pool of frames for ARP, ICMP
	// echo replies and ICMP errors (default 32); when it is empty those are
	// not sent (iface.Stats.TxNoBuffer).
	ControlBuffers int
}

const (
	defaultBacklog    = 128
	defaultMaxConns   = 65536
	defaultTxBuffers  = 4096
	defaultBatch      = 64
	defaultGSOBuffers = 256
	swGSOBuffers      = 32
	maxIPv4Packet     = 65535
	defaultBudget     = 256
	defaultPortMin    = 32768
	defaultPortMax    = 60999
	wheelTick         = time.Millisecond
	wheelSlots        = 1024
	ipv4TCPHeaderSize = 20 + 20
	ipv6TCPHeaderSize = 40 + 20
)

func (o *Options) withDefaults() Options {
	r := *o
	if r.ListenBacklog <= 0 {
		r.ListenBacklog = defaultBacklog
	}
	if r.MaxConns <= 0 {
		r.MaxConns = defaultMaxConns
	}
	if r.EphemeralPortMin == 0 {
		r.EphemeralPortMin = defaultPortMin
	}
	if r.EphemeralPortMax == 0 || r.EphemeralPortMax < r.EphemeralPortMin {
		r.EphemeralPortMax = defaultPortMax
	}
	if r.TxBuffers <= 0 {
		r.TxBuffers = defaultTxBuffers
	}
	if r.GSOBuffers <= 0 {
		r.GSOBuffers = defaultGSOBuffers
	}
	if r.Batch <= 0 {
		r.Batch = defaultBatch
	}
	if r.PollBudget <= 0 {
		r.PollBudget = defaultBudget
	}
	if r.Clock == nil {
		r.Clock = clock.NewMonotonic()
	}
	if r.TCP == nil {
		d := tcp.DefaultConfig()
		// With the defaults, each NIC's MTU sets the MSS (a jumbo link gets a
		// jumbo MSS, as with Linux); DefaultConfig's 1460 is Ethernet's.
		d.MSS = 0
		r.TCP = &d
	} else {
		c := *r.TCP // the caller's struct stays theirs
		r.TCP = &c
	}
	return r
}
