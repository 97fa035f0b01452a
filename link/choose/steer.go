//go:build linux

package choose

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"

	"offload/internal/sys"
	"offload/link"
	"offload/link/tap"
)

// Ethernet protocol numbers for tc filters (host order; the netlink library
// swaps them).
const (
	ethPAll  = 0x0003
	ethPIPv4 = 0x0800
	ethPARP  = 0x0806
	ethPIPv6 = 0x86dd
)

// ErrNoInterface: the interface does not exist in the namespace.
var ErrNoInterface = errors.New("choose: no such interface in this network namespace (set Options.Netns)")

// SteeredTAP is a TAP device joined to an existing interface with tc, the
// last step of the chain: it needs CAP_NET_ADMIN only (no BPF, no raw
// sockets). On the interface's ingress hook (a clsact qdisc, added if the
// interface has neither clsact nor ingress) u32 filters steer the frames
// meant for the stack (IPv4 to its addresses, ARP whose target is one of
// them, IPv6 to them, and NDP neighbour solicitations for them) to the TAP
// with a mirred egress redirect: they come out of the TAP's reader, our
// Recv. Everything else goes on to the host's kernel, which keeps the
// interface. What the stack writes enters the kernel on the TAP, whose own
// ingress hook redirects every frame to the interface's egress: onto the
// wire. The kernel's IP layer never sees the stack's frames either way.
//
// The stack's MAC is the interface's own (a NIC filters unicast frames to
// other MACs), and the TAP has the interface's MTU, the virtio-net header
// and TSO both ways (super-frames the interface receives arrive whole; ours
// are cut by the interface's driver or in software by the kernel on
// transmit).
//
// The filters are not tied to the process: Close removes them, the qdisc
// (only if it added it) and the TAP. If the process dies without Close the
// TAP goes away with its descriptor, and the filters left on the interface
// redirect to a device that no longer exists, which drops the stack's frames
// (never the host's) until the next open of the TAP step on that interface
// removes them (reapDeadRedirects).
type SteeredTAP struct {
	*tap.Device
	iface    string
	ifindex  int
	nl       *netlink.Handle // a socket in the interface's namespace
	prios    []filterID      // our filters on the interface's ingress
	addedQd  netlink.Qdisc   // the clsact qdisc we added to the interface, or nil
	closeErr error
	once     sync.Once
}

var _ link.Device = (*SteeredTAP)(nil)

type filterID struct {
	prio  uint16
	proto uint16
}

// Interface returns the name of the interface the TAP is joined to.
func (s *SteeredTAP) Interface() string { return s.iface }

// Close removes the filters from the interface (and the clsact qdisc if we
// added it and no one else has filters on it since), then closes the TAP,
// which takes its own qdisc and filter with it.
func (s *SteeredTAP) Close() error {
	s.once.Do(func() {
		s.closeErr = s.unsteer()
		s.Device.Close()
		s.nl.Close()
	})
	return s.closeErr
}

// unsteer removes what openSteeredTAP added to the interface.
func (s *SteeredTAP) unsteer() error {
	var errs []error
	for _, f := range s.prios {
		// Handle 0 with a priority and protocol deletes the whole filter
		// list at that priority: only ours are there.
		err := s.nl.FilterDel(&netlink.U32{FilterAttrs: netlink.FilterAttrs{
			LinkIndex: s.ifindex, Parent: netlink.HANDLE_MIN_INGRESS, Priority: f.prio, Protocol: f.proto}})
		if err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, fmt.Errorf("choose: remove tc filter %d from %s: %w", f.prio, s.iface, err))
		}
	}
	s.prios = nil
	if s.addedQd != nil {
		link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: s.ifindex}}
		if fs, err := s.nl.FilterList(link, netlink.HANDLE_MIN_INGRESS); err == nil && len(fs) == 0 {
			if egress, err := s.nl.FilterList(link, netlink.HANDLE_MIN_EGRESS); err == nil && len(egress) == 0 {
				if err := s.nl.QdiscDel(s.addedQd); err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EINVAL) {
					errs = append(errs, fmt.Errorf("choose: remove clsact qdisc from %s: %w", s.iface, err))
				}
			}
		}
		s.addedQd = nil
	}
	return errors.Join(errs...)
}

