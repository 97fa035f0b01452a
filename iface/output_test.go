package iface

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"offload/clock"
	"offload/pkt"
	"offload/wire"
)

func TestRouteSelection(t *testing.T) {
	i := newIface(t, func(c *Config) {
		c.Addrs = []netip.Prefix{
			netip.MustParsePrefix("198.18.0.1/24"),
			netip.MustParsePrefix("198.18.0.129/25"), // longer prefix inside the first
			netip.MustParsePrefix("198.19.1.1/16"),
		}
	})
	noGW := newIface(t, func(c *Config) { c.Gateway = netip.Addr{} })
	// Two addresses in one subnet: the first configured is the primary source.
	twoInOne := newIface(t, func(c *Config) {
		c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.18.0.2/24")}
	})
	cases := []struct {
		iface    *Interface
		dst      string
		src, hop string // "" = no route
	}{
		{i, "198.18.0.7", "198.18.0.1", "198.18.0.7"},
		{i, "198.18.0.200", "198.18.0.129", "198.18.0.200"}, // longest prefix wins
		{i, "198.19.200.3", "198.19.1.1", "198.19.200.3"},
		{i, "8.8.8.8", "198.18.0.129", "198.18.0.254"}, // gateway, from the address of its (longest) subnet
		{i, "198.18.0.1", "", ""},                      // ourselves
		{i, "127.0.0.1", "", ""},
		{i, "0.0.0.0", "", ""},
		{i, "0.1.2.3", "", ""},
		{i, "198.18.0.0", "", ""},                           // network address of the /24
		{i, "198.18.0.255", "198.18.0.129", "198.18.0.255"}, // directed broadcast of both subnets
		{i, "2001:db8::1", "", ""},
		{i, "255.255.255.255", "198.18.0.1", "255.255.255.255"},
		{i, "::ffff:198.18.0.9", "198.18.0.1", "198.18.0.9"},
		{noGW, "8.8.8.8", "", ""},
		{noGW, "198.18.0.9", "198.18.0.1", "198.18.0.9"},
		{twoInOne, "198.18.0.9", "198.18.0.1", "198.18.0.9"},
		{twoInOne, "8.8.8.8", "198.18.0.1", "198.18.0.254"},
	}
	for _, tc := range cases {
		src, hop, ok := tc.iface.Route(netip.MustParseAddr(tc.dst))
		if tc.src == "" {
			if ok {
				t.Errorf("%s: route %v via %v, want none", tc.dst, src, hop)
			}
			continue
		}
		if !ok || src.String() != tc.src || hop.String() != tc.hop {
			t.Errorf("%s: got %v via %v (ok=%v), want %s via %s", tc.dst, src, hop, ok, tc.src, tc.hop)
		}
	}
}

func TestOutputOffLinkGoesToGatewayMAC(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, gwIP, gwMAC)
	var c capture
	if err := i.Output(t0, transportBuf(i, []byte("x")), &OutFields{Dst: farIP, Proto: wire.ProtoUDP}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	e := mustEth(t, fr[0].Bytes())
	if e.Dst() != gwMAC || mustIPv4(t, e.Payload()).Dst() != farIP {
		t.Fatalf("eth %+v", e.Fields())
	}
}

func TestOutputBuildsExactHeaderWithTTLTOSDF_RFC791(t *testing.T) {
	i := newIface(t, func(c *Config) { c.TTL = 33 })
	learn(t, i, t0, peerIP, peerMAC)
	var c capture
	payload := []byte("0123456789")
	for _, tc := range []struct {
		f       OutFields
		wantTTL uint8
	}{
		{OutFields{Dst: peerIP, Proto: wire.ProtoTCP, TOS: 0xb8, DontFragment: true}, 33},
		{OutFields{Src: ourIP, Dst: peerIP, Proto: wire.ProtoUDP, TOS: 0x01, TTL: 7}, 7},
	} {
		if err := i.Output(t0, transportBuf(i, payload), &tc.f, &c); err != nil {
			t.Fatal(err)
		}
		fr := c.take()
		p := mustIPv4(t, mustEth(t, fr[0].Bytes()).Payload())
		want := ethHdr(peerMAC, ourMAC, wire.EtherTypeIPv4)
		want = append(want, ipPacket(wire.IPv4Fields{
			TOS: tc.f.TOS, ID: p.ID(), DontFragment: tc.f.DontFragment, TTL: tc.wantTTL,
			Protocol: tc.f.Proto, Src: ourIP, Dst: peerIP,
		}, payload)...)
		if !bytes.Equal(fr[0].Bytes(), want) {
			t.Fatalf("%+v:\n got %x\nwant %x", tc.f, fr[0].Bytes(), want)
		}
	}
}

