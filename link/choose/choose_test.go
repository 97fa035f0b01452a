//go:build linux

package choose_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"offload/internal/netns"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/choose"
)

var ourAddr = netip.MustParseAddr("198.18.8.2")

func TestAutoPicksAFXDPAndSaysSo(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "choose", DisableIPv6: true})
	d, line, err := choose.Open(p.IfB, p.B.Path(), choose.Auto, ourAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Log(line)
	if _, ok := d.(*afxdp.Device); !ok || !strings.HasPrefix(line, "link: AF_XDP on veth-b (") || strings.Contains(line, "\n") {
		t.Fatalf("got %T, %q", d, line)
	}
}

func TestAFPacketWhenAsked(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "choosep", DisableIPv6: true})
	d, line, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Prefer: choose.AFPacket})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok := d.(*afpacket.Device); !ok || line != "link: AF_PACKET on veth-b (asked for)" {
		t.Fatalf("got %T, %q", d, line)
	}
}

// TestFallsBackToAFPacketWhenAFXDPUnavailable: with no address to steer (an
// AF_XDP configuration error, not unavailability) Open fails; when the
// interface's XDP hook is taken by someone else, AF_XDP is unavailable and
// AF_PACKET is chosen, with the reason on the line.
func TestFallsBackToAFPacketWhenAFXDPUnavailable(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "choosef", DisableIPv6: true})
	if _, _, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path()}); err == nil || errors.Is(err, afxdp.ErrUnavailable) {
		t.Fatalf("no addresses: %v, want a configuration error", err)
	}
	// Someone else's program holds the hook in native mode; ours must use native too.
	other, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), RedirectAll: true, Attach: afxdp.AttachNative})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	x := afxdp.Config{Attach: afxdp.AttachGeneric}
	d, line, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, XDP: x})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Log(line)
	if _, ok := d.(*afpacket.Device); !ok || !strings.HasPrefix(line, "link: AF_PACKET on veth-b (AF_XDP unavailable: ") {
		t.Fatalf("got %T, %q", d, line)
	}
	if _, _, err := choose.OpenOptions(choose.Options{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, XDP: x, Prefer: choose.AFXDP}); !errors.Is(err, afxdp.ErrAttach) {
		t.Fatalf("AF_XDP only, hook taken: %v, want ErrAttach", err)
	}
}

func TestMissingInterfaceFailsWithBothReasons(t *testing.T) {
	h := netns.NewHost(t, "choosem")
	_, _, err := choose.OpenOptions(choose.Options{Interface: "nosuch0", Netns: h.Path(), Addrs: []netip.Addr{ourAddr}})
	if !errors.Is(err, afxdp.ErrNoInterface) || !errors.Is(err, afpacket.ErrNoInterface) {
		t.Fatalf("missing interface: %v", err)
	}
}

func TestUnprivilegedFallsBackOrSaysWhatToDo(t *testing.T) {
	if os.Getenv(netns.NobodyEnv) == "1" {
		_, err := afxdp.Open(afxdp.Config{Interface: "lo", Addrs: []netip.Addr{ourAddr}})
		fmt.Println("XDP:", err, errors.Is(err, afxdp.ErrNotPrivileged), errors.Is(err, afxdp.ErrUnavailable))
		_, _, err = choose.OpenOptions(choose.Options{Interface: "lo", Addrs: []netip.Addr{ourAddr}})
		fmt.Println("CHOOSE:", err)
		return
	}
	out, err := netns.RunAsNobody(t, "TestUnprivilegedFallsBackOrSaysWhatToDo")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "CAP_BPF") || !strings.Contains(string(out), " true true\n") || !strings.Contains(string(out), "CAP_NET_RAW") {
		t.Errorf("unprivileged open:\n%s", out)
	}
}