// steerFilters returns the u32 filters (protocol, selector) that pick out
// the frames for addrs. u32 offsets count from the network header; each
// filter is one conjunction of 32-bit masked compares.
func steerFilters(addrs []netip.Addr) map[uint16][]*netlink.TcU32Sel {
	be := func(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
	sel := func(keys ...netlink.TcU32Key) *netlink.TcU32Sel {
		return &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: keys}
	}
	word := func(off int32, v uint32) netlink.TcU32Key {
		return netlink.TcU32Key{Mask: 0xffffffff, Val: v, Off: off}
	}
	out := map[uint16][]*netlink.TcU32Sel{}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			b := a.As4()
			out[ethPIPv4] = append(out[ethPIPv4], sel(word(16, be(b[:])))) // destination address
			out[ethPARP] = append(out[ethPARP], sel(word(24, be(b[:]))))   // target protocol address
			continue
		}
		b := a.As16()
		addr16 := func(off int32) []netlink.TcU32Key {
			return []netlink.TcU32Key{word(off, be(b[0:])), word(off+4, be(b[4:])), word(off+8, be(b[8:])), word(off+12, be(b[12:]))}
		}
		out[ethPIPv6] = append(out[ethPIPv6], sel(addr16(24)...)) // destination address
		// A neighbour solicitation for a (RFC 4861 §7.2.2): to its
		// solicited-node group ff02::1:ffXX:XXXX (RFC 4291 §2.7.1), next
		// header ICMPv6 (no extension headers), type 135, target a. Other
		// solicitations to the same group stay with the host.
		ns := []netlink.TcU32Key{
			word(24, 0xff020000), word(28, 0), word(32, 1), word(36, 0xff000000|be(b[12:])&0xffffff),
			{Mask: 0x0000ff00, Val: 58 << 8, Off: 4},
			{Mask: 0xff000000, Val: 135 << 24, Off: 40},
		}
		out[ethPIPv6] = append(out[ethPIPv6], sel(append(ns, addr16(48)...)...))
	}
	return out
}

// ifaceIsTUN reports whether the interface (in the calling thread's
// namespace) is a TUN/TAP device, the case /sys/class/net/NAME/tun_flags
// marks; the driver's name says the same without a /sys of the namespace.
func ifaceIsTUN(name string) bool {
	drv, err := sys.LinkDriver(name)
	return err == nil && drv == "tun"
}

