package iface

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"offload/clock"
	"offload/wire"
)

// FuzzInput feeds arbitrary frames to Input. The first byte picks the
// interface shape (L2/L3, VLAN, checksum trust, dual-stack, which neighbour
// Output sends to); the rest is a sequence of frames, each preceded by a 2-byte
// length, with an Output to a neighbour and a Poll between them so that ARP and
// NDP learning, queue flushes, reassembly and timers run too. The seed corpus
// covers IPv6, NDP, extension headers, IPv4 and IPv6 fragments and ICMP errors.
//
// Invariants: no panic; Input never writes to or keeps the frame; every frame is
// accounted for exactly once in the counters; a delivered payload lies inside
// the frame (or the reassembly buffer, in.Frame) at PayloadOffset; an ICMP
// error's quoted source is ours and its MTU is 0 or above the floor;
// reassembly stays within its bounds; everything sent parses; no control
// buffer leaks; once every timer ran, nothing is left queued or in reassembly.
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
		if mode&16 != 0 {
			dual(&cfg)
			if !cfg.L2 {
				cfg.Gateway6 = netip.Addr{}
			}
		}
		cfg.ReassemblyDatagrams = 3
		cfg.ReassemblyFragments = 4
		cfg.ReassemblyBytes = 8192
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
				fb := frame
				if in.Frame != nil {
					fb = in.Frame
				}
				if in.PayloadOffset < 0 || in.PayloadOffset+len(in.Payload) > fb.Len() ||
					(len(in.Payload) > 0 && &fb.Bytes()[in.PayloadOffset] != &in.Payload[0]) {
					t.Fatalf("payload not inside the frame at offset %d", in.PayloadOffset)
				}
				if e := in.Error; e != nil {
					floor := uint32(MinPMTU4)
					if in.Proto == wire.ProtoICMPv6 {
						floor = MinPMTU6
					}
					if !i.HasAddr(e.Local.Addr()) || e.Local.Addr() != in.Dst || (e.MTU != 0 && e.MTU < floor) {
						t.Fatalf("ICMP error %+v to %v", *e, in.Dst)
					}
				}
				if in.Proto == wire.ProtoUDP {
					i.Unreachable(now, frame, &in, wire.ICMPv4PortUnreachable, &c)
				}
			}
			checkCounters(t, i)
			if n, b := i.ReassemblyInUse(); n > cfg.ReassemblyDatagrams || b > cfg.ReassemblyBytes {
				t.Fatalf("reassembly holds %d datagrams, %d bytes", n, b)
			}
			dst := peerIP
			if mode&8 != 0 {
				dst = farIP
			}
			if mode&(16|32) == 16|32 {
				dst = peer6
				if mode&8 != 0 {
					dst = far6
				}
			}
			i.Output(now, transportBuf(i, []byte("out")), &OutFields{Dst: dst, Proto: wire.ProtoUDP}, &c)
			now = now.Add(700 * time.Millisecond)
			i.Poll(now, &c)
			checkSent(t, i, &c)
		}
		// Run the clock out: every resolution ends, every queued packet is sent
		// or dropped, nothing is left behind.
		for range 2 * DefaultARPRetries {
			now = now.Add(DefaultReassemblyTimeout6)
			i.Poll(now, &c)
		}
		checkSent(t, i, &c)
		if i.neigh != nil && i.neigh.pendAll != 0 {
			t.Fatalf("%d packets still queued after every timer ran", i.neigh.pendAll)
		}
		if i.pool.Available() != i.pool.Count() {
			t.Fatal("control buffers leaked")
		}
		if n, b := i.ReassemblyInUse(); n != 0 || b != 0 {
			t.Fatalf("%d datagrams (%d bytes) still in reassembly", n, b)
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
		if len(ip) > 0 && ip[0]>>4 == 6 {
			p, err := wire.ParseIPv6(ip)
			if err != nil {
				t.Fatalf("sent a bad IPv6 packet: %v", err)
			}
			if !i.HasAddr(p.Src()) || p.Src().IsUnspecified() {
				t.Fatalf("sent from %v, not ours", p.Src())
			}
			if p.NextHeader() == wire.ProtoICMPv6 {
				if _, err := wire.ParseICMPv6(p.Payload(), p.Src(), p.Dst()); err != nil {
					t.Fatalf("sent a bad ICMPv6 message: %v", err)
				}
			}
			b.Release()
			continue
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
