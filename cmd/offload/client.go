package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"offload"
	"offload/bench"
)

// clientConfig is a checked `offload client` command line.
type clientConfig struct {
	link    linkOptions
	connect netip.AddrPort
	mode    string
	size    int64
	count   int
	msg     int
	timeout time.Duration
	// recv: the SHA-256 the received bytes must have (nil: not checked).
	expectSHA []byte
}

var clientModes = []string{"bulk", "sink", "recv", "rr"}

func parseClientFlags(args []string, stderr io.Writer) (clientConfig, error) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := addLinkFlags(fs)
	connect := fs.String("connect", "", "server address and port, e.g. 198.18.0.1:5001")
	mode := fs.String("mode", "", "bulk (send --size bytes, half-close, wait for the server to close: any discard server), sink (bulk with a SHA-256 check against offload serve --mode sink), recv (read what the server sends until it closes, e.g. offload serve --mode source, and print its SHA-256), rr (request/response round trips against an echo server)")
	size := fs.String("size", "256MiB", "bulk, sink: bytes per transfer (suffixes KiB, MiB, GiB)")
	count := fs.Int("count", 0, "bulk, sink, recv: transfers, one connection each (default 1); rr: round trips (default 10000)")
	expect := fs.String("expect-sha256", "", "recv: fail unless the bytes received have this SHA-256 (64 hex digits, as sha256sum prints it)")
	msg := fs.Int("msg", 64, "rr: request and response size in bytes")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := parseLinkCommand(fs, stderr, "client", "--connect HOST:PORT --mode "+strings.Join(clientModes, "|")+" [--size N] [--count N]",
		"Connects from the offload stack attached to a network interface to a server\n(the kernel's, or another offload serve) and measures throughput or latency.", args); err != nil {
		return clientConfig{}, err
	}
	var c clientConfig
	var err error
	if c.link, err = lf.parse(); err != nil {
		return c, err
	}
	if *connect == "" {
		return c, errors.New("--connect is required: the server's address and port, e.g. 198.18.0.1:5001")
	}
	if c.connect, err = netip.ParseAddrPort(*connect); err != nil || !c.connect.Addr().Is4() || c.connect.Port() == 0 {
		return c, fmt.Errorf("--connect %q: want an IPv4 address and a port, e.g. 198.18.0.1:5001", *connect)
	}
	if c.connect.Addr() == c.link.addr.Addr() {
		return c, fmt.Errorf("--connect %v is the stack's own address (--addr): connect to the peer", c.connect.Addr())
	}
	if !c.link.addr.Masked().Contains(c.connect.Addr()) && !c.link.gateway.IsValid() {
		return c, fmt.Errorf("--connect %v is outside %v and no --gateway is set: the stack has no route to it", c.connect.Addr(), c.link.addr.Masked())
	}
	c.mode = *mode
	switch c.mode {
	case "bulk", "sink", "recv":
		c.count = 1
	case "rr":
		c.count = 10000
	case "":
		return c, fmt.Errorf("--mode is required: %s", strings.Join(clientModes, ", "))
	default:
		return c, fmt.Errorf("--mode %q: want one of %s", c.mode, strings.Join(clientModes, ", "))
	}
	if *count < 0 {
		return c, fmt.Errorf("--count %d: want a positive number", *count)
	}
	if *count > 0 {
		c.count = *count
	}
	if c.size, err = parseByteSize(*size); err != nil {
		return c, fmt.Errorf("--size: %w", err)
	}
	if *msg < 1 || *msg > 1<<20 {
		return c, fmt.Errorf("--msg %d: want 1 to 1048576 bytes", *msg)
	}
	c.msg = *msg
	if *expect != "" {
		if c.mode != "recv" {
			return c, fmt.Errorf("--expect-sha256 is for --mode recv only")
		}
		if c.expectSHA, err = hex.DecodeString(*expect); err != nil || len(c.expectSHA) != sha256.Size {
			return c, fmt.Errorf("--expect-sha256 %q: want 64 hex digits", *expect)
		}
	}
	if *timeout <= 0 {
		return c, fmt.Errorf("--timeout %v: want a positive duration", *timeout)
	}
	c.timeout = *timeout
	return c, nil
}

// parseByteSize parses a byte count with an optional KiB/MiB/GiB (K/M/G) suffix.
func parseByteSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = rest, u.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

func runClient(args []string) error {
	c, err := parseClientFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return client(ctx, c, os.Stdout)
}

