package stack_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/pkt"
	"offload/stack"
	"offload/wire"
)

// The receiver's own capacity, with receive aggregation on and off: what
// offload's receive path costs per byte when the sender and the link cost
// nothing. A blaster stands in for a NIC at line rate with a bulk TCP sender
// behind it: it hands the stack MTU-sized in-order segments, a burst per
// receive round, as fast as the stack's window lets it. On a real link the
// sender's and the link's work share the machine (see `offload bench`'s
// aggregation table); here only offload's work is timed.

const (
	blastMSS   = 1448 // 1500-byte MTU with timestamps
	blastBurst = 64   // frames per receive round, a NIC ring's usual batch
)

var (
	blastPeer = netip.MustParseAddr("198.18.0.1") // the blaster's sender
	blastHost = netip.MustParsePrefix("198.18.0.2/24")
)

// blaster is a raw-IP link.Device whose far side is a bulk TCP sender.
type blaster struct {
	caps   link.Capabilities
	pool   *pkt.Pool
	port   uint16 // the stack's listening port
	state  int    // 0: SYN to send, 1: SYN sent, 2: established
	iss    wire.Seq
	nxt    wire.Seq // next byte to send
	una    wire.Seq // first unacknowledged byte
	wnd    uint32   // the stack's window, bytes
	wscale uint8    // the stack's window scale
	ack    wire.Seq // the stack's next sequence number (our ACK)
	tsval  uint32
	tsecr  uint32
	id     uint16
	tmpl   []byte // IPv4 + TCP (timestamps) + payload of one full segment
	hdrLen int    // of tmpl: the IPv4 and TCP headers
	// filled: buffers of the pool that already hold the template's payload
	// (the pool hands the same buffers back and nothing writes into a
	// received frame), so only headers are written again: a NIC's DMA costs
	// the CPU nothing, and copying 1448 bytes per frame here would be counted
	// as offload's receive cost.
	filled  map[*pkt.Buffer]bool
	paySum  uint32 // the payload's one's-complement sum, added to each checksum
	sent    int64  // payload bytes handed to the stack
	parseEr int    // frames from the stack that did not parse
}

func newBlaster(port uint16, trusted bool) *blaster {
	b := &blaster{
		caps: link.Capabilities{Name: "blaster", MTU: 1500, MaxFrame: 1500, Queues: 1, RxChecksumTrusted: trusted},
		pool: pkt.NewPool(4*blastBurst, 2048, 64),
		port: port, iss: 1000, tsval: 1,
	}
	payload := make([]byte, blastMSS)
	for i := range payload {
		payload[i] = byte(i*31 + 7)
	}
	tf := wire.TCPFields{SrcPort: 40000, DstPort: port, Flags: wire.FlagACK,
		Options: wire.TCPOptions{HasTimestamp: true}}
	hl := wire.TCPHeaderLen(&tf)
	b.tmpl = make([]byte, wire.IPv4HeaderSize+hl+blastMSS)
	wire.EmitIPv4(b.tmpl, &wire.IPv4Fields{TTL: 64, DontFragment: true, Protocol: wire.ProtoTCP,
		Src: blastPeer, Dst: blastHost.Addr(), PayloadLen: hl + blastMSS})
	wire.EmitTCP(b.tmpl[wire.IPv4HeaderSize:], &tf)
	copy(b.tmpl[wire.IPv4HeaderSize+hl:], payload)
	b.paySum = wire.Checksum(payload, 0)
	b.hdrLen = wire.IPv4HeaderSize + hl
	b.filled = make(map[*pkt.Buffer]bool)
	return b
}

func (b *blaster) Caps() link.Capabilities       { return b.caps }
func (b *blaster) Wait(int, time.Duration) error { return nil }
func (b *blaster) Wake(int)                      {}
func (b *blaster) Stats() link.Stats             { return link.Stats{} }
func (b *blaster) Close() error                  { return nil }
func (b *blaster) tcpFields(flags wire.TCPFlags) wire.TCPFields {
	return wire.TCPFields{SrcPort: 40000, DstPort: b.port, Seq: b.nxt, Ack: b.ack, Flags: flags, Window: 65535,
		Options: wire.TCPOptions{HasTimestamp: true, TSVal: b.tsval, TSEcr: b.tsecr}}
}

