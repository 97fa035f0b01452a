//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"offload/internal/netns"
)

// syncBuffer is an io.Writer the server goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe parses args like the command line does and runs serve until the
// test ends; it returns once the server accepts connections.
func startServe(t *testing.T, args ...string) *syncBuffer {
	t.Helper()
	c, err := parseServeFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, out, func(netip.AddrPort) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve %q: %v\n%s", args, err, out)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("serve %q did not start\n%s", args, out)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop when its context ended")
		}
		t.Logf("serve output:\n%s", out)
	})
	return out
}

// nsHTTPClient is an HTTP client whose connections are opened inside h (the
// transport dials from its own goroutines, so each dial enters h itself).
func nsHTTPClient(h *netns.Host) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = h.Run(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, "tcp4", addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: false,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// TestServeHTTPOnTAPAnsweredToKernelHTTPClient runs `offload serve --mode http`
// on a TAP interface in a namespace and talks to it with the kernel's TCP from
// that namespace: Go's net/http client, then curl if it is installed.
func TestServeHTTPOnTAPAnsweredToKernelHTTPClient(t *testing.T) {
	h := netns.NewHost(t, "servehttp")
	out := startServe(t, "--link", "tap", "--iface", "offsrv0", "--netns", h.Name(),
		"--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24", "--mode", "http", "--port", "80")
	if s := out.String(); !strings.Contains(s, "serving http on 198.18.0.2:80 over tap offsrv0") {
		t.Errorf("start-up line: %q", s)
	}
	hc := nsHTTPClient(h)

	resp, err := hc.Get("http://198.18.0.2/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), "hello from offload") || !strings.Contains(string(body), "198.18.0.1:") {
		t.Fatalf("GET /: %v %d %q", err, resp.StatusCode, body)
	}

	// A download several windows long, on a kept-alive connection.
	const n = 16 << 20
	resp, err = hc.Get(fmt.Sprintf("http://198.18.0.2/bytes/%d", n))
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(body) != n {
		t.Fatalf("GET /bytes/%d: %v %d, %d bytes", n, err, resp.StatusCode, len(body))
	}
	for i, b := range body {
		if b != byte(i%(64<<10)*7) {
			t.Fatalf("GET /bytes: byte %d is %#x, want %#x", i, b, byte(i%(64<<10)*7))
		}
	}

	// An upload.
	up := make([]byte, 8<<20)
	for i := range up {
		up[i] = byte(i ^ i>>9)
	}
	resp, err = hc.Post("http://198.18.0.2/sha256", "application/octet-stream", bytes.NewReader(up))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%x %d\n", sha256.Sum256(up), len(up)); string(body) != want {
		t.Fatalf("POST /sha256: %q, want %q", body, want)
	}

	resp, err = hc.Get("http://198.18.0.2/bytes/x")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET /bytes/x: %v %v; want 400", err, resp)
	}

	if toolMissing(t, "curl", "curl", "") {
		return
	}
	cmd := h.Command("curl", "-sS", "--max-time", "10", "http://198.18.0.2/")
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "hello from offload") {
		t.Fatalf("curl: %v: %s", err, got)
	}
}

