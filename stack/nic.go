package stack

import (
	"fmt"
	"net/netip"
	"sync"

	"offload/clock"
	"offload/iface"
	"offload/link"
	"offload/pkt"
	"offload/tcp"
	"offload/wire"
)

// nic is one device: what its queues share. Each device queue has its own
// owner goroutine (a queue); they share the interface (neighbour cache,
// routes), guarded by ifcMu, and the transmit pools, which are safe for
// concurrent use.
type nic struct {
	s       *Stack
	index   int
	dev     link.Device
	caps    link.Capabilities
	addrs   []netip.Prefix
	tcpCfg  tcp.Config // the stack's TCP config with this NIC's IPv4 MSS and GSO size
	tcpCfg6 tcp.Config // the same for IPv6: 20 bytes more of IP header

	ifcMu sync.Mutex
	ifc   *iface.Interface

	pool    *pkt.Pool // MTU-sized transmit buffers
	gsoPool *pkt.Pool // 64 KiB buffers for TCP super-segments; nil when TCP emits MSS-sized ones
	headlen int       // bytes in front of the TCP header: link headroom + Ethernet + IPv4
	// swGSO: the device does not segment, so each queue cuts TCP's
	// super-segments at the MSS (package gso) just before the device's Send.
	swGSO bool

	queues []*queue
	gro    bool // receive aggregation on (each queue has a gro.Table)
}

func newNIC(s *Stack, index int, nc NIC) (*nic, error) {
	if nc.Device == nil {
		return nil, fmt.Errorf("stack: NIC %d has no Device", index)
	}
	caps := nc.Device.Caps()
	if caps.MTU < 576 {
		return nil, fmt.Errorf("stack: NIC %d (%s): MTU %d is below the IPv4 minimum of 576", index, caps.Name, caps.MTU)
	}
	for _, a := range nc.Addrs {
		if a.Addr().Is6() && caps.MTU < 1280 {
			return nil, fmt.Errorf("stack: NIC %d (%s): IPv6 address %v needs an MTU of at least 1280 (RFC 8200 §5), the link has %d", index, caps.Name, a, caps.MTU)
		}
	}
	ifc, err := iface.New(iface.Config{
		L2:                  caps.L2,
		HardwareAddr:        wire.MAC(caps.HardwareAddr),
		MTU:                 caps.MTU,
		Addrs:               nc.Addrs,
		Gateway:             nc.Gateway,
		Gateway6:            nc.Gateway6,
		VLAN:                nc.VLAN,
		NeighborCacheSize:   s.opts.ARPCacheSize,
		PendingPerNeighbor:  s.opts.ARPQueuePerNeighbor,
		PendingTotal:        s.opts.ARPQueueTotal,
		ARPRetries:          s.opts.ARPRetries,
		ARPRetryInterval:    s.opts.ARPRetryInterval,
		NeighborTTL:         s.opts.NeighborTTL,
		TTL:                 s.opts.TTL,
		ReassemblyDatagrams: s.opts.ReassemblyDatagrams,
		ReassemblyFragments: s.opts.ReassemblyFragments,
		ReassemblyBytes:     s.opts.ReassemblyBytes,
		ReassemblyTimeout:   s.opts.ReassemblyTimeout,
		ReassemblyTimeout6:  s.opts.ReassemblyTimeout6,
		ICMPErrorRate:       s.opts.ICMPErrorRate,
		ControlBuffers:      s.opts.ControlBuffers,
		RxChecksumTrusted:   caps.RxChecksumTrusted,
		DeviceHeadroom:      caps.Headroom,
	})
	if err != nil {
		return nil, fmt.Errorf("stack: NIC %d (%s): %w", index, caps.Name, err)
	}
	n := &nic{
		s:     s,
		index: index,
		dev:   nc.Device,
		caps:  caps,
		addrs: append([]netip.Prefix(nil), nc.Addrs...),
		ifc:   ifc,
		gro:   !s.opts.NoGRO && !nc.NoGRO,
	}
	n.headlen = ifc.Headroom()
	// A transmit buffer holds one MTU-sized IP packet plus everything in front.
	n.pool = pkt.NewPool(s.opts.TxBuffers, n.headlen+caps.MTU, n.headlen)
	n.tcpCfg = *s.opts.TCP
	if mss := caps.MTU - ipv4TCPHeaderSize; n.tcpCfg.MSS == 0 || n.tcpCfg.MSS > mss {
		n.tcpCfg.MSS = mss
	}
	// A device segments for us only if it also finishes checksums: TCP
	// leaves a super-segment's checksum partial for whoever cuts it (as
	// Linux's TSO requires checksum offload). Otherwise the queue cuts it.
	tso := caps.TSO && caps.TxChecksumOffload
	switch {
	case s.opts.NoGSO || nc.NoGSO:
		n.tcpCfg.GSOMaxSize = 0 // TCP emits MSS-sized segments, even to a TSO device
	case n.tcpCfg.GSOMaxSize == 0:
		// Let TCP hand down up to 64 KiB at a time (less the largest IPv4 and
		// TCP headers): one state-machine output run and one IP header per
		// 64 KiB instead of per MSS. The device cuts them at the MSS itself
		// (TSO), or the queue does just before the device (swGSO).
		limit := maxIPv4Packet
		if tso && caps.MaxGSOSize > 0 {
			limit = min(caps.MaxGSOSize, maxIPv4Packet)
		}
		n.tcpCfg.GSOMaxSize = limit - wire.IPv4HeaderSize - wire.TCPHeaderSize - wire.TCPMaxOptionsLen
	}
	if n.tcpCfg.GSOMaxSize > n.tcpCfg.MSS {
		count := s.opts.GSOBuffers
		if !tso {
			// A super-segment lives only from TCP's output to the queue's
			// segmentation in the same call (or while its neighbour is
			// resolved), and its frames come from pool: a few suffice.
			n.swGSO = true
			count = min(count, swGSOBuffers)
		}
		n.gsoPool = pkt.NewPool(count, n.headlen+maxIPv4Packet, n.headlen)
	}
	n.tcpCfg6 = n.tcpCfg
	if mss := caps.MTU - ipv6TCPHeaderSize; n.tcpCfg6.MSS > mss {
		n.tcpCfg6.MSS = mss
	}
	if n.tcpCfg6.GSOMaxSize > 0 {
		n.tcpCfg6.GSOMaxSize -= ipv6TCPHeaderSize - ipv4TCPHeaderSize
	}
	nq := max(caps.Queues, 1)
	for q := range nq {
		qq, err := newQueue(n, q)
		if err != nil {
			return nil, fmt.Errorf("stack: NIC %d (%s): %w", index, caps.Name, err)
		}
		n.queues = append(n.queues, qq)
	}
	return n, nil
}