// Recv sends the SYN first, then a burst of full segments within the window.
func (b *blaster) Recv(_ int, batch *pkt.Batch) (int, error) {
	switch b.state {
	case 0:
		buf := b.pool.Get()
		tf := b.tcpFields(wire.FlagSYN)
		tf.Seq = b.iss
		tf.Options.MSS, tf.Options.HasWScale, tf.Options.WScale, tf.Options.SACKPermitted = blastMSS+12, true, 7, true
		hl := wire.TCPHeaderLen(&tf)
		f := buf.Append(wire.IPv4HeaderSize + hl)
		wire.EmitIPv4(f, &wire.IPv4Fields{TTL: 64, DontFragment: true, Protocol: wire.ProtoTCP,
			Src: blastPeer, Dst: blastHost.Addr(), PayloadLen: hl})
		wire.EmitTCP(f[wire.IPv4HeaderSize:], &tf)
		wire.SetTCPChecksum(f[wire.IPv4HeaderSize:], blastPeer, blastHost.Addr())
		batch.Add(buf)
		b.nxt, b.una, b.state = b.iss+1, b.iss+1, 1
		return 1, nil
	case 1:
		return 0, nil
	}
	b.tsval++ // one clock tick per burst: a burst's segments share their options
	n := 0
	for n < blastBurst && !batch.Full() && b.nxt.Add(blastMSS).LessEq(b.una.Add(b.wnd)) {
		buf := b.pool.Get()
		if buf == nil {
			break
		}
		f := buf.Append(len(b.tmpl))
		if b.filled[buf] {
			copy(f[:b.hdrLen], b.tmpl)
		} else {
			copy(f, b.tmpl)
			b.filled[buf] = true
		}
		// The template's IP ID is 0: only the ID changes the header checksum
		// (RFC 1624 update).
		b.id++
		binary.BigEndian.PutUint16(f[4:6], b.id)
		binary.BigEndian.PutUint16(f[10:12], wire.UpdateChecksum(binary.BigEndian.Uint16(b.tmpl[10:12]), 0, b.id))
		t := f[wire.IPv4HeaderSize:]
		binary.BigEndian.PutUint32(t[4:8], uint32(b.nxt))
		binary.BigEndian.PutUint32(t[8:12], uint32(b.ack))
		binary.BigEndian.PutUint32(t[24:28], b.tsval)
		binary.BigEndian.PutUint32(t[28:32], b.tsecr)
		if !b.caps.RxChecksumTrusted {
			// Only a stack that verifies reads it; a NIC that vouches
			// checked it in hardware.
			t[16], t[17] = 0, 0
			hl := len(t) - blastMSS
			sum := wire.Checksum(t[:hl], wire.PseudoHeaderSum(wire.ProtoTCP, blastPeer, blastHost.Addr(), len(t))) + b.paySum
			binary.BigEndian.PutUint16(t[16:18], wire.FoldChecksum(sum))
		}
		batch.Add(buf)
		b.nxt = b.nxt.Add(blastMSS)
		b.sent += blastMSS
		n++
	}
	return n, nil
}

// Send reads the stack's SYN-ACK and ACKs: the acknowledged point, the
// window and the timestamp to echo.
func (b *blaster) Send(_ int, batch *pkt.Batch) (int, error) {
	n := batch.Len()
	for _, buf := range batch.Buffers() {
		b.input(buf.Bytes())
	}
	batch.ReleaseAll()
	return n, nil
}

func (b *blaster) input(f []byte) {
	ip, err := wire.ParseIPv4(f)
	if err != nil || ip.Protocol() != wire.ProtoTCP {
		b.parseEr++
		return
	}
	t, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		b.parseEr++
		return
	}
	tf := t.Fields()
	if tf.Flags&wire.FlagSYN != 0 && b.state == 1 {
		b.ack = tf.Seq.Add(1)
		b.wscale = 0
		if tf.Options.HasWScale {
			b.wscale = tf.Options.WScale
		}
		b.state = 2
	}
	if tf.Flags&wire.FlagACK != 0 && b.una.LessThan(tf.Ack) {
		b.una = tf.Ack
	}
	wscale := b.wscale
	if tf.Flags&wire.FlagSYN != 0 {
		wscale = 0 // RFC 7323 §2.2: a SYN's window is never scaled
	}
	b.wnd = uint32(tf.Window) << wscale
	if tf.Options.HasTimestamp {
		b.tsecr = tf.Options.TSVal
	}
}

// BenchmarkReceiveCapacity moves bulk data from the blaster into an
// application Read loop, with aggregation on and off, with checksums the
// device vouches for (virtio-net, most NICs) and ones the stack verifies.
// Besides ns/op (one op is 1 MiB) it reports TCP state-machine runs per MiB.
func BenchmarkReceiveCapacity(b *testing.B) {
	for _, trusted := range []bool{true, false} {
		for _, gro := range []bool{true, false} {
			name := fmt.Sprintf("checksum=%s/gro=%s", map[bool]string{true: "trusted", false: "verified"}[trusted], onOffName(gro))
			b.Run(name, func(b *testing.B) { benchReceive(b, trusted, gro) })
		}
	}
}

func onOffName(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func benchReceive(b *testing.B, trusted, gro bool) {
	const port = 5001
	dev := newBlaster(port, trusted)
	clk := clock.NewFake(1 << 40)
	st, err := stack.New(stack.Options{
		NICs:   []stack.NIC{{Device: dev, Addrs: []netip.Prefix{blastHost}, NoGRO: !gro}},
		Manual: true, Clock: clk,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ln, err := st.ListenTCP(netip.AddrPortFrom(blastHost.Addr(), port))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var c *stack.Conn
	for range 100 {
		st.Poll()
		if c, err = ln.Accept(); err == nil {
			break
		}
	}
	if c == nil {
		b.Fatalf("no connection from the blaster (frames it could not parse: %d)", dev.parseEr)
	}
	buf := make([]byte, 256<<10)
	var got int64
	move := func(n int64) {
		for want := got + n; got < want; {
			busy, next := st.Poll()
			for {
				k, err := c.Read(buf)
				got += int64(k)
				if errors.Is(err, stack.ErrWouldBlock) || k == 0 {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if !busy {
				// Nothing to do: let the stack's timers (a delayed ACK) run.
				now := clk.Now()
				next = clock.Min(next, now.Add(time.Millisecond))
				if next <= now {
					next = now.Add(time.Microsecond)
				}
				clk.Set(next)
			}
		}
	}
	move(8 << 20) // warm up: the window opens, rings and pools reach their size
	runs0 := st.Stats().TCPSegmentsIn.Load()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	start := got
	move(int64(b.N) << 20)
	b.StopTimer()
	mib := float64(got-start) / (1 << 20)
	b.ReportMetric(float64(st.Stats().TCPSegmentsIn.Load()-runs0)/mib, "tcp-runs/MiB")
	if dev.parseEr != 0 {
		b.Fatalf("%d frames from the stack did not parse", dev.parseEr)
	}
}
