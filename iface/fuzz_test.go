package iface

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// FuzzInput feeds arbitrary frames to Input. The first byte picks the
// interface shape (L2/L3, VLAN, checksum trust); the rest is a sequence of
// frames, each preceded by a 2-byte length, with an Output to a neighbour and a
// Poll between them so that ARP learning, queue flushes and timers run too.
//
// Invariants: no panic; Input never writes to or keeps the frame; every frame is
// accounted for exactly once in the counters; a delivered payload lies inside
// the frame at PayloadOffset; everything sent parses; no control buffer leaks.
func FuzzInput(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode := data[0]
		data = data[1:]
		cfg := baseConfig()
		cfg.L2 = mode&1 == 0
		if !cfg.L2 {
			cfg.HardwareAddr = wire.MAC{}
		} else if mode&2 != 0 {
			cfg.VLAN = 7
		}
		cfg.RxChecksumTrusted = mode&4 != 0
		cfg.NeighborCacheSize = 4
		cfg.PendingPerNeighbor = 2
		cfg.PendingTotal = 5
		cfg.ControlBuffers = 4
		i, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		now := t0
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			raw := data[:n]
			data = data[n:]
			frame := frameOf(raw)
			before := bytes.Clone(frame.Bytes())
			in, ok := i.Input(now, frame, &c)
			if !bytes.Equal(before, frame.Bytes()) {
				t.Fatal("Input modified the frame")
			}
			if ok {
				if in.PayloadOffset < 0 || in.PayloadOffset+len(in.Payload) > frame.Len() ||
					(len(in.Payload) > 0 && &frame.Bytes()[in.PayloadOffset] != &in.Payload[0]) {
					t.Fatalf("payload not inside the frame at offset %d", in.PayloadOffset)
				}
				if in.Proto == wire.ProtoUDP {
					i.Unreachable(now, frame, &in, wire.ICMPv4PortUnreachable, &c)
				}
			}
			checkCounters(t, i)
			dst := peerIP
			if mode&8 != 0 {
				dst = farIP
			}
			i.Output(now, transportBuf(i, []byte("out")), &OutFields{Dst: dst, Proto: wire.ProtoUDP}, &c)
			now = now.Add(700 * time.Millisecond)
			i.Poll(now, &c)
			checkSent(t, i, &c)
		}
		// Run the clock out: every resolution ends, every queued packet is sent
		// or dropped, nothing is left behind.
		for range 2 * DefaultARPRetries {
			now = now.Add(DefaultNeighborTTL)
			i.Poll(now, &c)
		}
		checkSent(t, i, &c)
		if i.neigh != nil && i.neigh.pendAll != 0 {
			t.Fatalf("%d packets still queued after every timer ran", i.neigh.pendAll)
		}
		if i.pool.Available() != i.pool.Count() {
			t.Fatal("control buffers leaked")
		}
		if i.Deadline() != clock.Never {
			t.Fatalf("deadline %v with nothing left to do", i.Deadline())
		}
	})
}

// checkSent parses and releases everything the interface sent.
func checkSent(t *testing.T, i *Interface, c *capture) {
	t.Helper()
	for _, b := range c.take() {
		ip := b.Bytes()
		if i.l2 {
			e, err := wire.ParseEthernet(ip)
			if err != nil {
				t.Fatalf("sent a bad Ethernet frame: %v", err)
			}
			if e.Src() != i.mac {
				t.Fatalf("sent from %v", e.Src())
			}
			if e.EtherType() == wire.EtherTypeARP {
				if _, err := wire.ParseARP(e.Payload()); err != nil {
					t.Fatalf("sent a bad ARP: %v", err)
				}
				b.Release()
				continue
			}
			ip = e.Payload()
		}
		p, err := wire.ParseIPv4(ip)
		if err != nil {
			t.Fatalf("sent a bad IPv4 packet: %v", err)
		}
		if !i.HasAddr(p.Src()) {
			t.Fatalf("sent from %v, not ours", p.Src())
		}
		b.Release()
	}
}
