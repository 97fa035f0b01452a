package netconn_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"offload/netconn"
)

// Datagrams cross a net.PacketConn pair both ways over IPv4 and IPv6, intact
// and with the sender's address as the source (RFC 768, RFC 8200 §8.1).
func TestPacketConnDatagramsBothWaysIPv4AndIPv6_RFC768(t *testing.T) {
	client, server := dualPair(t)
	srv, err := netconn.ListenPacket(server, "udp", ":5353")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct{ network, local, remote string }{
		{"udp4", "198.18.0.1:0", "198.18.0.2:5353"},
		{"udp6", "[2001:db8::1]:0", "[2001:db8::2]:5353"},
	} {
		cl, err := netconn.ListenPacket(client, tc.network, tc.local)
		if err != nil {
			t.Fatal(err)
		}
		cl.SetDeadline(time.Now().Add(5 * time.Second))
		srv.SetDeadline(time.Now().Add(5 * time.Second))
		to, _ := net.ResolveUDPAddr("udp", tc.remote)
		msg := bytes.Repeat([]byte(tc.network), 300)
		if n, err := cl.WriteTo(msg, to); err != nil || n != len(msg) {
			t.Fatalf("%s: WriteTo n=%d err=%v", tc.network, n, err)
		}
		buf := make([]byte, 2000)
		n, from, err := srv.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("%s: server ReadFrom n=%d err=%v", tc.network, n, err)
		}
		if from.String() != cl.LocalAddr().String() {
			t.Fatalf("%s: source %v, want %v", tc.network, from, cl.LocalAddr())
		}
		if _, err := srv.WriteTo(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		n, from, err = cl.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != to.String() {
			t.Fatalf("%s: echo n=%d from %v err=%v", tc.network, n, from, err)
		}
		cl.Close()
	}
}

// A read deadline ends a blocked ReadFrom with a timeout *net.OpError that
// matches os.ErrDeadlineExceeded, and clearing it lets reads block again.
func TestPacketConnReadDeadlineTimesOut(t *testing.T) {
	_, server := dualPair(t)
	c, err := netconn.ListenPacket(server, "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, _, err = c.ReadFrom(make([]byte, 10))
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, os.ErrDeadlineExceeded) || !oe.Timeout() {
		t.Fatalf("err %v, want a timeout *net.OpError", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 2*time.Second {
		t.Fatalf("returned after %v", d)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second)) // in the past: fails at once
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	c.SetDeadline(time.Now().Add(-time.Second))
	to, _ := net.ResolveUDPAddr("udp", "198.18.0.1:9")
	if _, err := c.WriteTo([]byte("x"), to); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past write deadline: %v", err)
	}
	// Cleared, a read blocks again until a datagram comes or Close.
	c.SetDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, _, err := c.ReadFrom(make([]byte, 10)); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("ReadFrom returned %v with no deadline and no datagram", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Close()
	<-done
}

// Close unblocks a ReadFrom in progress with net.ErrClosed.
func TestPacketConnCloseUnblocksReadFrom(t *testing.T) {
	_, server := dualPair(t)
	c, err := netconn.ListenPacket(server, "udp4", "198.18.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		var oe *net.OpError
		if !errors.As(err, &oe) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err %v, want *net.OpError with net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadFrom still blocked after Close")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// A datagram that does not fit the MTU is refused with EMSGSIZE (no
// fragmentation on send), wrapped as the net package wraps errnos.
func TestPacketConnOversizeDatagramIsEMSGSIZE(t *testing.T) {
	client, _ := dualPair(t)
	c, err := netconn.ListenPacket(client, "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, _ := net.ResolveUDPAddr("udp", "198.18.0.2:9")
	_, err = c.WriteTo(make([]byte, 1500), to)
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("err %v, want *net.OpError with EMSGSIZE", err)
	}
}

// A "udp4" endpoint refuses IPv6 destinations and a "udp6" one IPv4, as the
// net package's family-specific sockets do.
func TestPacketConnFamilyMismatchRefused(t *testing.T) {
	client, _ := dualPair(t)
	c4, err := netconn.ListenPacket(client, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	to6, _ := net.ResolveUDPAddr("udp", "[2001:db8::2]:9")
	if _, err := c4.WriteTo([]byte("x"), to6); err == nil {
		t.Fatal("udp4 endpoint sent to an IPv6 address")
	}
	if _, err := netconn.ListenPacket(client, "udp6", "198.18.0.1:0"); err == nil {
		t.Fatal("udp6 bound an IPv4 address")
	}
	if _, err := netconn.ListenPacket(client, "ip", ":0"); err == nil {
		t.Fatal("unknown network accepted")
	}
}
