package udp

import (
	"bytes"
	"testing"
)

// FuzzEndpoint drives a small endpoint with an arbitrary sequence of pushes
// (of sizes taken from the input) and receives, checking it against a FIFO
// model: datagrams come out intact and in order, and the bounds hold.
func FuzzEndpoint(f *testing.F) {
	f.Add([]byte{0x80, 10, 0x80, 200, 0, 0x80, 0, 0})
	f.Add(bytes.Repeat([]byte{0xff, 0x7f}, 64))
	f.Fuzz(func(t *testing.T, ops []byte) {
		e := New(Config{QueueDatagrams: 5, QueueBytes: 300})
		var model [][]byte
		p := make([]byte, 0x7f*3)
		for i, op := range ops {
			if op&0x80 != 0 {
				d := bytes.Repeat([]byte{byte(i)}, int(op&0x7f)*3)
				if e.Push(src, d) {
					model = append(model, d)
				}
			} else {
				n, _, _, ok := e.Recv(p[:int(op)*3])
				if ok != (len(model) > 0) {
					t.Fatalf("op %d: ok=%v with %d queued", i, ok, len(model))
				}
				if ok {
					want := model[0][:min(len(model[0]), int(op)*3)]
					if !bytes.Equal(p[:n], want) {
						t.Fatalf("op %d: datagram corrupted", i)
					}
					model = model[1:]
				}
			}
			if e.Len() != len(model) || e.Len() > 5 || e.Bytes() > 300 {
				t.Fatalf("op %d: len %d (model %d) bytes %d", i, e.Len(), len(model), e.Bytes())
			}
		}
	})
}
