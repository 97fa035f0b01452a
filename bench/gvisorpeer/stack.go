package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"offload/bench"
)

type linkConfig struct {
	tap      string // create this TAP device...
	afpacket string // ...or bind an AF_PACKET socket to this interface
	addr     netip.Prefix
	gro      bool
}

const (
	nicID = 1
	// The backlog of our listeners: the kernel's somaxconn default.
	backlog = 4096
	// packetSocketBuffer is what runsc gives its AF_PACKET sockets
	// (SO_RCVBUFFORCE/SO_SNDBUFFORCE): the 208 KiB default drops at speed.
	packetSocketBuffer = 4 << 20
	// gsoMaxSize is the largest TCP super-frame handed to the kernel over
	// AF_PACKET (a veth's gso_max_size).
	gsoMaxSize = 65536
)

// tapMAC is the stack's MAC on the TAP device: locally administered, unicast,
// and different from the kernel side's random one.
var tapMAC = net.HardwareAddr{0x02, 0x67, 0x76, 0x00, 0x00, 0x01}

type peer struct {
	s        *stack.Stack
	fd       int
	addr     tcpip.Address
	describe string // the link and the options, for the bench's notes

	mu        sync.Mutex
	listeners map[uint16]*gonet.TCPListener
}

func newPeer(cfg linkConfig) (*peer, error) {
	var (
		fd   int
		mac  net.HardwareAddr
		mtu  int
		opts fdbased.Options
		desc string
		err  error
	)
	if cfg.tap != "" {
		fd, err = openTAP(cfg.tap)
		if err == nil {
			mac, mtu = tapMAC, 1500
			// A TAP descriptor is not a socket, so fdbased reads it with
			// readv(2) and neither takes nor sends virtio-net headers: no
			// TSO either way, the kernel segments and checksums for us.
			desc = fmt.Sprintf("TAP %s: fdbased endpoint, readv dispatcher, no virtio-net header (no TSO/GSO on a TAP descriptor in fdbased)", cfg.tap)
		}
	} else {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(cfg.afpacket); err == nil {
			mac, mtu = ifi.HardwareAddr, ifi.MTU
			fd, err = openPacket(ifi.Index)
		}
		if err != nil {
			err = fmt.Errorf("interface %s: %w", cfg.afpacket, err)
		}
		// Host GSO as runsc configures it: PACKET_VNET_HDR on the socket, so we
		// hand the kernel TCP super-frames and it segments them (or passes them
		// whole across the veth).
		opts.GSOMaxSize = gsoMaxSize
		opts.PacketDispatchMode = fdbased.RecvMMsg
		desc = fmt.Sprintf("AF_PACKET on %s: fdbased endpoint, recvmmsg dispatcher, host GSO up to %d bytes (PACKET_VNET_HDR), %d MiB socket buffers",
			cfg.afpacket, gsoMaxSize, packetSocketBuffer>>20)
	}
	if err != nil {
		return nil, err
	}
	opts.FDs = []int{fd}
	opts.MTU = uint32(mtu)
	opts.EthernetHeader = true
	opts.Address = tcpip.LinkAddress(mac)
	// runsc's defaults: the kernel vouches for received checksums
	// (rx-checksum-offload), we compute the ones we send unless the frame is
	// a super-frame the kernel finishes.
	opts.RXChecksumOffload = true
	opts.GRO = cfg.gro
	ep, err := fdbased.New(&opts)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fdbased: %w", err)
	}
	if cfg.gro {
		desc += ", gVisor GRO"
	}
	s, err := newStack(ep, cfg.addr)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	bufs, _ := tcpBuffers(s)
	desc += fmt.Sprintf(", MTU %d; TCP: SACK, cubic, Nagle off, %s", mtu, bufs)
	return &peer{s: s, fd: fd, addr: tcpip.AddrFrom4(cfg.addr.Addr().As4()), describe: desc, listeners: map[uint16]*gonet.TCPListener{}}, nil
}