func TestOutputIPIDsIncrementPerDestination_RFC6864(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, peerIP, peerMAC)
	var c capture
	var ids []uint16
	for range 3 {
		i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
		ids = append(ids, mustIPv4(t, mustEth(t, c.take()[0].Bytes()).Payload()).ID())
	}
	if ids[1] != ids[0]+1 || ids[2] != ids[1]+1 {
		t.Fatalf("IDs %v do not increment", ids)
	}
	// A GSO super-frame of 4 segments uses 4 IDs (the segmenter numbers them).
	buf := transportBuf(i, make([]byte, 4000))
	buf.Meta.GSO, buf.Meta.GSOSize = pkt.GSOTCPv4, 1000
	i.Output(t0, buf, &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	first := mustIPv4(t, mustEth(t, c.take()[0].Bytes()).Payload()).ID()
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c)
	after := mustIPv4(t, mustEth(t, c.take()[0].Bytes()).Payload()).ID()
	if first != ids[2]+1 || after != first+4 {
		t.Fatalf("super-frame ID %d (want %d), next ID %d (want %d)", first, ids[2]+1, after, first+4)
	}
}

func TestOutputErrorsReleaseBufferAndCount(t *testing.T) {
	noGW := newIface(t, func(c *Config) { c.Gateway = netip.Addr{}; c.MTU = 100 })
	pool := pkt.NewPool(1, 256, 64)
	var c capture
	cases := []struct {
		name string
		f    OutFields
		n    int
		want error
	}{
		{"no route", OutFields{Dst: farIP}, 10, ErrNoRoute},
		{"IPv6", OutFields{Dst: netip.MustParseAddr("2001:db8::1")}, 10, ErrNoRoute},
		{"foreign source", OutFields{Src: peerIP, Dst: peerIP}, 10, ErrBadSource},
		{"above MTU", OutFields{Dst: peerIP}, 81, ErrTooBig},
	}
	for _, tc := range cases {
		buf := pool.Get()
		if buf == nil {
			t.Fatalf("%s: previous case did not release its buffer", tc.name)
		}
		buf.Append(tc.n)
		if err := noGW.Output(t0, buf, &tc.f, &c); !errors.Is(err, tc.want) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	buf := pool.Get()
	buf.Reset(10)
	if err := noGW.Output(t0, buf, &OutFields{Dst: peerIP}, &c); !errors.Is(err, ErrNoHeadroom) {
		t.Fatalf("err %v, want ErrNoHeadroom", err)
	}
	if pool.Available() != 1 || len(c.frames) != 0 {
		t.Fatal("buffer kept or sent after an error")
	}
	s := noGW.Stats()
	if s.TxNoRoute != 2 || s.TxBadSource != 1 || s.TxTooBig != 1 || s.TxBadArgs != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Exactly at the MTU is fine.
	buf = pool.Get()
	buf.Append(80)
	if err := noGW.Output(t0, buf, &OutFields{Dst: peerIP}, &c); err != nil {
		t.Fatalf("packet of exactly MTU: %v", err)
	}
}

func TestOutputGSOSuperFrameMayExceedMTUAndCsumStartMoves(t *testing.T) {
	i := newIface(t, nil)
	learn(t, i, t0, peerIP, peerMAC)
	var c capture
	buf := transportBuf(i, make([]byte, 20000))
	buf.Meta.GSO = pkt.GSOTCPv4
	buf.Meta.Checksum = pkt.ChecksumPartial
	buf.Meta.CsumStart = 0
	buf.Meta.CsumOffset = 16
	if err := i.Output(t0, buf, &OutFields{Dst: peerIP, Proto: wire.ProtoTCP, DontFragment: true}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	if got := fr[0].Meta.CsumStart; got != 14+20 {
		t.Fatalf("CsumStart %d, want 34 (start of TCP in the frame)", got)
	}
	if p := mustIPv4(t, mustEth(t, fr[0].Bytes()).Payload()); p.TotalLen() != 20020 {
		t.Fatalf("total length %d", p.TotalLen())
	}
	big := transportBuf(i, make([]byte, 65536-20))
	big.Meta.GSO = pkt.GSOTCPv4
	if err := i.Output(t0, big, &OutFields{Dst: peerIP, Proto: wire.ProtoTCP}, &c); !errors.Is(err, ErrTooBig) {
		t.Fatalf("65536-byte IP packet: %v", err)
	}
}

func TestOutputToBroadcastAndMulticastNeedsNoARP_RFC1112_6_4(t *testing.T) {
	i := newIface(t, nil)
	var c capture
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: bcastIP, Proto: wire.ProtoUDP}, &c)
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: netip.MustParseAddr("239.129.2.3"), Proto: wire.ProtoUDP}, &c)
	fr := c.take()
	if len(fr) != 2 {
		t.Fatalf("sent %d frames", len(fr))
	}
	if d := mustEth(t, fr[0].Bytes()).Dst(); d != wire.BroadcastMAC {
		t.Fatalf("broadcast to %v", d)
	}
	e := mustEth(t, fr[1].Bytes())
	if d := e.Dst(); d != (wire.MAC{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}) {
		t.Fatalf("multicast to %v", d)
	}
	if ttl := mustIPv4(t, e.Payload()).TTL(); ttl != 1 {
		t.Fatalf("multicast default TTL %d, want 1", ttl)
	}
}

