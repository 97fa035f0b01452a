// Package iface is the network layer of one interface, without I/O: IPv4 and
// IPv6 in and out (RFC 791, RFC 1122 §3, RFC 8200), connected-prefix and
// default-gateway routes for both, ARP (RFC 826) and NDP (RFC 4861) sharing one
// bounded neighbour cache with bounded queues of packets awaiting resolution,
// ICMP and ICMPv6 echo and rate-limited errors (RFC 792, RFC 4443, RFC 1122
// §3.2.2), bounded fragment reassembly for both families (RFC 791, RFC 815,
// RFC 8200 §4.5, RFC 5722), ICMP errors about our own packets decoded for the
// transports (RFC 5927, RFC 1191, RFC 8201).
//
// Input hands each packet for a transport up as an Inbound (protocol,
// addresses, payload); finding the socket it belongs to is the caller's job:
// the stack looks connections up in its own hash table keyed by the 4-tuple,
// then listeners by local address and port.
//
// An Interface never reads the clock and never touches a device: the stack hands
// it frames and the current time, and it hands back what transports should see,
// plus frames to send through a Sender. Poll and Deadline drive its timers (ARP
// retries, cache expiry).
//
// An Interface is owned by one goroutine (the one running the device queue it
// serves); none of its methods but PublishedStats may be called concurrently. A
// device with several queues needs one owner for the interface (or a lock
// around it): ARP replies arrive on whichever queue the NIC picks, so separate
// per-queue Interfaces would not see each other's neighbours.
package iface

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

// Defaults for zero Config fields.
const (
	DefaultNeighborCacheSize  = 512
	DefaultPendingPerNeighbor = 16
	DefaultPendingTotal       = 256
	DefaultARPRetries         = 3
	// RFC 1122 §2.3.2.1: no more than one request per second per destination.
	DefaultARPRetryInterval = time.Second
	DefaultNeighborTTL      = 30 * time.Second
	DefaultTTL              = 64 // RFC 1700 / IANA recommended default
	DefaultControlBuffers   = 32
	DefaultICMPErrorRate    = 100

	// Reassembly bounds (see Config). The reassembly timeouts follow RFC 1122
	// §3.3.2 (IPv4: a fixed value in the suggested 60-120 s range is not
	// required; 30 s, Linux's ipfrag_time, keeps a flood's state short-lived)
	// and RFC 8200 §4.5 (IPv6: 60 s).
	DefaultReassemblyDatagrams = 64
	DefaultReassemblyFragments = 64
	DefaultReassemblyBytes     = 4 << 20
	DefaultReassemblyTimeout   = 30 * time.Second
	DefaultReassemblyTimeout6  = 60 * time.Second
)

// minMTU is the smallest MTU every IPv4 link must carry (RFC 791); minMTU6 the
// smallest for IPv6 (RFC 8200 §5).
const (
	minMTU  = 68
	minMTU6 = 1280
)

// Errors returned by Output.
var (
	// ErrNoRoute: no connected subnet holds the destination and there is no gateway.
	ErrNoRoute = errors.New("iface: no route to host")
	// ErrTooBig: the IP packet would exceed the MTU (and is not a GSO super-frame).
	ErrTooBig = errors.New("iface: packet larger than MTU")
	// ErrBadSource: OutFields.Src is set but is not one of the interface's addresses.
	ErrBadSource = errors.New("iface: source address is not ours")
	// ErrNoHeadroom: the buffer has less headroom in front than Headroom() requires.
	ErrNoHeadroom = errors.New("iface: not enough headroom for headers")
)

