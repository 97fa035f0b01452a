// Package bench holds the workloads offload is measured with. They run over
// any net.Conn, so the same code measures offload, the Linux kernel and other
// stacks on the same link in the same run.
package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"time"
)

// Transfer modes, sent by the client after the 8-byte length.
const (
	modeCount  = 0 // the sink replies with the 8-byte count of bytes it read
	modeDigest = 1 // the sink replies with the SHA-256 of the bytes it read
)

// Sink serves bulk transfers on ln: each connection sends an 8-byte length, a
// mode byte, then that many bytes; the server replies with the SHA-256 of what
// it got (Bulk) or with the byte count (Throughput). It returns when ln is closed.
func Sink(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var hdr [9]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int64(binary.BigEndian.Uint64(hdr[:8]))
			buf := make([]byte, 256<<10)
			if hdr[8] == modeDigest {
				h := sha256.New()
				if _, err := io.CopyBuffer(h, io.LimitReader(c, n), buf); err != nil {
					return
				}
				c.Write(h.Sum(nil))
				return
			}
			got, _ := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf)
			var reply [8]byte
			binary.BigEndian.PutUint64(reply[:], uint64(got))
			c.Write(reply[:])
		}()
	}
}

// Echo serves request/response: it writes back whatever it reads.
func Echo(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if tc, ok := c.(interface{ SetNoDelay(bool) error }); ok {
				tc.SetNoDelay(true)
			}
			io.Copy(c, c)
		}()
	}
}

// BulkResult is what one bulk transfer measured.
type BulkResult struct {
	Bytes    int64
	Duration time.Duration
	// Verified: the receiver's SHA-256 equalled the sender's (Bulk), or the
	// receiver counted every byte (Throughput, which does not hash).
	Verified bool
	// Hashed: Verified compares SHA-256 digests, not just a byte count.
	Hashed bool
}

// Gbps returns the goodput in Gbit/s.
func (r BulkResult) Gbps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e9
}

// Bulk sends size pseudo-random bytes (seeded) over c to a Sink and checks the
// SHA-256 it returns. Both ends hash every byte, so on a small machine the
// hashing, not the network, can set the pace: time with Throughput.
// progress, if not nil, is called with the bytes sent so far.
func Bulk(c net.Conn, size int64, seed uint64, progress func(sent int64)) (BulkResult, error) {
	return send(c, size, seed, modeDigest, progress)
}

// Throughput sends size bytes over c to a Sink as fast as it can and waits
// for the receiver's count of what arrived; nothing is hashed, so the time is
// the transfer's. Check integrity with Bulk.
func Throughput(c net.Conn, size int64, progress func(sent int64)) (BulkResult, error) {
	return send(c, size, 1, modeCount, progress)
}

func send(c net.Conn, size int64, seed uint64, mode byte, progress func(sent int64)) (BulkResult, error) {
	var hdr [9]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(size))
	hdr[8] = mode
	start := time.Now()
	if _, err := c.Write(hdr[:]); err != nil {
		return BulkResult{}, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 256<<10)
	for i := 0; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	h := sha256.New()
	var sent int64
	for sent < size {
		chunk := buf
		if rem := size - sent; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		// Vary the data per chunk so a stuck or repeated chunk changes the digest.
		if len(chunk) >= 8 {
			binary.LittleEndian.PutUint64(chunk, uint64(sent))
		}
		n, err := c.Write(chunk)
		if mode == modeDigest {
			h.Write(chunk[:n])
		}
		sent += int64(n)
		if err != nil {
			return BulkResult{Bytes: sent}, err
		}
		if progress != nil {
			progress(sent)
		}
	}
	if mode == modeCount {
		var reply [8]byte
		if _, err := io.ReadFull(c, reply[:]); err != nil {
			return BulkResult{Bytes: sent}, fmt.Errorf("reading the receiver's count: %w", err)
		}
		got := int64(binary.BigEndian.Uint64(reply[:]))
		return BulkResult{Bytes: sent, Duration: time.Since(start), Verified: got == sent}, nil
	}
	var got [sha256.Size]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return BulkResult{Bytes: sent}, fmt.Errorf("reading the receiver's digest: %w", err)
	}
	d := time.Since(start)
	return BulkResult{Bytes: sent, Duration: d, Verified: slices.Equal(got[:], h.Sum(nil)), Hashed: true}, nil
}

// LatencyResult summarises request/response round trips.
type LatencyResult struct {
	Samples  []time.Duration // sorted
	Requests int
}

// Percentile returns the p'th percentile (0..100) round-trip time.
func (r LatencyResult) Percentile(p float64) time.Duration {
	if len(r.Samples) == 0 {
		return 0
	}
	i := int(float64(len(r.Samples)-1) * p / 100)
	return r.Samples[i]
}

// RequestResponse sends n messages of size bytes to an Echo server over c, one
// at a time, and records each round trip after warmup untimed ones.
func RequestResponse(c net.Conn, size, warmup, n int) (LatencyResult, error) {
	if tc, ok := c.(interface{ SetNoDelay(bool) error }); ok {
		tc.SetNoDelay(true)
	}
	msg := make([]byte, size)
	reply := make([]byte, size)
	res := LatencyResult{Samples: make([]time.Duration, 0, n)}
	for i := 0; i < warmup+n; i++ {
		binary.LittleEndian.PutUint32(msg, uint32(i))
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return res, err
		}
		if _, err := io.ReadFull(c, reply); err != nil {
			return res, err
		}
		rtt := time.Since(t0)
		if binary.LittleEndian.Uint32(reply) != uint32(i) {
			return res, errors.New("echo reply does not match the request")
		}
		if i >= warmup {
			res.Samples = append(res.Samples, rtt)
		}
	}
	slices.Sort(res.Samples)
	res.Requests = n
	return res, nil
}
