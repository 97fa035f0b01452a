package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"offload/link/fault"
	"offload/link/pipe"
	"offload/netconn"
	"offload/stack"
)

// The same transfer as the simulations, but with the owner goroutines, the
// real clock and netconn's blocking calls, so the concurrency between
// application goroutines and owners runs under loss, reordering and
// duplication too.
func TestBulkWithOwnerGoroutinesUnderLossIsIntact(t *testing.T) {
	size := bulkSize(t, 16<<20)
	pa, pb := pipe.New(pipe.Config{})
	faults := fault.Faults{Loss: 0.01, Reorder: 0.01, Duplicate: 0.005}
	fa := fault.New(pa, fault.Config{Seed: 11, Tx: faults})
	fb := fault.New(pb, fault.Config{Seed: 12, Tx: faults})
	mk := func(d *fault.Device, addr netip.Prefix) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, TCP: fastRecovery()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := mk(fa, simA), mk(fb, simB)
	ln, err := netconn.Listen(b, "tcp", "198.18.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	payload := make([]byte, size)
	rand.NewChaCha8([32]byte{5, 6}).Read(payload)
	want := sha256.Sum256(payload)

	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		c.Write(sum[:])
		got <- sum
	}()
	d := netconn.Dialer{Stack: a}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", "198.18.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	if _, err := io.Copy(c, bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	if err := c.(*netconn.Conn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var echoed [32]byte
	if _, err := io.ReadFull(c, echoed[:]); err != nil {
		t.Fatalf("reading the receiver's digest: %v", err)
	}
	if <-got != want || echoed != want {
		t.Fatalf("SHA-256 differs after %d bytes under loss", size)
	}
	t.Logf("%d MiB under 1%% loss in %v; faults injected: %+v", size>>20, time.Since(start), fa.Counts())
}
