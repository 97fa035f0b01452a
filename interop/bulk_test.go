//go:build linux

package interop

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// Roles: who opens the connection.
const (
	kernelClient = "kernel-client" // the kernel dials our listener
	ourClient    = "offload-client"
)

var roles = []string{kernelClient, ourClient}

// serveOne accepts connections on ln and serves each with serve until ln
// closes; errors go to errs (one per connection).
func serveAll(ln net.Listener, serve func(net.Conn) error, errs chan<- error) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
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
		go serveAll(ln, serve, errs)
		return func(ctx context.Context) (net.Conn, error) {
			c, err := r.kernelDial(ctx, port)
			if err != nil {
				return nil, err
			}
			return c, nil
		}, errs
	case ourClient:
		ln := r.kernelListen(t, port)
		go serveAll(ln, serve, errs)
		return func(ctx context.Context) (net.Conn, error) { return r.ourDial(ctx, port) }, errs
	}
	t.Fatalf("unknown role %q", role)
	return nil, nil
}

// runTransfer runs one transfer with a watchdog: a stalled connection fails
// the test with what both sides know instead of hanging it.
func (r *rig) runTransfer(t *testing.T, role string, op byte, size int64) xferResult {
	t.Helper()
	dial, serverErrs := r.connect(t, role, 5001, serveTransfer)
	ctx := deadline(t, 2*time.Minute)
	c, err := dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	res, err := transfer(c, op, size, 1)
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
	size := transferSize(t)
	ops := []struct {
		name string
		op   byte
	}{{"client-sends", opUpload}, {"server-sends", opDownload}, {"both-at-once", opBoth}}
	for _, lt := range linkTypes {
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
