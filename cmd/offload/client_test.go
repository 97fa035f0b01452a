//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
)

func TestServeFlagsAreValidated(t *testing.T) {
	base := []string{"--link", "tap", "--addr", "198.18.0.2/24", "--mode", "echo"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	cases := []struct {
		args []string
		want string // "" means valid
	}{
		{base, ""},
		{with("--port", "8080", "--iface", "t0", "--netns", "x", "--kernel-addr", "198.18.0.1/24", "--gateway", "198.18.0.254"), ""},
		{[]string{"--addr", "198.18.0.2/24", "--mode", "echo"}, "--link is required: tap, afxdp, afpacket, tc-tap or auto"},
		{with("--link", "xdp"), `--link "xdp": want tap, afxdp, afpacket, tc-tap or auto`},
		{[]string{"--link", "afpacket", "--addr", "198.18.0.2/24", "--mode", "echo"}, "--link afpacket needs --iface"},
		{[]string{"--link", "afpacket", "--iface", "e0", "--kernel-addr", "198.18.0.1/24", "--addr", "198.18.0.2/24", "--mode", "echo"}, "--kernel-addr is for --link tap only"},
		{[]string{"--link", "tap", "--mode", "echo"}, "--addr is required"},
		{with("--addr", "198.18.0.2"), "want an IPv4 address with its prefix length"},
		{with("--addr", "2001:db8::1/64"), "want an IPv4 address with its prefix length"},
		{with("--gateway", "10.0.0.1"), "--gateway 10.0.0.1 is not inside 198.18.0.0/24"},
		{with("--kernel-addr", "198.18.0.2/24"), "the kernel and offload each need their own address"},
		{with("--iface", "this-name-is-far-too-long"), "is not a valid interface name"},
		{with("--mtu", "100"), "--mtu 100: want 576 to 65521"},
		{with("--mode", "chargen"), `--mode "chargen": want one of discard, echo, http, sink, source`},
		{with("--mode", "source", "--size", "1KiB"), ""},
		{with("--mode", "source", "--size", "-5"), `--size: "-5" is not a size`},
		{with("--size", "1MiB"), "--size is for --mode source only"},
		{[]string{"--link", "afpacket", "--iface", "e0", "--afpacket-ring", "blocks", "--addr", "198.18.0.2/24", "--mode", "echo"}, ""},
		{[]string{"--link", "auto", "--iface", "e0", "--afpacket-ring", "blocks", "--addr", "198.18.0.2/24", "--mode", "echo"}, "--afpacket-ring blocks is for --link afpacket only"},
		{[]string{"--link", "tap", "--addr", "198.18.0.2/24"}, "--mode is required"},
		{with("--port", "70000"), "--port 70000: want 1 to 65535"},
		{with("stray"), `unexpected argument "stray"`},
		{with("--bogus"), "flag provided but not defined: -bogus"},
	}
	for _, c := range cases {
		_, err := parseServeFlags(c.args, io.Discard)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v; want one containing %q", c.args, err, c.want)
		}
	}
	c, err := parseServeFlags([]string{"--link", "tap", "--addr", "198.18.0.2/24", "--mode", "http"}, io.Discard)
	if err != nil || c.port != 80 {
		t.Errorf("http's default port: %d, %v", c.port, err)
	}
}

