package stack_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"offload/bench"
	"offload/link/pipe"
	"offload/netconn"
	"offload/stack"
	"offload/tcp"
)

// Conn.Read hands the connection to its owner only when TCP wants a window
// update sent, not after every read. Reading a full receive buffer must
// still reopen the window at once (RFC 9293 §3.8.6.2.2: the update goes out
// when the window grows by min(RCV.BUFF/2, MSS)), not when the sender's
// persist timer next probes: the stalled data arrives with no simulated
// time passing.
func TestReadingAFullReceiveBufferReopensTheWindowAtOnce_RFC9293_3_8_6_2_2(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBufferSize = 16 << 10
	s := newSim(t, simConfig{noFault: true, tcp: &cfg})
	ca, cb := s.connect(80)
	if n, err := ca.Write(make([]byte, 64<<10)); n != 64<<10 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	start := s.clk.Now()
	for cb.Info().RcvWnd > 0 {
		s.step()
		if s.elapsed(start) > time.Minute {
			t.Fatalf("the receive window never filled: %+v", cb.Info())
		}
	}
	// Let the zero window be acknowledged and everything settle.
	for range 10 {
		s.a.Poll()
		s.b.Poll()
	}
	stalled := s.clk.Now()
	buf := make([]byte, 64<<10)
	if n, _ := cb.Read(buf); n != 16<<10 {
		t.Fatalf("read %d bytes of a full 16 KiB buffer", n)
	}
	for range 10 { // rounds of both stacks at the same instant
		s.b.Poll()
		s.a.Poll()
	}
	if s.clk.Now() != stalled {
		t.Fatal("the clock moved")
	}
	n, _ := cb.Read(buf)
	if n == 0 {
		t.Fatalf("no data arrived after the application emptied the buffer: the window update waited (receiver %+v, sender %+v)", cb.Info(), ca.Info())
	}
}

// Many request/response round trips between two stacks with their owner
// goroutines: the application's Write lists the connection and wakes the
// owner only if it is sleeping, and the owner looks at its list after saying
// it sleeps. A wake-up lost between the two would leave a request unsent
// until some timer fired, or for good; the race detector checks the flag.
func TestRequestResponseWithOwnerGoroutinesNeverStalls(t *testing.T) {
	rounds := 20000
	if testing.Short() || raceEnabled {
		rounds = 2000
	}
	c := echoOverPipe(t, 0)
	c.SetDeadline(time.Now().Add(time.Minute))
	r, err := bench.RequestResponse(c, 64, 0, rounds)
	if err != nil {
		t.Fatalf("after %d of %d round trips: %v", len(r.Samples), rounds, err)
	}
	t.Logf("%d round trips: p50 %v, p99 %v, slowest %v", rounds, r.Percentile(50), r.Percentile(99), r.Samples[len(r.Samples)-1])
}

// echoOverPipe starts two stacks with their owner goroutines over a pipe
// (busy: Options.BusyPoll), an Echo server on the second and returns a
// connection to it from the first; everything closes when the test ends.
func echoOverPipe(t testing.TB, busy time.Duration) net.Conn {
	t.Helper()
	pa, pb := pipe.New(pipe.Config{})
	mk := func(d *pipe.End, addr netip.Prefix) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Device: d, Addrs: []netip.Prefix{addr}}}, BusyPoll: busy})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := mk(pa, simA), mk(pb, simB)
	ln, err := netconn.Listen(b, "tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go bench.Echo(ln)
	d := netconn.Dialer{Stack: a}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