// Config describes one interface. Zero values take the defaults above.
type Config struct {
	// L2: frames carry Ethernet headers and neighbours are found with ARP. False
	// for raw IP devices (TUN-like), where frames are bare IPv4 packets.
	L2           bool
	HardwareAddr wire.MAC // our MAC (L2 only); must be unicast and nonzero
	// VLAN: when nonzero, the 802.1Q VLAN ID (1..4094) this interface lives on:
	// only frames tagged with it are accepted and every frame sent carries it.
	// When zero, tagged frames are dropped.
	VLAN uint16

	// MTU is the largest IP packet the link carries (68..65535).
	MTU int
	// DeviceHeadroom is the space the device needs in front of each frame (a
	// virtio-net header, say); included in Headroom.
	DeviceHeadroom int

	// Addrs are our IPv4 and IPv6 addresses, each with its connected prefix. At
	// least one. When the interface is L2 and has any IPv6 address, a link-local
	// address fe80::/64 with a modified EUI-64 interface identifier from
	// HardwareAddr (RFC 4291 §2.5.1, App. A; RFC 2464 §4-5) is added unless one
	// is configured. IPv6 needs an MTU of at least 1280 (RFC 8200 §5).
	Addrs []netip.Prefix
	// Gateway is the optional IPv4 default route's next hop. It should be inside
	// one of the subnets; if it is not, it is treated as on-link and packets to
	// it leave from the first address.
	Gateway netip.Addr
	// Gateway6 is the optional IPv6 default router, usually its link-local
	// address (RFC 4861 §8: routers are known by their link-local addresses); it
	// is always on-link. Off-link packets leave from the first global address.
	Gateway6 netip.Addr

	NeighborCacheSize  int // neighbour cache entries (LRU eviction)
	PendingPerNeighbor int // packets queued per unresolved neighbour (oldest dropped)
	// PendingTotal bounds packets queued over all unresolved neighbours; when it
	// is reached a neighbour's own oldest packet makes room, or, if it has none
	// queued, the new packet is dropped.
	PendingTotal int
	// ARPRetries and ARPRetryInterval also bound NDP: solicitations sent before
	// a resolution is given up (RFC 4861 MAX_MULTICAST_SOLICIT = 3) and the time
	// between them (RETRANS_TIMER = 1 s).
	ARPRetries       int // requests sent before a resolution is given up
	ARPRetryInterval time.Duration
	// NeighborTTL is how long a reply keeps an entry fresh (ARP, and NDP's
	// REACHABLE_TIME, 30 s by default in both).
	NeighborTTL time.Duration

	TTL uint8 // default TTL (IPv4) and hop limit (IPv6) of packets we send

	// Reassembly of IPv4 and IPv6 fragments. At most ReassemblyDatagrams
	// datagrams are in reassembly at once, each in a buffer of 64 KiB plus
	// headers drawn from a pool the interface owns (allocated on first use,
	// never more than ReassemblyDatagrams of them: 4 MiB by default); at most
	// ReassemblyBytes of fragment data is held over all of them, and at most
	// ReassemblyFragments fragments per datagram. When a new datagram needs a
	// slot or bytes that are not free, the oldest datagram is dropped.
	// Datagrams not completed within ReassemblyTimeout (IPv4) or
	// ReassemblyTimeout6 (IPv6) of their first fragment are dropped.
	ReassemblyDatagrams int
	ReassemblyFragments int
	ReassemblyBytes     int
	ReassemblyTimeout   time.Duration
	ReassemblyTimeout6  time.Duration

	// RxChecksumTrusted: the device vouches for received TCP/UDP checksums, so
	// Input does not verify them (see link.Capabilities.RxChecksumTrusted).
	RxChecksumTrusted bool

	// ControlBuffers is the size of the interface's own pool of frames for ARP,
	// ICMP echo replies and ICMP errors. When it runs dry, those frames are not
	// sent (counted in Stats.TxNoBuffer).
	ControlBuffers int

	// ICMPErrorRate bounds the ICMP errors Unreachable sends, per second, with a
	// burst of a tenth of that (at least 1): RFC 1812 §4.3.2.8 / RFC 1122 §3.2.2
	// rate limiting, so a flood cannot turn us into a reflector. Default 100.
	ICMPErrorRate int
}

// Sender takes frames the interface wants transmitted. SendFrame takes ownership
// of buf; the stack batches the frames to the device.
type Sender interface {
	SendFrame(buf *pkt.Buffer)
}

