//go:build linux

package interop

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
)

// TestKernelWithoutOptionsNegotiatesDown: the kernel is configured (per
// namespace sysctls) not to offer timestamps, window scaling or SACK, and to
// ask for ECN. Whoever opens the connection, neither side may use an option
// the other did not offer (RFC 7323 §1.3, RFC 2018 §2), ECN stays off because
// offload does not answer ECE|CWR in a SYN with ECE in its SYN-ACK (RFC 3168
// §6.1.1), and data must flow both ways at once with unscaled 64 KiB windows.
func TestKernelWithoutOptionsNegotiatesDown(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 16<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					r := newRig(t, lt, rigOptions{})
					for k, v := range map[string]string{
						"net.ipv4.tcp_timestamps":     "0",
						"net.ipv4.tcp_window_scaling": "0",
						"net.ipv4.tcp_sack":           "0",
						"net.ipv4.tcp_ecn":            "1", // request ECN on outgoing connections too
					} {
						if err := r.kernel.Sysctl(k, v); err != nil {
							t.Fatal(err)
						}
					}
					kc, oc := r.connPair(t, role, 7600)
					ki, err := sys.TCPInfoOf(kc)
					if err != nil {
						t.Fatal(err)
					}
					oi := oc.Info()
					if ki.Options != 0 {
						t.Errorf("kernel TCP_INFO options %#x; want none (no timestamps, SACK, window scale or ECN)", ki.Options)
					}
					if oi.Timestamps || oi.SACKPermitted || oi.PeerSACKPermitted || oi.SndWScale != -1 || oi.RcvWScale != -1 {
						t.Errorf("offload negotiated options the kernel did not offer: %+v", oi)
					}
					if ki.SndMSS != 1460 || oi.SndMSS != 1460 {
						t.Errorf("MSS without timestamps: kernel sends %d, offload %d; want 1460", ki.SndMSS, oi.SndMSS)
					}
					kc.Close()
					oc.Close()
					res := r.runTransfer(t, role, opBoth, size)
					t.Logf("no options, 64 KiB windows: %s", res)
				})
			}
		})
	}
}

// TestKernelFastOpenClientIsServed: a kernel client using TCP Fast Open
// (RFC 7413) puts a cookie request (option 34) in its SYN. offload does not
// do Fast Open: it must ignore the unknown option (RFC 9293 §3.1, RFC 1122
// §4.2.2.5) and serve the connection normally.
func TestKernelFastOpenClientIsServed(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			if err := r.kernel.Sysctl("net.ipv4.tcp_fastopen", "1"); err != nil {
				t.Fatal(err)
			}
			_, serverErrs := r.connect(t, kernelClient, 7601, serveRequest)
			ctx := deadline(t, 20*time.Second)
			fastOpen := func(ctx context.Context) (net.Conn, error) {
				var c net.Conn
				err := r.kernel.Run(func() error {
					d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
						var serr error
						err := rc.Control(func(fd uintptr) {
							serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 30 /* TCP_FASTOPEN_CONNECT */, 1)
						})
						if err != nil {
							return err
						}
						return serr
					}}
					var err error
					c, err = d.DialContext(ctx, "tcp4", ourPrefix.Addr().String()+":7601")
					return err
				})
				if err == nil {
					r.track(c)
				}
				return c, err
			}
			for i := range 3 { // the first asks for a cookie; later ones would use one if given
				if err := exchange(ctx, fastOpen, i); err != nil {
					select {
					case serr := <-serverErrs:
						t.Errorf("server: %v", serr)
					default:
					}
					t.Fatal(err)
				}
			}
		})
	}
}

// TestKernelKeepaliveProbesAreAnswered_RFC1122_4_2_3_6: the kernel's
// keepalive probes to an idle connection (a segment one byte below its next
// sequence number) must each get an ACK from us; otherwise the kernel would
// drop the connection after its probes go unanswered (here 1 s idle + one 1 s
// probe interval).
func TestKernelKeepaliveProbesAreAnswered_RFC1122_4_2_3_6(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			kc, oc := r.connPair(t, kernelClient, 7602)
			if err := kc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 1}); err != nil {
				t.Fatal(err)
			}
			before := oc.Info().SegmentsIn
			time.Sleep(3500 * time.Millisecond) // at least two probes
			probes := oc.Info().SegmentsIn - before
			kc.SetDeadline(time.Now().Add(5 * time.Second))
			oc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := kc.Write([]byte("still there?")); err != nil {
				t.Fatalf("kernel write after idling with keepalive: %v", err)
			}
			buf := make([]byte, 12)
			if _, err := io.ReadFull(oc, buf); err != nil {
				t.Fatalf("our read after the kernel's keepalives: %v (the kernel gave up on us?)", err)
			}
			if probes < 2 {
				t.Errorf("we received %d segments while idle: the kernel's keepalive probes did not reach us", probes)
			}
			t.Logf("%d keepalive probes received while idle", probes)
		})
	}
}

// TestResetByKernelEndsOurConnection_RFC9293_3_10_7_4: the kernel application
// aborts (SO_LINGER 0 close sends a RST) while we are sending; our blocked
// Write, and later Reads, fail with ECONNRESET. And the other way: our Abort
// sends a RST that the kernel reports as ECONNRESET.
func TestResetByKernelEndsOurConnection_RFC9293_3_10_7_4(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			t.Run("kernel-aborts", func(t *testing.T) {
				r := newRig(t, lt, rigOptions{})
				kc, oc := r.connPair(t, ourClient, 7603)
				ctx := deadline(t, 10*time.Second)
				defer context.AfterFunc(ctx, func() { oc.Close() })()
				go func() {
					io.CopyN(io.Discard, kc, 1<<20)
					kc.SetLinger(0)
					kc.Close()
				}()
				src := newSource(3)
				var err error
				for err == nil {
					_, err = oc.Write(src.next(chunkSize))
				}
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("our Write after the kernel's RST: %v; want ECONNRESET", err)
				}
				if _, err := oc.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("our Read after the kernel's RST: %v; want ECONNRESET", err)
				}
			})
			t.Run("we-abort", func(t *testing.T) {
				r := newRig(t, lt, rigOptions{})
				kc, oc := r.connPair(t, kernelClient, 7604)
				oc.Stack().Abort()
				kc.SetDeadline(time.Now().Add(5 * time.Second))
				_, err := kc.Read(make([]byte, 1))
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("kernel Read after our Abort: %v; want ECONNRESET", err)
				}
			})
		})
	}
}

// TestKernelUrgentDataIsDeliveredInline_RFC6093: a kernel application sends
// a byte with MSG_OOB (URG set, urgent pointer). offload delivers urgent data
// inline as ordinary data (RFC 6093 §4 recommends exactly that), so the
// stream reads back in order with nothing lost or duplicated.
func TestKernelUrgentDataIsDeliveredInline_RFC6093(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			kc, oc := r.connPair(t, kernelClient, 7605)
			rc, err := kc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			send := func(b []byte, flags int) {
				var serr error
				if err := rc.Write(func(fd uintptr) bool {
					serr = syscall.Sendto(int(fd), b, flags, nil)
					return serr != syscall.EAGAIN
				}); err != nil || serr != nil {
					t.Fatalf("send %q: %v %v", b, err, serr)
				}
			}
			send([]byte("before-"), 0)
			send([]byte("!"), syscall.MSG_OOB)
			send([]byte("-after"), 0)
			kc.CloseWrite()
			oc.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(oc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "before-!-after" {
				t.Fatalf("read %q; want %q", got, "before-!-after")
			}
		})
	}
}
