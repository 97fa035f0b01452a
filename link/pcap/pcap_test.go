package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"offload/clock"
	"offload/link"
	"offload/link/linktest"
	"offload/link/pipe"
	"offload/pkt"
)

// A small pcapng reader, independent of the writer, that checks the framing.

type epb struct {
	iface    uint32
	ts       uint64
	data     []byte
	origLen  uint32
	flags    uint32
	hasQueue bool
	queue    uint32
}

type capture struct {
	shbVersion [2]uint16
	userApp    string
	linkType   uint16
	snapLen    uint32
	ifName     string
	tsresol    []byte
	packets    []epb
}

// parseOptions reads a pcapng option list; every option must fit, be padded to
// 32 bits, and the list must end with opt_endofopt.
func parseOptions(b []byte) (map[uint16][]byte, error) {
	opts := map[uint16][]byte{}
	for {
		if len(b) < 4 {
			return nil, fmt.Errorf("options end without opt_endofopt")
		}
		code, n := le.Uint16(b), int(le.Uint16(b[2:]))
		b = b[4:]
		if code == 0 {
			if n != 0 || len(b) != 0 {
				return nil, fmt.Errorf("opt_endofopt with length %d and %d bytes after it", n, len(b))
			}
			return opts, nil
		}
		padded := (n + 3) &^ 3
		if padded > len(b) {
			return nil, fmt.Errorf("option %d of %d bytes overruns the block", code, n)
		}
		if _, dup := opts[code]; dup {
			return nil, fmt.Errorf("option %d repeated", code)
		}
		opts[code] = b[:n]
		b = b[padded:]
	}
}