func TestL3InterfaceHasNoEthernetOrARP(t *testing.T) {
	i := newIface(t, func(c *Config) { c.L2 = false; c.HardwareAddr = wire.MAC{} })
	if i.Headroom() != 20 {
		t.Fatalf("headroom %d", i.Headroom())
	}
	var c capture
	if err := i.Output(t0, transportBuf(i, []byte("x")), &OutFields{Dst: peerIP, Proto: wire.ProtoUDP}, &c); err != nil {
		t.Fatal(err)
	}
	fr := c.take()
	if len(fr) != 1 {
		t.Fatalf("sent %d", len(fr))
	}
	if p := mustIPv4(t, fr[0].Bytes()); p.Dst() != peerIP {
		t.Fatalf("dst %v", p.Dst())
	}
	seg := tcpSegment(peerIP, ourIP, 1, 80, []byte("y"))
	in, ok := i.Input(t0, frameOf(ipPacket(wire.IPv4Fields{Protocol: wire.ProtoTCP, Src: peerIP, Dst: ourIP}, seg)), &c)
	if !ok || in.PayloadOffset != 20 {
		t.Fatalf("ok=%v offset %d", ok, in.PayloadOffset)
	}
	// Echo replies go back as bare IP.
	i.Input(t0, frameOf(ipPacket(wire.IPv4Fields{Protocol: wire.ProtoICMP, Src: peerIP, Dst: ourIP}, echoRequest(1, 2, nil))), &c)
	fr = c.take()
	if len(fr) != 1 || mustIPv4(t, fr[0].Bytes()).Dst() != peerIP {
		t.Fatal("no bare-IP echo reply")
	}
	// An IPv6 packet is counted as unsupported, not as a bad IPv4 header.
	i.Input(t0, frameOf([]byte{0x60, 0, 0, 0}), &c)
	if s := i.Stats(); s.RxUnsupported != 1 {
		t.Fatalf("stats %+v", s)
	}
	if i.Deadline() != clock.Never {
		t.Fatal("L3 interface has a deadline")
	}
	i.Poll(t0, &c)
}

