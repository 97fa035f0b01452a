package bench

import (
	"net"
	"testing"
	"time"
)

func echoOnLoopback(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Echo(ln)
	return ln.Addr().String()
}

func TestLoadedRequestResponseCountsEveryConnectionsRoundTrips(t *testing.T) {
	addr := echoOnLoopback(t)
	var conns []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	r, err := RequestResponseLoaded(conns, 64, 10, 200)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 8*200 || len(r.Samples) != 8*200 || r.Conns != 8 {
		t.Fatalf("%d requests, %d samples, %d conns; want 1600, 1600, 8", r.Requests, len(r.Samples), r.Conns)
	}
	if r.Percentile(0) <= 0 || r.Percentile(50) > r.Percentile(99.9) || r.RequestsPerSecond() <= 0 {
		t.Fatalf("implausible: p0 %v p50 %v p99.9 %v rate %v", r.Percentile(0), r.Percentile(50), r.Percentile(99.9), r.RequestsPerSecond())
	}
}

// A server that answers wrongly fails the run instead of producing numbers.
func TestLoadedRequestResponseRejectsAWrongReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			buf[0]++
			c.Write(buf)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := RequestResponseLoaded([]net.Conn{c}, 64, 0, 10); err == nil {
		t.Fatal("a wrong reply was accepted")
	}
}
