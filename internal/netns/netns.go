//go:build linux

// Package netns builds test hosts out of Linux network namespaces: a Host is a
// namespace with its own interfaces, addresses and kernel TCP/IP stack; a Pair is
// two hosts joined by a veth pair. Tests and `offload demo` use them to run the
// Linux kernel as the peer of our stack on a real link, without touching the
// machine's own network.
//
// Every namespace is named offl-<pid>-<seq>-<name> and bind-mounted under
// /run/netns like `ip netns add` does, so `ip netns list` shows it and
// `ip netns exec` works. Close (or the test's Cleanup) kills the processes left
// in it, by PID, and deletes it; the veth ends in it go with it. The first
// namespace a process creates also removes leftovers of earlier runs whose
// process is gone (a crash, a killed test binary).
//
// Only addresses from the benchmarking ranges may be assigned: 198.18.0.0/15
// for IPv4 (RFC 2544) and 2001:2::/48 for IPv6 (RFC 5180). IPv6 addresses are
// added without duplicate address detection, so they are usable at once.
//
// All of this needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN: see CheckPrivileges.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"offload/internal/sys"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "offl-"

// RunDir is where named namespaces are bind-mounted (iproute2's convention).
const RunDir = "/run/netns"

// BenchRange is the only IPv4 range hosts may use (RFC 2544, RFC 5735 §3).
var BenchRange = netip.MustParsePrefix("198.18.0.0/15")

// BenchRange6 is the only IPv6 range hosts may use (RFC 5180 §8, the IPv6
// benchmarking block).
var BenchRange6 = netip.MustParsePrefix("2001:2::/48")

// checkAddr refuses a prefix that is not a host address inside BenchRange or
// BenchRange6, with a subnet no wider than the range itself (a /8 around
// 198.18.0.1 would route the rest of the Internet's 198/8 into the test).
func checkAddr(p netip.Prefix) error {
	for _, r := range []netip.Prefix{BenchRange, BenchRange6} {
		// Contains is false across families, also for IPv4-mapped IPv6.
		if p.IsValid() && r.Contains(p.Addr()) && p.Bits() >= r.Bits() {
			return nil
		}
	}
	return fmt.Errorf("netns: address %v is outside %v and %v, the only ranges test hosts may use", p, BenchRange, BenchRange6)
}

// ErrNotPrivileged says the process lacks the privileges namespaces need.
var ErrNotPrivileged = errors.New("netns: not privileged")

// CheckPrivileges returns nil when the process may create namespaces and
// interfaces, or an error (matching ErrNotPrivileged) that tells a person what is
// missing and what to do.
func CheckPrivileges() error {
	var missing []string
	if !sys.HasCapability(sys.CapSysAdmin) {
		missing = append(missing, "CAP_SYS_ADMIN (to create and enter network namespaces)")
	}
	if !sys.HasCapability(sys.CapNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN (to create veth pairs, TAP devices and set addresses)")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: this needs root; missing %s. Run as root (e.g. `sudo -E go test ./...`, or `sudo offload demo`), or in a container started with --privileged",
		ErrNotPrivileged, strings.Join(missing, " and "))
}

// RequiredEnv, when set to 1, turns Require's skip into a failure, so a CI job
// that is meant to run as root cannot pass by skipping.
const RequiredEnv = "OFFLOAD_NETNS_REQUIRED"