func (n *nic) close() error { return n.dev.Close() }

// tcpConfig returns the TCP configuration for connections of a's family.
func (n *nic) tcpConfig(a netip.Addr) *tcp.Config {
	if a.Is4() {
		return &n.tcpCfg
	}
	return &n.tcpCfg6
}

// queueFor picks the home queue of a connection this host opens. The device
// spreads received flows over its queues by its own hash, which we cannot
// predict; any queue works, and a segment that arrives elsewhere is still
// handled (see queue.inputTCP).
func (n *nic) queueFor(local, remote netip.AddrPort) *queue {
	if len(n.queues) == 1 {
		return n.queues[0]
	}
	return n.queues[int(local.Port()^remote.Port())%len(n.queues)]
}

// route returns the source address for dst through n, whether n reaches it
// at all, and how specific the route is, for choosing between NICs: 0 for
// the default gateway, 1 + the prefix length for a connected prefix holding
// dst, 1 for other destinations reached directly (broadcast, multicast,
// IPv6 link-local, an on-link gateway outside every prefix).
func (n *nic) route(dst netip.Addr) (src netip.Addr, rank int, ok bool) {
	n.ifcMu.Lock()
	src, nextHop, ok := n.ifc.Route(dst)
	n.ifcMu.Unlock()
	if !ok {
		return netip.Addr{}, 0, false
	}
	dst = dst.Unmap().WithZone("")
	if nextHop != dst {
		return src, 0, true
	}
	rank = 1
	for _, p := range n.addrs {
		if p.Contains(dst) && p.Bits()+1 > rank {
			rank = p.Bits() + 1
		}
	}
	return src, rank, true
}

// hasAddr reports whether a is one of n's addresses.
func (n *nic) hasAddr(a netip.Addr) bool {
	n.ifcMu.Lock()
	defer n.ifcMu.Unlock()
	return n.ifc.HasAddr(a)
}

// ifcDeadline returns when the interface needs Poll (ARP retries, expiry).
func (n *nic) ifcDeadline() clock.Instant {
	n.ifcMu.Lock()
	defer n.ifcMu.Unlock()
	return n.ifc.Deadline()
}
