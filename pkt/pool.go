package pkt

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Pool is a bounded set of equally sized buffers, allocated once. Get returns nil
// when every buffer is out: callers drop (and count) rather than grow memory.
// It is safe for concurrent use: a buffer may be released on another goroutine
// than the one that took it (a pipe hands frames from one stack to the other).
type Pool struct {
	mu       sync.Mutex
	free     []*Buffer
	size     int
	headroom int
	count    int

	exhausted atomic.Uint64 // Get calls that found the pool empty
}

// NewPool allocates count buffers of size bytes, each reset to headroom.
func NewPool(count, size, headroom int) *Pool {
	if count <= 0 || size <= 0 || headroom < 0 || headroom > size {
		panic(fmt.Sprintf("pkt: bad pool shape count=%d size=%d headroom=%d", count, size, headroom))
	}
	p := &Pool{free: make([]*Buffer, 0, count), size: size, headroom: headroom, count: count}
	backing := make([]byte, count*size)
	bufs := make([]Buffer, count)
	for i := range bufs {
		b := &bufs[i]
		b.buf = backing[i*size : (i+1)*size : (i+1)*size]
		b.pool = p
		b.free = true
		p.free = append(p.free, b)
	}
	return p
}

// Get takes a buffer out of the pool, reset to the pool's headroom, or returns
// nil if none is free.
func (p *Pool) Get() *Buffer {
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.mu.Unlock()
		p.exhausted.Add(1)
		return nil
	}
	b := p.free[n-1]
	p.free = p.free[:n-1]
	b.free = false
	p.mu.Unlock()
	b.Reset(p.headroom)
	return b
}

func (p *Pool) put(b *Buffer) {
	p.mu.Lock()
	if b.free {
		p.mu.Unlock()
		panic("pkt: buffer released twice")
	}
	b.free = true
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// BufferSize returns the capacity of each buffer.
func (p *Pool) BufferSize() int { return p.size }

// Headroom returns the headroom each buffer starts with.
func (p *Pool) Headroom() int { return p.headroom }

// Count returns the number of buffers the pool owns.
func (p *Pool) Count() int { return p.count }

// Available returns how many buffers are free right now.
func (p *Pool) Available() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// Exhausted returns how many Get calls found the pool empty.
func (p *Pool) Exhausted() uint64 { return p.exhausted.Load() }
