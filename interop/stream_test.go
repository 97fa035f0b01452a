//go:build linux

package interop

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// A small transfer protocol both sides speak over any net.Conn, so the same
// code runs on a kernel socket and on ours. The client sends a 17-byte request:
// the operation, the size (bytes each way) and a seed for the data.
//
//	opUpload:   client sends size bytes; server answers with the SHA-256 of what it received.
//	opDownload: server sends size bytes, then the SHA-256 of what it sent.
//	opBoth:     both at once on the one connection: each side sends size bytes
//	            (the server's followed by the SHA-256 of what it sent) while
//	            receiving; then the server sends the SHA-256 of what it received.
//
// Every side hashes what it sends and what it receives, so a lost, duplicated,
// reordered or corrupted byte anywhere shows up as a digest mismatch.
const (
	opUpload   = 'U'
	opDownload = 'D'
	opBoth     = 'B'
)

const (
	requestLen = 17
	chunkSize  = 256 << 10
	blockSize  = 1 << 20
)

var errDigest = errors.New("SHA-256 of the received data differs from the sender's")

// source generates the pseudo-random data of one transfer: a random block,
// cycled, with each chunk's first 8 bytes replaced by its index so that a chunk
// delivered twice or skipped changes the digest.
type source struct {
	block []byte
	chunk uint64
}

func newSource(seed uint64) *source {
	rng := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc908))
	b := make([]byte, blockSize)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return &source{block: b}
}

// next returns the next chunk (at most n bytes); it stays valid until the next call.
func (s *source) next(n int64) []byte {
	off := (s.chunk * chunkSize) % blockSize
	c := s.block[off : off+chunkSize]
	binary.LittleEndian.PutUint64(c, s.chunk)
	s.chunk++
	if n < int64(len(c)) {
		c = c[:n]
	}
	return c
}

// sendData writes size bytes from seed's source to c and returns their digest.
func sendData(c net.Conn, size int64, seed uint64) ([]byte, error) {
	src := newSource(seed)
	h := sha256.New()
	for sent := int64(0); sent < size; {
		chunk := src.next(size - sent)
		n, err := c.Write(chunk)
		h.Write(chunk[:n])
		sent += int64(n)
		if err != nil {
			return nil, fmt.Errorf("sending byte %d of %d: %w", sent, size, err)
		}
	}
	return h.Sum(nil), nil
}

// recvData reads exactly size bytes from c and returns their digest.
func recvData(c net.Conn, size int64) ([]byte, error) {
	h := sha256.New()
	n, err := copyN(h, c, size)
	if err != nil {
		return nil, fmt.Errorf("received %d of %d bytes: %w", n, size, err)
	}
	return h.Sum(nil), nil
}

func copyN(h hash.Hash, c net.Conn, size int64) (int64, error) {
	buf := make([]byte, chunkSize)
	var got int64
	for got < size {
		b := buf
		if rem := size - got; rem < int64(len(b)) {
			b = b[:rem]
		}
		n, err := c.Read(b)
		h.Write(b[:n])
		got += int64(n)
		if err == io.EOF && got < size {
			return got, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return got, err
		}
	}
	return got, nil
}

func readDigest(c net.Conn, what string) ([]byte, error) {
	d := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, d); err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	return d, nil
}

func equalDigest(a, b []byte) bool { return string(a) == string(b) }

// serveTransfer answers one transfer request on c and closes c.
func serveTransfer(c net.Conn) error {
	defer c.Close()
	var req [requestLen]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	op := req[0]
	size := int64(binary.BigEndian.Uint64(req[1:]))
	seed := binary.BigEndian.Uint64(req[9:])
	switch op {
	case opUpload:
		got, err := recvData(c, size)
		if err != nil {
			return err
		}
		_, err = c.Write(got)
		return err
	case opDownload:
		sent, err := sendData(c, size, seed)
		if err != nil {
			return err
		}
		_, err = c.Write(sent)
		return err
	case opBoth:
		sendErr := make(chan error, 1)
		go func() {
			sent, err := sendData(c, size, seed)
			if err == nil {
				_, err = c.Write(sent)
			}
			sendErr <- err
		}()
		got, rerr := recvData(c, size)
		if err := <-sendErr; err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
		_, err := c.Write(got)
		return err
	}
	return fmt.Errorf("unknown operation %q", op)
}

// xferResult is what a client measured: how long each direction took from
// the request to its last byte being confirmed.
type xferResult struct {
	size         int64
	up, down     time.Duration // client→server, server→client (zero if not run)
	upGb, downGb float64       // goodput in Gbit/s
}

func gbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / d.Seconds() / 1e9
}

// transfer runs one request as the client on c. It does not close c.
func transfer(c net.Conn, op byte, size int64, seed uint64) (xferResult, error) {
	res := xferResult{size: size}
	var req [requestLen]byte
	req[0] = op
	binary.BigEndian.PutUint64(req[1:], uint64(size))
	binary.BigEndian.PutUint64(req[9:], seed)
	start := time.Now()
	if _, err := c.Write(req[:]); err != nil {
		return res, fmt.Errorf("sending the request: %w", err)
	}
	switch op {
	case opUpload:
		sent, err := sendData(c, size, seed)
		if err != nil {
			return res, err
		}
		got, err := readDigest(c, "receiver's digest")
		if err != nil {
			return res, err
		}
		res.up = time.Since(start)
		if !equalDigest(sent, got) {
			return res, fmt.Errorf("client→server: %w", errDigest)
		}
	case opDownload:
		got, err := recvData(c, size)
		if err != nil {
			return res, err
		}
		sent, err := readDigest(c, "sender's digest")
		if err != nil {
			return res, err
		}
		res.down = time.Since(start)
		if !equalDigest(sent, got) {
			return res, fmt.Errorf("server→client: %w", errDigest)
		}
	case opBoth:
		type sendRes struct {
			sum []byte
			err error
		}
		sendDone := make(chan sendRes, 1)
		go func() {
			s, err := sendData(c, size, seed+1)
			sendDone <- sendRes{s, err}
		}()
		got, err := recvData(c, size)
		if err != nil {
			return res, err
		}
		theirs, err := readDigest(c, "server's digest of what it sent")
		if err != nil {
			return res, err
		}
		res.down = time.Since(start)
		if !equalDigest(theirs, got) {
			return res, fmt.Errorf("server→client: %w", errDigest)
		}
		s := <-sendDone
		if s.err != nil {
			return res, s.err
		}
		recvd, err := readDigest(c, "server's digest of what it received")
		if err != nil {
			return res, err
		}
		res.up = time.Since(start)
		if !equalDigest(s.sum, recvd) {
			return res, fmt.Errorf("client→server: %w", errDigest)
		}
	default:
		return res, fmt.Errorf("unknown operation %q", op)
	}
	res.upGb, res.downGb = gbps(size, res.up), gbps(size, res.down)
	return res, nil
}
