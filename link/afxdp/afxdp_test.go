//go:build linux

package afxdp_test

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/netns/peer"
	"offload/internal/sys"
	"offload/link"
	"offload/link/afxdp"
)

var (
	kernelAddr = netip.MustParsePrefix("198.18.6.1/24")
	ourAddr    = netip.MustParseAddr("198.18.6.2")
	hostAddrB  = netip.MustParsePrefix("198.18.6.3/24") // B's kernel, on the same veth as us
)

var modes = []afxdp.AttachMode{afxdp.AttachNative, afxdp.AttachGeneric}

// setup builds a veth pair: the kernel with kernelAddr in A, our device on B's
// end, steering ourAddr to us.
func setup(t *testing.T, name string, cfg afxdp.Config) (*netns.Pair, *afxdp.Device) {
	t.Helper()
	p := netns.NewPair(t, netns.PairConfig{Name: name, AddrA: kernelAddr, DisableIPv6: true})
	cfg.Interface, cfg.Netns = p.IfB, p.B.Path()
	if cfg.Addrs == nil && !cfg.RedirectAll {
		cfg.Addrs = []netip.Addr{ourAddr}
	}
	d, err := afxdp.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	t.Logf("%s: %v", d.Caps().Name, d.Mode())
	return p, d
}

func TestKernelPingToOurAddressIsAnswered_RFC792(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p, d := setup(t, "xping", afxdp.Config{Attach: m})
			if got := d.Mode().Attach; got != m {
				t.Fatalf("attached in %v mode, asked for %v", got, m)
			}
			if d.Mode().ZeroCopy {
				t.Fatalf("veth offers no zero-copy, yet the device says %v", d.Mode())
			}
			pr := peer.Start(t, d, ourAddr, 0)
			if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
				t.Fatalf("%v (stats %+v)", err, d.Stats())
			}
			if pr.ARPReplies.Load() == 0 || pr.EchoReplies.Load() == 0 {
				t.Fatalf("answered %d ARP requests, %d echo requests", pr.ARPReplies.Load(), pr.EchoReplies.Load())
			}
		})
	}
}

func TestOpenOnMissingInterfaceIsUnavailable(t *testing.T) {
	h := netns.NewHost(t, "xmiss")
	_, err := afxdp.Open(afxdp.Config{Interface: "nosuch0", Netns: h.Path(), Addrs: []netip.Addr{ourAddr}})
	if !errors.Is(err, afxdp.ErrNoInterface) || !errors.Is(err, afxdp.ErrUnavailable) {
		t.Fatalf("Open on a missing interface: %v, want ErrNoInterface and ErrUnavailable", err)
	}
}

func TestZeroCopyRequiredOnVethFailsClearly(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "xzc", DisableIPv6: true})
	_, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, ZeroCopy: afxdp.ZeroCopyRequire})
	if !errors.Is(err, afxdp.ErrZeroCopy) || !errors.Is(err, afxdp.ErrUnavailable) {
		t.Fatalf("zero-copy required on veth: %v, want ErrZeroCopy", err)
	}
	if xdpAttached(t, p.B, p.IfB) {
		t.Fatal("a failed Open left its XDP program attached")
	}
}

