package offload_test

import (
	"context"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"offload"
	"offload/bench"
	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
	"offload/wire"
)

// lastTTL records the TTL of the IPv4 packets a device sends (0 before any,
// -1 once two differ).
type lastTTL struct {
	link.Device
	ttl atomic.Int32
}

func (d *lastTTL) Send(q int, b *pkt.Batch) (int, error) {
	for _, f := range b.Buffers() {
		eth, err := wire.ParseEthernet(f.Bytes())
		if err != nil || eth.EtherType() != wire.EtherTypeIPv4 {
			continue
		}
		if ip, err := wire.ParseIPv4(eth.Payload()); err == nil {
			if !d.ttl.CompareAndSwap(0, int32(ip.TTL())) && d.ttl.Load() != int32(ip.TTL()) {
				d.ttl.Store(-1)
			}
		}
	}
	return d.Device.Send(q, b)
}

// Options.VLAN and Options.TTL reach the stack: two stacks on VLAN 5 talk,
// a third on VLAN 6 behind the same kind of link is unreachable and counts
// the tagged frames it dropped, and every IPv4 packet leaves with the
// configured TTL (the default would be 64).
func TestFacadeVLANAndTTLReachTheStack(t *testing.T) {
	var tap *lastTTL
	pair := func(vlanSrv uint16) (srv, cli *offload.Stack) {
		a, pb := pipe.New(pipe.Config{})
		b := &lastTTL{Device: pb}
		if tap == nil {
			tap = b
		}
		var err error
		srv, err = offload.New(offload.Options{Link: a, Addr: netip.MustParsePrefix("198.18.0.2/24"), VLAN: vlanSrv})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		cli, err = offload.New(offload.Options{Link: b, Addr: netip.MustParsePrefix("198.18.0.1/24"), VLAN: 5, TTL: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return srv, cli
	}

	srv, cli := pair(5)
	ln, err := srv.Listen("tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go bench.Echo(ln)
	c, err := cli.Dial("tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatalf("dial on the same VLAN: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo on VLAN 5: %q, %v", buf, err)
	}
	if got := tap.ttl.Load(); got != 3 {
		t.Errorf("the client sent IPv4 packets with TTL %d (-1: several), want Options.TTL 3", got)
	}

	other, cli2 := pair(6)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := cli2.DialContext(ctx, "tcp", "198.18.0.2:7"); err == nil {
		c.Close()
		t.Fatal("dialled a stack on VLAN 6 from VLAN 5")
	}
	if n := other.Stack().NICStats(0).RxVLAN; n == 0 {
		t.Errorf("the stack on VLAN 6 counted no frames dropped for their VLAN")
	}
}
