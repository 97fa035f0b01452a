//go:build linux

package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/netconn"
)

const (
	windowTestLen = 4 << 20
	readerPause   = time.Second
)

// TestKernelReceiverPauseClosesWindowAndWeProbe_RFC9293_3_8_6_1: the kernel
// application stops reading while we send, so its (locked, small) receive
// buffer fills and it advertises a zero window. We must keep the connection
// alive with zero-window probes and resume as soon as the window opens, and
// every byte must arrive once and in order.
func TestKernelReceiverPauseClosesWindowAndWeProbe_RFC9293_3_8_6_1(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			ctx := deadline(t, 30*time.Second)
			data := pattern(windowTestLen, 9)
			got := make(chan error, 1)
			// A small receive buffer, locked (no autotuning) and set on the
			// listener so the connection never offers more window than it has.
			var ln net.Listener
			err := r.kernel.Run(func() (err error) {
				lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
					var serr error
					if err := rc.Control(func(fd uintptr) {
						serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
					}); err != nil {
						return err
					}
					return serr
				}}
				ln, err = lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(kernelAddr, 7500).String())
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err
					return
				}
				r.track(c)
				defer c.Close()
				time.Sleep(readerPause)
				b, err := io.ReadAll(c)
				if err == nil && !bytes.Equal(b, data) {
					err = fmt.Errorf("kernel received %d bytes, not the %d sent (or different ones)", len(b), len(data))
				}
				got <- err
			}()
			c, err := r.ourDial(ctx, 7500)
			if err != nil {
				t.Fatal(err)
			}
			defer context.AfterFunc(ctx, func() { c.Close() })()
			start := time.Now()
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.(closeWriter).CloseWrite()
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			i := c.(*netconn.Conn).Info()
			t.Logf("%d bytes through a reader paused for %v in %v; %d zero-window probes, %d retransmits, %d timeouts",
				len(data), readerPause, time.Since(start).Round(time.Millisecond), i.ZeroWindowProbes, i.Retransmits, i.Timeouts)
			if i.ZeroWindowProbes == 0 {
				t.Error("no zero-window probe was sent: the window never closed, so the test proves nothing")
			}
		})
	}
}

// TestOurReceiverPauseClosesWindowAndWeReopenIt_RFC9293_3_8_6_2_2: our
// application stops reading while the kernel sends, so our receive buffer
// fills and we advertise a zero window; the kernel probes. When the
// application reads again we must announce the opened window at once (RFC
// 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3) rather than leave the kernel to find it
// with its next probe, whose interval backs off (0.2, 0.4, 0.8 s, ...): the
// rest of the transfer must follow the resumed reads promptly.
func TestOurReceiverPauseClosesWindowAndWeReopenIt_RFC9293_3_8_6_2_2(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			ctx := deadline(t, 30*time.Second)
			data := pattern(windowTestLen, 10)
			ln := r.ourListen(t, 7501)
			acc := r.acceptOne(ln)
			kc, err := r.kernelDial(ctx, 7501)
			if err != nil {
				t.Fatal(err)
			}
			sendErr := make(chan error, 1)
			go func() {
				_, err := kc.Write(data)
				if err == nil {
					err = kc.CloseWrite()
				}
				sendErr <- err
			}()
			oc := <-acc
			if oc == nil {
				t.Fatal("our Accept failed")
			}
			defer context.AfterFunc(ctx, func() { oc.Close() })()
			time.Sleep(readerPause)
			before := oc.(*netconn.Conn).Info()
			if before.RcvWnd != 0 {
				t.Errorf("after %v without reading, our window is %d, not 0 (%d bytes buffered)", readerPause, before.RcvWnd, before.RecvBuffered)
			}
			// Read what was buffered and one byte more: that byte can only come
			// after the kernel learned the window opened.
			resumed := time.Now()
			head := make([]byte, before.RecvBuffered+1)
			if _, err := io.ReadFull(oc, head); err != nil {
				t.Fatal(err)
			}
			took := time.Since(resumed)
			rest, err := io.ReadAll(oc)
			if err != nil {
				t.Fatal(err)
			}
			got := append(head, rest...)
			if !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes, not the %d sent (or different ones)", len(got), len(data))
			}
			if err := <-sendErr; err != nil {
				t.Fatal(err)
			}
			t.Logf("window %d with %d bytes buffered after the pause; the first new byte came %v after reading resumed",
				before.RcvWnd, before.RecvBuffered, took.Round(time.Microsecond))
			// A window update brings new data within a round trip or two
			// (a few ms, some tens on a loaded machine). Without one, the
			// kernel finds the window with its next zero-window probe: after a
			// 1 s pause its probes are 0.4 s and more apart (0.2, 0.6, 1.4 s,
			// ...), and our answers to probes are rate-limited to one per
			// 0.5 s, as Linux's are (tcp_invalid_ratelimit).
			if took > 300*time.Millisecond {
				t.Errorf("new data came %v after we read again: the kernel did not learn of the open window until it probed", took)
			}
		})
	}
}
