//go:build linux

package interop

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/link/fault"
	"offload/netconn"
	"offload/tcp"
)

// lossSize is the size of each lossy transfer: the 64 MiB, or less
// with OFFLOAD_INTEROP_SIZE.
func lossSize(t testing.TB) int64 { return min(transferSize(t), 64<<20) }

// lossFaults is the lossy link of TestBulkSHA256UnderTwoPercentLossAndReordering:
// every frame, whichever way it goes, is lost with probability 2% and held
// back to be overtaken by the next two with probability 1% — so the data is
// lost at 2% and so are the ACKs that would report it. On TAP a frame may be
// a kernel super-frame of up to 44 segments: losing one loses them all, as a
// real NIC dropping a GSO burst's worth would.
var lossFaults = fault.Faults{Loss: 0.02, Reorder: 0.01}

// connStats is what one side's TCP counted on a connection.
type connStats struct {
	ours   *tcp.Info    // our side's, if it was ours
	kernel *sys.TCPInfo // the kernel's, if it was the kernel's
}

func statsOf(c net.Conn) connStats {
	switch c := c.(type) {
	case *netconn.Conn:
		i := c.Info()
		return connStats{ours: &i}
	case *net.TCPConn:
		if i, err := sys.TCPInfoOf(c); err == nil {
			return connStats{kernel: &i}
		}
	case *statsOnClose:
		return statsOf(c.Conn)
	}
	return connStats{}
}

func (s connStats) merge(o connStats) connStats {
	if s.ours == nil {
		s.ours = o.ours
	}
	if s.kernel == nil {
		s.kernel = o.kernel
	}
	return s
}

// statsOnClose snapshots a server connection's counters just before the
// server closes it (a closed kernel socket has no TCP_INFO any more).
type statsOnClose struct {
	net.Conn
	once sync.Once
	out  chan<- connStats
}

func (c *statsOnClose) Close() error {
	c.once.Do(func() {
		select {
		case c.out <- statsOf(c.Conn):
		default:
		}
	})
	return c.Conn.Close()
}

// CloseWrite keeps half-close reachable through the wrapper.
func (c *statsOnClose) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("%T cannot half-close", c.Conn)
}

// lossCell is one measured transfer of the lossy matrix.
type lossCell struct {
	name   string
	sender string // "offload" or "kernel": whose retransmissions repair the data
	res    xferResult
	stats  connStats
	rx, tx fault.Counts
	frames [2]uint64 // the link device's received (before the faults) and sent (after them); a super-frame counts once
}

func (c lossCell) String() string {
	gb, d := c.res.upGb, c.res.up
	if c.res.down > 0 {
		gb, d = c.res.downGb, c.res.down
	}
	s := fmt.Sprintf("%-40s %3d MiB in %7v = %.3f Gbit/s;", c.name, c.res.size>>20, d.Round(time.Millisecond), gb)
	if i := c.stats.ours; i != nil {
		s += fmt.Sprintf(" offload: retransmits %d, timeouts %d, RACK losses %d, TLP probes %d, recoveries %d (fast rexmits %d, SACK rexmits %d, D-SACKs in %d out %d, undone %d);",
			i.Retransmits, i.Timeouts, i.RACKLosses, i.TLPProbes, i.Recoveries, i.FastRetransmits, i.SACKRetransmits, i.DSACKsReceived, i.DSACKsSent, i.UndoneRecoveries)
	}
	if k := c.stats.kernel; k != nil {
		s += fmt.Sprintf(" kernel: retransmits %d;", k.TotalRetrans)
	}
	s += fmt.Sprintf(" frames rx %d (lost %d, reordered %d), tx %d (lost %d, reordered %d)",
		c.frames[0], c.rx.Dropped, c.rx.Reordered, c.frames[1], c.tx.Dropped, c.tx.Reordered)
	return s
}

