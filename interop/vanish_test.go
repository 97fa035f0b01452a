//go:build linux

package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/tcp"
)

// vanishConfig makes a vanished peer fail fast: a small user timeout and few
// retries (RFC 9293 §3.8.3 R2, RFC 5482), quick keepalives (RFC 1122 §4.2.3.6).
func vanishConfig() *tcp.Config {
	c := tcp.DefaultConfig()
	c.MaxRetries = 4
	c.UserTimeout = time.Second
	c.KeepAlive = true
	c.KeepAliveIdle = 500 * time.Millisecond
	c.KeepAliveInterval = 200 * time.Millisecond
	c.KeepAliveCount = 3
	return &c
}

// How a test makes the kernel vanish.
var vanishers = []struct {
	name string
	opts rigOptions
	cut  func(t testing.TB, r *rig)
}{
	{"kernel-link-down", rigOptions{}, func(t testing.TB, r *rig) { r.setKernelLinkDown(t) }},
	{"all-frames-dropped", rigOptions{blackhole: true}, func(t testing.TB, r *rig) { r.hole.cut.Store(true) }},
}

// vanishAfter is how much data flows before the peer vanishes.
const vanishAfter = 8 << 20

// sendUntilError writes to c until an error, calling cut once vanishAfter
// bytes are written; it returns the error and how long after the cut it came.
func sendUntilError(c net.Conn, cut func()) (time.Duration, error) {
	src := newSource(7)
	var sent int64
	var cutAt time.Time
	for {
		if cutAt.IsZero() && sent >= vanishAfter {
			cut()
			cutAt = time.Now()
		}
		n, err := c.Write(src.next(1 << 62))
		sent += int64(n)
		if err != nil {
			if cutAt.IsZero() {
				return 0, fmt.Errorf("write failed after %d bytes, before the peer vanished: %w", sent, err)
			}
			return time.Since(cutAt), err
		}
	}
}

// checkTimedOut wants err to be the timeout (ETIMEDOUT) within bound.
func checkTimedOut(t *testing.T, err error, after, bound time.Duration) {
	t.Helper()
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("error %v (%T) %v after the peer vanished; want ETIMEDOUT", err, err, after)
	}
	if after > bound {
		t.Fatalf("timed out only %v after the peer vanished", after)
	}
	t.Logf("timed out %v after the peer vanished: %v", after.Round(time.Millisecond), err)
}

// TestPeerVanishingWhileWeSendEndsInTimeout_RFC9293_3_8_3: the kernel goes
// away in the middle of a transfer we are sending, with either side having
// opened the connection. The blocked Write must fail with ETIMEDOUT once the
// user timeout or the retransmission limit runs out, not hang.
func TestPeerVanishingWhileWeSendEndsInTimeout_RFC9293_3_8_3(t *testing.T) {
	netns.Require(t)
	for _, lt := range coreLinkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, v := range vanishers {
				t.Run(v.name, func(t *testing.T) {
					for _, role := range roles {
						t.Run(role, func(t *testing.T) {
							o := v.opts
							o.tcp = vanishConfig()
							r := newRig(t, lt, o)
							ctx := deadline(t, 30*time.Second)
							cut := func() { v.cut(t, r) }
							type outcome struct {
								err   error
								after time.Duration
							}
							ours := make(chan outcome, 1)
							// The kernel side only reads (and is cut off mid-read).
							kernelSide := func(c net.Conn) error {
								defer c.Close()
								io.Copy(io.Discard, c)
								return nil
							}
							ourSide := func(c net.Conn) error {
								defer c.Close()
								after, err := sendUntilError(c, cut)
								ours <- outcome{err, after}
								return nil
							}
							switch role {
							case kernelClient:
								ln := r.ourListen(t, 7200)
								go r.serveAll(ln, ourSide, make(chan error, 1))
								c, err := r.kernelDial(ctx, 7200)
								if err != nil {
									t.Fatal(err)
								}
								go kernelSide(c)
							case ourClient:
								ln := r.kernelListen(t, 7200)
								go r.serveAll(ln, kernelSide, make(chan error, 1))
								c, err := r.ourDial(ctx, 7200)
								if err != nil {
									t.Fatal(err)
								}
								go ourSide(c)
							}
							select {
							case o := <-ours:
								checkTimedOut(t, o.err, o.after, 10*time.Second)
							case <-ctx.Done():
								t.Fatal("our Write still blocked long after the peer vanished: a hang")
							}
						})
					}
				})
			}
		})
	}
}

