package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// LoadedResult is request/response under load: every round trip of every
// connection, and the rate they made together.
type LoadedResult struct {
	LatencyResult
	Conns    int
	Duration time.Duration // the timed phase, from the common start to the last reply
}

// RequestsPerSecond is the rate of the timed phase.
func (r LoadedResult) RequestsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// RequestResponseLoaded drives every connection in conns at once, each with
// one request of size bytes outstanding to an Echo server, back to back (a
// closed loop): with enough connections the server's stack is saturated and
// the round trips show its queueing as well as its path length. Each
// connection makes warmup untimed round trips; once all have, each records n.
// The percentiles are over all connections' samples.
func RequestResponseLoaded(conns []net.Conn, size, warmup, n int) (LoadedResult, error) {
	if size < 4 {
		return LoadedResult{}, errors.New("bench: request size below 4 bytes")
	}
	var (
		warmed sync.WaitGroup
		done   sync.WaitGroup
		start  = make(chan struct{})
		mu     sync.Mutex
		errs   []error
		all    = make([]time.Duration, 0, len(conns)*n)
	)
	warmed.Add(len(conns))
	done.Add(len(conns))
	for k, c := range conns {
		if tc, ok := c.(interface{ SetNoDelay(bool) error }); ok {
			tc.SetNoDelay(true)
		}
		go func() {
			defer done.Done()
			msg := make([]byte, size)
			reply := make([]byte, size)
			samples := make([]time.Duration, 0, n)
			round := func(i int) (time.Duration, error) {
				binary.LittleEndian.PutUint32(msg, uint32(i))
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					return 0, err
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					return 0, err
				}
				rtt := time.Since(t0)
				if binary.LittleEndian.Uint32(reply) != uint32(i) {
					return 0, errors.New("echo reply does not match the request")
				}
				return rtt, nil
			}
			var err error
			for i := 0; i < warmup && err == nil; i++ {
				_, err = round(i)
			}
			warmed.Done()
			<-start
			for i := 0; i < n && err == nil; i++ {
				var rtt time.Duration
				if rtt, err = round(warmup + i); err == nil {
					samples = append(samples, rtt)
				}
			}
			mu.Lock()
			all = append(all, samples...)
			if err != nil {
				errs = append(errs, fmt.Errorf("connection %d: %w", k, err))
			}
			mu.Unlock()
		}()
	}
	warmed.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	res := LoadedResult{Conns: len(conns), Duration: time.Since(t0)}
	slices.Sort(all)
	res.Samples, res.Requests = all, len(all)
	return res, errors.Join(errs...)
}
