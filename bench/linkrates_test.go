package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestLinkRateRatiosAreAboveOneWhenTheLinkDoesBetter: rates are the link's
// over the baseline's, CPU per frame the baseline's over the link's, so a
// faster, cheaper link is above 1 in every column; a failed link or a zero
// baseline gives no ratios rather than infinities.
func TestLinkRateRatiosAreAboveOneWhenTheLinkDoesBetter(t *testing.T) {
	base := LinkRate{Link: "AF_PACKET", Baseline: true, RxMpps: 1, RxCPUNsPerFrame: 400, TxMpps: 2, TxCPUNsPerFrame: 500}
	xdp := LinkRate{Link: "AF_XDP", RxMpps: 3, RxCPUNsPerFrame: 100, TxMpps: 1, TxCPUNsPerFrame: 1000}
	c := CompareLinkRate(xdp, base)
	want := LinkRateRatios{RxRate: 3, RxCPU: 4, TxRate: 0.5, TxCPU: 0.5, OK: true}
	for _, p := range [][2]float64{{c.RxRate, want.RxRate}, {c.RxCPU, want.RxCPU}, {c.TxRate, want.TxRate}, {c.TxCPU, want.TxCPU}} {
		if math.Abs(p[0]-p[1]) > 1e-9 {
			t.Fatalf("ratios %+v, want %+v", c, want)
		}
	}
	if !c.OK {
		t.Fatal("not OK")
	}
	if c := CompareLinkRate(LinkRate{Link: "TAP", Error: "no TAP"}, base); c.OK {
		t.Errorf("a failed link has ratios %+v", c)
	}
	if c := CompareLinkRate(xdp, LinkRate{Baseline: true}); c.OK {
		t.Errorf("a zero baseline gives ratios %+v", c)
	}
}

// TestDocumentShowsLinkRatesWithRatiosAndNotes: the page gets the section,
// a row per link with its ratios, a failed link's error, and the notes.
func TestDocumentShowsLinkRatesWithRatiosAndNotes(t *testing.T) {
	r := sampleReport()
	r.LinkRates = []LinkRate{
		{Link: "AF_PACKET", Baseline: true, RxMpps: 1, RxCPUNsPerFrame: 400, TxMpps: 2, TxCPUNsPerFrame: 500},
		{Link: "AF_XDP native", RxMpps: 3, RxCPUNsPerFrame: 100, TxMpps: 1, TxCPUNsPerFrame: 1000},
		{Link: "TAP", Error: "opening TAP: no | device"},
	}
	r.LinkRateNotes = []string{"the generator bounds it"}
	var doc bytes.Buffer
	r.Document(&doc, "")
	s := doc.String()
	for _, want := range []string{
		"## Link packet rates",
		"| AF_XDP native | 3.000 | 3.00× | 100 | 4.00× | 1.000 | 0.50× | 1000 | 0.50× |",
		"| AF_PACKET | 1.000 | 1.00× |",
		`| TAP | failed: opening TAP: no \| device |`,
		"- the generator bounds it",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q:\n%s", want, s)
		}
	}
	var term bytes.Buffer
	LinkRateHeader(&term)
	LinkRateRow(&term, r.LinkRates[1], r.LinkRates[0], false)
	if strings.Contains(term.String(), "3.00×") {
		t.Errorf("a row printed before the baseline was measured has ratios:\n%s", term.String())
	}
	LinkRateRow(&term, r.LinkRates[1], r.LinkRates[0], true)
	if !strings.Contains(term.String(), "3.00×") || !strings.Contains(term.String(), "4.00×") {
		t.Errorf("terminal rows lack the ratios:\n%s", term.String())
	}
}
