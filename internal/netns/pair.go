//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// PairConfig describes two namespaces joined by a veth pair.
type PairConfig struct {
	// Name is part of both namespaces' names ("pair" if empty).
	Name string
	// IfA and IfB name the veth ends ("veth-a", "veth-b" if empty).
	IfA, IfB string
	// AddrA and AddrB, if valid, are assigned to the ends (inside BenchRange
	// or BenchRange6; see Host.AddAddr). An IPv6 address needs DisableIPv6 false.
	AddrA, AddrB netip.Prefix
	// MTU of both ends (the kernel's 1500 if 0).
	MTU int
	// Queues: receive and transmit queues on each end (1 if 0), for tests of
	// multi-queue links (AF_XDP binds one socket per queue).
	Queues int
	// Offloads switched on (true) or off (false) on both ends, like ethtool -K.
	Offloads map[Offload]bool
	// DisableIPv6 turns IPv6 off on both ends, so frame-level tests do not see
	// router solicitations and MLD reports.
	DisableIPv6 bool
}

// Pair is two hosts joined by a veth pair, both ends up.
type Pair struct {
	A, B         *Host
	IfA, IfB     string
	AddrA, AddrB netip.Prefix
	MACA, MACB   net.HardwareAddr
	IndexA       int // IfA's index inside A
	IndexB       int // IfB's index inside B
}

// CreatePair builds two namespaces and a veth pair between them. The pair never
// exists in the caller's namespace: it is created in A with its peer end placed
// straight into B.
func CreatePair(cfg PairConfig) (p *Pair, err error) {
	if cfg.Name == "" {
		cfg.Name = "pair"
	}
	if cfg.IfA == "" {
		cfg.IfA = "veth-a"
	}
	if cfg.IfB == "" {
		cfg.IfB = "veth-b"
	}
	for _, a := range []netip.Prefix{cfg.AddrA, cfg.AddrB} {
		if !a.IsValid() {
			continue
		}
		if err := checkAddr(a); err != nil {
			return nil, err
		}
		if a.Addr().Is6() && cfg.DisableIPv6 {
			return nil, fmt.Errorf("netns: IPv6 address %v on a pair with DisableIPv6", a)
		}
	}
	p = &Pair{IfA: cfg.IfA, IfB: cfg.IfB, AddrA: cfg.AddrA, AddrB: cfg.AddrB}
	defer func() {
		if err != nil {
			p.Close()
			p = nil
		}
	}()
	if p.A, err = Create(cfg.Name + "a"); err != nil {
		return p, err
	}
	if p.B, err = Create(cfg.Name + "b"); err != nil {
		return p, err
	}
	veth := netlink.NewVeth(netlink.LinkAttrs{Name: cfg.IfA, MTU: cfg.MTU})
	veth.PeerName = cfg.IfB
	veth.PeerNamespace = netlink.NsFd(int(p.B.ns))
	if cfg.Queues > 0 {
		veth.NumTxQueues, veth.NumRxQueues = cfg.Queues, cfg.Queues
		veth.PeerNumTxQueues, veth.PeerNumRxQueues = uint32(cfg.Queues), uint32(cfg.Queues)
	}
	if err = p.A.nl.LinkAdd(veth); err != nil {
		return p, fmt.Errorf("netns: create veth pair %s/%s: %w", cfg.IfA, cfg.IfB, err)
	}
	ends := []struct {
		h    *Host
		name string
		addr netip.Prefix
		mac  *net.HardwareAddr
		idx  *int
	}{{p.A, cfg.IfA, cfg.AddrA, &p.MACA, &p.IndexA}, {p.B, cfg.IfB, cfg.AddrB, &p.MACB, &p.IndexB}}
	for _, e := range ends {
		if cfg.DisableIPv6 {
			// Before the link goes up, so not even a link-local address appears.
			if err = e.h.Sysctl("net.ipv6.conf."+e.name+".disable_ipv6", "1"); err != nil {
				return p, err
			}
		}
		for o, on := range cfg.Offloads {
			if err = e.h.SetOffload(e.name, on, o); err != nil {
				return p, err
			}
		}
		if e.addr.IsValid() {
			if err = e.h.AddAddr(e.name, e.addr); err != nil {
				return p, err
			}
		}
		if err = e.h.SetLinkUp(e.name); err != nil {
			return p, err
		}
		// The address was added while the link was down: it is joined now.
		if e.addr.Addr().Is6() {
			if err = e.h.waitSolicitedNode(e.name, e.addr.Addr()); err != nil {
				return p, err
			}
		}
		if *e.mac, err = e.h.HardwareAddr(e.name); err != nil {
			return p, err
		}
		if *e.idx, err = e.h.LinkIndex(e.name); err != nil {
			return p, err
		}
	}
	return p, nil
}

// NewPair is CreatePair for tests: skips when not privileged, fails on error,
// removes both namespaces when the test ends.
func NewPair(t testing.TB, cfg PairConfig) *Pair {
	t.Helper()
	Require(t)
	p, err := CreatePair(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	return p
}

// Close deletes both namespaces (and with them the veth pair).
func (p *Pair) Close() error {
	var errs []error
	for _, h := range []*Host{p.A, p.B} {
		if h != nil {
			errs = append(errs, h.Close())
		}
	}
	return errors.Join(errs...)
}
