package stack

import (
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
)

// toQueue delivers everything it sends on one queue of the peer, as a device
// whose receive hash puts a flow on a queue of its own choosing.
type toQueue struct {
	link.Device
	q int
}

func (d toQueue) Send(_ int, b *pkt.Batch) (int, error) { return d.Device.Send(d.q, b) }

// A connection we open starts on a queue picked by port hash; when the
// peer's segments arrive on another queue, that queue becomes its home and
// its timer moves to that queue's wheel, so later segments need no hand-off
// between owners.
func TestDialedConnectionMovesHomeToTheQueueItsSegmentsArriveOn(t *testing.T) {
	clk := clock.NewFake(1 << 40)
	pa, pb := pipe.New(pipe.Config{Queues: 2})
	mk := func(d link.Device, addr string) *Stack {
		st, err := New(Options{NICs: []NIC{{Device: d, Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}},
			Manual: true, Clock: clk, Secret: [16]byte{byte(len(addr))}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a := mk(pa, "198.18.0.1/24")
	b := mk(toQueue{pb, 1}, "198.18.0.2/24") // everything b sends reaches a on queue 1
	ln, err := b.ListenTCP(netip.MustParseAddrPort("198.18.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	step := func() {
		_, na := a.Poll()
		_, nb := b.Poll()
		now := clk.Now()
		next := clock.Min(clock.Min(na, nb), now.Add(time.Millisecond))
		if next <= now {
			next = now.Add(time.Microsecond)
		}
		clk.Set(next)
	}
	var conns []*Conn
	started := 0
	for range 8 {
		c, err := a.DialTCP(netip.AddrPort{}, netip.MustParseAddrPort("198.18.0.2:80"))
		if err != nil {
			t.Fatal(err)
		}
		if c.q.id == 0 {
			started++
		}
		conns = append(conns, c)
	}
	if started == 0 {
		t.Fatal("no connection started on queue 0: the test would prove nothing")
	}
	connected := func() bool {
		for _, c := range conns {
			select {
			case <-c.Connected():
			default:
				return false
			}
		}
		return true
	}
	for i := 0; !connected(); i++ {
		if i == 10000 {
			t.Fatal("handshakes did not finish")
		}
		step()
		for {
			if _, err := ln.Accept(); err != nil {
				break
			}
		}
	}
	for range 10 {
		step()
	}
	for _, c := range conns {
		c.mu.Lock()
		home := c.q.id
		c.mu.Unlock()
		if home != 1 {
			t.Fatalf("a connection's home is queue %d; its segments arrive on queue 1", home)
		}
	}
	if n := a.nics[0].queues[0].wheel.count; n != 0 {
		t.Fatalf("queue 0's wheel still holds %d timers of connections that moved", n)
	}
	// They still work: data both ways.
	c := conns[0]
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		step()
	}
	if st := c.Info(); st.BytesAcked < 4 {
		t.Fatalf("after moving home, 4 bytes sent and %d acknowledged", st.BytesAcked)
	}
}
