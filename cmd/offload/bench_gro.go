package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"offload"
	"offload/bench"
	"offload/internal/netns"
	"offload/link/afpacket"
	"offload/link/afxdp"
	"offload/link/choose"
	"offload/link/tap"
	"offload/tcp"
)

// The aggregation proof-of-value (issue 5): a Linux kernel sender in one
// namespace, offload receiving in the other over each link, receive
// aggregation on and off in the same run. The sender is a child process (a
// kernel socket writing from a buffer), so the receiving process's CPU time
// is offload's alone.

// Addresses of the aggregation runs, on namespaces of their own.
var (
	groVethKernel  = netip.MustParsePrefix("198.18.4.2/24")
	groVethOffload = netip.MustParsePrefix("198.18.4.1/24")
	groTAPKernel   = netip.MustParsePrefix("198.18.5.2/24")
	groTAPOffload  = netip.MustParsePrefix("198.18.5.1/24")
)

// groTCPBuffer is offload's TCP buffer size in the aggregation runs: 4 MiB,
// near what Linux's receive autotuning reaches for such a flow
// (tcp_rmem's maximum is 6 MiB), so the window does not cap both cells at
// the same rate and hide what aggregation changes.
const groTCPBuffer = 4 << 20

// groParams size the aggregation runs.
type groParams struct {
	bytes   int64 // received per run
	repeats int   // runs per cell, alternating on and off; medians count
	timeout time.Duration
	only    string // if set, only the links whose name contains it
	tcpBuf  int    // offload's TCP buffer sizes; 0 for the defaults
}

// The links of the aggregation table.
const (
	groLinkTAPMTU      = "TAP, MTU-sized frames"
	groLinkTAPTSO      = "TAP, 64 KiB frames (TSO)"
	groLinkAFPacketMTU = "AF_PACKET, MTU-sized frames"
	groLinkAFXDP       = "AF_XDP, MTU-sized frames"
)

var groNotes = []string{
	"Receive aggregation (package gro) on and off, in one run: a Linux kernel socket in its own process and namespace sends to offload, which counts the bytes. " +
		"Throughput is the median of the runs; TCP runs per MiB is how often the TCP state machine ran (an aggregate counts once); " +
		"CPU s per GiB is the receiving process's user+system time (getrusage) over the transfer, and its user part; the sender's is the child's. " +
		"On veth the kernel sender's work partly runs inside the receiver's system calls (an ACK written to the link is processed by the sending kernel TCP, which sends its next segments in the same call). " +
		"offload's TCP buffers are 4 MiB here (groTCPBuffer).",
	"MTU-sized frames: TAP without the virtio-net offloads (the kernel segments before the TAP); AF_PACKET with TSO, GSO and GRO off on the veth pair; " +
		"AF_XDP attached in native mode (which turns off the TSO of the kernel's side of the veth, so the kernel segments in software; left to choose on a veth, AF_XDP attaches in generic mode and takes super-frames). With TSO on TAP the kernel already hands over 64 KiB frames: aggregation has nothing left to merge there.",
}

func init() {
	children["kernel-send"] = kernelSendChild
}

// kernelSendChild is the sender: kernel-send ADDR BYTES connects to ADDR,
// writes BYTES, half-closes and waits for the receiver to close.
func kernelSendChild(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: kernel-send ADDR BYTES")
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("bad byte count %q", args[1])
	}
	c, err := net.DialTimeout("tcp4", args[0], 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n > 0 {
		w, err := c.Write(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return err
		}
		n -= int64(w)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, c)
	return err
}

// groLink opens one link's offload options (with the kernel's address and
// namespace to send from) and undoes what it set up.
type groLink struct {
	name string
	open func() (opts offload.Options, kernel *netns.Host, close func(), err error)
}

