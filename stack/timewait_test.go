package stack_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"offload/stack"
	"offload/tcp"
)

// A client that closes first keeps each connection in TIME-WAIT for a while
// (RFC 9293 §3.6). When that fills its table, a new connection takes the
// slot of the oldest TIME-WAIT one instead of failing, as Linux does past
// tcp_max_tw_buckets; connections in any other state are never dropped for it.
func TestFullTableGivesTheOldestTimeWaitSlotToANewConnection(t *testing.T) {
	const maxConns = 6
	cfg := tcp.DefaultConfig()
	cfg.TimeWait = time.Hour // nothing leaves TIME-WAIT on its own in this test
	s := newSimOpts(t, simConfig{noFault: true, tcp: &cfg}, func(o *stack.Options) { o.MaxConns = maxConns })
	closeAndSettle := func(a, b *stack.Conn) {
		a.Close() // the client closes first: the client ends in TIME-WAIT
		for i := 0; b.Info().State != tcp.StateCloseWait; i++ {
			if i == 1000 {
				t.Fatalf("server %v after the client's FIN", b.Info().State)
			}
			s.step()
		}
		b.Close()
		for range 1000 {
			s.step()
			if a.Info().State == tcp.StateTimeWait && b.Info().State == tcp.StateClosed {
				return
			}
		}
		t.Fatalf("client %v, server %v after closing", a.Info().State, b.Info().State)
	}
	for i := range 3 * maxConns {
		a, b := s.connect(uint16(2000 + i))
		if got := s.a.NumConns(); got > maxConns {
			t.Fatalf("connection %d: %d connections in a table of %d", i, got, maxConns)
		}
		closeAndSettle(a, b)
	}
	st := s.a.Stats()
	if got, want := st.TimeWaitEvicted.Load(), uint64(2*maxConns); got != want {
		t.Fatalf("%d TIME-WAIT connections evicted, want %d", got, want)
	}
	if st.ConnsOpened.Load()-st.ConnsClosed.Load() != uint64(s.a.NumConns()) {
		t.Fatalf("opened %d, closed %d, in the table %d", st.ConnsOpened.Load(), st.ConnsClosed.Load(), s.a.NumConns())
	}

	// Established connections are never evicted: with the table full of
	// them, a further dial fails.
	var open []*stack.Conn
	for i := range maxConns {
		a, _ := s.connect(uint16(3000 + i))
		open = append(open, a)
	}
	if _, err := s.a.DialTCP(netip.AddrPort{}, netip.AddrPortFrom(simB.Addr(), 4000)); !errors.Is(err, stack.ErrTooManyConns) {
		t.Fatalf("dial with a table full of established connections: %v, want ErrTooManyConns", err)
	}
	for _, a := range open {
		if st := a.Info().State; st != tcp.StateEstablished {
			t.Fatalf("an established connection became %v", st)
		}
	}
}
