//go:build linux

package afxdp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"offload/internal/netns"
)

const xdpTX = 3 // stands for "redirected" in these tests (the miss verdict)

// loadTestProgram loads the filter with XDP_TX as the verdict of an XSKMAP
// miss: with an empty map, 3 means "would have gone to the stack", 2 "passed
// to the host".
func loadTestProgram(t *testing.T, addrs []netip.Addr, all bool) *ebpf.Program {
	t.Helper()
	netns.Require(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	insns, err := program(m.FD(), addrs, all, xdpTX)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: insns, License: "Dual MIT/GPL"})
	if err != nil {
		t.Fatalf("the verifier refused the program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func eth(etype uint16, body []byte) []byte {
	f := make([]byte, 14, 14+len(body)+60)
	binary.BigEndian.PutUint16(f[12:], etype)
	f = append(f, body...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func ipv4(dst netip.Addr) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	d := dst.As4()
	copy(h[16:], d[:])
	return eth(0x0800, h)
}

func arp(target netip.Addr) []byte {
	a := make([]byte, 28)
	tg := target.As4()
	copy(a[24:], tg[:])
	return eth(0x0806, a)
}

func ipv6(dst netip.Addr, next byte, icmpType byte, target netip.Addr) []byte {
	h := make([]byte, 40+24)
	h[0] = 0x60
	h[6] = next
	d := dst.As16()
	copy(h[24:], d[:])
	h[40] = icmpType
	tg := target.As16()
	copy(h[48:], tg[:])
	return eth(0x86dd, h)
}

func TestProgramSteersOnlyFramesForTheStack(t *testing.T) {
	us4 := netip.MustParseAddr("198.18.6.2")
	us4b := netip.MustParseAddr("198.18.7.200")
	us6 := netip.MustParseAddr("2001:db8::2")
	host4 := netip.MustParseAddr("198.18.6.3")
	host6 := netip.MustParseAddr("2001:db8::3")
	snm := func(a netip.Addr) netip.Addr { // solicited-node multicast, RFC 4291 §2.7.1
		b := a.As16()
		return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	}
	hostSameLow := netip.MustParseAddr("2001:db8:1::2") // same low 24 bits as us6
	p := loadTestProgram(t, []netip.Addr{us4, us4b, us6}, false)
	cases := []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"IPv4ToUs", ipv4(us4), xdpTX},
		{"IPv4ToOurSecondAddress", ipv4(us4b), xdpTX},
		{"IPv4ToHost", ipv4(host4), xdpPass},
		{"ARPForUs", arp(us4), xdpTX},
		{"ARPForHost", arp(host4), xdpPass},
		{"IPv6ToUs", ipv6(us6, 6, 0, netip.IPv6Unspecified()), xdpTX},
		{"IPv6ToHost", ipv6(host6, 6, 0, netip.IPv6Unspecified()), xdpPass},
		{"NeighbourSolicitationForUs_RFC4861_7_2_2", ipv6(snm(us6), 58, 135, us6), xdpTX},
		{"NeighbourSolicitationForHostInSameGroup", ipv6(snm(us6), 58, 135, hostSameLow), xdpPass},
		{"NeighbourAdvertisementToGroupStaysWithHost", ipv6(snm(us6), 58, 136, us6), xdpPass},
		{"OtherEtherType", eth(0x88b5, make([]byte, 50)), xdpPass},
		{"VLANTaggedGoesToHost", eth(0x8100, ipv4(us4)[12:]), xdpPass},
		{"TruncatedIPv4", ipv4(us4)[:14+19], xdpPass},
		{"TruncatedARP", arp(us4)[:14+27], xdpPass},
		{"TruncatedSolicitation", ipv6(snm(us6), 58, 135, us6)[:14+40+23], xdpPass},
	}
	for _, c := range cases {
		got, err := p.Run(&ebpf.RunOptions{Data: c.frame})
		if err != nil {
			t.Fatalf("%s: test run: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

func TestProgramRedirectAllTakesEveryFrame(t *testing.T) {
	p := loadTestProgram(t, nil, true)
	for _, f := range [][]byte{ipv4(netip.MustParseAddr("198.18.0.9")), eth(0x88b5, nil), eth(0x8100, nil)} {
		if got, err := p.Run(&ebpf.RunOptions{Data: f}); err != nil || got != xdpTX {
			t.Fatalf("verdict %d, %v; want %d", got, err, xdpTX)
		}
	}
}

func TestProgramNeedsAddressesOrRedirectAll(t *testing.T) {
	if _, err := program(0, nil, false, xdpPass); err == nil {
		t.Fatal("a program steering nothing was built")
	}
	many := make([]netip.Addr, maxAddrs+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
	}
	if _, err := program(0, many, false, xdpPass); err == nil {
		t.Fatalf("%d addresses accepted", len(many))
	}
}

// TestProgramWithManyAddressesPassesTheVerifier: the largest program Open
// can build must load.
func TestProgramWithManyAddressesPassesTheVerifier(t *testing.T) {
	var addrs []netip.Addr
	for i := range maxAddrs / 2 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{198, 18, 2, byte(i)}))
		addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(i)}))
	}
	p := loadTestProgram(t, addrs, false)
	if got, _ := p.Run(&ebpf.RunOptions{Data: ipv4(addrs[len(addrs)-2])}); got != xdpTX {
		t.Fatalf("last IPv4 address: verdict %d", got)
	}
	if got, _ := p.Run(&ebpf.RunOptions{Data: ipv6(addrs[len(addrs)-1], 6, 0, netip.IPv6Unspecified())}); got != xdpTX {
		t.Fatalf("last IPv6 address: verdict %d", got)
	}
}