// client runs the measurement and prints its table to out.
func client(ctx context.Context, c clientConfig, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	st, a, err := startStack(c.link)
	if err != nil {
		return err
	}
	defer st.Close()
	inNS, _ := c.link.where()
	fmt.Fprintf(out, "offload: %v over %s %s%s%s → %v, mode %s\n", c.link.addr, c.link.kind, a.ifname, c.link.ringNote(), inNS, c.connect, c.mode)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	defer tw.Flush()
	switch c.mode {
	case "bulk", "sink":
		fmt.Fprintf(tw, "transfer\tbytes\tseconds\tGbit/s\tSHA-256\t\n")
		var total int64
		var elapsed time.Duration
		for i := range c.count {
			r, err := clientTransfer(ctx, st, c)
			if err != nil {
				tw.Flush()
				return fmt.Errorf("transfer %d: %w", i+1, explainClientError(ctx, c, err))
			}
			sum := "not checked"
			if c.mode == "sink" {
				sum = "match"
				if !r.Verified {
					sum = "MISMATCH"
				}
			}
			fmt.Fprintf(tw, "%d\t%d\t%.3f\t%.2f\t%s\t\n", i+1, r.Bytes, r.Duration.Seconds(), r.Gbps(), sum)
			if c.mode == "sink" && !r.Verified {
				tw.Flush()
				return fmt.Errorf("transfer %d: the server's SHA-256 of the data differs from ours: data was corrupted", i+1)
			}
			total += r.Bytes
			elapsed += r.Duration
		}
		if c.count > 1 {
			fmt.Fprintf(tw, "all\t%d\t%.3f\t%.2f\t\t\n", total, elapsed.Seconds(), bench.BulkResult{Bytes: total, Duration: elapsed}.Gbps())
		}
	case "recv":
		fmt.Fprintf(tw, "transfer\tbytes\tseconds\tGbit/s\tSHA-256\t\n")
		var total int64
		var elapsed time.Duration
		for i := range c.count {
			r, sum, err := clientReceive(ctx, st, c)
			if err != nil {
				tw.Flush()
				return fmt.Errorf("transfer %d: after %d bytes: %w", i+1, r.Bytes, explainClientError(ctx, c, err))
			}
			fmt.Fprintf(tw, "%d\t%d\t%.3f\t%.2f\t%x\t\n", i+1, r.Bytes, r.Duration.Seconds(), r.Gbps(), sum)
			if c.expectSHA != nil && !bytes.Equal(sum, c.expectSHA) {
				tw.Flush()
				return fmt.Errorf("transfer %d: SHA-256 of the %d bytes received is %x, not the expected %x", i+1, r.Bytes, sum, c.expectSHA)
			}
			total += r.Bytes
			elapsed += r.Duration
		}
		if c.count > 1 {
			fmt.Fprintf(tw, "all\t%d\t%.3f\t%.2f\t\t\n", total, elapsed.Seconds(), bench.BulkResult{Bytes: total, Duration: elapsed}.Gbps())
		}
	case "rr":
		conn, err := st.DialContext(ctx, "tcp", c.connect.String())
		if err != nil {
			return explainClientError(ctx, c, err)
		}
		defer conn.Close()
		defer context.AfterFunc(ctx, func() { conn.Close() })()
		r, err := bench.RequestResponse(conn, c.msg, max(c.count/10, 1), c.count)
		if err != nil {
			return explainClientError(ctx, c, err)
		}
		// Close gracefully: our FIN, the echo server's FIN, then the stack
		// may go (closing the stack right away would reset the connection).
		if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err == nil {
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, conn)
		}
		fmt.Fprintf(tw, "round trips\tbytes\tmin\tp50\tp90\tp99\tp99.9\tmax\t\n")
		fmt.Fprintf(tw, "%d\t%d\t%v\t%v\t%v\t%v\t%v\t%v\t\n", r.Requests, c.msg, r.Samples[0], r.Percentile(50), r.Percentile(90),
			r.Percentile(99), r.Percentile(99.9), r.Samples[len(r.Samples)-1])
	}
	return nil
}

// clientTransfer runs one bulk or sink transfer on a fresh connection.
func clientTransfer(ctx context.Context, st *offload.Stack, c clientConfig) (bench.BulkResult, error) {
	conn, err := st.DialContext(ctx, "tcp", c.connect.String())
	if err != nil {
		return bench.BulkResult{}, err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	if c.mode == "sink" {
		return bench.Bulk(conn, c.size, uint64(time.Now().UnixNano()), nil)
	}
	// bulk: any discard server. The transfer is done when the server, having
	// read our FIN after the last byte, closes its side.
	start := time.Now()
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	var sent int64
	for sent < c.size {
		n, err := conn.Write(buf[:min(int64(len(buf)), c.size-sent)])
		sent += int64(n)
		if err != nil {
			return bench.BulkResult{Bytes: sent}, err
		}
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return bench.BulkResult{Bytes: sent}, err
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		return bench.BulkResult{Bytes: sent}, fmt.Errorf("waiting for the server to close: %w", err)
	}
	return bench.BulkResult{Bytes: sent, Duration: time.Since(start)}, nil
}

// clientReceive runs one recv transfer on a fresh connection: it reads until
// the server closes, hashing what arrives, and times from the connection's
// establishment to the server's FIN.
func clientReceive(ctx context.Context, st *offload.Stack, c clientConfig) (bench.BulkResult, []byte, error) {
	conn, err := st.DialContext(ctx, "tcp", c.connect.String())
	if err != nil {
		return bench.BulkResult{}, nil, err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	start := time.Now()
	h := sha256.New()
	n, err := io.CopyBuffer(h, conn, make([]byte, 256<<10))
	r := bench.BulkResult{Bytes: n, Duration: time.Since(start)}
	if err != nil {
		return r, nil, err
	}
	return r, h.Sum(nil), nil
}

// explainClientError turns what a dial or transfer returned into advice.
func explainClientError(ctx context.Context, c clientConfig, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("gave up after --timeout %v: %w", c.timeout, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused: nothing listens on %v (is the server running, on that port?): %w", c.connect, err)
	case errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Errorf("no answer from %v: check that the link is up, that the peer has its address on it and that --addr %v is in its subnet: %w",
			c.connect, c.link.addr, err)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("the server reset the connection: %w", err)
	}
	return err
}