// Inbound describes a packet Input delivers to a transport.
type Inbound struct {
	// Proto is wire.ProtoTCP, wire.ProtoUDP, wire.ProtoICMP or wire.ProtoICMPv6.
	Proto uint8
	// Src and Dst are both IPv4 or both IPv6 (never IPv4-mapped).
	Src, Dst netip.Addr
	// TTL and TOS are the IPv4 TTL and TOS, or the IPv6 hop limit and traffic class.
	TTL, TOS uint8
	// Broadcast: Dst was the limited or a subnet-directed broadcast address, or
	// an IPv6 multicast group we are in (only UDP and ICMP other than echo are
	// delivered for these).
	Broadcast bool
	// Payload is the transport header and data, trimmed to the IP total length.
	// It aliases the frame.
	Payload []byte
	// PayloadOffset is where Payload starts within frame.Bytes(), so the stack can
	// trim the frame and hand it on without copying.
	PayloadOffset int
	// IPOffset is where the IP header starts within frame.Bytes() (0 on an L3
	// interface, the Ethernet header length on L2).
	IPOffset int

	// Frame is nil for a packet that arrived whole. For a datagram reassembled
	// from fragments it is the interface's buffer holding it: the last
	// fragment's link header, a rebuilt IP header (IPv4: the first fragment's
	// header with the total length of the whole; IPv6: the fixed header with the
	// fragment header removed) and the payload. Payload aliases it, and
	// PayloadOffset and IPOffset index Frame.Bytes() instead of the frame given
	// to Input. The interface owns Frame: it stays valid until the next call to
	// Input or Poll, and must not be released or kept. Unreachable uses it
	// automatically.
	Frame *pkt.Buffer

	// Error is set for an ICMP or ICMPv6 error about a packet we sent (Proto is
	// wire.ProtoICMP or wire.ProtoICMPv6, Payload the whole ICMP message): the
	// quoted endpoint and, for TCP, sequence number that the transport must
	// validate against its own state before acting (RFC 5927 §4.1). It points
	// into the interface and stays valid until the next call to Input.
	Error *ICMPError
}

// OutFields describes the IP header Output puts in front of a transport packet.
// Dst's family picks IPv4 or IPv6 (IPv4-mapped addresses are IPv4).
type OutFields struct {
	Src, Dst netip.Addr // Src zero: chosen by Route
	Proto    uint8
	TOS      uint8 // IPv4 TOS, or the IPv6 traffic class
	TTL      uint8 // IPv4 TTL or IPv6 hop limit; 0: Config.TTL (1 for multicast)
	// DontFragment sets IPv4's DF. IPv6 has none: we never fragment.
	DontFragment bool
}

// Interface is the network layer of one interface. See the package comment.
type Interface struct {
	cfg        Config
	l2         bool
	mac        wire.MAC
	vlan       uint16
	ethLen     int
	devHead    int
	mtu        int
	ttl        uint8
	addrs      []ifAddr
	gw         uint32
	hasGW      bool
	gwSrc      uint32
	retries    int
	retryEvery time.Duration
	neighTTL   time.Duration
	trustRx    bool

	// IPv6: our addresses (the link-local one included), the default router.
	addrs6  []ifAddr6
	ll      netip.Addr // our link-local address, if any
	gw6     netip.Addr
	hasGW6  bool
	flowKey uint64 // keys the flow-label hash (RFC 6437 §3)

	reasm   *reassembler
	icmpErr ICMPError // what Inbound.Error points to

	neigh *neighborCache
	pool  *pkt.Pool

	idKey  uint64
	idents [idBuckets]uint16

	// ICMP error rate limiter (GCRA): one error per icmpEvery, bursts of
	// icmpBurst; icmpTAT is the theoretical arrival time of the next one.
	icmpEvery time.Duration
	icmpBurst time.Duration
	icmpTAT   clock.Instant

	st    Stats
	pubMu sync.Mutex
	pub   Stats // st as of the last Poll, for other goroutines
}

