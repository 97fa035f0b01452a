package netconn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"offload/bench"
	"offload/link/pipe"
	"offload/netconn"
	"offload/stack"
)

var (
	clientAddr = netip.MustParsePrefix("198.18.0.1/24")
	serverAddr = netip.MustParsePrefix("198.18.0.2/24")
)

// pair builds two stacks joined by an in-memory pipe and removes them when the test ends.
func pair(t testing.TB) (client, server *stack.Stack) {
	t.Helper()
	a, b := pipe.New(pipe.Config{})
	var err error
	client, err = stack.New(stack.Options{NICs: []stack.NIC{{Device: a, Addrs: []netip.Prefix{clientAddr}}}})
	if err != nil {
		t.Fatal(err)
	}
	server, err = stack.New(stack.Options{NICs: []stack.NIC{{Device: b, Addrs: []netip.Prefix{serverAddr}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// connect returns both ends of one connection between the stacks.
func connect(t testing.TB, client, server *stack.Stack, port int) (c1, c2 net.Conn, err error) {
	ln, err := netconn.Listen(server, "tcp", netip.AddrPortFrom(serverAddr.Addr(), uint16(port)).String())
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	d := netconn.Dialer{Stack: client}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, err = d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		return nil, nil, r.err
	}
	return c1, r.c, nil
}

// TestConnConformsToNettest runs golang.org/x/net/nettest's net.Conn
// conformance suite (the one gVisor's gonet adapter is held to).
func TestConnConformsToNettest(t *testing.T) {
	port := 1000
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		client, server := pair(t)
		port++
		c1, c2, err = connect(t, client, server, port)
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestDialClosedPortIsRefused_RFC9293_3_10_7_1(t *testing.T) {
	client, _ := pair(t)
	d := netconn.Dialer{Stack: client}
	_, err := d.DialContext(context.Background(), "tcp", "198.18.0.2:9")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: got %v, want ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %v is not a *net.OpError from dial", err)
	}
}

func TestReadDeadlineGivesErrDeadlineExceeded(t *testing.T) {
	client, server := pair(t)
	c1, c2, err := connect(t, client, server, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	c1.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c1.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: got %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error with Timeout() true", err)
	}
}

func TestCloseUnblocksPendingRead(t *testing.T) {
	client, server := pair(t)
	c1, c2, err := connect(t, client, server, 81)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	done := make(chan error, 1)
	go func() { _, err := c1.Read(make([]byte, 10)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	c1.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending read after Close: got %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock a pending Read")
	}
}

func TestCloseWriteDeliversEOFAndKeepsReading_RFC9293_3_6(t *testing.T) {
	client, server := pair(t)
	c1, c2, err := connect(t, client, server, 82)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	if _, err := c1.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := c1.(*netconn.Conn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v; want the request then EOF", got, err)
	}
	// The half-closed client still receives.
	if _, err := c2.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	got, err = io.ReadAll(c1)
	if err != nil || string(got) != "reply" {
		t.Fatalf("half-closed client read %q, %v; want the reply then EOF", got, err)
	}
}

func TestListenTwiceOnAPortIsAddrInUse(t *testing.T) {
	_, server := pair(t)
	ln, err := netconn.Listen(server, "tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := netconn.Listen(server, "tcp", "198.18.0.2:7"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: got %v, want EADDRINUSE", err)
	}
}

func TestDialContextCancelledGivesUp(t *testing.T) {
	client, _ := pair(t)
	d := netconn.Dialer{Stack: client}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Nobody answers ARP for this address, so the SYN never leaves.
	_, err := d.DialContext(ctx, "tcp", "198.18.0.77:80")
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dial with an expiring context: got %v, want a deadline error", err)
	}
}

// Many goroutines dialling at once each get their own ephemeral port
// (RFC 6056), and every connection works.
func TestConcurrentDialsGetDistinctPorts_RFC6056(t *testing.T) {
	client, server := pair(t)
	ln, err := netconn.Listen(server, "tcp", "198.18.0.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go bench.Echo(ln)
	const n = 50
	ports := make(chan int, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			d := netconn.Dialer{Stack: client}
			c, err := d.DialContext(context.Background(), "tcp", "198.18.0.2:7000")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				errs <- err
				return
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil {
				errs <- err
				return
			}
			ports <- c.LocalAddr().(*net.TCPAddr).Port
			errs <- nil
		}()
	}
	seen := map[int]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(ports)
	for p := range ports {
		if seen[p] {
			t.Fatalf("port %d handed to two connections", p)
		}
		seen[p] = true
	}
}

// With BusyPoll the owner spins between packets instead of sleeping; request/
// response and the idle fall-back to sleeping must still work.
func TestRequestResponseWithBusyPoll(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	mk := func(d *pipe.End, addr netip.Prefix) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, BusyPoll: 200 * time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	client, server := mk(a, clientAddr), mk(b, serverAddr)
	c1, c2, err := connect(t, client, server, 90)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	go io.Copy(c2, c2)
	buf := make([]byte, 64)
	for i := range 200 {
		if i == 100 {
			time.Sleep(5 * time.Millisecond) // long enough for the owners to go back to sleep
		}
		c1.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c1.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c1, buf); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
}