// openSteeredTAP creates a TAP device in the calling thread's namespace and
// joins it to iface with tc (see SteeredTAP).
func openSteeredTAP(iface string, addrs []netip.Addr, cfg tap.Config) (s *SteeredTAP, err error) {
	if len(addrs) == 0 {
		return nil, errors.New("choose: no addresses to steer to the TAP device: set Options.Addrs")
	}
	for _, a := range addrs {
		if !a.IsValid() || a.Unmap().IsUnspecified() || a.Unmap().IsMulticast() {
			return nil, fmt.Errorf("choose: cannot steer address %v", a)
		}
	}
	h, err := netlink.NewHandle(syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("choose: netlink: %w", err)
	}
	s = &SteeredTAP{iface: iface, nl: h}
	defer func() {
		if err != nil {
			s.unsteer()
			if s.Device != nil {
				s.Device.Close()
			}
			h.Close()
			s = nil
		}
	}()
	nic, err := h.LinkByName(iface)
	if err != nil {
		return s, fmt.Errorf("%w: %q: %v", ErrNoInterface, iface, err)
	}
	s.ifindex = nic.Attrs().Index
	mac := nic.Attrs().HardwareAddr
	if len(mac) != 6 || mac[0]&1 != 0 || [6]byte(mac) == [6]byte{} {
		return s, fmt.Errorf("choose: %s is not an Ethernet interface (hardware address %v): a TAP device cannot be joined to it", iface, mac)
	}
	cfg.Netns = ""
	cfg.MTU = nic.Attrs().MTU
	cfg.TSO = true
	if cfg.HardwareAddr == [6]byte{} {
		cfg.HardwareAddr = [6]byte(mac)
	}
	if s.Device, err = tap.Open(cfg); err != nil {
		return s, err
	}
	tapName := s.Device.IfName()
	// The kernel's side of the TAP carries only frames redirected through
	// it; IPv6 left on would send our stack its router solicitations and
	// MLD reports. Best effort: a kernel without IPv6 has no such file.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+tapName+"/disable_ipv6", []byte("1"), 0)
	tl, err := h.LinkByName(tapName)
	if err != nil {
		return s, fmt.Errorf("choose: the new TAP %s: %w", tapName, err)
	}
	// The TAP's ingress (what we write) goes to the interface's egress.
	if err := h.QdiscAdd(clsact(tl.Attrs().Index)); err != nil {
		return s, fmt.Errorf("choose: add a clsact qdisc to %s: %w", tapName, err)
	}
	if err := h.FilterAdd(&netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: tl.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS, Priority: 1, Protocol: ethPAll},
		Actions:     []netlink.Action{netlink.NewMirredAction(s.ifindex)},
	}); err != nil {
		return s, fmt.Errorf("choose: redirect %s's ingress to %s: %w", tapName, iface, err)
	}
	// The interface's ingress: an existing clsact or ingress qdisc is used
	// as it is, else we add clsact (and remove it on Close).
	qds, err := h.QdiscList(nic)
	if err != nil {
		return s, fmt.Errorf("choose: list %s's qdiscs: %w", iface, err)
	}
	hook := false
	for _, q := range qds {
		if q.Attrs().Parent == netlink.HANDLE_INGRESS {
			hook = true
		}
	}
	if !hook {
		q := clsact(s.ifindex)
		if err := h.QdiscAdd(q); err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				return s, fmt.Errorf("choose: tc on %s needs CAP_NET_ADMIN: %w", iface, err)
			}
			return s, fmt.Errorf("choose: add a clsact qdisc to %s: %w", iface, err)
		}
		s.addedQd = q
	}
	if err := reapDeadRedirects(h, nic); err != nil {
		return s, err
	}
	existing, err := h.FilterList(nic, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return s, fmt.Errorf("choose: list %s's ingress filters: %w", iface, err)
	}
	used := map[uint16]bool{}
	for _, f := range existing {
		used[f.Attrs().Priority] = true
	}
	// Lowest free priorities: ours run before filters added without one
	// (tc numbers those from 49152 down), so they see the frames first.
	next := uint16(1)
	filters := steerFilters(addrs)
	protos := make([]uint16, 0, len(filters))
	for p := range filters {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	for _, proto := range protos {
		for used[next] {
			next++
		}
		id := filterID{prio: next, proto: proto}
		used[next] = true
		for _, sel := range filters[proto] {
			err := h.FilterAdd(&netlink.U32{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: s.ifindex, Parent: netlink.HANDLE_MIN_INGRESS, Priority: id.prio, Protocol: proto},
				Sel:         sel,
				Actions:     []netlink.Action{netlink.NewMirredAction(tl.Attrs().Index)},
			})
			if err != nil {
				return s, fmt.Errorf("choose: steer to %s on %s's ingress: %w", tapName, iface, err)
			}
			if !slices.Contains(s.prios, id) {
				s.prios = append(s.prios, id)
			}
		}
	}
	return s, nil
}

// reapDeadRedirects deletes the u32 filters on nic's ingress whose mirred
// action redirects to an interface that no longer exists: what a process
// killed while it used the TAP step leaves behind. Such a filter can only
// drop the frames it matches, and it would run before our new ones (it holds
// the lower priority), so the stack would never see its frames again.
func reapDeadRedirects(h *netlink.Handle, nic netlink.Link) error {
	fs, err := h.FilterList(nic, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
			return nil // no ingress hook: nothing to reap
		}
		return fmt.Errorf("choose: list %s's ingress filters: %w", nic.Attrs().Name, err)
	}
	for _, f := range fs {
		u, ok := f.(*netlink.U32)
		if !ok || u.Attrs().Handle == 0 || len(u.Actions) == 0 {
			continue
		}
		dead := false
		for _, a := range u.Actions {
			if m, ok := a.(*netlink.MirredAction); ok && m.MirredAction == netlink.TCA_EGRESS_REDIR {
				if _, err := h.LinkByIndex(m.Ifindex); err != nil {
					dead = true
				}
			}
		}
		if !dead {
			continue
		}
		del := &netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: nic.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
			Priority: u.Attrs().Priority, Protocol: u.Attrs().Protocol, Handle: u.Attrs().Handle}}
		if err := h.FilterDel(del); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("choose: remove a filter left by a dead process from %s: %w", nic.Attrs().Name, err)
		}
	}
	return nil
}

func clsact(ifindex int) *netlink.Clsact {
	return &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
}
