//go:build linux

package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"offload/internal/netns"
)

type closeWriter interface{ CloseWrite() error }

// halfCloseLen is what flows after (or before) a half-close: several windows'
// worth, so the half-closed connection runs flow control, not one segment.
const halfCloseLen = 1 << 20

func pattern(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>10) ^ salt
	}
	return b
}

// readToEOF reads until EOF (which it requires) and returns what came.
func readToEOF(c net.Conn, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(c, int64(limit)+1))
	if err != nil {
		return buf.Bytes(), err
	}
	if n > int64(limit) {
		return buf.Bytes(), fmt.Errorf("more than %d bytes before EOF", limit)
	}
	return buf.Bytes(), nil
}

// forLinksFamiliesRoles runs f as a subtest for every core link type, address
// family and role.
func forLinksFamiliesRoles(t *testing.T, f func(t *testing.T, lt, fam, role string)) {
	for _, lt := range coreLinkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, fam := range families {
				t.Run(fam, func(t *testing.T) {
					for _, role := range roles {
						t.Run(role, func(t *testing.T) { f(t, lt, fam, role) })
					}
				})
			}
		})
	}
}

// TestClientHalfCloseServerStillSends_RFC9293_3_10_4: the client sends its
// data and shuts its write side; the server reads to EOF, then — in
// CLOSE-WAIT — sends its whole answer and closes; the client, in FIN-WAIT-2,
// reads all of it and EOF. Over IPv4 and IPv6.
func TestClientHalfCloseServerStillSends_RFC9293_3_10_4(t *testing.T) {
	netns.Require(t)
	forLinksFamiliesRoles(t, func(t *testing.T, lt, fam, role string) {
		r := newRig(t, lt, rigOptions{ipv6: fam == famIPv6})
		req, resp := pattern(halfCloseLen, 1), pattern(halfCloseLen, 2)
		dial, serverErrs := r.connect(t, role, 7100, func(c net.Conn) error {
			defer c.Close()
			got, err := readToEOF(c, halfCloseLen)
			if err != nil {
				return fmt.Errorf("server reading to EOF: %w", err)
			}
			if !bytes.Equal(got, req) {
				return fmt.Errorf("server got %d bytes, not the %d sent", len(got), len(req))
			}
			_, err = c.Write(resp)
			return err
		})
		ctx := deadline(t, 30*time.Second)
		c, err := dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if err := c.(closeWriter).CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		got, err := readToEOF(c, halfCloseLen)
		if err != nil {
			t.Fatalf("client reading the answer after its half-close: %v (got %d bytes)", err, len(got))
		}
		if !bytes.Equal(got, resp) {
			t.Fatalf("client got %d bytes, not the %d the server sent", len(got), len(resp))
		}
		select {
		case err := <-serverErrs:
			t.Fatal(err)
		default:
		}
	})
}

// TestServerHalfCloseClientStillSends_RFC9293_3_10_4: the server sends its
// data and shuts its write side at once; the client reads it to EOF, then
// sends its own data and shuts its write side; the server, half-closed for a
// whole transfer, reads all of it and EOF. Over IPv4 and IPv6.
func TestServerHalfCloseClientStillSends_RFC9293_3_10_4(t *testing.T) {
	netns.Require(t)
	forLinksFamiliesRoles(t, func(t *testing.T, lt, fam, role string) {
		r := newRig(t, lt, rigOptions{ipv6: fam == famIPv6})
		greeting, upload := pattern(halfCloseLen, 3), pattern(halfCloseLen, 4)
		serverGot := make(chan []byte, 1)
		dial, serverErrs := r.connect(t, role, 7101, func(c net.Conn) error {
			defer c.Close()
			if _, err := c.Write(greeting); err != nil {
				return err
			}
			if err := c.(closeWriter).CloseWrite(); err != nil {
				return fmt.Errorf("server CloseWrite: %w", err)
			}
			got, err := readToEOF(c, halfCloseLen)
			if err != nil {
				return fmt.Errorf("server reading after its half-close: %w (got %d bytes)", err, len(got))
			}
			serverGot <- got
			return nil
		})
		ctx := deadline(t, 30*time.Second)
		c, err := dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		got, err := readToEOF(c, halfCloseLen)
		if err != nil {
			t.Fatalf("client reading to the server's FIN: %v", err)
		}
		if !bytes.Equal(got, greeting) {
			t.Fatalf("client got %d bytes, not the %d the server sent", len(got), len(greeting))
		}
		if _, err := c.Write(upload); err != nil {
			t.Fatalf("client writing after the server's FIN: %v", err)
		}
		if err := c.(closeWriter).CloseWrite(); err != nil {
			t.Fatalf("client CloseWrite: %v", err)
		}
		select {
		case got := <-serverGot:
			if !bytes.Equal(got, upload) {
				t.Fatalf("server got %d bytes, not the %d the client sent", len(got), len(upload))
			}
		case err := <-serverErrs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("the server never read the client's data to EOF")
		}
		// Both FINs are acknowledged: the client reads EOF again, not an error.
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("client Read after both FINs: %d, %v; want 0, EOF", n, err)
		}
	})
}
