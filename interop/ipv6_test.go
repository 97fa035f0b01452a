//go:build linux

package interop

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/netconn"
)

// TestKernelPing6IsAnswered_RFC4443_4_2: the kernel's ICMPv6 echo requests
// to our IPv6 address are answered — which needs NDP first (RFC 4861: the
// kernel solicits our address, we advertise it) — and IPv4 ping still works
// on the same dual-stack link. A ping to an address nobody holds must fail,
// or the check proves nothing.
func TestKernelPing6IsAnswered_RFC4443_4_2(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{ipv6: true})
			rtt, err := r.kernel.Ping(r.ourIP, 3*time.Second)
			if err != nil {
				t.Fatalf("ping6 %v: %v", r.ourIP, err)
			}
			t.Logf("ping6 %v: %v", r.ourIP, rtt)
			if _, err := r.kernel.Ping(ourAddr, 3*time.Second); err != nil {
				t.Fatalf("ping %v on the dual-stack link: %v", ourAddr, err)
			}
			if _, err := r.kernel.Ping(netip.MustParseAddr("2001:2::99"), 500*time.Millisecond); err == nil {
				t.Fatal("ping6 to an address nobody holds was answered")
			}
		})
	}
}

// echoServe echoes what it reads until EOF, then half-closes and closes.
func echoServe(c net.Conn) error {
	defer c.Close()
	if _, err := io.Copy(c, c); err != nil {
		return err
	}
	return c.(closeWriter).CloseWrite()
}

// echoOver sends payload on c, half-closes, reads the echo to EOF and checks it.
func echoOver(c net.Conn, payload []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(closeWriter).CloseWrite()
		}
		errc <- err
	}()
	got, err := readToEOF(c, len(payload))
	if werr := <-errc; werr != nil {
		return fmt.Errorf("writing: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("reading the echo: %w (got %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo of %d bytes differs from the %d sent", len(got), len(payload))
	}
	return nil
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// TestIPv6ConnectionsBothWaysWithKernel_RFC8200: over IPv6 on both links,
// either side opens the connection, a megabyte crosses each way and each
// side half-closes; both ends see IPv6 addresses, so nothing fell back to
// IPv4.
func TestIPv6ConnectionsBothWaysWithKernel_RFC8200(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					r := newRig(t, lt, rigOptions{ipv6: true})
					peers := make(chan netip.Addr, 1)
					dial, serverErrs := r.connect(t, role, 7300, func(c net.Conn) error {
						peers <- remoteIP(c)
						return echoServe(c)
					})
					ctx := deadline(t, 30*time.Second)
					c, err := dial(ctx)
					if err != nil {
						t.Fatalf("dial: %v", err)
					}
					defer c.Close()
					client, server := r.ourIP, r.kernelIP
					if role == kernelClient {
						client, server = server, client
					}
					if got := remoteIP(c); got != server {
						t.Errorf("client connected to %v, want %v", got, server)
					}
					if err := echoOver(c, pattern(halfCloseLen, 6)); err != nil {
						t.Fatal(err)
					}
					if got := <-peers; got != client {
						t.Errorf("server accepted a connection from %v, want %v", got, client)
					}
					// The IPv6 header is 20 bytes longer: MSS = MTU − 60 (RFC 8200 §8.3).
					r.mu.Lock()
					for _, c := range r.conns {
						if oc, ok := c.(*netconn.Conn); ok {
							if i := oc.Info(); i.SndMSS > 1440 || i.RcvMSS > 1440 || i.SndMSS <= 0 {
								t.Errorf("our MSS over IPv6 on a 1500-byte link: send %d, receive %d; want at most 1440", i.SndMSS, i.RcvMSS)
							}
						}
					}
					r.mu.Unlock()
					select {
					case err := <-serverErrs:
						t.Fatalf("server: %v", err)
					default:
					}
				})
			}
		})
	}
}

// TestOurDualStackListenerTakesKernelIPv4AndIPv6: a listener on ":port"
// (as net.Listen) accepts the kernel's connections to both our addresses.
func TestOurDualStackListenerTakesKernelIPv4AndIPv6(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{ipv6: true})
			ln, err := r.st.Listen("tcp", ":7301")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			errs := make(chan error, 4)
			go r.serveAll(ln, echoServe, errs)
			ctx := deadline(t, 30*time.Second)
			for _, a := range []netip.Addr{ourAddr, ourPrefix6.Addr()} {
				c, err := r.dialer.dial(ctx, netip.AddrPortFrom(a, 7301))
				if err != nil {
					t.Fatalf("kernel dialing %v: %v", a, err)
				}
				r.track(c)
				if err := echoOver(c, pattern(64<<10, 7)); err != nil {
					t.Fatalf("over %v: %v", a, err)
				}
				c.Close()
			}
			select {
			case err := <-errs:
				t.Fatalf("server: %v", err)
			default:
			}
		})
	}
}