// runMeasuredTransfer is runTransfer that also returns both TCPs' counters.
func (r *rig) runMeasuredTransfer(t *testing.T, role string, op byte, size int64, seed uint64) (xferResult, connStats) {
	t.Helper()
	serverStats := make(chan connStats, 1)
	serve := func(c net.Conn) error {
		return serveTransfer(&statsOnClose{Conn: c, out: serverStats})
	}
	dial, serverErrs := r.connect(t, role, 5000+uint16(r.transfers.Add(1)), serve)
	ctx := deadline(t, 2*time.Minute)
	c, err := dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	res, err := transfer(c, op, size, seed)
	if err != nil {
		r.logStats(t)
		select {
		case serr := <-serverErrs:
			t.Errorf("server: %v", serr)
		case <-time.After(100 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("transfer did not finish in time: %v", err)
		}
		t.Fatalf("transfer: %v", err)
	}
	st := statsOf(c)
	select {
	case s := <-serverStats:
		st = st.merge(s)
	case err := <-serverErrs:
		t.Fatalf("server: %v", err)
	case <-ctx.Done():
		t.Fatal("the server never closed its connection")
	}
	return res, st
}

// TestBulkSHA256UnderTwoPercentLossAndReordering_RFC8985 moves 64 MiB
// between our stack and the Linux kernel while our device loses 2% of the
// frames and reorders 1% in each direction (link/fault, seeded): over TAP and
// AF_PACKET, IPv4 and IPv6, with either side opening the connection and the
// data going each way, one direction at a time so each cell measures one
// sender's loss recovery (SACK, RACK-TLP; RFC 6675, RFC 8985) against the
// other's ACKs. Every byte is hashed by sender and receiver; the digests must
// match. Over TAP the same runs again with segmentation offload off (32 MiB
// each), so that the loss falls on single MTU-sized segments, close to 500
// independent losses of data per transfer, rather than on a few dozen whole
// super-frames.
// Throughput and both sides' retransmission counters are logged per cell,
// and a summary at the end.
func TestBulkSHA256UnderTwoPercentLossAndReordering_RFC8985(t *testing.T) {
	netns.Require(t)
	size := lossSize(t)
	type dir struct {
		role   string
		op     byte
		name   string
		sender string
	}
	dirs := []dir{
		{kernelClient, opUpload, "kernel-client sends", "kernel"},
		{kernelClient, opDownload, "offload-server sends", "offload"},
		{ourClient, opUpload, "offload-client sends", "offload"},
		{ourClient, opDownload, "kernel-server sends", "kernel"},
	}
	var (
		mu    sync.Mutex
		cells []lossCell
	)
	start := time.Now()
	seed := uint64(0)
	// cell runs one direction on one rig and checks that the faults and
	// the sender's retransmissions both happened.
	cell := func(t *testing.T, lt, name string, d dir, size, sure int64, o rigOptions) {
		seed++
		fc := &fault.Config{Rx: lossFaults, Tx: lossFaults, Seed: seed}
		o.faults = fc
		r := newRig(t, lt, o)
		res, st := r.runMeasuredTransfer(t, d.role, d.op, size, seed)
		rx, tx := r.dev.(*fault.Device).DirCounts()
		ds := r.dev.Stats()
		c := lossCell{name: name + " " + d.name, sender: d.sender, res: res, stats: st, rx: rx, tx: tx, frames: [2]uint64{ds.RxFrames, ds.TxFrames}}
		t.Log(c)
		mu.Lock()
		cells = append(cells, c)
		mu.Unlock()
		// Without loss and reordering both ways the cell proves
		// nothing. A transfer shrunk by OFFLOAD_INTEROP_SIZE may be
		// too few frames for a 1% draw to hit each way; from sure
		// bytes on it is enough.
		if rx.Dropped == 0 || tx.Dropped == 0 || rx.Reordered == 0 || tx.Reordered == 0 {
			if size >= sure {
				t.Errorf("faults received %+v, sent %+v: loss and reordering were not injected both ways", rx, tx)
			} else {
				t.Logf("too small a transfer (%d bytes) to draw loss and reordering both ways: received %+v, sent %+v", size, rx, tx)
			}
		}
		// Some of the sender's data was lost: its retransmissions repaired it.
		switch {
		case d.sender == "offload" && st.ours != nil && st.ours.Retransmits == 0:
			t.Errorf("our stack sent %d MiB through 2%% loss without retransmitting", size>>20)
		case d.sender == "kernel" && st.kernel != nil && st.kernel.TotalRetrans == 0:
			t.Error("the kernel sent through 2% loss without retransmitting")
		}
	}
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, fam := range families {
				t.Run(fam, func(t *testing.T) {
					for _, d := range dirs {
						t.Run(strings.ReplaceAll(d.name, " ", "-"), func(t *testing.T) {
							// TAP's frames are mostly 64 KiB super-frames: 64 MiB
							// is over 1,200 frames each way (measured), so a 1%
							// draw misses a direction with odds below 1e-5.
							cell(t, lt, lt+" "+fam, d, size, 64<<20, rigOptions{ipv6: fam == famIPv6})
						})
					}
				})
			}
		})
	}
	// The same over TAP without segmentation offload: every frame either
	// way is one MTU-sized segment, so 2% loss is hundreds of independent
	// losses per transfer rather than a few dozen lost super-frames, and
	// the senders' recovery (SACK scoreboards, RACK) is exercised hard.
	// Half the size keeps the time in check: without TSO both sides spend
	// a system call or a software segmentation per 1.5 KB frame.
	mtuSize := max(size/2, min(size, 1<<20))
	t.Run("tap-mtu-frames", func(t *testing.T) {
		for _, fam := range families {
			t.Run(fam, func(t *testing.T) {
				for _, d := range dirs {
					t.Run(strings.ReplaceAll(d.name, " ", "-"), func(t *testing.T) {
						// 32 MiB is over 23,000 data frames one way and
						// over 2,200 ACK frames the other (measured: the
						// receivers acknowledge aggregates), so a 1% draw
						// misses a direction with odds below 1e-9.
						cell(t, linkTAP, "tap-mtu "+fam, d, mtuSize, 32<<20, rigOptions{ipv6: fam == famIPv6, noTSO: true})
					})
				}
			})
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d transfers under %.0f%% loss and %.0f%% reordering each way, %v in all:\n",
		len(cells), lossFaults.Loss*100, lossFaults.Reorder*100, time.Since(start).Round(time.Millisecond))
	for _, c := range cells {
		fmt.Fprintf(&b, "  %v\n", c)
	}
	t.Log(b.String())
}
