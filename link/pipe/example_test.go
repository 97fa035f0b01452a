package pipe_test

import (
	"fmt"

	"offload/link/pipe"
	"offload/pkt"
)

func Example() {
	a, b := pipe.New(pipe.Config{MTU: 1500})
	defer a.Close()
	defer b.Close()

	pool := pkt.NewPool(64, 2048, 0)
	tx := pkt.NewBatch(8)
	buf := pool.Get()
	copy(buf.Append(60), "an Ethernet frame")
	tx.Add(buf)
	a.Send(0, tx) // tx is now empty: the pipe owns the frame

	b.Wait(0, -1) // returns at once: a frame is queued
	rx := pkt.NewBatch(8)
	n, _ := b.Recv(0, rx)
	fmt.Println(n, rx.At(0) == buf, string(rx.At(0).Bytes()[:17]))
	rx.ReleaseAll() // back into the sender's pool
	fmt.Println(pool.Available())
	// Output:
	// 1 true an Ethernet frame
	// 64
}
