package netns

import "testing"

// A pair made with Queues has that many receive and transmit queues on both
// ends (so multi-queue links such as AF_XDP can be tested on veth).
func TestPairWithQueuesHasThatManyQueuesOnEachEnd(t *testing.T) {
	Require(t)
	p := NewPair(t, PairConfig{Name: "queues", Queues: 2, DisableIPv6: true})
	for _, end := range []struct {
		h      *Host
		ifname string
	}{{p.A, p.IfA}, {p.B, p.IfB}} {
		err := end.h.Run(func() error {
			// sysfs shows the namespace of the process that mounted it, so
			// count queues through netlink instead.
			l, err := end.h.Netlink().LinkByName(end.ifname)
			if err != nil {
				return err
			}
			if a := l.Attrs(); a.NumRxQueues != 2 || a.NumTxQueues != 2 {
				t.Errorf("%s: %d rx and %d tx queues, want 2 and 2", end.ifname, a.NumRxQueues, a.NumTxQueues)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