// newStack builds an IPv4 + ARP + TCP stack on ep with addr on it, and TCP
// set up like the kernel it is measured against.
func newStack(ep stack.LinkEndpoint, addr netip.Prefix) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	fail := func(what string, e tcpip.Error) (*stack.Stack, error) {
		s.Close()
		return nil, fmt.Errorf("gVisor: %s: %s", what, e)
	}
	if e := s.CreateNIC(nicID, ep); e != nil {
		return fail("creating the NIC", e)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr.Addr().As4()), PrefixLen: addr.Bits()},
	}
	if e := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); e != nil {
		return fail("adding the address", e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})

	rmem, wmem, err := kernelTCPMem()
	if err != nil {
		s.Close()
		return nil, err
	}
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	cc := tcpip.CongestionControlOption("cubic")
	tw := tcpip.TCPTimeWaitReuseGlobal // like net.ipv4.tcp_tw_reuse=1 that the bench sets for the kernel
	// No Nagle, as Go's sockets to the kernel (TCP_NODELAY), said explicitly:
	// gonet's connections have no SetNoDelay for the workloads to call.
	nagle := tcpip.TCPDelayEnabled(false)
	// Receive: the kernel's tcp_rmem, grown by receive-buffer moderation as
	// the kernel's tcp_moderate_rcvbuf does. Send: gVisor does not grow a
	// send buffer as the kernel does (up to tcp_wmem's maximum), so it starts
	// at that maximum.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: rmem[0], Default: rmem[1], Max: rmem[2]}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: wmem[0], Default: wmem[2], Max: wmem[2]}
	for _, o := range []struct {
		name string
		opt  tcpip.SettableTransportProtocolOption
	}{{"SACK", &sack}, {"receive buffer moderation", &moderate}, {"congestion control", &cc}, {"TIME-WAIT reuse", &tw}, {"Nagle", &nagle},
		{"receive buffer sizes", &rcv}, {"send buffer sizes", &snd}} {
		if e := s.SetTransportProtocolOption(tcp.ProtocolNumber, o.opt); e != nil {
			return fail("setting TCP "+o.name, e)
		}
	}
	// Let SO_RCVBUF-style limits reach the ranges above.
	if e := s.SetOption(tcpip.ReceiveBufferSizeOption{Min: rmem[0], Default: rmem[1], Max: rmem[2]}); e != nil {
		return fail("setting the stack's receive buffer limits", e)
	}
	if e := s.SetOption(tcpip.SendBufferSizeOption{Min: wmem[0], Default: wmem[2], Max: wmem[2]}); e != nil {
		return fail("setting the stack's send buffer limits", e)
	}
	return s, nil
}

// tcpBuffers says what the stack's TCP buffers are.
func tcpBuffers(s *stack.Stack) (string, error) {
	var rcv tcpip.TCPReceiveBufferSizeRangeOption
	var snd tcpip.TCPSendBufferSizeRangeOption
	if e := s.TransportProtocolOption(tcp.ProtocolNumber, &rcv); e != nil {
		return "", fmt.Errorf("%s", e)
	}
	if e := s.TransportProtocolOption(tcp.ProtocolNumber, &snd); e != nil {
		return "", fmt.Errorf("%s", e)
	}
	return fmt.Sprintf("receive buffer %d/%d/%d bytes with moderation, send buffer %d bytes (fixed)",
		rcv.Min, rcv.Default, rcv.Max, snd.Default), nil
}

// kernelTCPMem reads the kernel's tcp_rmem and tcp_wmem (min, default, max)
// of this network namespace.
func kernelTCPMem() (rmem, wmem [3]int, err error) {
	read := func(name string) ([3]int, error) {
		var v [3]int
		b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
		if err != nil {
			return v, err
		}
		f := strings.Fields(string(b))
		if len(f) != 3 {
			return v, fmt.Errorf("%s: %q is not three numbers", name, b)
		}
		for i := range f {
			if v[i], err = strconv.Atoi(f[i]); err != nil || v[i] <= 0 {
				return v, fmt.Errorf("%s: %q is not three numbers", name, b)
			}
		}
		return v, nil
	}
	if rmem, err = read("tcp_rmem"); err == nil {
		wmem, err = read("tcp_wmem")
	}
	return rmem, wmem, err
}

// openTAP creates the TAP device name in this namespace, without packet
// information or virtio-net headers, and brings it up.
func openTAP(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err == nil {
		err = setUp(name)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TAP %s: %w", name, err)
	}
	return fd, nil
}

// setUp brings interface name up (writes to a TAP fail with EIO until then).
func setUp(name string) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

