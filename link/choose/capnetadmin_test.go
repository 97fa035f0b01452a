//go:build linux

package choose_test

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/netns/peer"
	"offload/internal/sys"
	"offload/link/choose"
)

// capNetAdminEnv names the interface for TestNetAdminChild.
const capNetAdminEnv = "OFFLOAD_CHOOSE_NETADMIN_CHILD"

// TestNetAdminChild is the child of
// TestAutoFallsBackToTAPWithOnlyCAP_NET_ADMIN: it runs with CAP_NET_ADMIN as its only
// capability, inside the namespace of the interface, opens the
// interface with the automatic chain, answers ping on it, and closes it when
// its standard input ends.
func TestNetAdminChild(t *testing.T) {
	iface := os.Getenv(capNetAdminEnv)
	if iface == "" {
		t.Skip("runs only as the child of TestAutoFallsBackToTAPWithOnlyCAP_NET_ADMIN")
	}
	d, line, err := choose.OpenOptions(choose.Options{Interface: iface, Addrs: []netip.Addr{ourAddr}})
	if err != nil {
		fmt.Printf("ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", "\\n"))
		return
	}
	fmt.Printf("LINE %s\n", strings.ReplaceAll(line, "\n", "\\n"))
	pr := peer.Start(t, d, ourAddr, 0)
	fmt.Println("READY")
	io.Copy(io.Discard, os.Stdin)
	pr.Stop()
	fmt.Printf("CLOSED %v\n", d.Close())
}

// TestAutoFallsBackToTAPWithOnlyCAP_NET_ADMIN: a process that may manage
// interfaces but neither load BPF nor open raw sockets (CAP_NET_ADMIN is
// its only capability) gets AF_XDP and AF_PACKET refused and
// ends on the TAP step, with both reasons on its one line; the kernel
// reaches the stack's address through it, and Close removes everything.
func TestAutoFallsBackToTAPWithOnlyCAP_NET_ADMIN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("starting a process as nobody with CAP_NET_ADMIN needs root")
	}
	p := netns.NewPair(t, netns.PairConfig{Name: "chcap", AddrA: kernelAddr, AddrB: hostAddrB, DisableIPv6: true})
	// Root with CAP_NET_ADMIN alone, born in B. (As nobody it could not
	// open /dev/net/tun where that is 0600.)
	child := netns.StartChildWithCaps(t, p.B, "TestNetAdminChild", []string{capNetAdminEnv + "=" + p.IfB}, sys.CAP_NET_ADMIN)
	next := func(prefix string) string { t.Helper(); return child.Next(t, prefix, 20*time.Second) }
	line := next("LINE ")
	t.Log(line)
	if !strings.HasPrefix(line, "link: TAP tap") || !strings.Contains(line, "(AF_XDP unavailable: ") ||
		!strings.Contains(line, "; AF_PACKET unavailable: ") || strings.Contains(line, `\n`) {
		t.Fatalf("line %q: want TAP, with AF_XDP's and AF_PACKET's reasons on one line", line)
	}
	next("READY")
	if _, err := p.A.Ping(ourAddr, 3*time.Second); err != nil {
		t.Fatalf("our address through the TAP step: %v", err)
	}
	if _, err := p.A.Ping(hostAddrB.Addr(), 3*time.Second); err != nil {
		t.Fatalf("host's own address: %v", err)
	}
	child.Stop()
	if got := next("CLOSED "); got != "<nil>" {
		t.Fatalf("Close in the child: %s", got)
	}
	if st := tcOf(t, p.B, p.IfB); len(st.qdiscs) != 0 || st.filters != 0 || len(st.taps) != 0 {
		t.Fatalf("after the child's Close: %+v", st)
	}
}