func parseCapture(data []byte) (*capture, error) {
	c := &capture{}
	for i := 0; len(data) > 0; i++ {
		if len(data) < 12 {
			return nil, fmt.Errorf("block %d: %d trailing bytes", i, len(data))
		}
		typ, total := le.Uint32(data), le.Uint32(data[4:])
		if total%4 != 0 || total < 12 || int(total) > len(data) {
			return nil, fmt.Errorf("block %d: bad total length %d (%d bytes left)", i, total, len(data))
		}
		if trail := le.Uint32(data[total-4:]); trail != total {
			return nil, fmt.Errorf("block %d: trailing length %d != leading %d", i, trail, total)
		}
		body := data[8 : total-4]
		data = data[total:]
		switch {
		case i == 0 && typ != blockSHB:
			return nil, fmt.Errorf("first block is %#x, not a Section Header Block", typ)
		case typ == blockSHB:
			if i != 0 || len(body) < 16 || le.Uint32(body) != byteOrderMark {
				return nil, fmt.Errorf("bad SHB")
			}
			c.shbVersion = [2]uint16{le.Uint16(body[4:]), le.Uint16(body[6:])}
			if int64(le.Uint64(body[8:])) != -1 {
				return nil, fmt.Errorf("section length %d, want -1 (unknown)", int64(le.Uint64(body[8:])))
			}
			opts, err := parseOptions(body[16:])
			if err != nil {
				return nil, fmt.Errorf("SHB: %w", err)
			}
			c.userApp = string(opts[optShbUserApp])
		case typ == blockIDB:
			if len(body) < 8 {
				return nil, fmt.Errorf("short IDB")
			}
			c.linkType, c.snapLen = le.Uint16(body), le.Uint32(body[4:])
			opts, err := parseOptions(body[8:])
			if err != nil {
				return nil, fmt.Errorf("IDB: %w", err)
			}
			c.ifName, c.tsresol = string(opts[optIfName]), opts[optIfTsresol]
		case typ == blockEPB:
			if len(body) < 20 {
				return nil, fmt.Errorf("short EPB")
			}
			p := epb{iface: le.Uint32(body), ts: uint64(le.Uint32(body[4:]))<<32 | uint64(le.Uint32(body[8:])), origLen: le.Uint32(body[16:])}
			capLen := int(le.Uint32(body[12:]))
			padded := (capLen + 3) &^ 3
			if padded > len(body)-20 {
				return nil, fmt.Errorf("EPB data of %d overruns the block", capLen)
			}
			if uint32(capLen) > p.origLen || uint32(capLen) > c.snapLen {
				return nil, fmt.Errorf("captured %d of %d bytes with snaplen %d", capLen, p.origLen, c.snapLen)
			}
			p.data = body[20 : 20+capLen]
			opts, err := parseOptions(body[20+padded:])
			if err != nil {
				return nil, fmt.Errorf("EPB: %w", err)
			}
			if f, ok := opts[optEpbFlags]; !ok || len(f) != 4 {
				return nil, fmt.Errorf("EPB without a 4-byte epb_flags")
			} else {
				p.flags = le.Uint32(f)
			}
			if q, ok := opts[optEpbQueue]; ok {
				p.hasQueue, p.queue = true, le.Uint32(q)
			}
			c.packets = append(c.packets, p)
		default:
			return nil, fmt.Errorf("unexpected block type %#x", typ)
		}
	}
	return c, nil
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func frameOf(n int, first byte) *pkt.Buffer {
	b := pkt.NewBuffer(n, 0)
	p := b.Append(n)
	for i := range p {
		p[i] = first + byte(i)
	}
	return b
}

func batchOf(bufs ...*pkt.Buffer) *pkt.Batch {
	b := pkt.NewBatch(len(bufs))
	for _, x := range bufs {
		b.Add(x)
	}
	return b
}

func TestCaptureRecordsBothDirectionsWithNanosecondTimestamps(t *testing.T) {
	a, b := pipe.New(pipe.Config{Name: "veth"})
	clk := clock.NewFake(1000) // any start: timestamps are relative to it
	var out bytes.Buffer
	d, err := New(a, &out, Options{Clock: clk, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	sent := []*pkt.Buffer{frameOf(60, 1), frameOf(61, 2), frameOf(1514, 3)}
	want := [][]byte{}
	for _, f := range sent {
		want = append(want, bytes.Clone(f.Bytes()))
	}
	clk.Advance(1500 * time.Nanosecond)
	d.Send(0, batchOf(sent...))
	// The peer answers two frames, received later.
	b.Send(0, batchOf(frameOf(98, 4), frameOf(63, 5)))
	want = append(want, frameOf(98, 4).Bytes(), frameOf(63, 5).Bytes())
	clk.Advance(2 * time.Second)
	batch := pkt.NewBatch(8)
	pre := frameOf(10, 9) // already in the batch: must not be recorded
	batch.Add(pre)
	if n, _ := d.Recv(0, batch); n != 2 {
		t.Fatalf("Recv = %d", n)
	}
	b.Recv(0, batch)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := parseCapture(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.shbVersion != [2]uint16{1, 0} || c.userApp != "offload" {
		t.Errorf("SHB version %v, application %q", c.shbVersion, c.userApp)
	}
	if c.linkType != LinkTypeEthernet || c.snapLen != DefaultSnapLen || c.ifName != "veth.a" {
		t.Errorf("IDB: linktype %d snaplen %d name %q", c.linkType, c.snapLen, c.ifName)
	}
	if !bytes.Equal(c.tsresol, []byte{9}) {
		t.Errorf("if_tsresol = %v, want [9] (nanoseconds)", c.tsresol)
	}
	if len(c.packets) != 5 {
		t.Fatalf("%d packets recorded, want 5", len(c.packets))
	}
	t0 := uint64(epoch.UnixNano())
	for i, p := range c.packets {
		wantFlags, wantTS := uint32(flagOutbound), t0+1500
		if i >= 3 {
			wantFlags, wantTS = flagInbound, t0+1500+2e9
		}
		if p.flags != wantFlags || p.ts != wantTS || p.iface != 0 || p.hasQueue {
			t.Errorf("packet %d: flags %d ts %d iface %d queue %v; want flags %d ts %d", i, p.flags, p.ts, p.iface, p.hasQueue, wantFlags, wantTS)
		}
		if !bytes.Equal(p.data, want[i]) || int(p.origLen) != len(want[i]) {
			t.Errorf("packet %d: recorded %d bytes (orig %d), want the %d sent", i, len(p.data), p.origLen, len(want[i]))
		}
	}
	if d.Frames() != 5 {
		t.Errorf("Frames() = %d", d.Frames())
	}
}

func TestSnapLenTruncatesButKeepsOriginalLength(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	defer b.Close()
	var out bytes.Buffer
	d, _ := New(a, &out, Options{SnapLen: 65})
	f := frameOf(1000, 0)
	d.Send(0, batchOf(f))
	d.Close()
	c, err := parseCapture(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.snapLen != 65 || len(c.packets) != 1 || len(c.packets[0].data) != 65 || c.packets[0].origLen != 1000 {
		t.Fatalf("snaplen %d, packets %d", c.snapLen, len(c.packets))
	}
	if !bytes.Equal(c.packets[0].data, frameOf(65, 0).Bytes()) {
		t.Fatalf("truncated data is not the frame's first 65 bytes")
	}
}

// l3dev is a raw-IP device: a pipe end that says it carries no Ethernet header.
type l3dev struct{ *pipe.End }

func (l l3dev) Caps() link.Capabilities {
	c := l.End.Caps()
	c.L2, c.HardwareAddr = false, [6]byte{}
	return c
}

func TestL3DeviceIsRecordedAsLinkTypeRaw(t *testing.T) {
	a, _ := pipe.New(pipe.Config{})
	var out bytes.Buffer
	d, _ := New(l3dev{a}, &out, Options{Name: "tun0"})
	d.Close()
	c, err := parseCapture(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.linkType != LinkTypeRaw || c.ifName != "tun0" {
		t.Fatalf("linktype %d name %q, want %d tun0", c.linkType, c.ifName, LinkTypeRaw)
	}
}

func TestMultiQueueDeviceRecordsEachFramesQueue(t *testing.T) {
	a, b := pipe.New(pipe.Config{Queues: 3})
	var out bytes.Buffer
	d, _ := New(a, &out, Options{})
	var wg sync.WaitGroup
	// Each queue has its own owner goroutine, writing to one capture.
	for q := range 3 {
		wg.Go(func() {
			for i := range 100 {
				d.Send(q, batchOf(frameOf(60+i%4, byte(q))))
			}
		})
	}
	wg.Wait()
	d.Close()
	b.Close()
	c, err := parseCapture(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.packets) != 300 {
		t.Fatalf("%d packets, want 300", len(c.packets))
	}
	perQueue := map[uint32]int{}
	for _, p := range c.packets {
		if !p.hasQueue || p.data[0] != byte(p.queue) {
			t.Fatalf("packet from queue %d recorded with queue %d (present %v)", p.data[0], p.queue, p.hasQueue)
		}
		perQueue[p.queue]++
	}
	if perQueue[0] != 100 || perQueue[1] != 100 || perQueue[2] != 100 {
		t.Fatalf("per-queue counts %v", perQueue)
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrorStopsCaptureButNotTraffic(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	if _, err := New(a, &failAfter{n: 10}, Options{}); !errors.Is(err, errDiskFull) {
		t.Fatalf("New with a failing writer: %v", err)
	}
	d, err := New(a, &failAfter{n: 200}, Options{BufferSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	pool := pkt.NewPool(8, 2048, 0)
	for range 4 {
		buf := pool.Get()
		buf.Append(100)
		if n, err := d.Send(0, batchOf(buf)); n != 1 || err != nil {
			t.Fatalf("Send with a broken capture: %d, %v", n, err)
		}
	}
	if !errors.Is(d.Err(), errDiskFull) || !errors.Is(d.Flush(), errDiskFull) {
		t.Fatalf("Err %v, Flush %v: the write error was not reported", d.Err(), d.Flush())
	}
	batch := pkt.NewBatch(8)
	if n, _ := b.Recv(0, batch); n != 4 {
		t.Fatalf("peer received %d of 4 frames", n)
	}
	batch.ReleaseAll()
	if err := d.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

func TestRecordingAllocatesNothingPerFrame(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	d, _ := New(a, io.Discard, Options{BufferSize: 4096})
	defer d.Close()
	defer b.Close()
	pool := pkt.NewPool(64, 2048, 0)
	tx, rx := pkt.NewBatch(32), pkt.NewBatch(32)
	allocs := testing.AllocsPerRun(200, func() {
		for !tx.Full() {
			buf := pool.Get()
			buf.Append(1000)
			tx.Add(buf)
		}
		d.Send(0, tx)
		b.Recv(0, rx)
		b.Send(0, rx)
		d.Recv(0, rx)
		rx.ReleaseAll()
	})
	if allocs != 0 {
		t.Fatalf("recording 64 frames allocated %v times", allocs)
	}
}

func TestConformance(t *testing.T) {
	linktest.TestDevice(t, func(t *testing.T) (link.Device, link.Device) {
		a, b := pipe.New(pipe.Config{})
		da, err := New(a, io.Discard, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return da, b
	})
}

// ipv4UDP returns an Ethernet/IPv4/UDP frame with a valid IPv4 header checksum.
func ipv4UDP(src, dst [6]byte, payload string) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f, dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:], []byte{198, 18, 0, 1})
	copy(ip[16:], []byte{198, 18, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9) // discard
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return f
}

// arpRequest returns an Ethernet ARP who-has frame (RFC 826).
func arpRequest(src [6]byte) []byte {
	f := make([]byte, 42)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:], src[:])
	copy(a[14:], []byte{198, 18, 0, 1})
	copy(a[24:], []byte{198, 18, 0, 2})
	return f
}

func TestTsharkReadsCapture(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH; the built-in reader above still checks the format")
	}
	a, b := pipe.New(pipe.Config{Queues: 2})
	path := filepath.Join(t.TempDir(), "cap.pcapng")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(a, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := a.Caps().HardwareAddr, b.Caps().HardwareAddr
	buf := func(p []byte) *pkt.Buffer {
		x := pkt.NewBuffer(len(p), 0)
		copy(x.Append(len(p)), p)
		return x
	}
	d.Send(0, batchOf(buf(arpRequest(ma)), buf(ipv4UDP(ma, mb, "hello"))))
	b.Send(1, batchOf(buf(ipv4UDP(mb, ma, "world, longer"))))
	batch := pkt.NewBatch(4)
	b.Recv(0, batch)
	batch.Clear()
	d.Recv(1, batch)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	file.Close()
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.protocols", "-e", "frame.packet_flags_direction", "-e", "frame.interface_queue",
		"-e", "frame.len", "-e", "frame.time_epoch").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark failed: %v\n%s", err, out)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "Running as user") { // tshark's root warning
			lines = append(lines, l)
		}
	}
	want := []struct {
		protos, dir, queue, length string
	}{
		{"eth:ethertype:arp", "0x2", "0", "42"},
		{"eth:ethertype:ip:udp", "0x2", "0", "47"},
		{"eth:ethertype:ip:udp", "0x1", "1", "55"},
	}
	if len(lines) != len(want) {
		t.Fatalf("tshark shows %d frames, want %d:\n%s", len(lines), len(want), out)
	}
	now := float64(time.Now().UnixNano()) / 1e9
	for i, w := range want {
		f := strings.Split(lines[i], "|")
		if len(f) != 5 || !strings.HasPrefix(f[0], w.protos) || !strings.HasSuffix(f[1], strings.TrimPrefix(w.dir, "0x")) || f[2] != w.queue || f[3] != w.length {
			t.Errorf("frame %d: tshark says %q, want protocols %s direction %s queue %s length %s", i, lines[i], w.protos, w.dir, w.queue, w.length)
			continue
		}
		var ts float64
		fmt.Sscan(f[4], &ts)
		if ts < now-60 || ts > now+1 {
			t.Errorf("frame %d: timestamp %s is not now (%f)", i, f[4], now)
		}
	}
}

// FuzzRecord writes arbitrary frames with arbitrary snap lengths and checks the
// independent reader accepts the stream and recovers each frame's prefix.
func FuzzRecord(f *testing.F) {
	f.Add([]byte{}, uint16(0), false)
	f.Add([]byte{1, 2, 3}, uint16(2), true)
	f.Add(bytes.Repeat([]byte{0xAB}, 1514), uint16(96), false)
	f.Fuzz(func(t *testing.T, frame []byte, snap uint16, inbound bool) {
		a, b := pipe.New(pipe.Config{Queues: 2})
		defer b.Close()
		var out bytes.Buffer
		d, err := New(a, &out, Options{SnapLen: int(snap), Clock: clock.NewFake(0)})
		if err != nil {
			t.Fatal(err)
		}
		x := pkt.NewBuffer(len(frame), 0)
		copy(x.Append(len(frame)), frame)
		flags := uint32(flagOutbound)
		if inbound {
			flags = flagInbound
		}
		d.record([]*pkt.Buffer{x}, flags, 1)
		d.Close()
		c, err := parseCapture(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		wantSnap := int(snap)
		if wantSnap == 0 {
			wantSnap = DefaultSnapLen
		}
		if len(c.packets) != 1 {
			t.Fatalf("%d packets", len(c.packets))
		}
		p := c.packets[0]
		n := min(len(frame), wantSnap)
		if !bytes.Equal(p.data, frame[:n]) || int(p.origLen) != len(frame) || p.flags != flags || p.queue != 1 {
			t.Fatalf("recorded %d/%d bytes flags %d queue %d", len(p.data), p.origLen, p.flags, p.queue)
		}
	})
}
