//go:build linux

package choose_test

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetAdminChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), capNetAdminEnv+"="+p.IfB)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	// Started as root from a thread inside B whose bounding set holds
	// CAP_NET_ADMIN alone: the child is born in B's namespace (it could not
	// enter it itself without CAP_SYS_ADMIN) with CAP_NET_ADMIN and nothing
	// else. (As nobody it could not open /dev/net/tun where that is 0600.)
	if err := p.B.Run(func() error {
		if err := sys.DropBoundingSet(sys.CAP_NET_ADMIN); err != nil {
			return err
		}
		return cmd.Start()
	}); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the child ended before %q", prefix)
				}
				if strings.HasPrefix(l, "ERROR") {
					t.Fatal(l)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix)
				}
			case <-timeout:
				t.Fatalf("no %q from the child", prefix)
			}
		}
	}
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
	stdin.Close()
	if got := next("CLOSED "); got != "<nil>" {
		t.Fatalf("Close in the child: %s", got)
	}
	if st := tcOf(t, p.B, p.IfB); len(st.qdiscs) != 0 || st.filters != 0 || len(st.taps) != 0 {
		t.Fatalf("after the child's Close: %+v", st)
	}
}
