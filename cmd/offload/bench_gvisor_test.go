package main

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
)

func TestGvisorPeerSourceIsFoundBesideThisPackage(t *testing.T) {
	dir, err := gvisorPeerSource()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("..", "..", "bench", "gvisorpeer"))
	if dir != want {
		t.Errorf("gvisorPeerSource() = %s, want %s", dir, want)
	}
}

// requireGvisorPeer builds the peer for one test (the Go build cache makes
// the second build of a run a link only) and removes it at the test's end.
func requireGvisorPeer(t *testing.T) *gvisorBuilder {
	t.Helper()
	netns.Require(t)
	if os.Getenv(gvisorPeerEnv) == "" {
		if _, err := exec.LookPath("go"); err != nil {
			t.Skip("building the gVisor peer needs the Go toolchain on PATH")
		}
	}
	b := new(gvisorBuilder)
	t.Cleanup(b.remove)
	start := time.Now()
	if _, err := b.binary(); err != nil {
		t.Fatal(err)
	}
	t.Logf("gVisor peer built in %s", time.Since(start).Round(time.Millisecond))
	return b
}

// TestGvisorPeerExchangesVerifiedBytesAndEchoesWithTheKernel runs gVisor's
// netstack in its own process on each link the bench gives it, against the
// kernel on the other side: a SHA-256-checked transfer each way, timed flows
// each way, round trips each way and a few connections, all through the same
// party interface the bench measures with.
func TestGvisorPeerExchangesVerifiedBytesAndEchoesWithTheKernel(t *testing.T) {
	b := requireGvisorPeer(t)
	pair := netns.NewPair(t, netns.PairConfig{Name: "gvisor", AddrB: vethKernel, DisableIPv6: true})
	for _, link := range []struct {
		name     string
		start    func() (*gvisorPeer, error)
		addr     netip.Addr
		kernel   bparty
		linkGone func() bool // the link the peer made is gone once it exits
	}{
		{"TAP", func() (*gvisorPeer, error) { return gvisorOnTAP(b, pair.B, tapOffload, tapKernel) },
			tapOffload.Addr(), kernelBParty(pair.B, tapKernel.Addr()),
			func() bool { _, err := pair.B.LinkIndex(gvisorTAPName); return err != nil }},
		{"AF_PACKET", func() (*gvisorPeer, error) { return gvisorOnAFPacket(b, pair.A, pair.IfA, vethOffload) },
			vethOffload.Addr(), kernelBParty(pair.B, vethKernel.Addr()), nil},
	} {
		t.Run(link.name, func(t *testing.T) {
			g, err := link.start()
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			defer func() {
				if !closed {
					g.close()
				}
			}()
			t.Log(g.describe)
			if !strings.Contains(g.describe, "gVisor v") {
				t.Errorf("the peer does not say which gVisor it is: %q", g.describe)
			}
			gv := bparty{name: "gVisor", addr: link.addr, partyWork: g}
			k := link.kernel
			for _, s := range []struct {
				p    bparty
				port int
				kind string
			}{{gv, sinkPort, "sink"}, {gv, echoPort, "echo"}, {k, sinkPort, "sink"}, {k, echoPort, "echo"}} {
				ln, err := startServer(s.p, s.port, s.kind)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			const size = 1<<20 + 7 // not a multiple of any buffer
			for _, d := range []struct {
				what     string
				from, to bparty
			}{{"gVisor → kernel", gv, k}, {"kernel → gVisor", k, gv}} {
				sink := netip.AddrPortFrom(d.to.addr, uint16(sinkPort)).String()
				v, err := d.from.verify(sink, size, 42, 20*time.Second)
				if err != nil || !v.Verified || !v.Hashed || v.Bytes != size {
					t.Errorf("%s: SHA-256-checked transfer: %+v, %v", d.what, v, err)
				}
				var dots bytes.Buffer
				f, err := d.from.flows(sink, 2, 256<<10, 20*time.Second, &dots)
				if err != nil || !f.Verified || f.Bytes != 2*256<<10 {
					t.Errorf("%s: two timed flows: %+v, %v", d.what, f, err)
				}
				if dots.Len() == 0 {
					t.Errorf("%s: the flows showed no progress", d.what)
				}
				echo := netip.AddrPortFrom(d.to.addr, uint16(echoPort)).String()
				lat, err := d.from.requestResponse(echo, 64, 5, 20, 20*time.Second)
				if err != nil || len(lat.Samples) != 20 || lat.Percentile(50) <= 0 {
					t.Errorf("%s: 20 round trips: %d samples, p50 %v, %v", d.what, len(lat.Samples), lat.Percentile(50), err)
				}
				load, err := d.from.loadedRR(echo, 3, 64, 2, 10, 20*time.Second)
				if err != nil || len(load.Samples) != 30 || load.Conns != 3 || load.RequestsPerSecond() <= 0 {
					t.Errorf("%s: 3 connections × 10 round trips: %d samples, %v", d.what, len(load.Samples), err)
				}
			}
			n, el, err := gv.connections(netip.AddrPortFrom(k.addr, uint16(echoPort)).String(),
				benchParams{msg: 64, cpsDuration: 5 * time.Second, cpsMax: 20})
			if err != nil || n != 20 || el <= 0 {
				t.Errorf("gVisor → kernel connections: %d in %s, %v; want 20", n, el, err)
			}
			if kib, err := g.rss(); err != nil || kib <= 0 {
				t.Errorf("rss: %d KiB, %v", kib, err)
			}
			g.close()
			closed = true
			if link.linkGone != nil && !link.linkGone() {
				t.Errorf("the TAP device %s outlived the peer", gvisorTAPName)
			}
		})
	}
}

// TestGvisorPeerThatCannotOpenItsLinkFailsWithItsReason: the bench shows the
// peer's own error, not a hang or a bare exit status.
func TestGvisorPeerThatCannotOpenItsLinkFailsWithItsReason(t *testing.T) {
	b := requireGvisorPeer(t)
	h := netns.NewHost(t, "gvisor-bad")
	start := time.Now()
	_, err := gvisorOnAFPacket(b, h, "nosuch0", vethOffload)
	if err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("peer on a missing interface: %v, want an error naming it", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("the failure took %s to report", el)
	}
}

// fakeGvisorPeer starts a shell script in the peer's place: the bench's side
// of the protocol must survive whatever the process does.
func fakeGvisorPeer(t *testing.T, script string) *gvisorPeer {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	g, err := startGvisorPeer(exec.Command(sh, "-c", script))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	return g
}

func TestGvisorCallPrintsADotPerProgressLineAndDecodesTheResult(t *testing.T) {
	g := fakeGvisorPeer(t, `echo ready fake; read l; echo progress; echo progress; echo 'result {"Bulk":{"Bytes":5,"Duration":7,"Verified":true}}'; read l`)
	var dots bytes.Buffer
	res, err := g.flows("198.18.1.2:5001", 1, 5, time.Second, &dots)
	if err != nil || res.Bytes != 5 || res.Duration != 7 || !res.Verified {
		t.Errorf("flows: %+v, %v", res, err)
	}
	if dots.String() != ".." {
		t.Errorf("progress printed %q, want two dots", dots.String())
	}
}

func TestGvisorCallReturnsThePeersErrorWithItsPartialResult(t *testing.T) {
	g := fakeGvisorPeer(t, `echo ready fake; read l; echo 'result {"Bulk":{"Bytes":3},"Error":"connection reset"}'; read l`)
	res, err := g.verify("198.18.1.2:5001", 10, 1, time.Second)
	if err == nil || err.Error() != "connection reset" || res.Bytes != 3 {
		t.Errorf("verify: %+v, %v; want 3 bytes and the peer's error", res, err)
	}
}

func TestGvisorPeerThatExitsMidCommandFailsTheCallWithItsStderr(t *testing.T) {
	g := fakeGvisorPeer(t, `echo ready fake; read l; echo "stack fell over" >&2; exit 3`)
	_, err := g.rss()
	if err == nil || !strings.Contains(err.Error(), "stack fell over") {
		t.Errorf("rss from a peer that exited: %v, want its stderr", err)
	}
	if _, err := g.rss(); err == nil {
		t.Error("a second call to an exited peer succeeded")
	}
}

func TestGvisorPeerThatStopsAnsweringIsKilled(t *testing.T) {
	g := fakeGvisorPeer(t, `echo ready fake; read l; exec sleep 60`)
	start := time.Now()
	_, err := g.call(200*time.Millisecond, nil, "rss")
	if err == nil || !strings.Contains(err.Error(), "said nothing") {
		t.Errorf("call to a silent peer: %v", err)
	}
	g.close()
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("the silent peer took %s to be stopped", el)
	}
}

func TestGvisorPeerThatSaysSomethingElseThanReadyIsNotUsed(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if _, err := startGvisorPeer(exec.Command(sh, "-c", `echo hello; read l`)); err == nil || !strings.Contains(err.Error(), `"hello"`) {
		t.Errorf("start: %v, want it to quote what the peer said", err)
	}
}
