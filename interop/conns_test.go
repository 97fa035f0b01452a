//go:build linux

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// msgLen is the size of a short connection's request and of its reply.
const msgLen = 64

// serveRequest reads one request, answers it and closes: the shape of an
// HTTP/1.0 exchange, where the server closes first (and so holds TIME-WAIT).
func serveRequest(c net.Conn) error {
	defer c.Close()
	req := make([]byte, msgLen)
	if _, err := io.ReadFull(c, req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	_, err := c.Write(replyTo(req))
	return err
}

// replyTo is the reply a request must get: the request reversed, so a reply
// to another connection's request is caught.
func replyTo(req []byte) []byte {
	r := make([]byte, len(req))
	for i, b := range req {
		r[len(req)-1-i] = b
	}
	return r
}

// exchange dials, sends request i, checks the reply and that the server then
// closes, and closes.
func exchange(ctx context.Context, dial func(context.Context) (net.Conn, error), i int) error {
	c, err := dial(ctx)
	if err != nil {
		return fmt.Errorf("connection %d: dial: %w", i, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	req := make([]byte, msgLen)
	copy(req, fmt.Sprintf("request %d from %v to %v", i, c.LocalAddr(), c.RemoteAddr()))
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("connection %d: write: %w", i, err)
	}
	got := make([]byte, msgLen+1)
	n, err := io.ReadFull(c, got)
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != msgLen {
		return fmt.Errorf("connection %d: read %d bytes (%v), want %d and then EOF", i, n, err, msgLen)
	}
	if !bytes.Equal(got[:n], replyTo(req)) {
		return fmt.Errorf("connection %d: reply %q does not answer request %q", i, got[:n], req)
	}
	return nil
}

// TestSequentialShortConnectionsWithKernel opens 1,000 connections one after
// another, each with one request and one reply. Whoever serves closes first,
// so the server side accumulates TIME-WAIT connections, and with the kernel as
// the server our client's ephemeral ports meet the kernel's TIME-WAITs
// (RFC 9293 §3.10.7.4, RFC 6056).
func TestSequentialShortConnectionsWithKernel(t *testing.T) {
	const n = 1000
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					r := newRig(t, lt, rigOptions{})
					dial, serverErrs := r.connect(t, role, 7000, serveRequest)
					ctx := deadline(t, time.Minute)
					start := time.Now()
					for i := range n {
						if err := exchange(ctx, dial, i); err != nil {
							select {
							case serr := <-serverErrs:
								t.Errorf("server: %v", serr)
							default:
							}
							t.Fatal(err)
						}
					}
					d := time.Since(start)
					t.Logf("%d sequential connections in %v (%v each); stack holds %d connections",
						n, d.Round(time.Millisecond), (d / n).Round(time.Microsecond), r.st.Stack().NumConns())
					select {
					case serr := <-serverErrs:
						t.Errorf("server: %v", serr)
					default:
					}
				})
			}
		})
	}
}

// TestConcurrentShortConnectionsWithKernel opens 100 connections at once,
// each with one request and one reply.
func TestConcurrentShortConnectionsWithKernel(t *testing.T) {
	const n = 100
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					r := newRig(t, lt, rigOptions{})
					dial, serverErrs := r.connect(t, role, 7001, serveRequest)
					ctx := deadline(t, time.Minute)
					var wg sync.WaitGroup
					errs := make(chan error, n)
					start := time.Now()
					for i := range n {
						wg.Go(func() {
							if err := exchange(ctx, dial, i); err != nil {
								errs <- err
							}
						})
					}
					wg.Wait()
					close(errs)
					failed := 0
					for err := range errs {
						if failed < 5 {
							t.Error(err)
						}
						failed++
					}
					if failed > 0 {
						t.Errorf("%d of %d connections failed", failed, n)
					}
					select {
					case serr := <-serverErrs:
						t.Errorf("server: %v", serr)
					default:
					}
					t.Logf("%d concurrent connections in %v", n, time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}
