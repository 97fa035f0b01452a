//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"offload/internal/netns"
)

// toolMissing reports whether the standard tool name is missing (or, with
// flavour set, is not that flavour: its -h output must contain it). A tool
// .ci/run installs (Debian package pkg) must be there when
// OFFLOAD_NETNS_REQUIRED=1, so then its absence fails the test instead.
func toolMissing(t *testing.T, name, pkg, flavour string) bool {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil && flavour != "" {
		out, _ := exec.Command(path, "-h").CombinedOutput()
		if !strings.Contains(string(out), flavour) {
			err = fmt.Errorf("%s is not %s", path, flavour)
		}
	}
	if err == nil {
		return false
	}
	msg := fmt.Sprintf("%s is not installed (%v): install the Debian package %s (.ci/run does)", name, err, pkg)
	if os.Getenv(netns.RequiredEnv) == "1" {
		t.Fatalf("%s; with %s=1 the check with it must run", msg, netns.RequiredEnv)
	}
	t.Logf("%s: skipping the check with it", msg)
	return true
}

// TestNcEchoAgainstServeEcho pipes 1 MiB through OpenBSD netcat in the
// kernel's namespace to `offload serve --mode echo` (over TAP, and over
// AF_PACKET with the block ring); nc -N shuts its write side at the end of its
// input, the server echoes everything, closes, and nc prints it all.
func TestNcEchoAgainstServeEcho(t *testing.T) {
	netns.Require(t)
	if toolMissing(t, "nc", "netcat-openbsd", "OpenBSD") {
		t.Skip()
	}
	data := bytes.Repeat([]byte("offload echoes what nc sends\n"), (1<<20)/29)
	for _, lt := range []string{"tap", "afpacket-v3"} {
		t.Run(lt, func(t *testing.T) {
			var client *netns.Host
			switch lt {
			case "tap":
				client = netns.NewHost(t, "ncecho")
				startServe(t, "--link", "tap", "--iface", "offnc0", "--netns", client.Name(),
					"--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24", "--mode", "echo")
			default:
				p := netns.NewPair(t, netns.PairConfig{Name: "ncecho", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
				client = p.A
				startServe(t, "--link", "afpacket", "--afpacket-ring", "blocks", "--iface", p.IfB, "--netns", p.B.Name(),
					"--addr", "198.18.0.2/24", "--mode", "echo")
			}
			cmd := client.Command("nc", "-N", "-w", "10", "198.18.0.2", "7")
			cmd.Stdin = bytes.NewReader(data)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("nc: %v: %s", err, stderr.Bytes())
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("nc got %d bytes back, not the %d it sent", len(got), len(data))
			}
		})
	}
}

// TestNcReceivesServeSourceWithTheAnnouncedSHA256 runs the command `offload
// serve --mode source` suggests: nc reads what the server sends until it
// closes, and the SHA-256 of that is the one serve announced.
func TestNcReceivesServeSourceWithTheAnnouncedSHA256(t *testing.T) {
	netns.Require(t)
	if toolMissing(t, "nc", "netcat-openbsd", "OpenBSD") {
		t.Skip()
	}
	p := netns.NewPair(t, netns.PairConfig{Name: "ncsource", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
	out := startServe(t, "--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(),
		"--addr", "198.18.0.2/24", "--mode", "source", "--size", "8MiB")
	if !strings.Contains(out.String(), "nc 198.18.0.2 5002 | sha256sum`") {
		t.Fatalf("serve does not suggest nc | sha256sum:\n%s", out)
	}
	waitForOutput(t, out, "offload: each connection gets 8388608 bytes with SHA-256 ")
	m := regexp.MustCompile(`each connection gets 8388608 bytes with SHA-256 ([0-9a-f]{64})\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("serve does not announce the SHA-256 of what it sends:\n%s", out)
	}
	cmd := p.A.Command("nc", "-w", "10", "198.18.0.2", "5002")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v: %s", err, stderr.Bytes())
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(got)); len(got) != 8<<20 || sum != m[1] {
		t.Fatalf("nc received %d bytes with SHA-256 %s; serve announced 8388608 bytes with %s", len(got), sum, m[1])
	}
}

// TestWrkAgainstServeHTTP points wrk, if installed (it is optional), at
// `offload serve --mode http` for a second: every request must succeed.
func TestWrkAgainstServeHTTP(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (optional: Debian package wrk)")
	}
	h := netns.NewHost(t, "wrk")
	startServe(t, "--link", "tap", "--iface", "offwrk0", "--netns", h.Name(),
		"--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24", "--mode", "http")
	out, err := h.Command("wrk", "-t", "1", "-c", "8", "-d", "1s", "--latency", "http://198.18.0.2/").CombinedOutput()
	t.Logf("wrk:\n%s", out)
	if err != nil {
		t.Fatalf("wrk: %v", err)
	}
	m := regexp.MustCompile(`(\d+) requests in `).FindSubmatch(out)
	if m == nil || string(m[1]) == "0" {
		t.Errorf("wrk completed no requests")
	}
	if bytes.Contains(out, []byte("Socket errors")) || bytes.Contains(out, []byte("Non-2xx")) {
		t.Errorf("wrk saw errors")
	}
}

// TestSockperfThroughputAgainstServeDiscard runs sockperf's TCP throughput
// test, if installed (it is optional), against `offload serve --mode
// discard`: sockperf sends messages without waiting for answers, so any
// discard server is its peer. (Its ping-pong needs sockperf's own server,
// which marks its replies: an echo server's are ignored.)
func TestSockperfThroughputAgainstServeDiscard(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("sockperf"); err != nil {
		t.Skip("sockperf is not installed (optional: Debian package sockperf)")
	}
	h := netns.NewHost(t, "sockperf")
	out := startServe(t, "--link", "tap", "--iface", "offsp0", "--netns", h.Name(),
		"--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24", "--mode", "discard")
	got, err := h.Command("sockperf", "throughput", "--tcp", "-i", "198.18.0.2", "-p", "9", "-t", "1", "-m", "1400").CombinedOutput()
	t.Logf("sockperf:\n%s", got)
	if err != nil {
		t.Fatalf("sockperf: %v", err)
	}
	m := regexp.MustCompile(`Total of (\d+) messages sent`).FindSubmatch(got)
	if m == nil || string(m[1]) == "0" {
		t.Fatalf("sockperf sent no messages")
	}
	sent, _ := strconv.ParseInt(string(m[1]), 10, 64)
	// The discard server logs what it received when sockperf closes: all of
	// it (sockperf's count may leave out its warm-up messages).
	waitForOutput(t, out, ": received ")
	rx := regexp.MustCompile(`: received (\d+) bytes`).FindStringSubmatch(out.String())
	if rx == nil {
		t.Fatal("the discard server logged no connection")
	}
	if n, _ := strconv.ParseInt(rx[1], 10, 64); n < sent*1400 {
		t.Errorf("the discard server received %d bytes; sockperf sent %d messages of 1400", n, sent)
	}
}
