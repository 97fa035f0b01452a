package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// pipePeers builds two of our stacks joined by gVisor's in-memory pipe link,
// so the workloads run without root, devices or namespaces.
func pipePeers(t *testing.T) (client, server *peer) {
	t.Helper()
	e1, e2 := pipe.New("\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", 1500)
	mk := func(ep *pipe.Endpoint, addr string) *peer {
		pfx := netip.MustParsePrefix(addr)
		s, err := newStack(ethernet.New(ep), pfx)
		if err != nil {
			t.Fatal(err)
		}
		p := &peer{s: s, fd: -1, addr: tcpip.AddrFrom4(pfx.Addr().As4()), listeners: map[uint16]*gonet.TCPListener{}}
		t.Cleanup(p.close)
		return p
	}
	return mk(e1, "198.18.3.1/24"), mk(e2, "198.18.3.2/24")
}

func TestPeerRunsEveryWorkloadAgainstAnotherPeer(t *testing.T) {
	client, server := pipePeers(t)
	for _, s := range []struct {
		kind string
		port uint16
	}{{"sink", 5001}, {"echo", 5002}} {
		if err := server.serveOn(s.kind, s.port); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.serveOn("sink", 5001); err == nil {
		t.Error("serving a port twice was accepted")
	}
	sink := netip.MustParseAddrPort("198.18.3.2:5001")
	echo := netip.MustParseAddrPort("198.18.3.2:5002")

	r := client.verify(command{addr: sink, bytes: 300<<10 + 3, seed: 7, timeout: 20 * time.Second})
	if r.Error != "" || r.Bulk == nil || !r.Bulk.Verified || !r.Bulk.Hashed || r.Bulk.Bytes != 300<<10+3 {
		t.Errorf("verify: %+v", r)
	}

	dots := 0
	r = client.flows(command{addr: sink, n: 3, bytes: 200 << 10, timeout: 20 * time.Second}, func() { dots++ })
	if r.Error != "" || r.Bulk == nil || !r.Bulk.Verified || r.Bulk.Bytes != 3*200<<10 || r.Bulk.Duration <= 0 {
		t.Errorf("flows: %+v", r)
	}
	if dots != 10 {
		t.Errorf("flows reported progress %d times, want once per tenth", dots)
	}

	r = client.rr(command{addr: echo, n: 64, warm: 3, rounds: 30, timeout: 20 * time.Second})
	if r.Error != "" || r.Latency == nil || len(r.Latency.Samples) != 30 || r.Latency.Requests != 30 {
		t.Errorf("rr: %+v", r)
	}

	r = client.rrLoad(command{addr: echo, conns: 4, n: 64, warm: 3, rounds: 20, timeout: 20 * time.Second})
	if r.Error != "" || r.Loaded == nil || len(r.Loaded.Samples) != 80 || r.Loaded.Conns != 4 || r.Loaded.Duration <= 0 {
		t.Errorf("rrload: %+v", r)
	}

	r = client.cps(command{addr: echo, n: 64, rounds: 25, timeout: 10 * time.Second})
	if r.Error != "" || r.Conns != 25 || r.Elapsed <= 0 {
		t.Errorf("cps: %+v", r)
	}

	// Once the sink is closed, a transfer to it is refused, not hung.
	if err := server.stopServing(5001); err != nil {
		t.Fatal(err)
	}
	if err := server.stopServing(5001); err == nil {
		t.Error("closing a port twice was accepted")
	}
	r = client.verify(command{addr: sink, bytes: 10, seed: 1, timeout: 5 * time.Second})
	if r.Error == "" || !strings.Contains(r.Error, "refused") {
		t.Errorf("verify to a closed port: %+v", r)
	}
}

func TestNewStackGivesTCPTheKernelsBuffersSACKAndNoNagle(t *testing.T) {
	client, _ := pipePeers(t)
	rmem, wmem, err := kernelTCPMem()
	if err != nil {
		t.Fatal(err)
	}
	var rcv tcpip.TCPReceiveBufferSizeRangeOption
	var snd tcpip.TCPSendBufferSizeRangeOption
	var sack tcpip.TCPSACKEnabled
	var moderate tcpip.TCPModerateReceiveBufferOption
	nagle := tcpip.TCPDelayEnabled(true)
	for _, o := range []tcpip.GettableTransportProtocolOption{&rcv, &snd, &sack, &moderate, &nagle} {
		if e := client.s.TransportProtocolOption(tcp.ProtocolNumber, o); e != nil {
			t.Fatal(e)
		}
	}
	if rcv.Min != rmem[0] || rcv.Default != rmem[1] || rcv.Max != rmem[2] {
		t.Errorf("receive buffers %+v, want the kernel's tcp_rmem %v", rcv, rmem)
	}
	if snd.Default != wmem[2] || snd.Max != wmem[2] {
		t.Errorf("send buffers %+v, want the kernel's tcp_wmem maximum %d", snd, wmem[2])
	}
	if !bool(sack) || !bool(moderate) || bool(nagle) {
		t.Errorf("SACK %v, receive buffer moderation %v, Nagle %v; want SACK and moderation on, Nagle off", sack, moderate, nagle)
	}
}
