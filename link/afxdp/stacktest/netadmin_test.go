//go:build linux

package stacktest_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/internal/sys"
	"offload/link/choose"
)

// netAdminEnv carries "interface,bytes" to TestNetAdminStackChild.
const netAdminEnv = "OFFLOAD_STACKTEST_NETADMIN_CHILD"

// TestNetAdminStackChild is the child of
// TestAutoChainEndsOnTAPWithOnlyCAP_NET_ADMIN. With CAP_NET_ADMIN as its
// only capability it opens the interface with link/choose's automatic chain,
// runs the offload stack on what it got with ourAddr and our6, and on each
// of two connections to port 7300 sends the pattern stream while hashing
// what it receives; it prints what it chose and received, and closes the
// stack when its standard input ends.
func TestNetAdminStackChild(t *testing.T) {
	spec := os.Getenv(netAdminEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestAutoChainEndsOnTAPWithOnlyCAP_NET_ADMIN")
	}
	iface, sizeStr, _ := strings.Cut(spec, ",")
	size, _ := strconv.ParseInt(sizeStr, 10, 64)
	d, line, err := choose.OpenOptions(choose.Options{Interface: iface, Addrs: []netip.Addr{ourAddr, our6}})
	if err != nil {
		fmt.Printf("ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", `\n`))
		return
	}
	fmt.Printf("LINE %s\n", strings.ReplaceAll(line, "\n", `\n`))
	st, err := offload.New(offload.Options{Link: d, Addr: netip.PrefixFrom(ourAddr, 24), Addrs: []netip.Prefix{netip.PrefixFrom(our6, 64)}})
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return
	}
	ln, err := st.Listen("tcp", ":7300")
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return
	}
	fmt.Println("READY")
	want := patternSum(size)
	var wg sync.WaitGroup
	for range 2 {
		c, err := ln.Accept()
		if err != nil {
			fmt.Printf("ERROR accept: %v\n", err)
			return
		}
		wg.Go(func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			sent := make(chan error, 1)
			go func() { err := sendPattern(c, size); c.(interface{ CloseWrite() error }).CloseWrite(); sent <- err }()
			r := hashAll(c)
			fmt.Printf("GOT %v %d %v %v %v\n", c.LocalAddr(), r.n, r.sum == want, r.err, <-sent)
		})
	}
	wg.Wait()
	io.Copy(io.Discard, os.Stdin)
	fmt.Printf("CLOSED %v\n", st.Close())
}

// TestAutoChainEndsOnTAPWithOnlyCAP_NET_ADMIN: a process whose only
// capability is CAP_NET_ADMIN may neither load BPF nor open AF_XDP or
// AF_PACKET sockets; link/choose's automatic chain ends on the TAP step and
// says why on one line. The kernel then reaches the stack in that process
// over IPv4 and IPv6 (resolving it by ARP and NDP through the tc filters),
// with a stream each way on each connection and SHA-256 equal, while the
// host's own traffic on the interface keeps flowing; when the process
// closes the stack, no TAP, filter or qdisc is left.
func TestAutoChainEndsOnTAPWithOnlyCAP_NET_ADMIN(t *testing.T) {
	netns.Require(t)
	size := int64(8 << 20)
	if s := os.Getenv(dualBytesEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		size = v
	}
	p := dualPair(t, "xnetadm")
	child := netns.StartChildWithCaps(t, p.B, "TestNetAdminStackChild", []string{fmt.Sprintf("%s=%s,%d", netAdminEnv, p.IfB, size)}, sys.CAP_NET_ADMIN)
	next := func(prefix string) string { t.Helper(); return child.Next(t, prefix, 2*time.Minute) }
	line := next("LINE ")
	t.Log(line)
	if !strings.HasPrefix(line, "link: TAP ") || !strings.Contains(line, "AF_XDP unavailable: ") || !strings.Contains(line, "; AF_PACKET unavailable: ") {
		t.Fatalf("line %q: want TAP with AF_XDP's and AF_PACKET's reasons", line)
	}
	next("READY")
	want := patternSum(size)
	var wg sync.WaitGroup
	for _, to := range []netip.Addr{ourAddr, our6} {
		wg.Go(func() {
			var c net.Conn
			addr := netip.AddrPortFrom(to, 7300).String()
			if err := p.A.Run(func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
				t.Errorf("kernel dialing %s: %v", addr, err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			sent := make(chan error, 1)
			go func() { err := sendPattern(c, size); c.(*net.TCPConn).CloseWrite(); sent <- err }()
			r := hashAll(c)
			if err := <-sent; err != nil {
				t.Errorf("kernel sending to %s: %v", addr, err)
			}
			if r.err != nil || r.n != size || r.sum != want {
				t.Errorf("kernel received %d of %d bytes from %s, SHA-256 equal %v, err %v", r.n, size, addr, r.sum == want, r.err)
			}
		})
	}
	wg.Go(func() {
		for _, to := range []netip.Addr{hostAddrB.Addr(), host6.Addr()} {
			if err := hostTCP(p, to); err != nil {
				t.Errorf("kernel to host TCP: %v", err)
			}
		}
	})
	wg.Wait()
	for range 2 {
		got := next("GOT ")
		if f := strings.Fields(got); len(f) != 5 || f[1] != strconv.FormatInt(size, 10) || f[2] != "true" || f[3] != "<nil>" || f[4] != "<nil>" {
			t.Errorf("the stack in the child: %s (want %d bytes, SHA-256 equal, no errors)", got, size)
		}
	}
	child.Stop()
	if got := next("CLOSED "); got != "<nil>" {
		t.Fatalf("closing the stack in the child: %s", got)
	}
	links, err := p.B.Netlink().LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Type() == "tuntap" {
			t.Errorf("TAP %s left after the child closed its stack", l.Attrs().Name)
		}
		qs, err := p.B.Netlink().QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Type() == "clsact" {
				t.Errorf("clsact qdisc left on %s", l.Attrs().Name)
			}
		}
	}
}