// TestServeDiscardAndEchoOnAFPacketWithKernelClients runs `offload serve` on
// one end of a veth pair and uses it from the kernel at the other end.
func TestServeDiscardAndEchoOnAFPacketWithKernelClients(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "serveafp", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
	for _, mode := range []string{"discard", "echo"} {
		t.Run(mode, func(t *testing.T) {
			out := startServe(t, "--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(),
				"--addr", "198.18.0.2/24", "--mode", mode, "--port", "6000")
			var c net.Conn
			if err := p.A.Run(func() (err error) {
				c, err = net.DialTimeout("tcp4", "198.18.0.2:6000", 5*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			const n = 4 << 20
			data := bytes.Repeat([]byte("offload "), n/8)
			echoed := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(c)
				echoed <- b
			}()
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			got := <-echoed // EOF: the server closed after our FIN
			switch mode {
			case "discard":
				if len(got) != 0 {
					t.Fatalf("discard server sent %d bytes", len(got))
				}
			case "echo":
				if !bytes.Equal(got, data) {
					t.Fatalf("echo returned %d bytes, not the %d sent", len(got), len(data))
				}
			}
			want := fmt.Sprintf(": %s %d bytes", map[string]string{"discard": "received", "echo": "echoed"}[mode], n)
			for end := time.Now().Add(2 * time.Second); !strings.Contains(out.String(), want) && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(out.String(), want) {
				t.Fatalf("serve output lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestErrorsSayWhatToDo: the mistakes a person makes get a message that
// names the problem and the fix.
func TestErrorsSayWhatToDo(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "serveerr", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no such interface", []string{"--link", "afpacket", "--iface", "nosuch0", "--netns", p.B.Name(), "--addr", "198.18.0.2/24", "--mode", "echo"},
			[]string{"no such interface", `"nosuch0"`, p.B.Name(), "ip -n " + p.B.Name() + " link"}},
		{"no such namespace", []string{"--link", "afpacket", "--iface", "veth-b", "--netns", "offl-no-such-ns", "--addr", "198.18.0.2/24", "--mode", "echo"},
			[]string{`no network namespace "offl-no-such-ns"`, "ip netns list"}},
		{"address the kernel has", []string{"--link", "afpacket", "--iface", p.IfA, "--netns", p.A.Name(), "--addr", "198.18.0.1/24", "--mode", "echo"},
			[]string{"address already in use", "198.18.0.1 is the kernel's own address on veth-a", "ip -n " + p.A.Name() + " addr del 198.18.0.1/24 dev veth-a"}},
		{"TAP name taken by another interface", []string{"--link", "tap", "--iface", p.IfA, "--netns", p.A.Name(), "--addr", "198.18.0.2/24", "--mode", "echo"},
			[]string{"interface name is taken", "Pick another --iface"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseServeFlags(c.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			err = serve(context.Background(), cfg, io.Discard, func(netip.AddrPort) { t.Error("serve started") })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestNotPrivilegedSaysWhatToDo runs serve and client as the user nobody.
func TestNotPrivilegedSaysWhatToDo(t *testing.T) {
	if os.Getenv(netns.NobodyEnv) == "1" {
		for _, args := range [][]string{
			{"serve", "--link", "tap", "--addr", "198.18.0.2/24", "--mode", "echo"},
			{"serve", "--link", "afpacket", "--iface", "lo", "--netns", "x", "--addr", "198.18.0.2/24", "--mode", "echo"},
			{"serve", "--link", "auto", "--iface", "lo", "--addr", "198.18.0.2/24", "--mode", "echo"},
			{"serve", "--link", "tc-tap", "--iface", "lo", "--addr", "198.18.0.2/24", "--mode", "echo"},
			{"client", "--link", "tap", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1:5001", "--mode", "bulk"},
		} {
			var err error
			switch args[0] {
			case "serve":
				var c serveConfig
				if c, err = parseServeFlags(args[1:], io.Discard); err == nil {
					err = serve(context.Background(), c, io.Discard, nil)
				}
			case "client":
				var c clientConfig
				if c, err = parseClientFlags(args[1:], io.Discard); err == nil {
					err = client(context.Background(), c, io.Discard)
				}
			}
			fmt.Printf("%s: %v\n", args[0], err)
		}
		return
	}
	netns.Require(t)
	out, err := netns.RunAsNobody(t, "TestNotPrivilegedSaysWhatToDo")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
	for _, want := range []string{
		"serve: not privileged: this needs root; missing CAP_NET_ADMIN (to create the TAP interface). Run it as root (sudo offload ...)",
		"serve: not privileged: this needs root; missing CAP_NET_RAW (to open an AF_PACKET socket) and CAP_SYS_ADMIN (to enter network namespace x)",
		"serve: not privileged: this needs root; missing CAP_NET_RAW (to open an AF_PACKET or AF_XDP socket) or CAP_NET_ADMIN (to join a TAP to the interface with tc)",
		"serve: not privileged: this needs root; missing CAP_NET_ADMIN (to create the TAP and the tc filters)",
		"setcap cap_net_admin,cap_net_raw,cap_sys_admin+ep",
		"client: not privileged: this needs root; missing CAP_NET_ADMIN",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output as nobody lacks %q:\n%s", want, out)
		}
	}
}

// TestNoTunDeviceSaysWhatToDo hides /dev/net/tun (a tmpfs over /dev/net in a
// private mount namespace of a child process) and opens a TAP server there.
func TestNoTunDeviceSaysWhatToDo(t *testing.T) {
	const env = "OFFLOAD_TEST_NO_TUN"
	if os.Getenv(env) == "1" {
		if err := hideTunDevice(); err != nil {
			fmt.Println("SETUP:", err)
			return
		}
		c, err := parseServeFlags([]string{"--link", "tap", "--addr", "198.18.0.2/24", "--mode", "echo"}, io.Discard)
		if err == nil {
			err = serve(context.Background(), c, io.Discard, nil)
		}
		fmt.Println("SERVE:", err)
		return
	}
	netns.Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoTunDeviceSaysWhatToDo$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.SysProcAttr = newMountNamespace()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("without /dev/net/tun:\n%s", out)
	for _, want := range []string{"SERVE: tap: /dev/net/tun does not exist", "modprobe tun", "--device /dev/net/tun"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeEchoOverAFXDPAndAuto runs `offload serve --link afxdp` and
// `--link auto` (AF_XDP, falling back to AF_PACKET) and `--link tc-tap` (a TAP
// joined to the interface by tc filters) on one end of a veth and
// echoes a kernel client's bytes back intact.
func TestServeEchoOverAFXDPAndAuto(t *testing.T) {
	for i, kind := range []string{"afxdp", "auto", "tc-tap"} {
		t.Run(kind, func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "serve" + kind, AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
			port := fmt.Sprint(6100 + i)
			startServe(t, "--link", kind, "--iface", p.IfB, "--netns", p.B.Name(),
				"--addr", "198.18.0.2/24", "--mode", "echo", "--port", port)
			var c net.Conn
			if err := p.A.Run(func() (err error) {
				c, err = net.DialTimeout("tcp4", "198.18.0.2:"+port, 5*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			data := bytes.Repeat([]byte("bypass "), (1<<20)/7)
			echoed := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(c); echoed <- b }()
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			if got := <-echoed; !bytes.Equal(got, data) {
				t.Fatalf("echo over --link %s returned %d bytes, not the %d sent", kind, len(got), len(data))
			}
		})
	}
}