// New validates cfg and builds an Interface.
func New(cfg Config) (*Interface, error) {
	if cfg.MTU < minMTU || cfg.MTU > 65535 {
		return nil, fmt.Errorf("iface: MTU %d outside [%d, 65535]", cfg.MTU, minMTU)
	}
	if cfg.DeviceHeadroom < 0 || cfg.DeviceHeadroom > 4096 {
		return nil, fmt.Errorf("iface: DeviceHeadroom %d outside [0, 4096]", cfg.DeviceHeadroom)
	}
	if cfg.L2 {
		if cfg.HardwareAddr.IsMulticast() || cfg.HardwareAddr == (wire.MAC{}) {
			return nil, fmt.Errorf("iface: HardwareAddr %v is not a unicast MAC", cfg.HardwareAddr)
		}
		if cfg.VLAN > 4094 {
			return nil, fmt.Errorf("iface: VLAN %d outside [1, 4094]", cfg.VLAN)
		}
	} else if cfg.VLAN != 0 {
		return nil, errors.New("iface: VLAN needs an L2 interface")
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("iface: no addresses configured")
	}
	var v4Addrs, v6Addrs []netip.Prefix
	for k, p := range cfg.Addrs {
		if !p.IsValid() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("iface: address %v is not a valid prefix", p)
		}
		for _, q := range cfg.Addrs[:k] {
			if q.Addr() == p.Addr() {
				return nil, fmt.Errorf("iface: address %v configured twice", p.Addr())
			}
		}
		if p.Addr().Is6() {
			if err := checkAddr6(p); err != nil {
				return nil, err
			}
			v6Addrs = append(v6Addrs, p)
			continue
		}
		v4Addrs = append(v4Addrs, p)
		u := v4(p.Addr())
		if u>>24 == 0 || isMulticast4(u) || u>>24 == 127 || u>>28 == 0xF {
			return nil, fmt.Errorf("iface: %v is not a usable unicast address", p.Addr())
		}
		a := newIfAddr(p)
		if a.hasBcast && (u == a.net || u == a.bcast) {
			return nil, fmt.Errorf("iface: %v is the network or broadcast address of its subnet", p)
		}
	}
	if len(v6Addrs) > 0 && cfg.MTU < minMTU6 {
		return nil, fmt.Errorf("iface: MTU %d is below IPv6's minimum of %d", cfg.MTU, minMTU6)
	}
	setDefault(&cfg.NeighborCacheSize, DefaultNeighborCacheSize)
	setDefault(&cfg.PendingPerNeighbor, DefaultPendingPerNeighbor)
	setDefault(&cfg.PendingTotal, DefaultPendingTotal)
	setDefault(&cfg.ARPRetries, DefaultARPRetries)
	setDefault(&cfg.ControlBuffers, DefaultControlBuffers)
	setDefault(&cfg.ICMPErrorRate, DefaultICMPErrorRate)
	setDefault(&cfg.ReassemblyDatagrams, DefaultReassemblyDatagrams)
	setDefault(&cfg.ReassemblyFragments, DefaultReassemblyFragments)
	setDefault(&cfg.ReassemblyBytes, DefaultReassemblyBytes)
	if cfg.ReassemblyTimeout == 0 {
		cfg.ReassemblyTimeout = DefaultReassemblyTimeout
	}
	if cfg.ReassemblyTimeout6 == 0 {
		cfg.ReassemblyTimeout6 = DefaultReassemblyTimeout6
	}
	if cfg.ARPRetryInterval == 0 {
		cfg.ARPRetryInterval = DefaultARPRetryInterval
	}
	if cfg.NeighborTTL == 0 {
		cfg.NeighborTTL = DefaultNeighborTTL
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	for _, c := range []struct {
		name   string
		v, max int
	}{
		{"NeighborCacheSize", cfg.NeighborCacheSize, 1 << 16},
		{"PendingPerNeighbor", cfg.PendingPerNeighbor, 1 << 16},
		{"PendingTotal", cfg.PendingTotal, 1 << 20},
		{"ARPRetries", cfg.ARPRetries, 100},
		{"ControlBuffers", cfg.ControlBuffers, 1024},
		{"ICMPErrorRate", cfg.ICMPErrorRate, 1 << 20},
		{"ReassemblyDatagrams", cfg.ReassemblyDatagrams, 4096},
		{"ReassemblyFragments", cfg.ReassemblyFragments, 8192},
		{"ReassemblyBytes", cfg.ReassemblyBytes, 1 << 30},
	} {
		if c.v < 1 || c.v > c.max {
			return nil, fmt.Errorf("iface: %s %d outside [1, %d]", c.name, c.v, c.max)
		}
	}
	if cfg.ARPRetryInterval < 0 || cfg.NeighborTTL < 0 || cfg.ReassemblyTimeout < 0 || cfg.ReassemblyTimeout6 < 0 {
		return nil, errors.New("iface: negative ARPRetryInterval, NeighborTTL or ReassemblyTimeout")
	}
	cfg.Addrs = append([]netip.Prefix(nil), cfg.Addrs...)

	i := &Interface{
		cfg:        cfg,
		l2:         cfg.L2,
		vlan:       cfg.VLAN,
		devHead:    cfg.DeviceHeadroom,
		mtu:        cfg.MTU,
		ttl:        cfg.TTL,
		retries:    cfg.ARPRetries,
		retryEvery: cfg.ARPRetryInterval,
		neighTTL:   cfg.NeighborTTL,
		trustRx:    cfg.RxChecksumTrusted,
	}
	for _, p := range v4Addrs {
		i.addrs = append(i.addrs, newIfAddr(p))
	}
	if err := i.initIPv6(v6Addrs); err != nil {
		return nil, err
	}
	if cfg.Gateway.IsValid() {
		g := cfg.Gateway.Unmap()
		if !g.Is4() {
			return nil, fmt.Errorf("iface: gateway %v is not IPv4", cfg.Gateway)
		}
		if len(i.addrs) == 0 {
			return nil, fmt.Errorf("iface: gateway %v needs an IPv4 address", g)
		}
		u := v4(g)
		if u>>24 == 0 || isMulticast4(u) || i.broadcastAddr(u) || i.ownAddr(u) || u>>24 == 127 {
			return nil, fmt.Errorf("iface: gateway %v is not a usable unicast neighbour", g)
		}
		i.gw, i.hasGW = u, true
		if k := i.subnetOf(u); k >= 0 {
			i.gwSrc = i.addrs[k].addr
		} else {
			i.gwSrc = i.addrs[0].addr
		}
	}
	if i.l2 {
		i.mac = cfg.HardwareAddr
		i.ethLen = wire.EthernetHeaderSize
		if i.vlan != 0 {
			i.ethLen += wire.VLANTagSize
		}
		i.neigh = newNeighborCache(cfg.NeighborCacheSize, cfg.PendingPerNeighbor, cfg.PendingTotal)
	}
	i.icmpEvery = time.Second / time.Duration(cfg.ICMPErrorRate)
	i.icmpBurst = i.icmpEvery * time.Duration(max(1, cfg.ICMPErrorRate/10))
	i.pool = pkt.NewPool(cfg.ControlBuffers, i.devHead+i.ethLen+i.mtu, i.devHead)
	i.reasm = newReassembler(&cfg, i.ethLen)
	i.initIDs()
	return i, nil
}

