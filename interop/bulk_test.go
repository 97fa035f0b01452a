//go:build linux

package interop

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/netconn"
)

// Roles: who opens the connection.
const (
	kernelClient = "kernel-client" // the kernel dials our listener
	ourClient    = "offload-client"
)

var roles = []string{kernelClient, ourClient}

// serveAll accepts connections on ln and serves each with serve until ln
// closes; errors go to errs (as many as fit). Every connection is closed when
// the test ends at the latest.
func (r *rig) serveAll(ln net.Listener, serve func(net.Conn) error, errs chan<- error) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.track(c)
		go func() {
			if err := serve(c); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
}

// connect sets up a server with serve on one side of r and returns a dial
// function for the other side, per role.
func (r *rig) connect(t testing.TB, role string, port uint16, serve func(net.Conn) error) (dial func(context.Context) (net.Conn, error), serverErrs <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	switch role {
	case kernelClient:
		ln := r.ourListen(t, port)
		go r.serveAll(ln, serve, errs)
		return func(ctx context.Context) (net.Conn, error) {
			c, err := r.kernelDial(ctx, port)
			if err != nil {
				return nil, err
			}
			return c, nil
		}, errs
	case ourClient:
		ln := r.kernelListen(t, port)
		go r.serveAll(ln, serve, errs)
		return func(ctx context.Context) (net.Conn, error) { return r.ourDial(ctx, port) }, errs
	}
	t.Fatalf("unknown role %q", role)
	return nil, nil
}

// runTransfer runs one transfer with a watchdog: a stalled connection fails
// the test with what both sides know instead of hanging it.
func (r *rig) runTransfer(t *testing.T, role string, op byte, size int64) xferResult {
	t.Helper()
	dial, serverErrs := r.connect(t, role, 5000+uint16(r.transfers.Add(1)), serveTransfer)
	ctx := deadline(t, 2*time.Minute)
	c, err := dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	res, err := transfer(c, op, size, 1)
	r.logStats(t)
	if err != nil {
		select {
		case serr := <-serverErrs:
			t.Errorf("server: %v", serr)
		case <-time.After(100 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("transfer did not finish in time: %v (stack connections: %d)", err, r.st.Stack().NumConns())
		}
		t.Fatalf("transfer: %v", err)
	}
	return res
}

// TestBulkTransferSHA256MatchesWithKernel moves the full transfer size each
// way and both ways at once over every link type, with either side opening
// the connection, and checks the SHA-256 of everything received.
func TestBulkTransferSHA256MatchesWithKernel(t *testing.T) {
	netns.Require(t)
	size := transferSize(t)
	ops := []struct {
		name string
		op   byte
	}{{"client-sends", opUpload}, {"server-sends", opDownload}, {"both-at-once", opBoth}}
	for _, lt := range coreLinkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					for _, o := range ops {
						t.Run(o.name, func(t *testing.T) {
							r := newRig(t, lt, rigOptions{})
							res := r.runTransfer(t, role, o.op, size)
							t.Logf("%s %s %s: %s", lt, role, o.name, res)
						})
					}
				})
			}
		})
	}
}

func (x xferResult) String() string {
	s := fmt.Sprintf("%d MiB", x.size>>20)
	if x.up > 0 {
		s += fmt.Sprintf(", client→server %.2f Gbit/s (%v)", x.upGb, x.up.Round(time.Millisecond))
	}
	if x.down > 0 {
		s += fmt.Sprintf(", server→client %.2f Gbit/s (%v)", x.downGb, x.down.Round(time.Millisecond))
	}
	return s
}

// logStats logs what both TCPs and the device saw on the test's connections:
// retransmissions and drops explain a slow or failed transfer.
func (r *rig) logStats(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	conns := append([]net.Conn(nil), r.conns...)
	r.mu.Unlock()
	for _, c := range conns {
		switch c := c.(type) {
		case *netconn.Conn:
			i := c.Info()
			t.Logf("offload %v: segments in %d out %d, retransmits %d (timeouts %d, fast %d), dup ACKs %d, out-of-order drops %d, PAWS drops %d, SRTT %v RTO %v, cwnd %d",
				c.LocalAddr(), i.SegmentsIn, i.SegmentsOut, i.Retransmits, i.Timeouts, i.FastRetransmits, i.DupAcks, i.OutOfOrderDrops, i.PAWSDrops, i.SRTT, i.RTO, i.Cwnd)
		case *net.TCPConn:
			if i, err := sys.TCPInfoOf(c); err == nil {
				t.Logf("kernel %v: total retransmits %d, RTT %v, cwnd %d", c.LocalAddr(), i.TotalRetrans, i.RTT, i.SndCwnd)
			}
		}
	}
	ds := r.dev.Stats()
	t.Logf("device: rx %d frames (%d dropped), tx %d frames (%d dropped); stack: tx no buffer %d",
		ds.RxFrames, ds.RxDropped, ds.TxFrames, ds.TxDropped, r.st.Stack().Stats().TxNoBuffer.Load())
}

// TestParallelBulkTransfersWithKernel runs eight transfers at once, half in
// each direction of connection opening, each both ways at once, sharing one
// device queue and its transmit buffers: every digest must match.
func TestParallelBulkTransfersWithKernel(t *testing.T) {
	netns.Require(t)
	const flows = 8
	size := min(transferSize(t), 32<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			ctx := deadline(t, 2*time.Minute)
			dials := map[string]func(context.Context) (net.Conn, error){}
			for i, role := range roles {
				dials[role], _ = r.connect(t, role, uint16(5100+i), serveTransfer)
			}
			errs := make(chan error, flows)
			start := time.Now()
			for i := range flows {
				role := roles[i%2]
				go func() {
					c, err := dials[role](ctx)
					if err != nil {
						errs <- fmt.Errorf("flow %d (%s): dial: %w", i, role, err)
						return
					}
					defer c.Close()
					defer context.AfterFunc(ctx, func() { c.Close() })()
					_, err = transfer(c, opBoth, size, uint64(i))
					if err != nil {
						err = fmt.Errorf("flow %d (%s): %w", i, role, err)
					}
					errs <- err
				}()
			}
			for range flows {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			d := time.Since(start)
			t.Logf("%d flows × %d MiB each way in %v: %.2f Gbit/s in total", flows, size>>20, d.Round(time.Millisecond),
				gbps(2*flows*size, d))
		})
	}
}
