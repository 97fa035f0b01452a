package bench

import (
	"fmt"
	"io"
)

// LinkRate is one link's packet rates: minimum-size frames received and
// sent per second through one queue, and the measuring thread's CPU time
// per frame (measured by package bench/linkrate).
type LinkRate struct {
	Link string `json:"link"` // e.g. "AF_XDP native"
	// Baseline marks the link the others' ratios are taken against.
	Baseline bool `json:"baseline,omitempty"`

	RxMpps          float64 `json:"rx_mpps"`
	RxCPUNsPerFrame float64 `json:"rx_cpu_ns_per_frame"`
	RxFrames        int64   `json:"rx_frames"`
	TxMpps          float64 `json:"tx_mpps"`
	TxCPUNsPerFrame float64 `json:"tx_cpu_ns_per_frame"`
	TxFrames        int64   `json:"tx_frames"`
	Error           string  `json:"error,omitempty"`
}

// LinkRateRatios compare a link with the baseline, each above 1 when the
// link does better: its rates over the baseline's, and the baseline's CPU
// per frame over its own.
type LinkRateRatios struct {
	RxRate, RxCPU, TxRate, TxCPU float64
	OK                           bool
}

// CompareLinkRate returns l's ratios to base; not OK when either failed or
// has a zero.
func CompareLinkRate(l, base LinkRate) LinkRateRatios {
	if l.Error != "" || base.Error != "" || base.RxMpps <= 0 || base.TxMpps <= 0 || l.RxCPUNsPerFrame <= 0 || l.TxCPUNsPerFrame <= 0 {
		return LinkRateRatios{}
	}
	return LinkRateRatios{
		RxRate: l.RxMpps / base.RxMpps,
		RxCPU:  base.RxCPUNsPerFrame / l.RxCPUNsPerFrame,
		TxRate: l.TxMpps / base.TxMpps,
		TxCPU:  base.TxCPUNsPerFrame / l.TxCPUNsPerFrame,
		OK:     true,
	}
}

// LinkRateBaseline returns the baseline row, if the report has one.
func (r *Report) LinkRateBaseline() (LinkRate, bool) {
	for _, l := range r.LinkRates {
		if l.Baseline {
			return l, true
		}
	}
	return LinkRate{}, false
}

// LinkRateHeader and LinkRateRow print the packet-rate table as it is
// measured; rows measured before the baseline print no ratios.
func LinkRateHeader(w io.Writer) {
	fmt.Fprintf(w, "%-16s %8s %7s %11s %7s %8s %7s %11s %7s\n", "link", "rx Mpps", "×", "rx ns/frame", "×", "tx Mpps", "×", "tx ns/frame", "×")
}

func LinkRateRow(w io.Writer, l LinkRate, base LinkRate, haveBase bool) {
	if l.Error != "" {
		fmt.Fprintf(w, "%-16s FAILED: %s\n", l.Link, l.Error)
		return
	}
	c := LinkRateRatios{}
	if haveBase {
		c = CompareLinkRate(l, base)
	}
	fmt.Fprintf(w, "%-16s %8.3f %7s %11.0f %7s %8.3f %7s %11.0f %7s\n", l.Link,
		l.RxMpps, ratioCell(c.RxRate, c.OK), l.RxCPUNsPerFrame, ratioCell(c.RxCPU, c.OK),
		l.TxMpps, ratioCell(c.TxRate, c.OK), l.TxCPUNsPerFrame, ratioCell(c.TxCPU, c.OK))
}

func ratioCell(x float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// LinkRateMarkdown writes the packet-rate table, each link with its
// ratios to the baseline.
func (r *Report) LinkRateMarkdown(w io.Writer) {
	if len(r.LinkRates) == 0 {
		return
	}
	base, haveBase := r.LinkRateBaseline()
	vs := "baseline"
	if haveBase {
		vs = mdEscape(base.Link)
	}
	fmt.Fprintf(w, "| link | receive Mpps | vs %s | receive CPU ns per frame | %s's CPU over it | transmit Mpps | vs %s | transmit CPU ns per frame | %s's CPU over it |\n", vs, vs, vs, vs)
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, l := range r.LinkRates {
		if l.Error != "" {
			fmt.Fprintf(w, "| %s | failed: %s | | | | | | | |\n", mdEscape(l.Link), mdEscape(l.Error))
			continue
		}
		c := CompareLinkRate(l, base)
		fmt.Fprintf(w, "| %s | %.3f | %s | %.0f | %s | %.3f | %s | %.0f | %s |\n", mdEscape(l.Link),
			l.RxMpps, ratioCell(c.RxRate, c.OK), l.RxCPUNsPerFrame, ratioCell(c.RxCPU, c.OK),
			l.TxMpps, ratioCell(c.TxRate, c.OK), l.TxCPUNsPerFrame, ratioCell(c.TxCPU, c.OK))
	}
}
