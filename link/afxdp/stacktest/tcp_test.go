//go:build linux

package stacktest_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"offload"
	"offload/internal/netns"
	"offload/link/afxdp"
)

var (
	kernelAddr = netip.MustParsePrefix("198.18.6.1/24")
	ourAddr    = netip.MustParseAddr("198.18.6.2")
	modes      = []afxdp.AttachMode{afxdp.AttachNative, afxdp.AttachGeneric}
)

// tcpSizeEnv overrides the bytes sent each way (the bar is 256 MiB;
// `go test -short` sends 16 MiB).
const tcpSizeEnv = "OFFLOAD_AFXDP_TCP_BYTES"

// pattern fills b with bytes that depend on their offset, so a lost, doubled
// or reordered chunk changes the hash.
func pattern(b []byte, off int64) {
	for i := range b {
		x := uint64(off + int64(i))
		b[i] = byte(x ^ x>>8 ^ x>>19)
	}
}

func sendPattern(w io.Writer, size int64) error {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		pattern(buf[:n], off)
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		off += n
	}
	return nil
}

func patternSum(size int64) [32]byte {
	h := sha256.New()
	sendPattern(h, size)
	return [32]byte(h.Sum(nil))
}

type result struct {
	sum [32]byte
	n   int64
	err error
}

func hashAll(r io.Reader) result {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return result{[32]byte(h.Sum(nil)), n, err}
}

// TestTCPBothWaysWithKernelOverAFXDP: the offload stack on an AF_XDP device
// and the Linux kernel exchange a stream each way at once over a veth, in
// both XDP modes; each side's SHA-256 matches what the other sent.
func TestTCPBothWaysWithKernelOverAFXDP(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	if s := os.Getenv(tcpSizeEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		size = v
	}
	want := patternSum(size)
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "xtcp", AddrA: kernelAddr, DisableIPv6: true})
			d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}, Attach: m})
			if err != nil {
				t.Fatal(err)
			}
			st, err := offload.New(offload.Options{Link: d, Addr: netip.PrefixFrom(ourAddr, 24)})
			if err != nil {
				d.Close()
				t.Fatal(err)
			}
			defer st.Close()
			var ln net.Listener
			addr := netip.AddrPortFrom(kernelAddr.Addr(), 7100).String()
			if err := p.A.Run(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			kernelGot := make(chan result, 1)
			kernelSent := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					kernelGot <- result{err: err}
					kernelSent <- err
					return
				}
				defer c.Close()
				// Close only after our own stream is out: closing as soon as the
				// receive side is done would cut it short with a FIN.
				sent := make(chan error, 1)
				go func() { err := sendPattern(c, size); c.(*net.TCPConn).CloseWrite(); sent <- err }()
				kernelGot <- hashAll(c)
				kernelSent <- <-sent
			}()
			start := time.Now()
			c, err := st.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadline := time.Now().Add(5 * time.Minute)
			c.SetDeadline(deadline)
			weGot := make(chan result, 1)
			go func() { weGot <- hashAll(c) }()
			if err := sendPattern(c, size); err != nil {
				t.Fatalf("our side: %v (device %+v)", err, d.Stats())
			}
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			var ours, theirs result
			for got := 0; got < 2; {
				select {
				case ours = <-weGot:
					got++
				case theirs = <-kernelGot:
					got++
				case <-time.After(time.Until(deadline)):
					t.Fatalf("timed out (device %+v)", d.Stats())
				}
			}
			if err := <-kernelSent; err != nil {
				t.Fatalf("kernel's send: %v", err)
			}
			el := time.Since(start)
			if ours.err != nil && !errors.Is(ours.err, io.EOF) {
				t.Fatalf("our receive: %v after %d bytes", ours.err, ours.n)
			}
			if theirs.err != nil {
				t.Fatalf("kernel's receive: %v after %d bytes", theirs.err, theirs.n)
			}
			if ours.n != size || ours.sum != want {
				t.Errorf("we received %d bytes, hash equal %v", ours.n, ours.sum == want)
			}
			if theirs.n != size || theirs.sum != want {
				t.Errorf("kernel received %d bytes, hash equal %v", theirs.n, theirs.sum == want)
			}
			t.Logf("%v: %d MiB each way in %v (%.2f Gbit/s total); device %+v", d.Mode(), size>>20, el.Round(time.Millisecond),
				float64(2*size*8)/el.Seconds()/1e9, d.Stats())
		})
	}
}
