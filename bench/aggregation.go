package bench

import (
	"fmt"
	"io"
)

// AggregationRun is one receive measurement for the aggregation
// proof-of-value: a Linux kernel sender in a network namespace, offload
// receiving over one link with receive aggregation (package gro) on or off.
type AggregationRun struct {
	Link        string `json:"link"`        // e.g. "AF_XDP (MTU-sized frames)"
	Aggregation bool   `json:"aggregation"` // gro on in the receiving stack
	Bytes       int64  `json:"bytes"`       // received, all runs of this cell
	// Gbps is the median of Runs.
	Gbps float64   `json:"gbps"`
	Runs []float64 `json:"runs,omitempty"`
	// TCPRunsPerMiB is how many times the TCP state machine ran per MiB
	// received (stack.Stats.TCPSegmentsIn: an aggregate counts once).
	TCPRunsPerMiB float64 `json:"tcp_runs_per_mib"`
	// SegmentsPerAggregate is the wire segments per delivered TCP aggregate
	// (0 with aggregation off: gro made none).
	SegmentsPerAggregate float64 `json:"segments_per_aggregate"`
	// CPUSecondsPerGiB is the receiving process's CPU time (user + system,
	// getrusage) per GiB received; the sender is a separate process.
	// UserCPUSecondsPerGiB is its user part: offload's own work. The system
	// part is the link's syscalls, and on veth those include the kernel
	// sender's work: an ACK we transmit is processed by the sending kernel
	// TCP, which sends its next segments, all within our syscall.
	CPUSecondsPerGiB     float64 `json:"cpu_seconds_per_gib"`
	UserCPUSecondsPerGiB float64 `json:"user_cpu_seconds_per_gib"`
	// SenderCPUSecondsPerGiB is the kernel sender process's CPU time per GiB.
	SenderCPUSecondsPerGiB float64 `json:"sender_cpu_seconds_per_gib"`
	Error                  string  `json:"error,omitempty"`
}

// AggregationRatios compares a link's on and off cells: throughput on/off,
// and TCP runs and CPU per byte off/on (above 1: aggregation helps).
type AggregationRatios struct {
	Throughput, TCPRuns, CPU, UserCPU float64
	OK                                bool
}

// AggregationPair finds the on and off cells of a link.
func (r *Report) AggregationPair(link string) (on, off AggregationRun, ok bool) {
	var haveOn, haveOff bool
	for _, a := range r.Aggregation {
		if a.Link != link {
			continue
		}
		if a.Aggregation {
			on, haveOn = a, true
		} else {
			off, haveOff = a, true
		}
	}
	return on, off, haveOn && haveOff
}

// AggregationCompare returns on/off for throughput and off/on for the
// per-byte costs.
func AggregationCompare(on, off AggregationRun) AggregationRatios {
	if on.Error != "" || off.Error != "" || off.Gbps <= 0 || on.TCPRunsPerMiB <= 0 || on.CPUSecondsPerGiB <= 0 || on.UserCPUSecondsPerGiB <= 0 {
		return AggregationRatios{}
	}
	return AggregationRatios{
		Throughput: on.Gbps / off.Gbps,
		TCPRuns:    off.TCPRunsPerMiB / on.TCPRunsPerMiB,
		CPU:        off.CPUSecondsPerGiB / on.CPUSecondsPerGiB,
		UserCPU:    off.UserCPUSecondsPerGiB / on.UserCPUSecondsPerGiB,
		OK:         true,
	}
}

// aggregationLinks lists the links in first-seen order.
func (r *Report) aggregationLinks() []string {
	var links []string
	seen := map[string]bool{}
	for _, a := range r.Aggregation {
		if !seen[a.Link] {
			seen[a.Link] = true
			links = append(links, a.Link)
		}
	}
	return links
}

// AggregationHeader and AggregationRow print the aggregation table as it is
// measured, one cell (link, on or off) per row.
func AggregationHeader(w io.Writer) {
	fmt.Fprintf(w, "%-30s %-9s %7s %12s %9s %9s %9s %9s\n", "receiving link", "gro", "Gbit/s", "TCP runs/MiB", "segs/agg", "CPU s/GiB", "user", "sender")
}

// AggregationRatioRow prints a link's on/off ratios under its cells.
func AggregationRatioRow(w io.Writer, c AggregationRatios) {
	fmt.Fprintf(w, "%-30s %-9s %6.2f× %11.1f× %9s %8.2f× %8.2f×\n", "", "on/off", c.Throughput, c.TCPRuns, "", c.CPU, c.UserCPU)
}

func AggregationRow(w io.Writer, a AggregationRun) {
	onOff := "off"
	if a.Aggregation {
		onOff = "on"
	}
	if a.Error != "" {
		fmt.Fprintf(w, "%-30s %-9s FAILED: %s\n", a.Link, onOff, a.Error)
		return
	}
	fmt.Fprintf(w, "%-30s %-9s %7.2f %12.1f %9s %9.3f %9.3f %9.3f\n", a.Link, onOff, a.Gbps, a.TCPRunsPerMiB, segsPerAgg(a), a.CPUSecondsPerGiB, a.UserCPUSecondsPerGiB, a.SenderCPUSecondsPerGiB)
}

// AggregationMarkdown writes the aggregation cells and, per link, the on/off
// ratios.
func (r *Report) AggregationMarkdown(w io.Writer) {
	if len(r.Aggregation) == 0 {
		return
	}
	fmt.Fprintf(w, "| receiving link | aggregation | Gbit/s | TCP runs per MiB | segments per aggregate | receiver CPU s per GiB | of it user | sender CPU s per GiB |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, link := range r.aggregationLinks() {
		for _, want := range []bool{true, false} {
			for _, a := range r.Aggregation {
				if a.Link != link || a.Aggregation != want {
					continue
				}
				onOff := "off"
				if a.Aggregation {
					onOff = "on"
				}
				if a.Error != "" {
					fmt.Fprintf(w, "| %s | %s | failed: %s | | | | | |\n", mdEscape(link), onOff, mdEscape(a.Error))
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %.2f | %.1f | %s | %.3f | %.3f | %.3f |\n", mdEscape(link), onOff, a.Gbps, a.TCPRunsPerMiB, segsPerAgg(a), a.CPUSecondsPerGiB, a.UserCPUSecondsPerGiB, a.SenderCPUSecondsPerGiB)
			}
		}
	}
	fmt.Fprintf(w, "\nAggregation on against off (above 1: aggregation helps):\n\n")
	fmt.Fprintf(w, "| receiving link | throughput on/off | TCP runs off/on | receiver CPU per GiB off/on | user CPU per GiB off/on |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: |\n")
	for _, link := range r.aggregationLinks() {
		on, off, ok := r.AggregationPair(link)
		c := AggregationCompare(on, off)
		if !ok || !c.OK {
			fmt.Fprintf(w, "| %s | – | – | – | – |\n", mdEscape(link))
			continue
		}
		fmt.Fprintf(w, "| %s | %.2f× | %.1f× | %.2f× | %.2f× |\n", mdEscape(link), c.Throughput, c.TCPRuns, c.CPU, c.UserCPU)
	}
}

// segsPerAgg shows the wire segments per aggregate, or a dash with
// aggregation off (where gro made none).
func segsPerAgg(a AggregationRun) string {
	if a.SegmentsPerAggregate <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", a.SegmentsPerAggregate)
}
