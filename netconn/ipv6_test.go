package netconn_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"offload/bench"
	"offload/link/pipe"
	"offload/netconn"
	"offload/stack"
)

// dualPair builds two dual-stack stacks (IPv4 and IPv6 on each) over a pipe.
func dualPair(t *testing.T) (client, server *stack.Stack) {
	t.Helper()
	a, b := pipe.New(pipe.Config{})
	mk := func(d *pipe.End, v4, v6 string) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{netip.MustParsePrefix(v4), netip.MustParsePrefix(v6)}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return mk(a, "198.18.0.1/24", "2001:db8::1/64"), mk(b, "198.18.0.2/24", "2001:db8::2/64")
}

// A listener on ":80" takes connections over both IPv4 and IPv6 (dual stack,
// as net.Listen(":80")), and data crosses IPv6 intact (RFC 8200 with NDP
// resolving the neighbour, RFC 4861).
func TestDualStackListenerAcceptsIPv4AndIPv6_RFC8200(t *testing.T) {
	client, server := dualPair(t)
	ln, err := netconn.Listen(server, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go bench.Echo(ln)
	payload := bytes.Repeat([]byte("offload over both families "), 40000) // ~1 MiB
	for _, addr := range []string{"198.18.0.2:80", "[2001:db8::2]:80"} {
		d := netconn.Dialer{Stack: client}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		go func() { c.Write(payload); c.(*netconn.Conn).CloseWrite() }()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: echoed %d of %d bytes intact=%v, err %v", addr, len(got), len(payload), bytes.Equal(got, payload), err)
		}
		if ra := c.RemoteAddr().(*net.TCPAddr); ra.AddrPort().String() != addr {
			t.Fatalf("remote address %v, want %s", ra, addr)
		}
	}
}

// On IPv6 the MSS leaves room for the 40-byte IPv6 header: MTU − 60.
func TestIPv6MSSIsMTUMinus60_RFC8200_8_3(t *testing.T) {
	client, server := dualPair(t)
	ln, err := netconn.Listen(server, "tcp", "[2001:db8::2]:81")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	d := netconn.Dialer{Stack: client}
	c, err := d.DialContext(context.Background(), "tcp6", "[2001:db8::2]:81")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Info reports the payload per segment, net of the timestamp option.
	info := c.(*netconn.Conn).Info()
	want := 1500 - 60
	if info.Timestamps {
		want -= 12
	}
	if info.SndMSS != want || info.RcvMSS != want {
		t.Fatalf("MSS over IPv6 on a 1500-byte link: send %d, receive %d; want %d (1440 less options)", info.SndMSS, info.RcvMSS, want)
	}
	if _, err := d.DialContext(context.Background(), "tcp4", "[2001:db8::2]:81"); err == nil {
		t.Fatal("tcp4 dial to an IPv6 address succeeded")
	}
}
