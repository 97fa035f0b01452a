package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"offload/link/pipe"
	"offload/stack"
	"offload/tcp"
)

// Over IPv6, a client beyond a full backlog is answered with a SYN cookie
// (RFC 4987 §3.6), hashed over the IPv6 4-tuple, and the connection made
// from it keeps what the SYN negotiated: an MSS from the cookie's table that
// fits IPv6's larger header, window scale, SACK and timestamps; data flows.
func TestSYNCookieOverIPv6KeepsOptions_RFC4987_3_6(t *testing.T) {
	s, _, dst := gsoPair(t, pipe.Config{}, true, func(o *stack.Options) { o.ListenBacklog = 1 })
	addr := netip.AddrPortFrom(dst, 80)
	ln, err := s.b.ListenTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func() *stack.Conn {
		c, err := s.a.DialTCP(netip.AddrPort{}, addr)
		if err != nil {
			t.Fatal(err)
		}
		start := s.clk.Now()
		for !isClosed(c.Connected()) {
			s.step()
			if s.elapsed(start) > time.Second {
				t.Fatal("no handshake within a simulated second")
			}
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	dial() // fills the backlog of 1
	if s.b.Stats().SYNCookiesSent.Load() != 0 {
		t.Fatal("a cookie for the first client")
	}
	c := dial()
	if s.b.Stats().SYNCookiesSent.Load() != 1 {
		t.Fatalf("%d cookies sent for the second client, want 1", s.b.Stats().SYNCookiesSent.Load())
	}
	if _, err := c.Write([]byte("over a cookie")); err != nil {
		t.Fatal(err)
	}
	var srv []*stack.Conn
	start := s.clk.Now()
	for len(srv) < 2 {
		if sc, err := ln.Accept(); err == nil {
			srv = append(srv, sc)
			continue
		}
		s.step()
		if s.elapsed(start) > time.Second {
			t.Fatalf("accepted %d of 2 connections", len(srv))
		}
	}
	if n := s.b.Stats().SYNCookiesAccepted.Load(); n != 1 {
		t.Fatalf("%d connections from cookies, want 1", n)
	}
	var sc *stack.Conn
	for _, x := range srv {
		if x.RemoteAddr() == c.LocalAddr() {
			sc = x
		}
	}
	if sc == nil {
		t.Fatal("the cookie client's connection was not accepted")
	}
	check := func(who string, i tcp.Info) {
		t.Helper()
		// The client's MSS of 1440 (1500 - 60) rounds down to the cookie
		// table's 1440 entry or below; timestamps take 12 bytes of each segment.
		if i.SndMSS > 1440-12 || i.SndMSS < 1200 || i.SndWScale <= 0 || i.RcvWScale <= 0 || !i.SACKPermitted || !i.Timestamps {
			t.Fatalf("%s: MSS %d, shifts %d/%d, SACK %v, timestamps %v", who, i.SndMSS, i.SndWScale, i.RcvWScale, i.SACKPermitted, i.Timestamps)
		}
	}
	check("server from cookie", sc.Info())
	check("client", c.Info())
	buf := make([]byte, 64)
	got := 0
	for start := s.clk.Now(); got < len("over a cookie"); {
		n, _ := sc.Read(buf[got:])
		got += n
		s.step()
		if s.elapsed(start) > time.Second {
			t.Fatalf("read %q", buf[:got])
		}
	}
	if string(buf[:got]) != "over a cookie" {
		t.Fatalf("read %q", buf[:got])
	}
}
