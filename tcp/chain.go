package tcp

// chain is a view of a segment's payload, which may lie in several slices (an
// aggregate from receive offload references the frames it merged instead of
// copying them): the bytes [off, off+n) of head followed by every slice of more.
// It is a value type of slice headers: trimming and splitting it allocate nothing.
type chain struct {
	head []byte
	more [][]byte
	off  int // bytes skipped at the start of the concatenation
	n    int // bytes in the view
}

// segPayload returns the view of seg's whole payload.
func segPayload(seg *Segment) chain {
	return chain{head: seg.Payload, more: seg.More, n: payloadLen(seg)}
}

// payloadLen is the total payload seg carries: Payload and every slice of More.
func payloadLen(seg *Segment) int {
	n := len(seg.Payload)
	for _, p := range seg.More {
		n += len(p)
	}
	return n
}

func (p chain) len() int { return p.n }

// slice returns the view's bytes [i, j) (0 <= i <= j <= len).
func (p chain) slice(i, j int) chain {
	p.off += i
	p.n = j - i
	return p
}

// writeTo copies the view into r at logical offset at (at+len <= size).
func (p chain) writeTo(r *ring, at int) {
	skip, left := p.off, p.n
	for i := 0; i <= len(p.more) && left > 0; i++ {
		b := p.head
		if i > 0 {
			b = p.more[i-1]
		}
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		if len(b) > left {
			b = b[:left]
		}
		r.writeAt(at, b)
		at += len(b)
		left -= len(b)
	}
}