// openPacket opens an AF_PACKET socket on interface index ifindex the way
// runsc does: every protocol, virtio-net headers on, 4 MiB buffers.
func openPacket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, packetSocketBuffer)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, packetSocketBuffer)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("AF_PACKET on interface %d: %w", ifindex, err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (p *peer) close() {
	p.mu.Lock()
	for _, ln := range p.listeners {
		ln.Close()
	}
	p.mu.Unlock()
	p.s.Close()
	p.s.Wait()
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
}

func (p *peer) full(a netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(a.Addr().As4()), Port: a.Port()}
}

func (p *peer) serveOn(kind string, port uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.listeners[port]; ok {
		return fmt.Errorf("already serving port %d", port)
	}
	var wq waiter.Queue
	ep, e := p.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if e != nil {
		return fmt.Errorf("gVisor: %s", e)
	}
	if e := ep.Bind(tcpip.FullAddress{NIC: nicID, Addr: p.addr, Port: port}); e != nil {
		ep.Close()
		return fmt.Errorf("gVisor: binding port %d: %s", port, e)
	}
	// gonet.ListenTCP would listen with a backlog of 10; eight flows dialled at
	// once must not find it full.
	if e := ep.Listen(backlog); e != nil {
		ep.Close()
		return fmt.Errorf("gVisor: listening on port %d: %s", port, e)
	}
	ln := gonet.NewTCPListener(p.s, &wq, ep)
	p.listeners[port] = ln
	if kind == "sink" {
		go bench.Sink(ln)
	} else {
		go bench.Echo(ln)
	}
	return nil
}

func (p *peer) stopServing(port uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, ok := p.listeners[port]
	if !ok {
		return fmt.Errorf("not serving port %d", port)
	}
	delete(p.listeners, port)
	return ln.Close()
}

// dial connects like the kernel party's net.DialTimeout in the bench.
func (p *peer) dial(a netip.AddrPort) (*gonet.TCPConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return gonet.DialContextTCP(ctx, p.s, p.full(a), ipv4.ProtocolNumber)
}

func errReply(err error) reply { return reply{Error: err.Error()} }

func (p *peer) verify(c command) reply {
	conn, err := p.dial(c.addr)
	if err != nil {
		return errReply(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.timeout))
	res, err := bench.Bulk(conn, c.bytes, c.seed, nil)
	r := reply{Bulk: &res}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// flows is the bench's timedFlows on this stack: c.n connections to a Sink,
// then bench.Throughput on all of them at once; the result is all the bytes
// over the time to the last receiver's count. progress is called each time
// another tenth of the bytes has been sent.
func (p *peer) flows(c command, progress func()) reply {
	conns := make([]net.Conn, 0, c.n)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for range c.n {
		conn, err := p.dial(c.addr)
		if err != nil {
			return errReply(err)
		}
		conns = append(conns, conn)
	}
	res, err := bench.Flows(conns, c.bytes, c.timeout, progress)
	r := reply{Bulk: &res}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func (p *peer) rr(c command) reply {
	conn, err := p.dial(c.addr)
	if err != nil {
		return errReply(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.timeout))
	lat, err := bench.RequestResponse(conn, c.n, c.warm, c.rounds)
	r := reply{Latency: &lat}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// rrLoad is bench.RequestResponseLoaded over c.conns connections.
func (p *peer) rrLoad(c command) reply {
	var conns []net.Conn
	defer func() {
		for _, k := range conns {
			k.Close()
		}
	}()
	deadline := time.Now().Add(c.timeout)
	for range c.conns {
		k, err := p.dial(c.addr)
		if err != nil {
			return errReply(err)
		}
		k.SetDeadline(deadline)
		conns = append(conns, k)
	}
	res, err := bench.RequestResponseLoaded(conns, c.n, c.warm, c.rounds)
	r := reply{Loaded: &res}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// cps is the bench's connectionRate on this stack: connect, one request of
// c.n bytes, its reply, close, one connection at a time, until c.timeout has
// passed or c.rounds connections were made.
func (p *peer) cps(c command) reply {
	dial := func() (net.Conn, error) {
		conn, err := p.dial(c.addr)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return conn, nil
	}
	n, el, err := bench.ConnectionRate(dial, c.n, c.timeout, c.rounds)
	r := reply{Conns: n, Elapsed: el}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}
