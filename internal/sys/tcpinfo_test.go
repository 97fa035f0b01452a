//go:build linux

package sys

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestTCPInfoReadsWhatLoopbackNegotiated_RFC7323(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.Write([]byte("x"))
	s.Read(make([]byte, 1))
	ti, err := TCPInfoOf(c.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != 1 { // TCP_ESTABLISHED
		t.Errorf("state %d", ti.State)
	}
	want := uint8(0)
	for sysctl, bit := range map[string]uint8{"tcp_sack": TCPIOptSACK, "tcp_timestamps": TCPIOptTimestamps, "tcp_window_scaling": TCPIOptWscale} {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/" + sysctl); err == nil && strings.TrimSpace(string(b)) != "0" {
			want |= bit
		}
	}
	if ti.Options&(TCPIOptSACK|TCPIOptTimestamps|TCPIOptWscale) != want {
		t.Errorf("options %#x, want %#x", ti.Options, want)
	}
	if want&TCPIOptWscale != 0 && (ti.SndWscale == 0 || ti.RcvWscale == 0 || ti.SndWscale > 14 || ti.RcvWscale > 14) {
		t.Errorf("window scale %d/%d: both ends of a loopback connection scale, by at most 14 (RFC 7323 §2.3)", ti.SndWscale, ti.RcvWscale)
	}
	// Loopback's MTU is 65536: the MSS is that less 40 bytes of headers, less 12 of timestamps.
	mtu := 65536
	if b, err := os.ReadFile("/sys/class/net/lo/mtu"); err == nil {
		mtu, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if ti.SndMSS == 0 || int(ti.SndMSS) > mtu-40 {
		t.Errorf("snd_mss %d for loopback MTU %d", ti.SndMSS, mtu)
	}
}
