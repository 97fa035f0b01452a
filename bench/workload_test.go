package bench

import (
	"bytes"
	"net"
	"testing"
)

func sinkOnLoopback(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Sink(ln)
	return ln.Addr().String()
}

func TestBulkVerifiesDigestAndThroughputCounts(t *testing.T) {
	addr := sinkOnLoopback(t)
	for _, size := range []int64{0, 1, 7, 256<<10 + 3, 4 << 20} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Bulk(c, size, 3, nil)
		c.Close()
		if err != nil || !r.Verified || !r.Hashed || r.Bytes != size {
			t.Fatalf("Bulk of %d bytes: %+v, %v", size, r, err)
		}
		c, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err = Throughput(c, size, nil)
		c.Close()
		if err != nil || !r.Verified || r.Hashed || r.Bytes != size {
			t.Fatalf("Throughput of %d bytes: %+v, %v", size, r, err)
		}
	}
}

// corrupting flips one byte of what passes through it, once.
type corrupting struct {
	net.Conn
	done bool
}

func (c *corrupting) Write(p []byte) (int, error) {
	if !c.done && len(p) > 100 {
		q := bytes.Clone(p)
		q[100] ^= 1
		c.done = true
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

func TestBulkDetectsACorruptedByte(t *testing.T) {
	addr := sinkOnLoopback(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := Bulk(&corrupting{Conn: c}, 1<<20, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verified {
		t.Fatal("a flipped byte went unnoticed")
	}
}

func TestRequestResponseCountsRoundTrips(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go Echo(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := RequestResponse(c, 64, 10, 100)
	if err != nil || len(r.Samples) != 100 || r.Percentile(50) <= 0 || r.Percentile(50) > r.Percentile(99) {
		t.Fatalf("%+v, %v", r.Requests, err)
	}
}
