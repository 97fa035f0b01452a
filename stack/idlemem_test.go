package stack_test

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"offload/stack"
)

// idleConnBytesBound is the most an idle established connection may cost one
// side, all included: the tcp.Conn, the stack.Conn with its channels and
// timer, the connection table entry and the listener's share. Measured on
// amd64 with the default 256 KiB buffers: about 2.3 KiB per side (tcp.Conn
// 1280 bytes, stack.Conn 192, its four channels 4 × 96, the congestion
// controller, table entries and map growth the rest; see
// TestIdleConnectionsHoldNoBuffers' log). The bound leaves room for the Conn to grow and for the map's
// doubling steps (a table just past a doubling costs up to twice as much per
// entry), while a connection that kept its rings (512 KiB) or even a
// 16 KiB scoreboard or one page per ring would fail it.
const idleConnBytesBound = 8 << 10

// heapInUse returns the live heap after the collector has run often enough
// to empty the buffer pools (a sync.Pool keeps what was put in it across one
// collection, as a victim cache, and drops it at the next).
func heapInUse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// openIdle opens n connections from s.a to s.b:port, moves a small request
// and response over each (so every ring was used and has gone idle again, as
// on a real server between requests), and lets delayed ACKs and the clock
// settle. It returns both ends of each.
func openIdle(t testing.TB, s *sim, ln *stack.Listener, port uint16, n int) (client, server []*stack.Conn) {
	t.Helper()
	dst := netip.AddrPortFrom(simB.Addr(), port)
	req, resp := []byte("GET /\r\n"), []byte("200 OK\r\n")
	buf := make([]byte, 64)
	const batch = 64
	for len(client) < n {
		k := min(batch, n-len(client))
		cs := make([]*stack.Conn, 0, k)
		for range k {
			c, err := s.a.DialTCP(netip.AddrPort{}, dst)
			if err != nil {
				t.Fatalf("dial %d: %v", len(client)+len(cs), err)
			}
			cs = append(cs, c)
		}
		var ss []*stack.Conn
		start := s.clk.Now()
		for len(ss) < k {
			s.step()
			for {
				c, err := ln.Accept()
				if err != nil {
					break
				}
				ss = append(ss, c)
			}
			if s.elapsed(start) > time.Minute {
				t.Fatalf("%d of %d accepted after a simulated minute", len(ss), k)
			}
		}
		for _, c := range cs {
			<-c.Connected()
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
		}
		exchange := func(conns []*stack.Conn, want []byte, answer []byte) {
			for _, c := range conns {
				got := 0
				for got < len(want) {
					m, err := c.Read(buf)
					if err != nil && !errors.Is(err, stack.ErrWouldBlock) {
						t.Fatal(err)
					}
					got += m
					if m == 0 {
						s.step()
					}
				}
				if answer != nil {
					if _, err := c.Write(answer); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		exchange(ss, req, resp)
		exchange(cs, resp, nil)
		client = append(client, cs...)
		server = append(server, ss...)
		// Let this batch's delayed ACKs go out and be taken now: the fake
		// clock stands still while the stacks are busy, so otherwise every
		// connection's delayed ACK would fall due in one tick and overflow
		// the pipe's queue.
		settle(s, 100*time.Millisecond)
	}
	settle(s, time.Second)
	return client, server
}

// settle runs both stacks for d of simulated time.
func settle(s *sim, d time.Duration) {
	end := s.clk.Now().Add(d)
	for s.clk.Now() < end {
		s.step()
	}
}

// An idle established connection holds no buffer memory: its rings and
// scoreboard went back to the pools when the request and response were read
// and acknowledged. The whole footprint per connection (both ends are in
// this process) stays below idleConnBytesBound; with rings allocated at
// creation it would be over 512 KiB.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	n := 10000
	if testing.Short() || raceEnabled {
		n = 1000
	}
	s := newSimOpts(t, simConfig{noFault: true}, func(o *stack.Options) {
		o.ListenBacklog = 1024
		o.MaxConns = 2 * n
	})
	const port = 80
	ln, err := s.b.ListenTCP(netip.AddrPortFrom(simB.Addr(), port))
	if err != nil {
		t.Fatal(err)
	}
	// Warm up once so code paths' one-time allocations are not counted.
	wc, ws := openIdle(t, s, ln, port, 16)
	before := heapInUse()
	client, server := openIdle(t, s, ln, port, n)
	after := heapInUse()

	for i, c := range append(client, server...) {
		info := c.Info()
		if info.State.String() != "ESTABLISHED" || info.BufferBytes != 0 {
			t.Fatalf("connection %d: %v holding %d buffer bytes: %+v", i, info.State, info.BufferBytes, info)
		}
		if info.RcvWnd < 256<<10 {
			t.Fatalf("connection %d offers a %d-byte window while idle; want the full buffer", i, info.RcvWnd)
		}
	}
	perSide := float64(int64(after)-int64(before)) / float64(2*n)
	t.Logf("%d idle connection pairs: heap in use %+d bytes, %.0f bytes per connection per side", n, int64(after)-int64(before), perSide)
	if perSide > idleConnBytesBound {
		t.Errorf("an idle connection costs %.0f bytes per side; want at most %d", perSide, idleConnBytesBound)
	}
	runtime.KeepAlive(client)
	runtime.KeepAlive(server)
	runtime.KeepAlive(wc)
	runtime.KeepAlive(ws)
}
