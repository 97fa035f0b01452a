package main

import (
	"fmt"
	"io"
	"time"

	"offload/bench"
	"offload/bench/linkrate"
)

// The packet-rate half of issue 6: each link's receive and transmit rates
// of minimum-size frames, and their CPU cost per frame, in one run
// (package bench/linkrate measures; link/afxdp's BenchmarkLinkRates reports
// the same as Go benchmark metrics).

var linkRateNotes = []string{
	"60-byte UDP frames (the minimum Ethernet frame without FCS) in batches of 64 through one queue; each link on namespaces of its own. " +
		"Receive: the device counts what it takes in while a generator sends as fast as it can, an AF_XDP socket (generic mode) on the veth's far end for AF_PACKET and AF_XDP, " +
		"a packet socket on the TAP interface (its kernel side) for TAP. Transmit: the device sends to a kernel that drops the frames (not addressed to it), with the generator closed.",
	"What bounds these numbers: on a veth the generator's transmit also runs the receiving side's kernel work on the generator's CPU, " +
		"so with both on this machine's few cores the wall-clock receive rate is the generator's, not the receive path's, and it is shared with every other process. " +
		"CPU per frame (the measuring thread's CPU time, system calls included, over the frames it moved) is the fairer comparison of the paths; " +
		"on receive it also holds the receiver's empty polls and wake-ups while it waits for the generator. " +
		"Ratios: rates over the baseline's, and the baseline's CPU per frame over the link's, so above 1 is better in every column.",
	"AF_XDP native on a veth turns off the kernel's TSO on the pair and runs the XDP program in the veth driver; generic mode runs it on socket buffers after the driver. " +
		"link/afxdp's BenchmarkRecvInKernelGenerator feeds receive from an in-kernel generator instead (BPF_PROG_RUN), which takes the sender out of the picture.",
}

// linkRateBench measures every link of linkrate.Links for d per direction,
// printing each row to table as it completes and progress to progress,
// and records the rows and notes in rep. A link that fails gets a failed
// row and the run goes on.
func linkRateBench(rep *bench.Report, d time.Duration, table, progress io.Writer) {
	links := linkrate.Links()
	bench.LinkRateHeader(table)
	var base bench.LinkRate
	haveBase := false
	for i, l := range links {
		fmt.Fprintf(progress, "[packet rates %d/%d] %s, %s per direction\n", i+1, len(links), l.Title, d)
		row := bench.LinkRate{Link: l.Title, Baseline: l.Name == linkrate.Baseline}
		rx, tx, err := linkrate.Measure(l, d)
		if err != nil {
			fmt.Fprintf(progress, "  FAILED: %v\n", err)
			row.Error = err.Error()
		} else {
			fmt.Fprintf(progress, "  receive %.3f Mpps, %v CPU per frame; transmit %.3f Mpps, %v CPU per frame\n",
				rx.PPS()/1e6, rx.CPUPerFrame, tx.PPS()/1e6, tx.CPUPerFrame)
			row.RxMpps, row.RxCPUNsPerFrame, row.RxFrames = rx.PPS()/1e6, float64(rx.CPUPerFrame.Nanoseconds()), rx.Frames
			row.TxMpps, row.TxCPUNsPerFrame, row.TxFrames = tx.PPS()/1e6, float64(tx.CPUPerFrame.Nanoseconds()), tx.Frames
		}
		if row.Baseline {
			base, haveBase = row, true
		}
		rep.LinkRates = append(rep.LinkRates, row)
		bench.LinkRateRow(table, row, base, haveBase)
	}
	rep.LinkRateNotes = append([]string(nil), linkRateNotes...)
}

// linkRateBaselineTitle names the baseline link as the table shows it.
func linkRateBaselineTitle() string {
	for _, l := range linkrate.Links() {
		if l.Name == linkrate.Baseline {
			return l.Title
		}
	}
	return linkrate.Baseline
}
