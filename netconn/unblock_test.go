package netconn_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"offload/netconn"
)

// A Write blocked because the peer does not read (its receive window and our
// send buffer are full) returns net.ErrClosed when the connection is closed,
// with the count of bytes taken before; it does not wait for the peer.
func TestCloseUnblocksWriteBlockedOnFullWindow(t *testing.T) {
	client, server := pair(t)
	c1, c2, err := connect(t, client, server, 82)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close() // never read: the window fills
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	big := make([]byte, 16<<20) // far more than the send buffer plus the peer's window
	go func() { n, err := c1.Write(big); done <- result{n, err} }()

	// Wait until the Write is blocked: the window is shut and the send
	// buffer stops draining.
	nc := c1.(*netconn.Conn)
	deadline := time.Now().Add(10 * time.Second)
	last := -1
	for {
		time.Sleep(20 * time.Millisecond)
		select {
		case r := <-done:
			t.Fatalf("Write of %d bytes returned (%d, %v) with the peer not reading", len(big), r.n, r.err)
		default:
		}
		info := nc.Info()
		if info.SndWnd == 0 && info.SendBuffered > 0 && info.SendBuffered == last {
			break
		}
		last = info.SendBuffered
		if time.Now().After(deadline) {
			t.Fatalf("the window never filled: %+v", info)
		}
	}
	c1.Close()
	select {
	case r := <-done:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("blocked Write after Close: %v, want net.ErrClosed", r.err)
		}
		if r.n <= 0 || r.n >= len(big) {
			t.Fatalf("blocked Write after Close reported %d bytes written, want some but not all of %d", r.n, len(big))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock a Write blocked on a full window")
	}
}

// Closing a listener unblocks an Accept waiting for a connection, which
// returns net.ErrClosed (as net.TCPListener's does); later Accepts fail at
// once the same way.
func TestListenerCloseUnblocksAccept(t *testing.T) {
	_, server := pair(t)
	ln, err := netconn.Listen(server, "tcp", "198.18.0.2:83")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Accept returned %v with no connection and the listener open", err)
	default:
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listener.Close did not unblock a pending Accept")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}
