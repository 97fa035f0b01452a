package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Flows sends size bytes on every connection in conns at once, each to a
// Sink (Throughput), and returns all bytes over the time from the start to
// the last receiver's count: Verified only if every receiver counted every
// byte. Each connection gets the deadline start+timeout. tenth, if not nil,
// is called each time another tenth of all the bytes has been sent.
func Flows(conns []net.Conn, size int64, timeout time.Duration, tenth func()) (BulkResult, error) {
	var (
		mu       sync.Mutex
		total    = size * int64(len(conns))
		sentAll  int64
		nextDot  = total / 10
		verified = true
		errs     []error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for _, c := range conns {
		c.SetDeadline(start.Add(timeout))
		wg.Go(func() {
			var last int64
			res, err := Throughput(c, size, func(sent int64) {
				mu.Lock()
				defer mu.Unlock()
				sentAll += sent - last
				last = sent
				for sentAll >= nextDot && nextDot <= total && nextDot > 0 {
					if tenth != nil {
						tenth()
					}
					nextDot += total / 10
				}
			})
			mu.Lock()
			verified = verified && res.Verified
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res := BulkResult{Bytes: total, Duration: time.Since(start), Verified: verified && len(errs) == 0}
	return res, errors.Join(errs...)
}

// ConnectionRate opens connections with dial one at a time to an Echo
// server — connect, one request of size bytes, its reply, close — until
// duration has passed or max connections were made, and returns how many it
// made and in what time. Each connection has 5 s for its exchange.
func ConnectionRate(dial func() (net.Conn, error), size int, duration time.Duration, max int) (n int, el time.Duration, err error) {
	if size < 4 {
		return 0, 0, errors.New("bench: request size below 4 bytes")
	}
	msg := make([]byte, size)
	reply := make([]byte, size)
	start := time.Now()
	for n < max && time.Since(start) < duration {
		c, err := dial()
		if err != nil {
			return n, time.Since(start), err
		}
		binary.LittleEndian.PutUint32(msg, uint32(n))
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(msg)
		if err == nil {
			_, err = io.ReadFull(c, reply)
		}
		c.Close()
		if err != nil {
			return n, time.Since(start), err
		}
		if !bytes.Equal(msg, reply) {
			return n, time.Since(start), errors.New("echo reply does not match the request")
		}
		n++
	}
	return n, time.Since(start), nil
}