// Require skips the test with CheckPrivileges' explanation when the process is
// not privileged (fails it instead when RequiredEnv=1).
func Require(t testing.TB) {
	t.Helper()
	if err := CheckPrivileges(); err != nil {
		if os.Getenv(RequiredEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

var (
	seq      atomic.Uint64
	reapOnce sync.Once
)

// Host is one network namespace.
type Host struct {
	name string
	path string
	ns   vnetns.NsHandle
	nl   *netlink.Handle

	ctx    context.Context // cancelled by Close: kills processes from Command
	cancel context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// Create makes a new namespace called offl-<pid>-<seq>-<name>, with its loopback up.
func Create(name string) (*Host, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	reapOnce.Do(func() {
		// Not fatal: a leftover we cannot remove does not stop new namespaces.
		if err := RemoveLeftovers(); err != nil {
			fmt.Fprintf(os.Stderr, "netns: removing leftovers of an earlier run: %v\n", err)
		}
	})
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	full := fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), seq.Add(1), name)
	h := &Host{name: full, path: RunDir + "/" + full, ns: vnetns.None()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := sys.CreateNetns(h.path); err != nil {
		return nil, fmt.Errorf("netns: create %s: %w", full, err)
	}
	var err error
	if h.ns, err = vnetns.GetFromPath(h.path); err != nil {
		h.Close()
		return nil, fmt.Errorf("netns: open %s: %w", full, err)
	}
	if h.nl, err = netlink.NewHandleAt(h.ns); err != nil {
		h.Close()
		return nil, fmt.Errorf("netns: netlink in %s: %w", full, err)
	}
	if err := h.SetLinkUp("lo"); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// NewHost is Create for tests: it skips the test when not privileged, fails it on
// error, and deletes the namespace when the test ends (also after a failure or panic).
func NewHost(t testing.TB, name string) *Host {
	t.Helper()
	Require(t)
	h, err := Create(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	return h
}

// Name returns the namespace's name (as `ip netns list` shows it).
func (h *Host) Name() string { return h.name }

// Path returns the namespace's bind mount, e.g. /run/netns/offl-123-1-a; pass
// it to tap.Config or sys.RunInNetns.
func (h *Host) Path() string { return h.path }

// Netlink returns a netlink handle bound to the namespace.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// Run runs f on an OS thread inside the namespace and returns its error. Sockets
// and devices f opens stay in the namespace and may be used from any goroutine
// afterwards. Goroutines f starts do NOT run in the namespace.
func (h *Host) Run(f func() error) error { return sys.RunInNetns(h.path, f) }

// Command returns a command that runs inside the namespace (through
// `ip netns exec`, which also gives it a /sys of the namespace). The process has
// the PID of the program itself; Close kills it if it is still running, but the
// caller should Wait for it.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	ip, err := exec.LookPath("ip")
	if err != nil {
		cmd := exec.CommandContext(h.ctx, name, args...)
		cmd.Err = fmt.Errorf("netns: running %s in a namespace needs the `ip` command (iproute2): %w", name, err)
		return cmd
	}
	cmd := exec.CommandContext(h.ctx, ip, append([]string{"netns", "exec", h.name, name}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func (h *Host) link(ifname string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("netns %s: no such interface %q: %w", h.name, ifname, err)
	}
	return l, nil
}

// SetLinkUp brings an interface of the namespace up.
func (h *Host) SetLinkUp(ifname string) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("netns %s: set %s up: %w", h.name, ifname, err)
	}
	return nil
}

// SetMTU sets an interface's MTU.
func (h *Host) SetMTU(ifname string, mtu int) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("netns %s: set MTU %d on %s: %w", h.name, mtu, ifname, err)
	}
	return nil
}

// AddAddr assigns an address (with prefix length) to an interface. Only
// addresses inside BenchRange (IPv4) or BenchRange6 (IPv6) are accepted, with a
// prefix no shorter than the range's. An IPv6 address is added with
// IFA_F_NODAD: it skips duplicate address detection (RFC 4862 §5.4), which
// would otherwise leave it tentative, unusable as a source, for about a
// second; on a link the test built itself nobody else can hold it.
func (h *Host) AddAddr(ifname string, p netip.Prefix) error {
	if err := checkAddr(p); err != nil {
		return err
	}
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = sys.AddrNoDAD
	}
	if err := h.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("netns %s: add %v to %s: %w", h.name, p, ifname, err)
	}
	if p.Addr().Is6() && l.Attrs().Flags&net.FlagUp != 0 {
		return h.waitSolicitedNode(ifname, p.Addr())
	}
	return nil
}

// waitSolicitedNode waits until the kernel listens on ifname to the
// solicited-node multicast group of a (RFC 4291 §2.7.1), where neighbour
// solicitations for a arrive (RFC 4861 §7.2.2). The kernel joins it from a
// work queue after the address is added, or after the interface comes up and
// its carrier is seen: a solicitation that comes before is dropped, and the
// peer asks again only after its RetransTimer, 1 s (measured on a fresh veth:
// one first ping in four took 1 s without this wait).
func (h *Host) waitSolicitedNode(ifname string, a netip.Addr) error {
	b := a.As16()
	group := fmt.Sprintf("ff0200000000000000000001ff%02x%02x%02x", b[13], b[14], b[15])
	joined := func() bool {
		var ok bool
		h.Run(func() error {
			// thread-self: /proc/net is the namespace of the process's main thread.
			data, err := os.ReadFile("/proc/thread-self/net/igmp6")
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); err == nil && len(f) >= 3 && f[1] == ifname && f[2] == group {
					ok = true
				}
			}
			return nil
		})
		return ok
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if joined() {
			return nil
		}
	}
	return fmt.Errorf("netns %s: %s did not join the solicited-node group of %v within 2 s: neighbour solicitations for it would be lost", h.name, ifname, a)
}