func setDefault(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

// Headroom returns the bytes a transport must leave free in front of the
// packets it gives to Output: device headroom, Ethernet (with VLAN tag) and a
// 20-byte IPv4 header, or, on an interface with any IPv6 address, a 40-byte
// IPv6 header (enough for either family).
func (i *Interface) Headroom() int {
	if len(i.addrs6) > 0 {
		return i.devHead + i.ethLen + wire.IPv6HeaderSize
	}
	return i.devHead + i.ethLen + wire.IPv4HeaderSize
}

// MTU returns the largest IP packet Output sends (GSO super-frames excepted).
func (i *Interface) MTU() int { return i.mtu }

// HardwareAddr returns our MAC (zero for an L3 interface).
func (i *Interface) HardwareAddr() wire.MAC { return i.mac }

// Deadline returns the earliest instant at which Poll has work (an ARP or NDP
// retry, an entry to expire, a reassembly to time out), or clock.Never. It may
// be early, never late.
func (i *Interface) Deadline() clock.Instant {
	d := i.reasm.earliest
	if i.neigh != nil && i.neigh.earliest < d {
		d = i.neigh.earliest
	}
	return d
}

// IP ID generation (RFC 6864 §4): IDs only need to be unique per (source,
// destination, protocol) within a packet's lifetime, and atomic (DF) datagrams
// may carry any value. Rather than one global counter, which leaks our traffic
// volume to anyone watching IDs (idle scans), a keyed hash of the triple picks
// one of idBuckets counters with random starting values.
const idBuckets = 2048

func (i *Interface) initIDs() {
	seed := maphash.MakeSeed()
	i.idKey = maphash.String(seed, "offload/iface ip id")
	i.flowKey = maphash.String(seed, "offload/iface flow label")
	for k := range i.idents {
		i.idents[k] = uint16(mix64(i.idKey ^ uint64(k)))
	}
}

func (i *Interface) nextID(src, dst uint32, proto uint8) uint16 {
	return i.reserveIDs(src, dst, proto, 1)
}

// reserveIDs takes n consecutive IDs and returns the first: a GSO super-frame
// is cut into segments numbered ID, ID+1, ... further down, and those must not
// be handed out again soon.
func (i *Interface) reserveIDs(src, dst uint32, proto uint8, n int) uint16 {
	h := mix64((uint64(src)<<32 | uint64(dst)) ^ i.idKey ^ uint64(proto)<<17)
	b := &i.idents[h&(idBuckets-1)]
	id := *b + 1
	*b += uint16(n)
	return id
}

// mix64 is the SplitMix64 finaliser: a fast bijective scrambler.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
