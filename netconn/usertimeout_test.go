package netconn_test

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"offload/link"
	"offload/link/pipe"
	"offload/netconn"
	"offload/pkt"
	"offload/stack"
)

// cable is a device whose cable can be pulled: from then on every frame
// it would send is dropped (the peer vanishes without a word).
type cable struct {
	link.Device
	pulled atomic.Bool
}

func (c *cable) Send(q int, b *pkt.Batch) (int, error) {
	if c.pulled.Load() {
		for _, f := range b.Buffers() {
			f.Release()
		}
		b.Clear()
		return 0, nil
	}
	return c.Device.Send(q, b)
}

// A connection whose peer vanishes fails with a timeout error (ETIMEDOUT, a
// net.Error whose Timeout() is true) once its written data has gone
// unacknowledged for the user timeout set with SetUserTimeout (RFC 5482),
// long before the 15 backed-off retransmissions that would otherwise end it
// (over 15 minutes); a negative timeout is refused.
func TestSetUserTimeoutFailsConnectionToVanishedPeer_RFC5482(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	ca := &cable{Device: a}
	client, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: ca, Addrs: []netip.Prefix{clientAddr}}}})
	if err != nil {
		t.Fatal(err)
	}
	server, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: b, Addrs: []netip.Prefix{serverAddr}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	c1, c2, err := connect(t, client, server, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	nc := c1.(*netconn.Conn)
	var oe *net.OpError
	if err := nc.SetUserTimeout(-time.Second); !errors.Is(err, syscall.EINVAL) || !errors.As(err, &oe) {
		t.Fatalf("negative user timeout: %v, want EINVAL in a *net.OpError", err)
	}
	const d = 300 * time.Millisecond
	if err := nc.SetUserTimeout(d); err != nil {
		t.Fatal(err)
	}
	ca.pulled.Store(true)
	start := time.Now()
	if _, err := c1.Write([]byte("into the void")); err != nil {
		t.Fatal(err)
	}
	c1.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = c1.Read(make([]byte, 10))
	took := time.Since(start)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("read after the peer vanished: %v after %v, want ETIMEDOUT", err, took)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error with Timeout() true", err)
	}
	if took < d {
		t.Fatalf("failed after %v, before the user timeout of %v", took, d)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("write after the timeout: %v", err)
	}
}