// HardwareAddr returns an interface's Ethernet address.
func (h *Host) HardwareAddr(ifname string) (net.HardwareAddr, error) {
	l, err := h.link(ifname)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

// LinkIndex returns an interface's index inside the namespace.
func (h *Host) LinkIndex(ifname string) (int, error) {
	l, err := h.link(ifname)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// Offload is an ethtool feature switch (ethtool -K name).
type Offload = sys.Offload

// Offload switches.
const (
	RxChecksum    = sys.OffloadRxChecksum
	TxChecksum    = sys.OffloadTxChecksum
	ScatterGather = sys.OffloadScatterGather
	TSO           = sys.OffloadTSO
	GSO           = sys.OffloadGSO
	GRO           = sys.OffloadGRO
)

// SetOffload turns offloads of an interface on or off, like `ethtool -K`, and
// reads each back: a switch the driver keeps fixed is reported as an error.
func (h *Host) SetOffload(ifname string, on bool, offloads ...Offload) error {
	return h.Run(func() error {
		for _, o := range offloads {
			if err := sys.EthtoolSet(ifname, o, on); err != nil {
				return fmt.Errorf("netns %s: %w", h.name, err)
			}
			got, err := sys.EthtoolGet(ifname, o)
			if err != nil {
				return fmt.Errorf("netns %s: %w", h.name, err)
			}
			if got != on {
				return fmt.Errorf("netns %s: %s %v stays %v (fixed by the driver)", h.name, ifname, o, got)
			}
		}
		return nil
	})
}

// OffloadEnabled reads an offload switch of an interface.
func (h *Host) OffloadEnabled(ifname string, o Offload) (bool, error) {
	var on bool
	err := h.Run(func() error {
		var err error
		on, err = sys.EthtoolGet(ifname, o)
		return err
	})
	return on, err
}

// Sysctl writes a sysctl of the namespace, e.g. Sysctl("net.ipv6.conf.veth0.disable_ipv6", "1").
func (h *Host) Sysctl(key, value string) error {
	if strings.Contains(key, "..") || strings.Contains(key, "/") {
		return fmt.Errorf("netns: bad sysctl key %q", key)
	}
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return h.Run(func() error {
		// /proc/sys/net resolves against the namespace of the thread that opens it.
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			return fmt.Errorf("netns %s: sysctl %s=%s: %w", h.name, key, value, err)
		}
		return nil
	})
}

// MoveLink moves interface ifname from this namespace into to's. The kernel
// takes it down and drops its addresses on the way: set it up again in to.
// Descriptors bound to it (a TAP device's) keep working.
func (h *Host) MoveLink(ifname string, to *Host) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetNsFd(l, int(to.ns)); err != nil {
		return fmt.Errorf("netns: move %s from %s to %s: %w", ifname, h.name, to.name, err)
	}
	return nil
}

// Close kills every process still inside the namespace (by PID) and deletes the
// namespace. It is safe to call more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.cancel()
		var errs []error
		if h.nl != nil {
			h.nl.Close()
		}
		if h.ns.IsOpen() {
			killProcessesIn(h.path)
			h.ns.Close()
		}
		if err := sys.DeleteNetns(h.path); err != nil {
			errs = append(errs, fmt.Errorf("netns: delete %s: %w", h.name, err))
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// nsInode returns the inode that identifies the namespace bound at path.
func nsInode(path string) (uint64, bool) {
	ino, err := sys.FileInode(path)
	return ino, err == nil
}

// killProcessesIn sends SIGKILL to every process (other than this one) whose
// network namespace is the one bound at path, and waits briefly for them to go.
func killProcessesIn(path string) {
	ino, ok := nsInode(path)
	if !ok {
		return
	}
	want := fmt.Sprintf("net:[%d]", ino)
	self := os.Getpid()
	for range 50 {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := false
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want {
				found = true
				sys.KillProcess(pid)
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RemoveLeftovers deletes namespaces with this package's prefix whose creating
// process no longer runs (left by a crashed or killed run), after killing any
// processes still inside them.
func RemoveLeftovers() error {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		pid, ok := ownerPID(e.Name())
		if !ok || pid == os.Getpid() || sys.ProcessAlive(pid) {
			continue
		}
		p := RunDir + "/" + e.Name()
		killProcessesIn(p)
		if err := sys.DeleteNetns(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ownerPID parses the pid out of offl-<pid>-<seq>-<name>.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// OwnNamespaces lists the network namespaces this process created (named
// offl-<pid>-...) that still exist.
func OwnNamespaces() []string { return namespacesOf(os.Getpid()) }

// namespacesOf lists the namespaces under RunDir that process pid created.
func namespacesOf(pid int) []string {
	ents, _ := os.ReadDir(RunDir)
	var own []string
	for _, e := range ents {
		if p, ok := ownerPID(e.Name()); ok && p == pid {
			own = append(own, e.Name())
		}
	}
	return own
}

// RunCheckingLeftovers is a TestMain body: it runs the tests and fails the
// run if a namespace this process created outlives them, since every test
// must remove what it built, also when it fails.
func RunCheckingLeftovers(m *testing.M) {
	code := m.Run()
	if left := OwnNamespaces(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}
