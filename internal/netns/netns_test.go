//go:build linux

package netns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"offload/internal/sys"
)

// TestMain fails the run if any namespace this process created outlives its tests.
func TestMain(m *testing.M) { RunCheckingLeftovers(m) }

func listed(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func TestCreateShowsInIPNetnsListAndCloseRemovesIt(t *testing.T) {
	Require(t)
	h, err := Create("life")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.Name(), fmt.Sprintf("%s%d-", Prefix, os.Getpid())) {
		t.Errorf("name %q lacks the prefix and pid", h.Name())
	}
	if !listed(t, h.Name()) {
		t.Fatalf("%s not in `ip netns list`", h.Name())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if listed(t, h.Name()) {
		t.Fatalf("%s still in `ip netns list` after Close", h.Name())
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLeftoverOfDeadProcessIsRemovedWithItsProcesses(t *testing.T) {
	Require(t)
	// A pid that surely belongs to no running process: one that just exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s%d-1-stale", Prefix, dead.Process.Pid)
	path := RunDir + "/" + name
	os.MkdirAll(RunDir, 0o755)
	if err := sys.CreateNetns(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.DeleteNetns(path) })
	// A process the crashed run left inside it.
	sleeper := exec.Command("ip", "netns", "exec", name, "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill() })
	waitFor(t, func() bool { return inNamespace(sleeper.Process.Pid, path) })

	// A living process's namespace must be kept.
	liveName := fmt.Sprintf("%s%d-1-live", Prefix, os.Getppid())
	livePath := RunDir + "/" + liveName
	if err := sys.CreateNetns(livePath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.DeleteNetns(livePath) })

	if err := RemoveLeftovers(); err != nil {
		t.Fatal(err)
	}
	if listed(t, name) {
		t.Errorf("stale %s survived RemoveLeftovers", name)
	}
	if !listed(t, liveName) {
		t.Errorf("%s of a living process was removed", liveName)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("process in the stale namespace exited cleanly; it should have been killed")
		}
	case <-time.After(5 * time.Second):
		t.Error("process in the stale namespace still runs")
	}
}

func inNamespace(pid int, path string) bool {
	ino, ok := nsInode(path)
	if !ok {
		return false
	}
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err == nil && l == fmt.Sprintf("net:[%d]", ino)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 2s")
}

var (
	addrA = netip.MustParsePrefix("198.18.0.1/24")
	addrB = netip.MustParsePrefix("198.18.0.2/24")
)

func TestKernelPingsKernelAcrossVethPair(t *testing.T) {
	p := NewPair(t, PairConfig{AddrA: addrA, AddrB: addrB, MTU: 9000, DisableIPv6: true})
	if _, err := p.A.Ping(addrB.Addr(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.B.Ping(addrA.Addr(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	// Nobody has this address: the ping must fail, or Ping proves nothing.
	if _, err := p.A.Ping(netip.MustParseAddr("198.18.0.99"), 500*time.Millisecond); err == nil {
		t.Fatal("ping to an address nobody has succeeded")
	}
	if len(p.MACA) != 6 || len(p.MACB) != 6 || p.IndexA == 0 || p.IndexB == 0 {
		t.Fatalf("pair facts missing: %+v", p)
	}
}

func TestPairLivesOnlyInsideItsNamespaces(t *testing.T) {
	p := NewPair(t, PairConfig{MTU: 4000})
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name == p.IfA || i.Name == p.IfB {
			t.Fatalf("veth end %s visible in the caller's namespace", i.Name)
		}
	}
	err = p.A.Run(func() error {
		i, err := net.InterfaceByName(p.IfA)
		if err != nil {
			return err
		}
		if i.MTU != 4000 {
			return fmt.Errorf("MTU %d, want 4000", i.MTU)
		}
		if _, err := net.InterfaceByName(p.IfB); err == nil {
			return fmt.Errorf("%s visible in A", p.IfB)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommandRunsInsideTheNamespace(t *testing.T) {
	p := NewPair(t, PairConfig{AddrA: addrA, AddrB: addrB})
	out, err := p.A.Command("ip", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), addrA.String()) || strings.Contains(string(out), addrB.String()) {
		t.Fatalf("`ip addr` in A shows:\n%s", out)
	}
}

func TestCloseKillsProcessesStillRunning(t *testing.T) {
	Require(t)
	h, err := Create("kill")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cmd := h.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return inNamespace(cmd.Process.Pid, h.Path()) })
	start := time.Now()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("sleep exited cleanly; Close should have killed it")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if listed(t, h.Name()) {
		t.Fatal("namespace survived Close")
	}
}

// Only the benchmarking ranges may be assigned: 198.18.0.0/15 (RFC 2544) and
// 2001:2::/48 (RFC 5180), with subnets no wider than the range.
func TestAddAddrRefusesAddressesOutsideBenchmarkRanges_RFC2544_RFC5180(t *testing.T) {
	p := NewPair(t, PairConfig{})
	for _, s := range []string{
		"10.0.0.1/24", "192.168.1.1/24", "198.20.0.1/24", "198.18.0.1/8",
		"2001:db8::1/64",        // documentation, not benchmarking (RFC 3849)
		"2001:3::1/64",          // just past 2001:2::/48
		"2001:2::1/32",          // inside, but the subnet spans far beyond it
		"::ffff:198.18.0.1/120", // IPv4-mapped: not an IPv6 test address
		"fe80::1/64",
	} {
		if err := p.A.AddAddr(p.IfA, netip.MustParsePrefix(s)); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	for _, s := range []string{"198.19.255.1/24", "2001:2:0:ffff::1/64", "2001:2::7/48"} {
		if err := p.A.AddAddr(p.IfA, netip.MustParsePrefix(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	for _, s := range []string{"10.1.1.1/24", "198.18.0.1/8", "2001:db8::1/64"} {
		if _, err := CreatePair(PairConfig{AddrA: netip.MustParsePrefix(s)}); err == nil {
			t.Errorf("CreatePair accepted %s", s)
		}
	}
	if _, err := CreatePair(PairConfig{AddrB: netip.MustParsePrefix("2001:2::2/64"), DisableIPv6: true}); err == nil {
		t.Error("CreatePair accepted an IPv6 address on a pair with IPv6 disabled")
	}
}

var (
	addr6A = netip.MustParsePrefix("2001:2::1/64")
	addr6B = netip.MustParsePrefix("2001:2::2/64")
)

// IPv6 addresses skip duplicate address detection (RFC 4862 §5.4): they are
// not tentative once CreatePair returns, so both kernels answer ICMPv6 echo
// (RFC 4443 §4) at once, across the pair, after resolving each other by NDP.
func TestKernelPingsKernelOverIPv6AcrossVethPairWithoutWaitingForDAD_RFC4443(t *testing.T) {
	p := NewPair(t, PairConfig{AddrA: addr6A, AddrB: addr6B})
	for _, e := range []struct {
		h    *Host
		name string
		want netip.Prefix
	}{{p.A, p.IfA, addr6A}, {p.B, p.IfB, addr6B}} {
		l, err := e.h.Netlink().LinkByName(e.name)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := e.h.Netlink().AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range addrs {
			if ip, _ := netip.AddrFromSlice(a.IP); ip == e.want.Addr() {
				found = true
				if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
					t.Errorf("%v on %s is tentative or failed DAD (flags %#x)", e.want, e.name, a.Flags)
				}
			}
		}
		if !found {
			t.Errorf("%v not on %s: %v", e.want, e.name, addrs)
		}
	}
	// One second: a tentative address would still be in DAD (≥ 1 s, RetransTimer).
	if _, err := p.A.Ping(addr6B.Addr(), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.B.Ping(addr6A.Addr(), time.Second); err != nil {
		t.Fatal(err)
	}
	// Nobody has this address: the ping must fail, or Ping proves nothing.
	if _, err := p.A.Ping(netip.MustParseAddr("2001:2::99"), 500*time.Millisecond); err == nil {
		t.Fatal("ping to an IPv6 address nobody has succeeded")
	}
}

func TestSetOffloadSwitchesVethTSOAndGRO(t *testing.T) {
	p := NewPair(t, PairConfig{Offloads: map[Offload]bool{TSO: false}})
	for _, h := range []struct {
		h   *Host
		if_ string
	}{{p.A, p.IfA}, {p.B, p.IfB}} {
		on, err := h.h.OffloadEnabled(h.if_, TSO)
		if err != nil {
			t.Fatal(err)
		}
		if on {
			t.Errorf("%s: tso still on", h.if_)
		}
	}
	for _, on := range []bool{true, false, true} {
		if err := p.A.SetOffload(p.IfA, on, TSO, GRO); err != nil {
			t.Fatal(err)
		}
		for _, o := range []Offload{TSO, GRO} {
			got, err := p.A.OffloadEnabled(p.IfA, o)
			if err != nil {
				t.Fatal(err)
			}
			if got != on {
				t.Errorf("%v = %v after setting %v", o, got, on)
			}
		}
	}
}

func TestSysctlAppliesOnlyInsideTheNamespace(t *testing.T) {
	h := NewHost(t, "sysctl")
	before, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	want := "1"
	if strings.TrimSpace(string(before)) == "1" {
		want = "0"
	}
	if err := h.Sysctl("net.ipv4.ip_forward", want); err != nil {
		t.Fatal(err)
	}
	var inside []byte
	h.Run(func() error { inside, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return err })
	if strings.TrimSpace(string(inside)) != want {
		t.Fatalf("inside: %q, want %q", inside, want)
	}
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if string(after) != string(before) {
		t.Fatalf("caller's namespace changed: %q -> %q", before, after)
	}
	if err := h.Sysctl("../../etc/x", "1"); err == nil {
		t.Fatal("path-like sysctl key accepted")
	}
}

func TestRunReraisesPanicInCaller(t *testing.T) {
	h := NewHost(t, "panic")
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
	}()
	h.Run(func() error { panic("boom") })
	t.Fatal("Run returned after a panic")
}

func TestOwnerPIDParsesOnlyOurNames(t *testing.T) {
	for _, c := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"offl-123-4-a", 123, true},
		{"offl-1-1-x-y", 1, true},
		{"offl-x-1-a", 0, false},
		{"offl-123", 0, false},
		{"other-123-1-a", 0, false},
		{"offl--1-a", 0, false},
		{"offl-0-1-a", 0, false},
	} {
		pid, ok := ownerPID(c.name)
		if ok != c.ok || (ok && pid != c.pid) {
			t.Errorf("ownerPID(%q) = %d, %v", c.name, pid, ok)
		}
	}
}

func TestUnprivilegedUserIsToldWhatToDo(t *testing.T) {
	if os.Getenv(NobodyEnv) == "1" {
		err := CheckPrivileges()
		fmt.Println("CHECK:", err)
		if _, err := Create("x"); err != nil {
			fmt.Println("CREATE:", err)
		}
		return
	}
	out, err := RunAsNobody(t, "TestUnprivilegedUserIsToldWhatToDo")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"CHECK: netns: not privileged: this needs root", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "sudo", "CREATE: netns: not privileged"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("unprivileged output lacks %q:\n%s", want, out)
		}
	}
}

// TestTCPInfoTellsTheTwoWindowScalesApart_RFC7323_2_2 gives the two kernels
// different receive buffers, so they announce different window scales, and
// checks TCP_INFO reports each on the right side.
func TestTCPInfoTellsTheTwoWindowScalesApart_RFC7323_2_2(t *testing.T) {
	p := NewPair(t, PairConfig{AddrA: addrA, AddrB: addrB, DisableIPv6: true})
	if err := p.A.Sysctl("net.ipv4.tcp_rmem", "4096 4096 4096"); err != nil {
		t.Fatal(err)
	}
	if err := p.B.Sysctl("net.ipv4.tcp_rmem", "4096 131072 33554432"); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := p.B.Run(func() (err error) { ln, err = net.Listen("tcp4", addrB.Addr().String()+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c net.Conn
	if err := p.A.Run(func() (err error) { c, err = net.Dial("tcp4", addrB.Addr().String()+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ti, err := sys.TCPInfoOf(c.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Options&sys.TCPIOptWscale == 0 {
		t.Skip("window scaling is off")
	}
	if ti.RcvWscale >= ti.SndWscale {
		t.Fatalf("A (small buffers) announces %d, B (32 MiB) announces %d: want A's smaller", ti.RcvWscale, ti.SndWscale)
	}
}