// TestBusyPollSpinSeesFramesAndWakes: with a spin budget, Wait returns for a
// frame or a Wake during the spin, and times out when idle.
func TestBusyPollSpinSeesFramesAndWakes(t *testing.T) {
	p, d := setup(t, "xbusy", afxdp.Config{BusyPoll: afxdp.BusyPoll{Spin: 50 * time.Millisecond, KernelUsecs: 50, Budget: 16}})
	if !d.Mode().BusyPoll {
		t.Fatalf("mode %v: kernel busy polling not on", d.Mode())
	}
	start := time.Now()
	if err := d.Wait(0, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 15*time.Millisecond || el > time.Second {
		t.Errorf("idle Wait(20ms) with a 50ms spin took %v", el)
	}
	go func() { time.Sleep(5 * time.Millisecond); d.Wake(0) }()
	start = time.Now()
	if err := d.Wait(0, -1); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Wake during a spin took %v to end Wait", el)
	}
	pr := peer.Start(t, d, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = pr
}

func TestHugePageUMEM(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/vm/nr_hugepages")
	if err != nil || strings.TrimSpace(string(b)) == "0" {
		t.Skip("no huge pages reserved (/proc/sys/vm/nr_hugepages is 0)")
	}
	p, d := setup(t, "xhuge", afxdp.Config{HugePages: true, RxFrames: 256, TxFrames: 256})
	pr := peer.Start(t, d, ourAddr, 0)
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = pr
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestCloseReleasesEverything: sockets, maps, the program, its link and the
// eventfds all go with Close; the interface is left without a program.
func TestCloseReleasesEverything(t *testing.T) {
	qp := newQueuePair(t, "xleak", 2)
	open := func() *afxdp.Device {
		d, err := afxdp.Open(afxdp.Config{Interface: "veth-b", Netns: qp.B.Path(), Addrs: []netip.Addr{ourAddr}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	open().Close() // warm up whatever the runtime and libraries keep open
	before := openFDs(t)
	for range 3 {
		d := open()
		if d.Caps().Queues != 2 {
			t.Fatalf("%d queues", d.Caps().Queues)
		}
		d.Close()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after three Open/Close", before, after)
	}
	if xdpAttached(t, qp.B, "veth-b") {
		t.Fatal("an XDP program is left on the interface")
	}
}

// TestWaitAnyWakesForEveryQueue: a goroutine owning both queues wakes for a
// Wake on either, and for a frame on any.
func TestWaitAnyWakesForEveryQueue(t *testing.T) {
	qp := newQueuePair(t, "xany", 2)
	d, err := afxdp.Open(afxdp.Config{Interface: "veth-b", Netns: qp.B.Path(), Addrs: []netip.Addr{ourAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for q := range 2 {
		go func() { time.Sleep(10 * time.Millisecond); d.Wake(q) }()
		start := time.Now()
		if err := d.WaitAny(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("Wake(%d) took %v to end WaitAny", q, el)
		}
	}
	start := time.Now()
	if err := d.WaitAny(30 * time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("idle WaitAny: %v after %v", err, time.Since(start))
	}
	go func() { time.Sleep(10 * time.Millisecond); d.Close() }()
	for {
		if err := d.WaitAny(-1); err != nil {
			if !errors.Is(err, link.ErrClosed) {
				t.Fatalf("WaitAny ended by Close: %v", err)
			}
			break
		}
	}
}

func TestBadConfigIsRefusedBeforeTouchingTheKernel(t *testing.T) {
	ok := afxdp.Config{Interface: "veth0", Addrs: []netip.Addr{ourAddr}}
	cases := map[string]func(*afxdp.Config){
		"NoInterface":          func(c *afxdp.Config) { c.Interface = "" },
		"RxFramesNotPowerOf2":  func(c *afxdp.Config) { c.RxFrames = 1000 },
		"TxFramesTooFew":       func(c *afxdp.Config) { c.TxFrames = 16 },
		"HugePagesMisaligned":  func(c *afxdp.Config) { c.HugePages, c.RxFrames, c.TxFrames = true, 256, 128 },
		"MulticastMAC":         func(c *afxdp.Config) { c.HardwareAddr = [6]byte{1, 0, 0, 0, 0, 1} },
		"NegativeSpin":         func(c *afxdp.Config) { c.BusyPoll.Spin = -1 },
		"NegativeBuffers":      func(c *afxdp.Config) { c.Buffers = -1 },
		"NegativeQueues":       func(c *afxdp.Config) { c.Queues = -2 },
		"NegativeKernelBusy":   func(c *afxdp.Config) { c.BusyPoll.KernelUsecs = -5 },
		"NegativeLargeBuffers": func(c *afxdp.Config) { c.LargeBuffers = -1 },
	}
	for name, mutate := range cases {
		c := ok
		mutate(&c)
		if d, err := afxdp.Open(c); err == nil || errors.Is(err, afxdp.ErrUnavailable) {
			if d != nil {
				d.Close()
			}
			t.Errorf("%s: Open = %v, want a configuration error", name, err)
		}
	}
}

// Left to choose on a veth, Open attaches in generic mode and says why:
// native XDP there would turn off the peer's TSO for all its traffic. The
// peer's TSO stays on, and the kernel's super-frames arrive whole.
func TestAutoAttachOnVethIsGenericAndKeepsPeerTSO(t *testing.T) {
	p, d := setup(t, "xauto", afxdp.Config{})
	m := d.Mode()
	if m.Attach != afxdp.AttachGeneric || !strings.Contains(m.String(), "native XDP would turn off the peer's TSO") {
		t.Fatalf("mode %v (%q): want generic, with the reason", m.Attach, m.String())
	}
	on, err := p.A.OffloadEnabled(p.IfA, netns.TSO)
	if err != nil {
		t.Fatal(err)
	}
	if !on {
		t.Fatal("the peer's TSO is off with the program attached")
	}
}

// TestBusyPollOptionsTheKernelRefusesAreLeftOut: a kernel that refuses a
// busy-polling option (older, or the caller lacks CAP_NET_ADMIN) does not
// fail Open: the option is left out, Mode says what took effect and what
// was refused, and the device works.
func TestBusyPollOptionsTheKernelRefusesAreLeftOut(t *testing.T) {
	bp := afxdp.BusyPoll{Spin: time.Millisecond, KernelUsecs: 50, Budget: 16}
	cases := []struct {
		name                   string
		refuse                 map[int]error
		busy, prefer           bool
		budget                 int
		refusedHas, refusedNot []string
	}{
		{"none", nil, true, true, 16, nil, []string{"SO_"}},
		{"prefer-and-budget", map[int]error{sys.SO_PREFER_BUSY_POLL: sys.ENOPROTOPT, sys.SO_BUSY_POLL_BUDGET: sys.EPERM},
			true, false, 0, []string{"SO_PREFER_BUSY_POLL: protocol not available", "SO_BUSY_POLL_BUDGET: operation not permitted"}, nil},
		{"busy-poll", map[int]error{sys.SO_BUSY_POLL: sys.EPERM},
			false, false, 0, []string{"SO_BUSY_POLL: operation not permitted"}, []string{"PREFER", "BUDGET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := afxdp.WithSockopt(afxdp.Config{BusyPoll: bp}, func(opt int) error { return c.refuse[opt] })
			p, d := setup(t, "xbpref", cfg)
			m := d.Mode()
			if m.BusyPoll != c.busy || m.PreferBusyPoll != c.prefer || m.BusyPollBudget != c.budget {
				t.Fatalf("mode %+v: want busy poll %v, preferred %v, budget %d", m, c.busy, c.prefer, c.budget)
			}
			for _, s := range c.refusedHas {
				if !strings.Contains(m.BusyPollRefused, s) || !strings.Contains(m.String(), "kernel refused "+m.BusyPollRefused) {
					t.Errorf("mode %q: want %q among the refused", m.String(), s)
				}
			}
			for _, s := range c.refusedNot {
				if strings.Contains(m.BusyPollRefused, s) {
					t.Errorf("refused %q: %q was not to be tried or refused", m.BusyPollRefused, s)
				}
			}
			peer.Start(t, d, ourAddr, 0)
			if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}