// aggregationBench measures every link with aggregation on and off and adds
// the cells to rep.Aggregation, printing each to table as it completes.
func aggregationBench(rep *bench.Report, p groParams, table, progress io.Writer) error {
	pair, err := netns.CreatePair(netns.PairConfig{Name: "bgro", AddrB: groVethKernel, DisableIPv6: true})
	if err != nil {
		return fmt.Errorf("creating the network namespaces: %w", err)
	}
	defer pair.Close()
	var notes []string
	links := groLinks(pair, &notes)
	if p.only != "" {
		links = slices.DeleteFunc(links, func(l groLink) bool { return !strings.Contains(l.name, p.only) })
	}
	bench.AggregationHeader(table)
	for i, l := range links {
		fmt.Fprintf(progress, "[aggregation %d/%d] %s\n", i+1, len(links), l.name)
		cells := map[bool]*bench.AggregationRun{
			true:  {Link: l.name, Aggregation: true},
			false: {Link: l.name, Aggregation: false},
		}
		sums := map[bool]*groTotals{true: {}, false: {}}
		for r := range max(1, p.repeats) {
			for _, on := range []bool{true, false} {
				c := cells[on]
				if c.Error != "" {
					continue
				}
				fmt.Fprintf(progress, "  aggregation %-3s run %d/%d: ", onOff(on), r+1, max(1, p.repeats))
				m, err := groOneRun(l, on, p)
				if err != nil {
					fmt.Fprintf(progress, "FAILED: %v\n", err)
					c.Error = err.Error()
					continue
				}
				fmt.Fprintf(progress, "%.2f Gbit/s, %.1f TCP runs/MiB, %.3f CPU s/GiB (user %.3f), sender %.3f\n",
					m.gbps(), m.runsPerMiB(), m.perGiB(m.cpu), m.perGiB(m.user), m.perGiB(m.sender))
				c.Runs = append(c.Runs, m.gbps())
				sums[on].add(m)
			}
		}
		for _, on := range []bool{true, false} {
			c, s := cells[on], sums[on]
			if c.Error == "" {
				c.Gbps = bench.Median(c.Runs)
				c.Bytes = s.bytes
				c.TCPRunsPerMiB = s.runsPerMiB()
				c.SegmentsPerAggregate = s.segsPerAggregate(on)
				c.CPUSecondsPerGiB = s.perGiB(s.cpu)
				c.UserCPUSecondsPerGiB = s.perGiB(s.user)
				c.SenderCPUSecondsPerGiB = s.perGiB(s.sender)
			}
			rep.Aggregation = append(rep.Aggregation, *c)
			bench.AggregationRow(table, *c)
		}
		if c := bench.AggregationCompare(*cells[true], *cells[false]); c.OK {
			bench.AggregationRatioRow(table, c)
		}
	}
	rep.AggregationNotes = append(append([]string(nil), groNotes...), notes...)
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// groTotals adds up what one or more runs measured.
type groTotals struct {
	bytes      int64
	el         time.Duration
	cpu        time.Duration // the receiving process, user + system
	user       time.Duration // the receiving process, user
	sender     time.Duration // the kernel sender process, user + system
	tcpRuns    uint64
	segsIn     uint64 // wire segments gro delivered in TCP aggregates
	aggregates uint64
}

func (t *groTotals) add(o groTotals) {
	t.bytes += o.bytes
	t.el += o.el
	t.cpu += o.cpu
	t.user += o.user
	t.sender += o.sender
	t.tcpRuns += o.tcpRuns
	t.segsIn += o.segsIn
	t.aggregates += o.aggregates
}

func (t *groTotals) gbps() float64 {
	if t.el <= 0 {
		return 0
	}
	return float64(t.bytes) * 8 / t.el.Seconds() / 1e9
}

func (t *groTotals) runsPerMiB() float64 {
	if t.bytes == 0 {
		return 0
	}
	return float64(t.tcpRuns) / (float64(t.bytes) / (1 << 20))
}

// perGiB is a CPU time per GiB received.
func (t *groTotals) perGiB(d time.Duration) float64 {
	if t.bytes == 0 {
		return 0
	}
	return d.Seconds() / (float64(t.bytes) / (1 << 30))
}

func (t *groTotals) segsPerAggregate(on bool) float64 {
	if !on || t.aggregates == 0 {
		return 0
	}
	return float64(t.segsIn) / float64(t.aggregates)
}

// groLinks lists the links of the aggregation table on pair (offload on A,
// the kernel sender on B). AF_XDP's mode is added to notes when first opened.
func groLinks(pair *netns.Pair, notes *[]string) []groLink {
	return []groLink{
		{name: groLinkTAPMTU, open: groTAP(pair.B, false)},
		{name: groLinkTAPTSO, open: groTAP(pair.B, true)},
		{name: groLinkAFPacketMTU, open: func() (offload.Options, *netns.Host, func(), error) {
			// MTU-sized frames: the kernel must not send super-frames over the
			// veth, and A's end must not merge them again before AF_PACKET.
			if err := pair.B.SetOffload(pair.IfB, false, netns.TSO, netns.GSO); err != nil {
				return offload.Options{}, nil, nil, err
			}
			if err := pair.A.SetOffload(pair.IfA, false, netns.GRO); err != nil {
				return offload.Options{}, nil, nil, err
			}
			d, err := afpacket.Open(afpacket.Config{Interface: pair.IfA, Netns: pair.A.Path()})
			if err != nil {
				return offload.Options{}, nil, nil, fmt.Errorf("opening AF_PACKET on %s: %w", pair.IfA, err)
			}
			return offload.Options{Link: d, Addr: groVethOffload}, pair.B, func() {}, nil
		}},
		// AF_XDP last: native XDP changes the veth's offloads for good.
		{name: groLinkAFXDP, open: func() (offload.Options, *netns.Host, func(), error) {
			// Native mode on purpose: it is what turns the veth's frames MTU-sized.
			d, how, err := choose.OpenOptions(choose.Options{Interface: pair.IfA, Netns: pair.A.Path(), Prefer: choose.AFXDP,
				Addrs: []netip.Addr{groVethOffload.Addr()}, XDP: afxdp.Config{Attach: afxdp.AttachNative}})
			if err != nil {
				return offload.Options{}, nil, nil, fmt.Errorf("opening AF_XDP on %s: %w", pair.IfA, err)
			}
			if len(*notes) == 0 {
				*notes = append(*notes, "AF_XDP in the aggregation runs: "+strings.TrimPrefix(how, "link: AF_XDP ")+".")
			}
			return offload.Options{Link: d, Addr: groVethOffload}, pair.B, func() {}, nil
		}},
	}
}

// groOneRun opens the link, starts offload with aggregation on or off,
// receives p.bytes from a kernel sender process and closes everything.
func groOneRun(l groLink, on bool, p groParams) (m groTotals, err error) {
	opts, kernel, undo, err := l.open()
	if err != nil {
		return m, err
	}
	defer undo()
	opts.NoGRO = !on
	if p.tcpBuf > 0 {
		c := tcp.DefaultConfig()
		c.SendBufferSize, c.RecvBufferSize = p.tcpBuf, p.tcpBuf
		opts.TCP = &c
	}
	st, err := offload.New(opts)
	if err != nil {
		opts.Link.Close()
		return m, err
	}
	defer st.Close()
	ln, err := st.Listen("tcp", netip.AddrPortFrom(opts.Addr.Addr(), uint16(sinkPort)).String())
	if err != nil {
		return m, err
	}
	defer ln.Close()
	cmd, err := childCommand(kernel, "kernel-send", netip.AddrPortFrom(opts.Addr.Addr(), uint16(sinkPort)).String(), strconv.FormatInt(p.bytes, 10))
	if err != nil {
		return m, err
	}
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("starting the kernel sender: %w", err)
	}
	childDone := make(chan error, 1)
	go func() { childDone <- cmd.Wait() }()
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			<-childDone
		}
	}()

	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() { c, err := ln.Accept(); acc <- accepted{c, err} }()
	var c net.Conn
	select {
	case a := <-acc:
		if a.err != nil {
			return m, a.err
		}
		c = a.c
	case err := <-childDone:
		waited = true
		return m, fmt.Errorf("the kernel sender ended before connecting: %v", exitErr(err))
	case <-time.After(p.timeout):
		return m, errors.New("no connection from the kernel sender")
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(p.timeout))

	s := st.Stack()
	runs0 := s.Stats().TCPSegmentsIn.Load()
	gro0 := s.GROStats(0)
	cpu0, user0 := processCPU()
	start := time.Now()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("after %d bytes: %w", n, err)
		}
	}
	m.el = time.Since(start)
	cpu1, user1 := processCPU()
	m.cpu, m.user = cpu1-cpu0, user1-user0
	m.tcpRuns = s.Stats().TCPSegmentsIn.Load() - runs0
	gro1 := s.GROStats(0)
	m.segsIn = gro1.SegmentsOut - gro0.SegmentsOut
	m.aggregates = gro1.AggregatesOut - gro0.AggregatesOut
	m.bytes = n
	c.Close()
	if n != p.bytes {
		return m, fmt.Errorf("received %d bytes of %d", n, p.bytes)
	}
	select {
	case err := <-childDone:
		waited = true
		if err != nil {
			return m, fmt.Errorf("the kernel sender: %v", exitErr(err))
		}
		// ip netns exec replaces itself with the sender: its usage is the sender's.
		m.sender = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	case <-time.After(10 * time.Second):
		return m, errors.New("the kernel sender did not finish after the receiver closed")
	}
	return m, nil
}

// exitErr says how a child ended; its own messages went to our stderr.
func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%v (its messages are above)", err)
	}
	return err
}

// groTAP opens a TAP device in h's namespace with the kernel's address on
// it; with tso the kernel hands over super-frames, without it MTU-sized
// frames.
func groTAP(h *netns.Host, tso bool) func() (offload.Options, *netns.Host, func(), error) {
	return func() (offload.Options, *netns.Host, func(), error) {
		td, err := tap.Open(tap.Config{Name: "offl-bgro0", Netns: h.Path(), TSO: tso})
		if err != nil {
			return offload.Options{}, nil, nil, fmt.Errorf("opening TAP: %w", err)
		}
		if err := h.AddAddr(td.IfName(), groTAPKernel); err != nil {
			td.Close()
			return offload.Options{}, nil, nil, err
		}
		return offload.Options{Link: td, Addr: groTAPOffload}, h, func() {}, nil
	}
}

// processCPU is this process's CPU time so far: user plus system, and user.
func processCPU() (total, user time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Utime.Nano())
}
