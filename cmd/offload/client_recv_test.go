//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"offload/internal/netns"
)

// recvRow matches the row of a verified recv transfer of n bytes with digest sum.
func recvRow(n int, sum []byte) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`\n +1 +%d +\d+\.\d{3} +\d+\.\d\d +%x`, n, sum))
}

// TestClientRecvFromKernelSender runs `offload client --mode recv` against a
// kernel server in a namespace that sends a random payload and closes, over
// TAP and over AF_PACKET with either receive ring; the client must read it
// all to EOF and print its SHA-256, and --expect-sha256 must accept it.
func TestClientRecvFromKernelSender(t *testing.T) {
	const n = 24 << 20
	payload := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(payload)
	send := func(c net.Conn) { c.Write(payload) } // kernelServe closes after: FIN follows the data
	for _, lt := range []string{"tap", "afpacket", "afpacket-v3"} {
		t.Run(lt, func(t *testing.T) {
			var link []string
			switch lt {
			case "tap":
				h := netns.NewHost(t, "clirecv")
				kernelServe(t, h, "0.0.0.0:5003", send)
				link = []string{"--link", "tap", "--iface", "offrecv0", "--netns", h.Name(), "--addr", "198.18.0.2/24", "--kernel-addr", "198.18.0.1/24"}
			default:
				p := netns.NewPair(t, netns.PairConfig{Name: "clirecv", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
				kernelServe(t, p.A, "198.18.0.1:5003", send)
				link = []string{"--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(), "--addr", "198.18.0.2/24"}
				if lt == "afpacket-v3" {
					link = append(link, "--afpacket-ring", "blocks")
				}
			}
			out, err := runClientArgs(t, append(link, "--connect", "198.18.0.1:5003", "--mode", "recv", "--count", "2",
				"--expect-sha256", fmt.Sprintf("%x", sum))...)
			if err != nil {
				t.Fatal(err)
			}
			if !recvRow(n, sum[:]).MatchString(out) || !regexp.MustCompile(fmt.Sprintf(`\n +all +%d `, 2*n)).MatchString(out) {
				t.Errorf("recv output lacks the verified rows")
			}
			if lt == "afpacket-v3" && !strings.Contains(out, "(TPACKET_V3 block ring)") {
				t.Errorf("recv output does not say the block ring is used")
			}
		})
	}
}

// TestClientRecvExpectSHA256MismatchFails: a wrong --expect-sha256 fails the
// run and names both digests, so a corrupted transfer cannot pass unnoticed.
func TestClientRecvExpectSHA256MismatchFails(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "clirecvbad", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
	payload := []byte("not what the client expects")
	kernelServe(t, p.A, "198.18.0.1:5004", func(c net.Conn) { c.Write(payload) })
	wrong := sha256.Sum256([]byte("something else"))
	_, err := runClientArgs(t, "--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(), "--addr", "198.18.0.2/24",
		"--connect", "198.18.0.1:5004", "--mode", "recv", "--expect-sha256", fmt.Sprintf("%x", wrong))
	want := fmt.Sprintf("SHA-256 of the %d bytes received is %x, not the expected %x", len(payload), sha256.Sum256(payload), wrong)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want one containing %q", err, want)
	}
}

// TestClientRecvFromServeSourceOverVeth: offload on both ends of a veth
// (AF_PACKET on each): `offload serve --mode source` sends --size bytes on
// each connection, `offload client --mode recv` receives them; the digest
// must be the one serve announces and the one sourceSHA256 computes.
func TestClientRecvFromServeSourceOverVeth(t *testing.T) {
	const n = 32 << 20
	p := netns.NewPair(t, netns.PairConfig{Name: "source", DisableIPv6: true})
	out := startServe(t, "--link", "afpacket", "--iface", p.IfA, "--netns", p.A.Name(), "--addr", "198.18.0.1/24",
		"--mode", "source", "--size", "32MiB")
	want := sourceSHA256(context.Background(), n)
	waitForOutput(t, out, fmt.Sprintf("offload: each connection gets %d bytes with SHA-256 %x\n", n, want))
	got, err := runClientArgs(t, "--link", "afpacket", "--iface", p.IfB, "--netns", p.B.Name(), "--addr", "198.18.0.2/24",
		"--connect", "198.18.0.1:5002", "--mode", "recv", "--expect-sha256", fmt.Sprintf("%x", want))
	if err != nil {
		t.Fatal(err)
	}
	if !recvRow(n, want).MatchString(got) {
		t.Errorf("recv output lacks the verified row")
	}
	waitForOutput(t, out, fmt.Sprintf(": sent %d bytes in ", n))
}

// waitForOutput waits up to 2 s for serve's output to contain want (a
// connection's line is printed when its handler ends).
func waitForOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); !strings.Contains(out.String(), want) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), want) {
		t.Fatalf("serve output lacks %q:\n%s", want, out)
	}
}

// TestSourceSHA256IsThatOfTheBytesSent pins sourceSHA256 to the pattern
// serveSource writes, across a partial last block.
func TestSourceSHA256IsThatOfTheBytesSent(t *testing.T) {
	n := int64(3<<16 + 1234)
	var all []byte
	b := sourceBlock()
	for int64(len(all)) < n {
		all = append(all, b[:min(n-int64(len(all)), int64(len(b)))]...)
	}
	if got, want := fmt.Sprintf("%x", sourceSHA256(context.Background(), n)), fmt.Sprintf("%x", sha256.Sum256(all)); got != want {
		t.Fatalf("sourceSHA256 %s, SHA-256 of the bytes %s", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sum := sourceSHA256(ctx, 1<<40); sum != nil {
		t.Fatal("sourceSHA256 went on after its context ended")
	}
	if b[0] == b[256] && b[1] == b[257] && b[7] == b[263] {
		t.Fatal("the source block repeats every 256 bytes: a segment moved by 256 would go unnoticed")
	}
}