// TestPeerVanishingWhileWeReceiveEndsInKeepaliveTimeout_RFC1122_4_2_3_6: the
// kernel vanishes in the middle of a transfer it is sending us. A receiver has
// nothing to retransmit, so only keepalive probes can notice: with keepalive
// on, the blocked Read must fail with ETIMEDOUT after the unanswered probes.
func TestPeerVanishingWhileWeReceiveEndsInKeepaliveTimeout_RFC1122_4_2_3_6(t *testing.T) {
	netns.Require(t)
	for _, lt := range coreLinkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, v := range vanishers {
				t.Run(v.name, func(t *testing.T) {
					o := v.opts
					o.tcp = vanishConfig()
					r := newRig(t, lt, o)
					ctx := deadline(t, 30*time.Second)
					dial, _ := r.connect(t, ourClient, 7201, serveTransfer)
					c, err := dial(ctx)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					var req [requestLen]byte
					req[0] = opDownload
					binary.BigEndian.PutUint64(req[1:], 1<<44) // 16 TiB: more than will ever flow
					if _, err := c.Write(req[:]); err != nil {
						t.Fatal(err)
					}
					res := make(chan error, 1)
					var cutAt time.Time
					go func() {
						buf := make([]byte, chunkSize)
						var got int64
						for {
							n, err := c.Read(buf)
							got += int64(n)
							if cutAt.IsZero() && got >= vanishAfter {
								v.cut(t, r)
								cutAt = time.Now()
							}
							if err != nil {
								if cutAt.IsZero() {
									err = fmt.Errorf("read failed after %d bytes, before the peer vanished: %w", got, err)
								}
								res <- err
								return
							}
						}
					}()
					select {
					case err := <-res:
						// 500 ms idle + 3 probes 200 ms apart, after draining what was buffered.
						checkTimedOut(t, err, time.Since(cutAt), 10*time.Second)
					case <-ctx.Done():
						t.Fatal("our Read still blocked long after the peer vanished: a hang")
					}
				})
			}
		})
	}
}

// TestRetransmissionLimitEndsInTimeout_RFC9293_3_8_3: without a user timeout,
// the retransmission limit (R2, tcp.Config.MaxRetries) alone must end a
// connection whose peer vanished while we were sending: three retransmissions
// with the RTO doubling (RFC 6298 §5.5) from a 50 ms minimum give up after
// about 0.75 s.
func TestRetransmissionLimitEndsInTimeout_RFC9293_3_8_3(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.MaxRetries = 3
			cfg.MinRTO = 50 * time.Millisecond
			r := newRig(t, lt, rigOptions{tcp: &cfg, blackhole: true})
			ctx := deadline(t, 30*time.Second)
			ln := r.kernelListen(t, 7202)
			go r.serveAll(ln, func(c net.Conn) error { _, err := io.Copy(io.Discard, c); return err }, make(chan error, 1))
			c, err := r.ourDial(ctx, 7202)
			if err != nil {
				t.Fatal(err)
			}
			res := make(chan error, 1)
			var after time.Duration
			go func() {
				var err error
				after, err = sendUntilError(c, func() { r.hole.cut.Store(true) })
				res <- err
			}()
			select {
			case err := <-res:
				checkTimedOut(t, err, after, 10*time.Second)
				if after < 350*time.Millisecond {
					t.Errorf("gave up %v after the peer vanished: sooner than three RTO backoffs from 50 ms allow", after)
				}
				info := c.(interface{ Info() tcp.Info }).Info()
				t.Logf("timeouts %d, retransmits %d (fast %d)", info.Timeouts, info.Retransmits, info.FastRetransmits)
				if info.Timeouts != uint64(cfg.MaxRetries)+1 {
					t.Errorf("%d retransmission timeouts before giving up; want MaxRetries+1 = %d", info.Timeouts, cfg.MaxRetries+1)
				}
			case <-ctx.Done():
				t.Fatal("our Write still blocked long after the peer vanished: a hang")
			}
		})
	}
}

// TestSYNToVanishedPeerTimesOut_RFC9293_3_8_3: a dial to a kernel that no
// longer answers (every frame dropped) fails with ETIMEDOUT once the SYN
// retransmissions (tcp.Config.SynRetries) are used up.
func TestSYNToVanishedPeerTimesOut_RFC9293_3_8_3(t *testing.T) {
	netns.Require(t)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.SynRetries = 2
			cfg.InitialRTO = 200 * time.Millisecond
			r := newRig(t, lt, rigOptions{tcp: &cfg, blackhole: true})
			r.kernelListen(t, 7203)
			r.hole.cut.Store(true)
			ctx := deadline(t, 30*time.Second)
			start := time.Now()
			_, err := r.ourDial(ctx, 7203)
			checkTimedOut(t, err, time.Since(start), 10*time.Second)
			if d := time.Since(start); d < 1200*time.Millisecond {
				t.Errorf("gave up after %v: before the 200+400+800 ms of two SYN retransmissions", d)
			}
		})
	}
}
