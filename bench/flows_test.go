package bench

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func TestFlowsCountsEveryFlowsBytesAndReportsTenths(t *testing.T) {
	addr := sinkOnLoopback(t)
	var conns []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	tenths := 0
	r, err := Flows(conns, 1<<20, 20*time.Second, func() { tenths++ })
	if err != nil || !r.Verified || r.Bytes != 4<<20 || r.Duration <= 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	if tenths != 10 {
		t.Fatalf("progress called %d times, want 10", tenths)
	}
}

func TestConnectionRateStopsAtItsCountAndRejectsWrongEchoes(t *testing.T) {
	addr := echoOnLoopback(t)
	dial := func() (net.Conn, error) { return net.Dial("tcp", addr) }
	n, el, err := ConnectionRate(dial, 64, 10*time.Second, 25)
	if err != nil || n != 25 || el <= 0 {
		t.Fatalf("%d connections in %v, %v; want 25", n, el, err)
	}
	// A server that answers with other bytes fails the run.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			c.Read(buf)
			c.Write(bytes.Repeat([]byte{0xff}, 64))
			c.Close()
		}
	}()
	bad := func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) }
	if n, _, err := ConnectionRate(bad, 64, 10*time.Second, 5); err == nil || n != 0 {
		t.Fatalf("wrong echoes: %d connections, %v", n, err)
	}
}