func TestNewRejectsBadConfigWithClearErrors(t *testing.T) {
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.MTU = 67 }, "MTU"},
		{func(c *Config) { c.MTU = 70000 }, "MTU"},
		{func(c *Config) { c.Addrs = nil }, "no addresses"},
		{func(c *Config) { c.Addrs = append(c.Addrs, netip.MustParsePrefix("2001:db8::1/64")); c.MTU = 1279 }, "IPv6's minimum"},
		{func(c *Config) { c.Gateway6 = netip.MustParseAddr("fe80::1") }, "needs an IPv6 address"},
		{func(c *Config) {
			c.Addrs = append(c.Addrs, netip.MustParsePrefix("2001:db8::1/64"))
			c.Gateway6 = netip.MustParseAddr("ff02::2")
		}, "IPv6 gateway"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")} }, "needs an IPv4 address"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("ff02::1/64")} }, "unicast"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("::ffff:198.18.0.1/120")} }, "unicast"},
		{func(c *Config) { c.ReassemblyDatagrams = -1 }, "ReassemblyDatagrams"},
		{func(c *Config) { c.ReassemblyTimeout = -1 }, "negative"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")} }, "network or broadcast"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.255/24")} }, "network or broadcast"},
		{func(c *Config) { c.Addrs = []netip.Prefix{netip.MustParsePrefix("224.0.0.1/24")} }, "unicast"},
		{func(c *Config) { c.Addrs = append(c.Addrs, c.Addrs[0]) }, "twice"},
		{func(c *Config) { c.HardwareAddr = wire.MAC{} }, "unicast MAC"},
		{func(c *Config) { c.HardwareAddr = wire.BroadcastMAC }, "unicast MAC"},
		{func(c *Config) { c.VLAN = 4095 }, "VLAN"},
		{func(c *Config) { c.L2 = false; c.VLAN = 3 }, "VLAN"},
		{func(c *Config) { c.Gateway = netip.MustParseAddr("198.18.0.255") }, "gateway"},
		{func(c *Config) { c.Gateway = netip.MustParseAddr("198.18.0.1") }, "gateway"},
		{func(c *Config) { c.NeighborCacheSize = -1 }, "NeighborCacheSize"},
		{func(c *Config) { c.PendingPerNeighbor = -1 }, "PendingPerNeighbor"},
		{func(c *Config) { c.DeviceHeadroom = -1 }, "DeviceHeadroom"},
		{func(c *Config) { c.NeighborTTL = -1 }, "negative"},
	}
	for _, tc := range cases {
		cfg := baseConfig()
		tc.mod(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %+v: err %v, want one mentioning %q", cfg, err, tc.want)
		}
	}
	// /31 (RFC 3021) has no network or broadcast address: both ends are hosts.
	cfg := baseConfig()
	cfg.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/31")}
	cfg.Gateway = netip.MustParseAddr("198.18.0.1")
	if _, err := New(cfg); err != nil {
		t.Fatalf("/31: %v", err)
	}
}

func TestDeviceHeadroomIsReservedInControlFramesAndHeadroom(t *testing.T) {
	i := newIface(t, func(c *Config) { c.DeviceHeadroom = 10 })
	if i.Headroom() != 10+14+20 {
		t.Fatalf("headroom %d", i.Headroom())
	}
	var c capture
	i.Input(t0, frameOf(arpFrame(wire.ARPRequest, wire.BroadcastMAC, peerMAC, peerIP, wire.MAC{}, ourIP)), &c)
	fr := c.take()
	if len(fr) != 1 || fr[0].Headroom() != 10 {
		t.Fatalf("ARP reply headroom %d", fr[0].Headroom())
	}
}

// Cloud-style addressing: a /32 address with a gateway outside every subnet is
// treated as on-link; it is resolved with ARP from our address and used.
func TestSlash32AddressWithOnLinkGateway(t *testing.T) {
	me := netip.MustParseAddr("198.18.5.5")
	i := newIface(t, func(c *Config) { c.Addrs = []netip.Prefix{netip.PrefixFrom(me, 32)} })
	src, hop, ok := i.Route(farIP)
	if !ok || src != me || hop != gwIP {
		t.Fatalf("route %v via %v ok=%v", src, hop, ok)
	}
	var c capture
	i.Output(t0, transportBuf(i, []byte{1}), &OutFields{Dst: farIP, Proto: wire.ProtoUDP}, &c)
	fr := c.take()
	want := arpFrame(wire.ARPRequest, wire.BroadcastMAC, ourMAC, me, wire.MAC{}, gwIP)
	if len(fr) != 1 || !bytes.Equal(fr[0].Bytes(), want) {
		t.Fatalf("sent %d frames, want an ARP request for the gateway", len(fr))
	}
	i.Input(t0, frameOf(arpFrame(wire.ARPReply, ourMAC, gwMAC, gwIP, ourMAC, me)), &c)
	fr = c.take()
	if len(fr) != 1 || mustEth(t, fr[0].Bytes()).Dst() != gwMAC {
		t.Fatalf("queued packet not flushed to the gateway")
	}
}
