//go:build linux

package linkrate

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/wire"
)

// TestFrameIsAValidMinimumUDPDatagram: the frame is 60 bytes, addressed as
// asked, with a correct IPv4 header checksum (ParseIPv4 checks it) and a
// correct UDP checksum (RFC 768), so a checking receiver takes it.
func TestFrameIsAValidMinimumUDPDatagram(t *testing.T) {
	src, dst := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	from := netip.MustParseAddrPort("198.18.9.1:1000")
	to := netip.MustParseAddrPort("198.18.9.2:2000")
	f := Frame(src, dst, from, to)
	if len(f) != FrameSize {
		t.Fatalf("frame of %d bytes, want %d", len(f), FrameSize)
	}
	eth, err := wire.ParseEthernet(f)
	if err != nil {
		t.Fatal(err)
	}
	if eth.Src() != src || eth.Dst() != dst || eth.EtherType() != wire.EtherTypeIPv4 {
		t.Fatalf("Ethernet header %+v", eth.Fields())
	}
	ip, err := wire.ParseIPv4(eth.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if ip.Src() != from.Addr() || ip.Dst() != to.Addr() || ip.Protocol() != wire.ProtoUDP || int(ip.TotalLen()) != FrameSize-wire.EthernetHeaderSize {
		t.Fatalf("IPv4 header %+v", ip.Fields())
	}
	u, err := wire.ParseUDP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != from.Port() || u.DstPort() != to.Port() {
		t.Fatalf("UDP ports %d→%d", u.SrcPort(), u.DstPort())
	}
	if u.Checksum() == 0 || !wire.UDPChecksumValid(ip.Payload(), from.Addr(), to.Addr()) {
		t.Fatalf("UDP checksum %#04x does not verify", u.Checksum())
	}
}

// TestEveryLinkRateIsMeasuredBothWaysAndCleansUp measures every link briefly:
// each moves frames both ways at a positive rate with a positive CPU cost,
// and leaves no namespace behind.
func TestEveryLinkRateIsMeasuredBothWaysAndCleansUp(t *testing.T) {
	netns.Require(t)
	for _, l := range Links() {
		start := time.Now()
		rx, tx, err := Measure(l, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-14s rx %.3f Mpps %v/frame, tx %.3f Mpps %v/frame (%v)", l.Title, rx.PPS()/1e6, rx.CPUPerFrame, tx.PPS()/1e6, tx.CPUPerFrame, time.Since(start).Round(time.Millisecond))
		for _, r := range []struct {
			dir string
			r   Rate
		}{{"receive", rx}, {"transmit", tx}} {
			if r.r.Frames <= 0 || r.r.PPS() <= 0 || r.r.CPUPerFrame <= 0 {
				t.Errorf("%s %s: %+v", l.Title, r.dir, r.r)
			}
		}
	}
	entries, _ := os.ReadDir(netns.RunDir)
	mine := fmt.Sprintf("%s%d-", netns.Prefix, os.Getpid())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), mine) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}