func TestClientFlagsAreValidated(t *testing.T) {
	base := []string{"--link", "tap", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1:5001"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	cases := []struct {
		args []string
		want string
	}{
		{with("--mode", "bulk"), ""},
		{with("--mode", "rr", "--msg", "1000", "--count", "5"), ""},
		{with("--mode", "sink", "--size", "1GiB"), ""},
		{[]string{"--link", "tap", "--addr", "198.18.0.2/24", "--mode", "bulk"}, "--connect is required"},
		{[]string{"--link", "tap", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1", "--mode", "bulk"}, "want an IPv4 address and a port"},
		{[]string{"--link", "tap", "--addr", "198.18.0.2/24", "--connect", "198.18.0.2:80", "--mode", "bulk"}, "is the stack's own address"},
		{[]string{"--link", "tap", "--addr", "198.18.0.2/24", "--connect", "10.1.1.1:80", "--mode", "bulk"}, "no --gateway is set"},
		{with(), "--mode is required: bulk, sink, recv, rr"},
		{with("--mode", "stream"), `--mode "stream": want one of bulk, sink, recv, rr`},
		{with("--mode", "recv", "--count", "3"), ""},
		{with("--mode", "recv", "--expect-sha256", strings.Repeat("ab", 32)), ""},
		{with("--mode", "recv", "--expect-sha256", "abc"), "--expect-sha256 \"abc\": want 64 hex digits"},
		{with("--mode", "recv", "--expect-sha256", strings.Repeat("xy", 32)), "want 64 hex digits"},
		{with("--mode", "bulk", "--expect-sha256", strings.Repeat("ab", 32)), "--expect-sha256 is for --mode recv only"},
		{[]string{"--link", "afpacket", "--iface", "e0", "--afpacket-ring", "blocks", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1:5001", "--mode", "recv"}, ""},
		{with("--mode", "bulk", "--afpacket-ring", "blocks"), "--afpacket-ring blocks is for --link afpacket only"},
		{with("--mode", "bulk", "--afpacket-ring", "v3"), `--afpacket-ring "v3": want frames (TPACKET_V2) or blocks (TPACKET_V3)`},
		{with("--mode", "bulk", "--size", "lots"), `--size: "lots" is not a size`},
		{with("--mode", "bulk", "--size", "0"), "is not a size"},
		{with("--mode", "bulk", "--count", "-1"), "--count -1"},
		{with("--mode", "rr", "--msg", "0"), "--msg 0"},
		{with("--mode", "rr", "--timeout", "-1s"), "--timeout -1s"},
	}
	for _, c := range cases {
		_, err := parseClientFlags(c.args, io.Discard)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v; want one containing %q", c.args, err, c.want)
		}
	}
	c, err := parseClientFlags(with("--mode", "sink", "--size", "3MiB", "--count", "4"), io.Discard)
	if err != nil || c.size != 3<<20 || c.count != 4 {
		t.Errorf("parsed %+v, %v", c, err)
	}
	c, err = parseClientFlags([]string{"--link", "afpacket", "--iface", "e0", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1:5001", "--mode", "recv"}, io.Discard)
	if err != nil || c.link.blocks || c.count != 1 || c.expectSHA != nil {
		t.Errorf("recv defaults: %+v, %v; want the frame ring, one transfer, no digest to check", c, err)
	}
	c, err = parseClientFlags([]string{"--link", "afpacket", "--iface", "e0", "--afpacket-ring", "blocks", "--addr", "198.18.0.2/24", "--connect", "198.18.0.1:5001", "--mode", "recv"}, io.Discard)
	if err != nil || !c.link.blocks {
		t.Errorf("--afpacket-ring blocks: %+v, %v", c, err)
	}
	c, err = parseClientFlags(with("--mode", "rr"), io.Discard)
	if err != nil || c.count != 10000 || c.msg != 64 {
		t.Errorf("rr defaults: %+v, %v", c, err)
	}
}

// kernelServe runs a kernel server in h on addr until the test ends.
func kernelServe(t *testing.T, h *netns.Host, addr string, handle func(net.Conn)) {
	t.Helper()
	var ln net.Listener
	if err := h.Run(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

func runClientArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c, err := parseClientFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = client(ctx, c, out)
	t.Logf("offload client %s:\n%s", strings.Join(args, " "), out)
	return out.String(), err
}

// TestClientAgainstKernelServersOnTAP runs `offload client` on a TAP interface
// against the kernel's discard and echo servers in the namespace, and checks
// the tables it prints.
func TestClientAgainstKernelServersOnTAP(t *testing.T) {
	h := netns.NewHost(t, "client")
	// The kernel's address appears only when the client opens the TAP
	// interface (--kernel-addr), so the servers listen on every address.
	kernelServe(t, h, "0.0.0.0:5001", func(c net.Conn) { io.Copy(io.Discard, c) })
	kernelServe(t, h, "0.0.0.0:5002", func(c net.Conn) { io.Copy(c, c) })
	link := []string{"--link", "tap", "--iface", "offcli0", "--netns", h.Name(), "--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24"}

	out, err := runClientArgs(t, append(link, "--connect", "198.18.0.1:5001", "--mode", "bulk", "--size", "16MiB", "--count", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`transfer +bytes +seconds +Gbit/s +SHA-256`,
		`\n +1 +16777216 +\d+\.\d{3} +\d+\.\d\d +not checked`,
		`\n +2 +16777216 `,
		`\n +all +33554432 `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("bulk output does not match %q", re)
		}
	}

	// The TAP interface went with the first client; a new one gets the same name.
	out, err = runClientArgs(t, append(link, "--connect", "198.18.0.1:5002", "--mode", "rr", "--count", "500", "--msg", "100")...)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`round trips +bytes +min +p50 +p90 +p99 +p99\.9 +max\s+500 +100 +\d`).MatchString(out) {
		t.Errorf("rr output does not look right")
	}

	_, err = runClientArgs(t, append(link, "--connect", "198.18.0.1:5003", "--mode", "bulk", "--size", "1MiB")...)
	if err == nil || !strings.Contains(err.Error(), "connection refused: nothing listens on 198.18.0.1:5003") {
		t.Errorf("client to a closed port: %v", err)
	}
}

// TestClientSinkAgainstServeSinkOverVeth: offload on both ends of a veth
// pair (AF_PACKET on each), `offload client --mode sink` against `offload
// serve --mode sink`, with the SHA-256 check; then rr against serve echo.
func TestClientSinkAgainstServeSinkOverVeth(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "sink", DisableIPv6: true})
	startServe(t, "--link", "afpacket", "--iface", p.IfA, "--netns", p.A.Name(), "--addr", "198.18.0.1/24", "--mode", "sink")
	startServe(t, "--link", "afpacket", "--iface", p.IfA, "--netns", p.A.Name(), "--addr", "198.18.0.4/24", "--mode", "echo")
	link := []string{"--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(), "--addr", "198.18.0.2/24"}
	out, err := runClientArgs(t, append(link, "--connect", "198.18.0.1:5001", "--mode", "sink", "--size", "32MiB")...)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`\n +1 +33554432 +\d+\.\d{3} +\d+\.\d\d +match`).MatchString(out) {
		t.Errorf("sink output does not show a verified transfer")
	}
	out, err = runClientArgs(t, append(link, "--connect", "198.18.0.4:7", "--mode", "rr", "--count", "200")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "round trips") {
		t.Errorf("rr output lacks its table")
	}
}
